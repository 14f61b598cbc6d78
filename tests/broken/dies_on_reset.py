"""Has no exception handling around recv()/send(): one client's RST crashes the whole server.

Caught by: conn.reset

Realistic: a single-threaded selectors loop is written for the happy path; when a client aborts with a RST
(SO_LINGER 0 then close), recv() or send() raises ConnectionResetError or BrokenPipeError, nothing catches
it, and the process dies with a traceback, taking every other client with it.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
from dataclasses import dataclass, field
from types import FrameType

HIGH_WATER = 256 * 1024  # stop reading while this much echo is waiting to be sent


@dataclass
class Client:
    sock: socket.socket
    out: bytearray = field(default_factory=bytearray)
    eof: bool = False


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(sel: selectors.BaseSelector, client: Client, mask: int) -> None:
    # BUG: no try/except: ConnectionResetError or BrokenPipeError from one client ends the process
    if mask & selectors.EVENT_READ:
        data = client.sock.recv(65536)
        client.out += data
        client.eof = not data
    if mask & selectors.EVENT_WRITE:
        del client.out[: client.sock.send(client.out)]
    if client.eof and not client.out:  # everything echoed: now close (the client sees FIN)
        sel.unregister(client.sock)
        client.sock.close()
        return
    events = selectors.EVENT_WRITE if client.out else 0
    if not client.eof and len(client.out) < HIGH_WATER:
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
