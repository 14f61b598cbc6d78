"""Framed echo that expects at most one frame per recv: what follows the first frame in a read is dropped.

Caught by: framed.back-to-back

Realistic: the tutorial's client loop resets its buffer after each message, which loses the next frame
whenever two frames arrive together (small frames sent back to back often do).
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
                data = conn.recv(65536)
                if not data:
                    conn.shutdown(socket.SHUT_WR)
                    return
                header = data[:10] + (recv_exactly(conn, 10 - len(data)) or b"" if len(data) < 10 else b"")
                n = int(header)
                body = data[10 : 10 + n]
                if len(body) < n:
                    body += recv_exactly(conn, n - len(body)) or b""
                conn.sendall(header + body)  # BUG: data[10 + n :] (the next frames) is thrown away
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
