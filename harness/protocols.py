"""The protocols the harness can check, as data: what a correct server must do, and how it is reached.

A protocol names the check families that judge it (its oracle), its transport, the reference server that
implements it and the settings it needs. Checks say which protocols they apply to when they are registered
(:func:`harness.checks.check`); the catalogue of a protocol is every check registered for it. Adding a
protocol is: an entry here, a check module, a reference server -- never a copy of the echo code.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import HarnessError


@dataclass(frozen=True)
class Protocol:
    """One protocol: its name on the command line, its transport and its reference servers."""

    name: str
    summary: str  #: one line: what a correct server does
    transport: str = "tcp"  #: "tcp" or "udp"
    servers: tuple[str, ...] = ()  #: reference servers (``python -m servers.NAME``) checked by default


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "echo", "every byte a client sends comes back, in order", servers=("sequential", "threaded", "selector")
        ),
        Protocol(
            "framed",
            "messages prefixed with a 10-byte ASCII decimal length header are echoed frame by frame",
            servers=("framed",),
        ),
        Protocol("greeting", "each client receives a fixed banner, then a clean close", servers=("greeting",)),
        Protocol(
            "http-file",
            "HTTP/1.0 GET and HEAD of the files under a root directory, never outside it",
            servers=("http_file",),
        ),
        Protocol(
            "udp-echo", "every datagram comes back unchanged to its sender", transport="udp", servers=("udp_echo",)
        ),
    )
}

#: every TCP protocol (checks that only need a listening TCP server, such as the lifecycle ones)
TCP = tuple(name for name, p in PROTOCOLS.items() if p.transport == "tcp")


def protocol(name: str) -> Protocol:
    """The protocol called ``name``; :class:`HarnessError` listing the valid names if there is none."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise HarnessError(f"unknown protocol {name!r}: choose one of {', '.join(PROTOCOLS)}") from None
