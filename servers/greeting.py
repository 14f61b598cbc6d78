"""Greeting server: each client gets a fixed banner, then a clean close.

``python -m servers.greeting [--banner TEXT | --banner-file PATH] [--linger 5] [--host 127.0.0.1] [--port 0]
[--listen-fd]``

The whole banner is sent (``sendall``), then FIN. Whatever the client sent meanwhile is read and discarded
until it closes too (at most ``linger`` seconds, ``LINGER`` by default): closing a socket with unread input
sends RST, which can destroy the end of the banner before the client has read it. A client that never closes
costs its thread and no read buffer meanwhile (:func:`~servers.base.discard_until_closed`).
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Sequence
from typing import Any

from .base import DEFAULT_HOST, ServerSetupError, discard_until_closed, run_main, seconds_option
from .threaded import ThreadedEchoServer

DEFAULT_BANNER = b"Hello from the greeting server. Goodbye!\n"
LINGER = 5.0  #: seconds to wait for the client's own close after the banner


class GreetingServer(ThreadedEchoServer):
    """Sends ``banner`` to every client, then closes cleanly; see the module docstring."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        banner: bytes = DEFAULT_BANNER,
        linger: float = LINGER,
        **options: Any,
    ) -> None:
        """As :class:`~servers.threaded.ThreadedEchoServer` (``sock``, ``grace``, ``backlog``), plus the banner
        and the seconds to wait for each client's close after it."""
        if not 0 <= linger < float("inf"):
            raise ValueError(f"linger must be a finite number of seconds >= 0, got {linger!r}")
        super().__init__(host, port, **options)
        self.banner = banner
        self.linger = linger

    def handle(self, conn: socket.socket) -> None:
        """Send the banner and FIN, then discard input until the client closes (bounded by ``linger``)."""
        try:
            conn.sendall(self.banner)
            conn.shutdown(socket.SHUT_WR)
        except OSError:  # the client is gone
            return
        discard_until_closed(conn, self.linger, self.recv_size)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--banner", help="the banner (UTF-8 text; default: a one-line greeting)")
        which.add_argument("--banner-file", metavar="PATH", help="send the bytes of this file as the banner")
        parser.add_argument(
            "--linger",
            type=seconds_option,
            default=LINGER,
            metavar="SECONDS",
            help="after the banner, seconds to wait for the client's close (default: %(default)s)",
        )

    @classmethod
    def options_from(cls, args: argparse.Namespace) -> dict[str, object]:
        options: dict[str, object] = {"linger": args.linger}
        if args.banner_file is not None:
            try:
                with open(args.banner_file, "rb") as f:
                    return {**options, "banner": f.read()}
            except OSError as exc:
                raise ServerSetupError(f"--banner-file: cannot read {args.banner_file}: {exc.strerror}") from None
        return {**options, "banner": args.banner.encode() if args.banner is not None else DEFAULT_BANNER}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(GreetingServer, "Greeting server: send a banner, then close cleanly.", argv)


if __name__ == "__main__":
    raise SystemExit(main())
