"""Never closes the connection when the client half-closes: recv() returning b'' is treated as "no data yet".

Caught by: echo.half-close

Realistic: b'' from recv() is easy to misread as "nothing arrived, try again"; the echo itself is correct,
but the client waits for an EOF that never comes.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from types import FrameType


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    with conn:
        try:
            while True:
                data = conn.recv(65536)
                if not data:  # BUG: b'' means EOF, not "nothing yet": the connection is never closed
                    time.sleep(0.5)
                    continue
                conn.sendall(data)
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
