"""Accepts and reads everything but never writes anything back: the send was forgotten.

Caught by: echo.fidelity

Realistic: the handler was written to count/log what arrives and the `sendall` never made it in; the
connection looks healthy (it accepts, reads, and closes when the client closes) but echoes nothing.
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
    received = 0
    with conn:
        try:
            while data := conn.recv(65536):
                received += len(data)  # BUG: no conn.sendall(data)
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
