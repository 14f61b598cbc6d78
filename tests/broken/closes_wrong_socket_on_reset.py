"""On a client's reset, closes the most recently accepted connection instead of the one that was reset.

Caught by: fuzz.stateful (also conn.reset; no single-connection check can see it)

Realistic: the error handler refers to ``conn``, a module-level name the accept loop rebinds for every new
client, instead of the handler's own socket. With one client at a time they are the same socket; with two, a
reset on the older one silently kills the newer one.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType

conn: socket.socket | None = None  # the accept loop's variable, rebound for every client


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(client: socket.socket) -> None:
    try:
        while data := client.recv(65536):
            client.sendall(data)
        client.shutdown(socket.SHUT_WR)
        client.close()
    except OSError:
        if conn is not None:  # "close it properly": shut down both directions, then close
            try:
                conn.shutdown(socket.SHUT_RDWR)  # BUG: the newest client's socket, not this one
            except OSError:
                pass
            conn.close()
        client.close()


def main() -> None:
    global conn
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
