"""Exits with os._exit(0) the moment SIGTERM arrives, cutting off connections in the middle of an echo.

Caught by: lifecycle.drain (a warning: stopping at once is a clean stop, which the echo protocol allows)

Realistic: os._exit(0) in the handler is the quickest way to "exit cleanly with status 0", and it does:
but clients in the middle of a large echo lose the rest of it (often with a RST).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    os._exit(0)  # BUG: no draining: connections in flight are cut off mid-echo


def handle(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
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
