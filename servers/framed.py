"""Length-prefixed framing, as in the tutorial's object transfer: each frame echoed back, bounded in memory.

``python -m servers.framed [--max-frame 1048576] [--host 127.0.0.1] [--port 0] [--listen-fd] [--grace 5]``

A frame is a 10-byte header, the body's length as ASCII decimal digits padded with spaces (the tutorial
writes ``f"{len(body):<10}"``; right-aligned and zero-padded headers are accepted too), then the body.
The server reads exactly one header and exactly one body, whatever way they are split across reads, and
sends the frame back unchanged. Bodies are bytes and are never interpreted (above all, never unpickled).
A header that is not a decimal number, or that declares more than ``max_frame`` bytes, ends the
connection before a byte of its body is read. The declared length is a bound to check, never an allocation:
the body is buffered as it arrives (nothing while none has, never twice what has), so a client cannot make
the server allocate what it declares, only about what it sends. Frames are echoed with one ``sendmsg``.
"""

from __future__ import annotations

import argparse
import socket
import struct
from collections.abc import Sequence
from typing import Any

try:
    import fcntl
    import termios

    FIONREAD: int | None = termios.FIONREAD
except ImportError:  # not on this platform: bodies grow by doubling alone
    FIONREAD = None

from .base import DEFAULT_HOST, ServerSetupError, recv_arrived, run_main, send_pieces
from .threaded import ThreadedEchoServer

HEADER_SIZE = 10
DEFAULT_MAX_FRAME = 1024 * 1024


def parse_header(header: bytes, max_frame: int) -> int | None:
    """The body length ``header`` declares, or None when it is not 1-10 decimal digits padded with spaces
    or declares more than ``max_frame``."""
    digits = header.strip(b" ")
    if not digits or not digits.isdigit() or len(header) != HEADER_SIZE:
        return None
    length = int(digits)
    return length if length <= max_frame else None


def recv_exactly(conn: socket.socket, view: memoryview) -> bool:
    """Fill ``view`` from ``conn``; False if the peer ended the stream first."""
    got = 0
    while got < len(view):
        n = conn.recv_into(view[got:])
        if n == 0:
            return False
        got += n
    return True


def queued(conn: socket.socket) -> int:
    """Bytes waiting in ``conn``'s receive queue (``FIONREAD``): what has arrived and not been read yet; 0
    where the platform cannot tell."""
    if FIONREAD is None:
        return 0
    try:
        answer = fcntl.ioctl(conn.fileno(), FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    count: int = struct.unpack("i", answer)[0]
    return count


def recv_body(conn: socket.socket, length: int, piece: int) -> list[bytes | bytearray] | None:
    """The next ``length`` bytes of ``conn``, as consecutive pieces, or None if the peer ends its stream first.

    Memory follows what arrives, never what was declared: the first piece is what has already arrived (at
    most ``piece`` bytes or, for a larger body, the bytes already queued; nothing is held while none has);
    each later one holds the bytes queued (:func:`queued`) or, when fewer are, as many as all the pieces
    before it, and is filled in place, so the buffers never reach twice what arrived. A body declared but
    never sent costs nothing; one that arrives in one read is returned as it came, without a copy."""
    limit = min(length, piece) if length <= piece else min(length, max(piece, queued(conn)))
    first = recv_arrived(conn, limit) if length else b""
    if len(first) == length:
        return [first]
    if not first:
        return None
    pieces: list[bytes | bytearray] = [first]
    got = len(first)
    del first
    while got < length:
        chunk = bytearray(min(length - got, max(got, queued(conn))))
        if not recv_exactly(conn, memoryview(chunk)):
            return None
        pieces.append(chunk)
        got += len(chunk)
    return pieces


class FramedEchoServer(ThreadedEchoServer):
    """Echoes length-prefixed frames; see the module docstring."""

    def __init__(
        self, host: str = DEFAULT_HOST, port: int = 0, *, max_frame: int = DEFAULT_MAX_FRAME, **options: Any
    ) -> None:
        """As :class:`~servers.threaded.ThreadedEchoServer` (``sock``, ``grace``, ``backlog``), plus max_frame."""
        if max_frame < 0:
            raise ValueError(f"max_frame must be >= 0, got {max_frame!r}")
        super().__init__(host, port, **options)
        self.max_frame = max_frame

    def handle(self, conn: socket.socket) -> None:
        """Echo frames until the client ends the stream between two frames (then FIN) or sends a bad
        header or ends mid-frame (then close)."""
        header = memoryview(bytearray(HEADER_SIZE))
        try:
            while True:
                first = conn.recv_into(header)
                if first == 0:  # a clean end between frames
                    conn.shutdown(socket.SHUT_WR)
                    return
                if not recv_exactly(conn, header[first:]):
                    return
                length = parse_header(bytes(header), self.max_frame)
                if length is None:
                    return
                body = recv_body(conn, length, self.recv_size)
                if body is None:
                    return
                send_pieces(conn, [header, *body])
        except OSError:
            pass

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--max-frame",
            type=int,
            default=DEFAULT_MAX_FRAME,
            help="largest body accepted (bytes); a larger declared length closes the connection (default: %(default)s)",
        )

    @classmethod
    def options_from(cls, args: argparse.Namespace) -> dict[str, object]:
        if args.max_frame < 0:
            raise ServerSetupError(f"--max-frame must be >= 0, got {args.max_frame}")
        return {"max_frame": args.max_frame}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(FramedEchoServer, "Framed echo server: 10-byte ASCII length header, then the body.", argv)


if __name__ == "__main__":
    raise SystemExit(main())
