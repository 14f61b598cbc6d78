"""Greeting server that closes right after sending, without reading what the client sent: the close is a reset.

Caught by: greeting.client-talks

Realistic: `conn.send(banner); conn.close()` is the tutorial's greeting; when the client has sent anything
(a hello, a request), closing with unread input makes the kernel send RST, and the client may lose the
banner it has not read yet.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType

BANNER = b"Welcome to the greeting server!\n"


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    with conn:
        try:
            conn.sendall(BANNER)
        except OSError:
            pass
    # BUG: closed with the client's bytes unread: the kernel answers with RST instead of FIN


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
