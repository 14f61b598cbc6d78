"""Ignores SIGTERM, so it can only be stopped with SIGKILL.

Caught by: lifecycle.sigterm

Realistic: `signal.signal(SIGTERM, SIG_IGN)` "so that a stray signal cannot kill the server" is a real
hardening mistake; service managers then wait out their timeout and kill it without any cleanup.
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
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # BUG: "so a stray signal cannot kill it"
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
