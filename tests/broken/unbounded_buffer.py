"""Keeps reading while a client's output buffer grows without limit (no high-water mark, no backpressure).

Caught by: echo.backpressure

Realistic: an event loop that always reads when the socket is readable looks perfectly fair; a client that
writes 16 MiB and reads nothing makes the server hold all 16 MiB in memory.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
from dataclasses import dataclass, field
from types import FrameType


@dataclass
class Client:
    sock: socket.socket
    out: bytearray = field(default_factory=bytearray)
    eof: bool = False


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def close(sel: selectors.BaseSelector, client: Client) -> None:
    sel.unregister(client.sock)
    client.sock.close()


def serve(sel: selectors.BaseSelector, client: Client, mask: int) -> None:
    try:
        if mask & selectors.EVENT_READ:
            data = client.sock.recv(65536)
            client.out += data
            client.eof = not data
        if mask & selectors.EVENT_WRITE:
            del client.out[: client.sock.send(client.out)]
    except BlockingIOError:
        pass
    except OSError:  # ConnectionResetError, BrokenPipeError: drop this client only
        close(sel, client)
        return
    if client.eof and not client.out:  # everything echoed: now close (the client sees FIN)
        close(sel, client)
        return
    events = selectors.EVENT_WRITE if client.out else 0
    if not client.eof:  # BUG: reads on however large client.out has grown
        events |= selectors.EVENT_READ
    sel.modify(client.sock, events, client)


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
        for key, mask in sel.select():
            if key.data is None:  # the listener
                conn, _ = listener.accept()
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ, Client(conn))
            else:
                serve(sel, key.data, mask)


if __name__ == "__main__":
    main()
