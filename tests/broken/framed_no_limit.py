"""Framed echo with no maximum frame size: it believes any declared length and buffers that much.

Caught by: framed.oversize

Realistic: nothing in the tutorial limits the length header, so a client that declares 9,999,999,999
bytes makes the server read (and keep in memory) whatever it is sent, for as long as it is sent.
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
                header = recv_exactly(conn, 10)
                if header is None:
                    conn.shutdown(socket.SHUT_WR)
                    return
                n = int(header)  # BUG: no upper bound on what a client may declare
                body = recv_exactly(conn, n)
                if body is None:
                    return
                conn.sendall(header + body)
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
