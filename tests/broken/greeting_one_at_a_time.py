"""Greeting server that serves one client at a time and waits for each to close before accepting the next.

Caught by: greeting.concurrent

Realistic: the tutorial's loop handles each client in the main thread; a client that keeps its connection
open (it is slow, or idle) makes every later client wait for its banner.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from types import FrameType

BANNER = b"Welcome to the greeting server!\n"


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    with conn:
        try:
            conn.sendall(BANNER)
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):  # BUG: in the accept loop, this waits on one client while others queue
                pass
        except OSError:
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
        handle(conn)


if __name__ == "__main__":
    main()
