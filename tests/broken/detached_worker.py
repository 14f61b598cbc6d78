"""Serves from a worker started in a session of its own, and announces the worker's port: the listening
socket is outside the server's process group.

Caught by: startup.ready

Realistic: a supervisor starts its worker with `start_new_session=True` so that Ctrl-C in the terminal does
not reach it. Signals sent to the server's group then miss the worker, so the port can outlive the server;
the harness cannot tell the worker from any other program on that port, and refuses to check it. (The
worker ends when the supervisor does: it watches the pipe the supervisor holds.)
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
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


def worker(port: int) -> None:
    """Listen on ``port``, tell the supervisor which port on stdout, serve until stdin (its pipe) ends."""
    host = os.environ.get("HOST", "127.0.0.1")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    print("{}:{}".format(*listener.getsockname()[:2]), flush=True)
    events = selectors.DefaultSelector()
    events.register(listener, selectors.EVENT_READ)
    events.register(sys.stdin, selectors.EVENT_READ)
    while True:
        for key, _ in events.select():
            if key.fileobj is sys.stdin:
                return  # the supervisor has ended: so does the worker
            conn, _ = listener.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()


def main() -> None:
    if sys.argv[1] == "--worker":
        worker(int(sys.argv[2]))
        return
    signal.signal(signal.SIGTERM, on_sigterm)
    child = subprocess.Popen(
        [sys.executable, __file__, "--worker", sys.argv[1]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,  # BUG: the worker leaves the server's process group
    )
    assert child.stdout is not None
    address = child.stdout.readline().decode().strip()
    print(f"listening on {address}", flush=True)
    child.wait()


if __name__ == "__main__":
    main()
