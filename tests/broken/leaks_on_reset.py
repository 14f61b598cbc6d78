"""Forgets a connection after a clean EOF, but leaks it (and its descriptor) when the client resets.

Caught by: conn.fd-growth

Realistic: a registry of connected clients (for stats or broadcast) whose cleanup and close() sit at the end
of the happy path instead of in a ``finally``; every reset (a client killed mid-transfer, a closed browser
tab) then leaks one descriptor until accept() fails with EMFILE. A connect/echo/close storm never notices,
because it only ever closes cleanly.
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


clients: dict[int, socket.socket] = {}  # connected clients, by descriptor


def handle(conn: socket.socket) -> None:
    fd = conn.fileno()
    clients[fd] = conn
    try:
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        del clients[fd]  # BUG: cleanup only on the happy path; belongs in a finally
        conn.close()
    except OSError:  # ConnectionResetError, BrokenPipeError: "nothing to do, the client is gone"
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
