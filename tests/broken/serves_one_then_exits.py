"""Serves exactly one client, then exits: the accept() is not inside a loop.

Caught by: conn.concurrency

Realistic: the first socket tutorial most people copy accepts once, serves that client and falls off the
end of the script; the echo is correct, but every other client is refused or reset.
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
    conn, _ = listener.accept()  # BUG: no `while True:` around accept and serve
    with conn:
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:  # ConnectionResetError, BrokenPipeError
            pass


if __name__ == "__main__":
    main()
