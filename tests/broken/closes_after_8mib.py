"""Echoes correctly, but cuts every connection off after 8 MiB ("protection against abuse").

Caught by: echo.large

Realistic: a per-connection byte limit added as a safety net and forgotten; every small test passes, and the
first real bulk transfer (a backup, an upload) is silently truncated. The client sees a clean FIN, no error.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType

LIMIT = 8 * 1024 * 1024  # BUG: an echo server has no business capping a stream


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    total = 0
    try:
        while total < LIMIT and (data := conn.recv(65536)):
            data = data[: LIMIT - total]
            conn.sendall(data)
            total += len(data)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        conn.close()


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
