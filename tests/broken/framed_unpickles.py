"""Framed echo that unpickles each body and pickles it again: any client can run code on the server.

Caught by: framed.no-unpickle

Realistic: the tutorial transfers Python objects with `pickle.loads(msg[HEADERSIZE:])`; the pickle
documentation warns that unpickling data from an untrusted source executes whatever it says.
"""

from __future__ import annotations

import os
import pickle
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
                body = recv_exactly(conn, min(int(header), 1 << 20))
                if body is None:
                    return
                try:
                    body = pickle.dumps(pickle.loads(body))  # BUG: unpickling untrusted bytes runs their code
                except Exception:
                    pass  # not a pickle: echo the bytes as they are
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
