"""Closes the socket as soon as the client half-closes, discarding echo still waiting in its output buffer.

Caught by: echo.half-close

Realistic: "recv() returned b'', the client is gone, close it" is the usual reflex in an event loop; but
EOF only means the client has finished sending, and the echo it is still waiting for is thrown away
(shows with payloads of 100 KiB or more when the client half-closes right after writing).
The small SO_SNDBUF (harmless for a correct server) keeps echo waiting in the output buffer even on
loopback, whose kernel buffers would otherwise absorb MiBs and hide the bug.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
from dataclasses import dataclass, field
from types import FrameType

SNDBUF = 16384  # a small kernel send buffer per client "to save memory": harmless when sends are correct
HIGH_WATER = 256 * 1024  # stop reading while this much echo is waiting to be sent


@dataclass
class Client:
    sock: socket.socket
    out: bytearray = field(default_factory=bytearray)


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def close(sel: selectors.BaseSelector, client: Client) -> None:
    sel.unregister(client.sock)
    client.sock.close()


def serve(sel: selectors.BaseSelector, client: Client, mask: int) -> None:
    try:
        if mask & selectors.EVENT_READ:
            data = client.sock.recv(65536)
            if not data:  # BUG: client.out may still hold echo the client is waiting for
                close(sel, client)
                return
            client.out += data
        if client.out:  # send what the kernel takes now; the rest waits for EVENT_WRITE
            del client.out[: client.sock.send(client.out)]
    except BlockingIOError:
        pass
    except OSError:  # ConnectionResetError, BrokenPipeError: drop this client only
        close(sel, client)
        return
    events = selectors.EVENT_WRITE if client.out else 0
    if len(client.out) < HIGH_WATER:
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
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
                sel.register(conn, selectors.EVENT_READ, Client(conn))
            else:
                serve(sel, key.data, mask)


if __name__ == "__main__":
    main()
