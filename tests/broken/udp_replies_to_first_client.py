"""Sends every echo to the first client it ever heard from, whoever sent the datagram.

Caught by: udp.clients

Realistic: a server written and tested with one client keeps "the client" in a variable set once
(``if client is None: client = addr``); with a single client it is correct, with two the first one gets
both clients' echoes and the second gets nothing.
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
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(sys.argv[1])))
    print("listening on {}:{}".format(*sock.getsockname()[:2]), flush=True)
    client = None
    while True:
        data, addr = sock.recvfrom(65535)
        if client is None:
            client = addr  # BUG: remembers the first sender for good
        sock.sendto(data, client)  # should be sock.sendto(data, addr)


if __name__ == "__main__":
    main()
