"""Framed echo whose `int(header)` raises on a header that is not a number, which ends the whole server.

Caught by: framed.bad-header

Realistic: the tutorial serves clients one after the other in its main loop with no error handling, so
one client sending "hello" instead of a length kills the server for everybody.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from types import FrameType


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def recv_exactly(conn: socket.socket, n: int) -> bytes | None:
    """Exactly n bytes, or None if the client ended the stream first."""
    data = b""
    while len(data) < n:
        chunk = conn.recv(min(65536, n - len(data)))
        if not chunk:
            return None
        data += chunk
    return data


def handle(conn: socket.socket) -> None:
    with conn:
        try:
            while True:
                header = recv_exactly(conn, 10)
                if header is None:
                    conn.shutdown(socket.SHUT_WR)
                    return
                n = int(header)  # BUG: ValueError on "hello", and nothing catches it
                if n < 0 or n > 1 << 20:
                    return
                body = recv_exactly(conn, n)
                if body is None:
                    return
                conn.sendall(header + body)
        except OSError:  # ConnectionResetError, BrokenPipeError: drop this client only
            pass


def main() -> None:
    signal.signal(signal.SIGTERM, on_sigterm)
    host = os.environ.get("HOST", "127.0.0.1")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(sys.argv[1])))
    listener.listen(128)
    print("listening on {}:{}".format(*listener.getsockname()[:2]), flush=True)
    while True:
        conn, _ = listener.accept()
        handle(conn)  # one client at a time, in the main loop: its exception ends the server


if __name__ == "__main__":
    main()
