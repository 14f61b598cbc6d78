"""Greeting server that sends its banner but never closes the connection: the client waits for EOF forever.

Caught by: greeting.banner

Realistic: the tutorial sends the welcome message and moves on to the next accept, keeping the client
socket referenced (here in a list), so the client never learns that the banner is complete.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType

BANNER = b"Welcome to the greeting server!\n"


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


OPEN: list[socket.socket] = []


def handle(conn: socket.socket) -> None:
    try:
        conn.sendall(BANNER)
    except OSError:
        return
    OPEN.append(conn)  # BUG: never closed, so the client never sees EOF


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
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
