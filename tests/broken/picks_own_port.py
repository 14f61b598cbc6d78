"""Ignores the port it is given: it reads its own ECHO_PORT variable (unset: any free port) and says where it
listens only in a log line on stderr.

Caught by: startup.ready

Realistic: each program invents its own configuration variable, and `logging.basicConfig(level=INFO)` writes
to stderr; run as `server {port}` it listens where nobody looks, and prints no readiness line. The failure
names the port it does listen on and says how to tell the harness.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
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
    logging.basicConfig(level=logging.INFO)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("ECHO_PORT", "0"))  # BUG: neither sys.argv[1] nor PORT, its own variable
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    logging.info("echo server listening on port %d", listener.getsockname()[1])  # to stderr, in its own words
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
