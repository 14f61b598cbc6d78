"""Framed echo that takes one recv(10) as the whole header and one recv(n) as the whole body.

Caught by: framed.split

Realistic: it is the tutorial's reader (`header = s.recv(10); n = int(header)`), which works while every
frame arrives in one piece and misreads the length as soon as a header is split across segments.
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
                header = conn.recv(10)  # BUG: a recv may return fewer than 10 bytes
                if not header:
                    conn.shutdown(socket.SHUT_WR)
                    return
                n = int(header)
                body = conn.recv(n) if n else b""  # BUG: and fewer than n here
                conn.sendall(f"{len(body):<10}".encode() + body)
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
