"""Treats a short read (fewer than 1024 bytes) as "end of message" and closes the connection.

Caught by: echo.partial

Realistic: "keep reading while the buffer comes back full" is a common guess at message framing; it
passes with one big write on loopback and fails as soon as the client sends small chunks with pauses.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    with conn:
        try:
            while True:
                data = conn.recv(1024)
                conn.sendall(data)
                if len(data) < 1024:  # BUG: a short read does not mean the client has finished
                    break
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
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
