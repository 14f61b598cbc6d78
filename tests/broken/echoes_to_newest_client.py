"""Echoes every client's bytes to the most recently accepted connection instead of to that client.

Caught by: fuzz.stateful (also conn.concurrency; no single-connection check can see it)

Realistic: the handler sends through ``latest``, a module-level name kept "for logging", instead of its own
socket. With one client at a time the newest connection is the client itself, so every sequential test
passes; with two clients open together, the older one's echo lands in the newer one's stream.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType

latest: socket.socket | None = None  # the most recently accepted connection


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    try:
        while data := conn.recv(65536):
            (latest or conn).sendall(data)  # BUG: should be conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        conn.close()


def main() -> None:
    global latest
    signal.signal(signal.SIGTERM, on_sigterm)
    host = os.environ.get("HOST", "127.0.0.1")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(sys.argv[1])))
    listener.listen(128)
    print("listening on {}:{}".format(*listener.getsockname()[:2]), flush=True)
    while True:
        conn, _ = listener.accept()
        latest = conn
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
