"""Reads each new client's first bytes in the accept loop (with listen(1)), so a silent client blocks accept.

Caught by: conn.idle

Realistic: "peek at the first message to log or route it, then hand off to a thread" is a common design;
a client that connects and sends nothing stalls every later connection, and the backlog of 1 makes
further connection attempts wait for SYN retries.
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


def handle(conn: socket.socket, data: bytes) -> None:
    with conn:
        try:
            while data:
                conn.sendall(data)
                data = conn.recv(65536)
        except OSError:  # ConnectionResetError, BrokenPipeError: drop this client only
            pass


def main() -> None:
    signal.signal(signal.SIGTERM, on_sigterm)
    host = os.environ.get("HOST", "127.0.0.1")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(sys.argv[1])))
    listener.listen(1)  # BUG (1/2): backlog of one
    print("listening on {}:{}".format(*listener.getsockname()[:2]), flush=True)
    while True:
        conn, _ = listener.accept()
        try:
            first = conn.recv(65536)  # BUG (2/2): blocks the accept loop until this client speaks
        except OSError:
            conn.close()
            continue
        threading.Thread(target=handle, args=(conn, first), daemon=True).start()


if __name__ == "__main__":
    main()
