"""Serves one client at a time, so one idle client that keeps its connection open starves all others.

Caught by: conn.idle

Realistic: it is the tutorial's sequential loop (accept, echo until EOF, accept the next); every echo is
correct and it passes the harness's --sequential mode, but it cannot serve two clients at once.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from types import FrameType


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


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
        with conn:  # BUG: the next client is accepted only after this one has gone
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:  # ConnectionResetError, BrokenPipeError: drop this client only
                pass


if __name__ == "__main__":
    main()
