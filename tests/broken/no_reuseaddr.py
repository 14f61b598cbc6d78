"""Does not set SO_REUSEADDR, so restarting it right after a stop fails with "Address already in use".

Caught by: lifecycle.restart

Realistic: SO_REUSEADDR is the line people drop because "it works without it"; on SIGTERM this server
closes its clients first (so their sockets sit in TIME_WAIT on the server side) and exits 0, and a
restart on the same port then reports EADDRINUSE on stderr and exits 1.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType

clients: set[socket.socket] = set()


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:  # ConnectionResetError, BrokenPipeError: drop this client only
            pass
    clients.discard(conn)


def main() -> None:
    signal.signal(signal.SIGTERM, on_sigterm)
    host = os.environ.get("HOST", "127.0.0.1")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    # BUG: no listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, int(sys.argv[1])))
    except OSError as exc:
        print(f"error: cannot bind {host}:{sys.argv[1]}: {exc.strerror}", file=sys.stderr)
        sys.exit(1)
    listener.listen(128)
    print("listening on {}:{}".format(*listener.getsockname()[:2]), flush=True)
    try:
        while True:
            conn, _ = listener.accept()
            clients.add(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
    finally:  # on SIGTERM: close the clients ourselves (server-side TIME_WAIT), then exit 0
        for conn in list(clients):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


if __name__ == "__main__":
    main()
