"""Turns SIGTERM into an uncaught KeyboardInterrupt: it dies with a traceback and a non-zero status.

Caught by: lifecycle.traceback

Realistic: reusing Python's Ctrl-C handler (`signal.default_int_handler`) for SIGTERM looks like a one-line
fix; nothing catches the KeyboardInterrupt, so every stop prints a traceback to stderr and the process
ends by SIGINT (status 130 in a shell, -2 from subprocess).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading


def handle(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:  # ConnectionResetError, BrokenPipeError: drop this client only
            pass


def main() -> None:
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # BUG: raises KeyboardInterrupt, never caught
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
