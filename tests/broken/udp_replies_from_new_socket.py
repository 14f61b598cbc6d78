"""Sends each echo from a new socket, so the reply comes from another port than the one the client used.

Caught by: udp.fidelity

Realistic: "open a socket, send, close" is how many programs send one datagram; but a client that
``connect()``s its socket to the server (``nc -u`` does, as do most UDP clients) only accepts datagrams from
the server's own address and port, so it never sees the reply.
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
    while True:
        data, addr = sock.recvfrom(65535)
        with socket.socket(sock.family, socket.SOCK_DGRAM) as out:  # BUG: should reply through sock itself
            out.sendto(data, addr)


if __name__ == "__main__":
    main()
