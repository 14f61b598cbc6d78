"""Framed echo that reads the whole stream first and answers only once the client has half-closed.

Caught by: framed.interactive

Realistic: "read everything, then process it" (``while chunk := conn.recv(...)``, then parse the buffer) is
how a batch job reads a file; against a socket it answers a client that sends and then waits for its reply
never, while every test that half-closes after its frames passes.
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
            stream = bytearray()
            while chunk := conn.recv(65536):  # BUG: nothing is answered until the client half-closes
                stream += chunk
            pos = 0
            while pos + 10 <= len(stream):
                n = int(stream[pos : pos + 10])
                conn.sendall(bytes(stream[pos : pos + 10 + n]))
                pos += 10 + n
            conn.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):  # ConnectionResetError, BrokenPipeError, a bad header: drop this client
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
