"""Binds to all interfaces (0.0.0.0) whatever HOST says, exposing the server to the whole network.

Caught by: lifecycle.bind-address

Realistic: `bind(("", port))` is in countless examples and "fixes" connection problems in containers;
the echo is correct, but the port is reachable from every interface instead of only HOST.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
from types import FrameType


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:  # ConnectionResetError, BrokenPipeError: drop this client only
            pass


def main() -> None:
    signal.signal(signal.SIGTERM, on_sigterm)
    listener = socket.socket(socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("", int(sys.argv[1])))  # BUG: "" is 0.0.0.0, every interface; HOST is ignored
    listener.listen(128)
    print("listening on {}:{}".format(*listener.getsockname()[:2]), flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
