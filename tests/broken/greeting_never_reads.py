"""Greeting server that sends its banner and FIN, then never reads or closes the connection: every client
leaves a descriptor behind.

Caught by: greeting.client-talks (descriptors)

Realistic: the fix for "closing with unread input sends RST" done halfway: ``shutdown(SHUT_WR)`` after the
banner, and the socket kept "until the client is done", which nothing ever checks. Node's
``socket.end(banner)`` on a paused socket does the same. Every client gets its banner and FIN, so every
banner test passes, while the server runs out of descriptors one visitor at a time.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from types import FrameType

BANNER = b"Welcome to the greeting server!\n"
kept: list[socket.socket] = []  # BUG: connections are half-closed and kept, never read to EOF nor closed


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


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
        try:
            conn.sendall(BANNER)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        kept.append(conn)


if __name__ == "__main__":
    main()
