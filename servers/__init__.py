"""Reference servers: echo (sequential, threaded and selectors-based, each correct under partial reads and
writes, half-close, resets, backpressure and signals) and one per other protocol of the tutorials (framed,
greeting, http_file, udp_echo). Run one with ``python -m servers.NAME --port 0``.

Submodules are imported on demand (``python -m servers.NAME`` must not find its own module pre-imported).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import EchoServer

#: name on the command line (``python -m servers.NAME``) -> class name in that module
REFERENCE_SERVERS: dict[str, str] = {
    "sequential": "SequentialEchoServer",
    "threaded": "ThreadedEchoServer",
    "selector": "SelectorEchoServer",
    "framed": "FramedEchoServer",
    "greeting": "GreetingServer",
    "http_file": "HTTPFileServer",
    "udp_echo": "UDPEchoServer",
}


#: the echo servers (the other reference servers speak the other protocols of :mod:`harness.protocols`)
ECHO_SERVERS = ("sequential", "threaded", "selector")


def server_class(name: str) -> type[EchoServer]:
    """The reference server class called ``name``; raises ``KeyError`` listing the valid names."""
    if name not in REFERENCE_SERVERS:
        raise KeyError(f"no reference server {name!r}; choose one of {', '.join(REFERENCE_SERVERS)}")
    cls: type[EchoServer] = getattr(importlib.import_module(f".{name}", __name__), REFERENCE_SERVERS[name])
    return cls


__all__ = ["ECHO_SERVERS", "REFERENCE_SERVERS", "server_class"]
