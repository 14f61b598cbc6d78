"""Forks a child per connection without closing the listening socket in the child.

Caught by: lifecycle.port-refuses

Realistic: closing the inherited listener in the child is the step every fork-server tutorial mentions and
everyone forgets; after SIGTERM the parent exits 0, but a child still serving a client holds the listener,
so the port keeps accepting connections (that nobody will ever serve) until that client leaves.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from types import FrameType


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:  # ConnectionResetError, BrokenPipeError
            pass


def main() -> None:
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # finished children are reaped by the kernel
    host = os.environ.get("HOST", "127.0.0.1")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(sys.argv[1])))
    listener.listen(128)
    print("listening on {}:{}".format(*listener.getsockname()[:2]), flush=True)
    while True:
        conn, _ = listener.accept()
        if os.fork() == 0:  # child: BUG: it never calls listener.close()
            try:
                serve(conn)
            finally:
                os._exit(0)
        conn.close()  # parent: the child has its own copy


if __name__ == "__main__":
    main()
