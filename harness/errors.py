"""Whose fault is it? The harness's (:class:`HarnessError`) or the server's (:class:`ServerFault`).

``HarnessError`` means the harness was misused or cannot run (bad option, command not found, unsupported
platform): the command line exits 2. ``ServerFault`` means the server under test broke the protocol or its
lifecycle (wrong bytes, hang, crash, never ready): a check reports it and the command line exits 1.
"""

from __future__ import annotations


class HarnessError(Exception):
    """The harness was misused or cannot do what was asked; the message says how to fix the call."""


class ServerFault(Exception):
    """The server under test misbehaved. ``reproducer`` (optional) replays the failure standalone."""

    def __init__(self, message: str, *, reproducer: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reproducer = reproducer


class StartupFailure(ServerFault):
    """The server exited, or never started listening, before the start-up deadline."""


class ServerWarning(ServerFault):
    """An operational flaw rather than a protocol violation (reported as ``warn``)."""


class CheckSkipped(Exception):
    """The check does not apply to this target or platform; the message says why."""
