"""Caps the number of clients at 32 and closes every connection over the cap at once, unanswered.

Caught by: conn.burst

Realistic: ``MAX_CLIENTS = 32`` "to protect the server", enforced by closing the excess connection instead of
letting it wait in the backlog; every test with a handful of clients passes, and the first real burst of
traffic (a reconnect storm after a network blip) gets a third of its clients dropped.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType

MAX_CLIENTS = 32  # BUG: excess clients are closed instead of waiting their turn
active = threading.Semaphore(MAX_CLIENTS)


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    try:
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        conn.close()
        active.release()


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
        if not active.acquire(blocking=False):
            conn.close()  # "server busy"
            continue
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
