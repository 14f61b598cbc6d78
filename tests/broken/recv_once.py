"""Reads once per connection: echoes at most the first recv(1024), then closes the connection.

Caught by: echo.fidelity

Realistic: it is the classic tutorial handler (`data = conn.recv(1024); conn.sendall(data); conn.close()`),
which works for a short test string and silently truncates anything longer or sent in pieces.
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
            data = conn.recv(1024)  # BUG: one recv is not "the whole message", and 1024 is arbitrary
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
