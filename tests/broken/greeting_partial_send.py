"""Greeting server that sends its large banner with one non-blocking send() and ignores how much was taken.

Caught by: greeting.banner (run with --banner-file holding the banner, 1 MiB of "welcome ")

Realistic: `send()` returns how many bytes the kernel took; with a banner larger than the socket buffer the
rest is silently dropped unless the code loops (or uses sendall).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType

BANNER = b"welcome " * 131072


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    with conn:
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)  # small, so that it shows at once
            conn.setblocking(False)
            conn.send(BANNER)  # BUG: the return value (bytes taken) is ignored
            conn.setblocking(True)
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):
                pass
        except OSError:
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
