"""Shares one module-level buffer between all connection threads, so clients' bytes leak into each other.

Caught by: conn.concurrency

Realistic: a global "scratch buffer" looks harmless while testing with one client; with several concurrent
clients one thread sends out bytes another thread has just appended.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType

buffer = bytearray()  # BUG: one buffer for every connection thread, and no lock


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(65536):
                buffer.extend(data)
                conn.sendall(bytes(buffer))  # other threads append to `buffer` while this one sends
                buffer.clear()
        except OSError:  # ConnectionResetError, BrokenPipeError: drop this client only
            buffer.clear()  # and do not leave its bytes for the next client


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
