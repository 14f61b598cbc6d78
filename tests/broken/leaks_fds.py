"""Never closes accepted sockets: after EOF it only shuts down the write side, so descriptors pile up.

Caught by: conn.storm

Realistic: keeping a list of "connected clients" and replacing close() with shutdown() because "the client
already saw the FIN" both look fine in a demo; each connection leaks one descriptor until EMFILE.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType

clients: list[socket.socket] = []  # BUG: entries are never removed, and the sockets never closed


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    try:
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)  # the client sees its FIN, but the descriptor stays open
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
        clients.append(conn)
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
