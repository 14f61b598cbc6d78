"""Ignores the return value of send() on a non-blocking socket: what the kernel did not take is lost.

Caught by: echo.fidelity

Realistic: `sock.send(data)` looks like "send the data", and with small messages on an idle loopback it
always sends all of it; once the peer reads slowly the kernel accepts only part (or nothing, raising
BlockingIOError) and the rest of the echo is lost. The small SO_SNDBUF (harmless for a correct
server) makes this happen with a few hundred KiB even on loopback, whose buffers otherwise absorb MiBs.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
from types import FrameType

SNDBUF = 16384  # a small kernel send buffer per client "to save memory": harmless when sends are correct


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(sel: selectors.BaseSelector, conn: socket.socket) -> None:
    try:
        data = conn.recv(65536)
        if data:
            conn.send(data)  # BUG: send() may take only part of `data`; the rest is dropped
            return
    except BlockingIOError:  # the same mistake: nothing was taken, and nothing is kept to retry
        return
    except OSError:  # ConnectionResetError, BrokenPipeError: drop this client only
        pass
    sel.unregister(conn)
    conn.close()


def main() -> None:
    signal.signal(signal.SIGTERM, on_sigterm)
    host = os.environ.get("HOST", "127.0.0.1")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(sys.argv[1])))
    listener.listen(128)
    listener.setblocking(False)
    print("listening on {}:{}".format(*listener.getsockname()[:2]), flush=True)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.data is None:  # the listener
                conn, _ = listener.accept()
                conn.setblocking(False)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
                sel.register(conn, selectors.EVENT_READ, conn)
            else:
                serve(sel, key.data)


if __name__ == "__main__":
    main()
