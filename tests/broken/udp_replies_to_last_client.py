"""Reads every queued datagram in a batch, then sends the whole batch to the sender of the last one.

Caught by: udp.clients

Realistic: batching reads until ``BlockingIOError`` is a good optimisation, but the reply loop reuses
``addr``, which the read loop left pointing at the last sender. One client at a time never notices; when
several clients' datagrams queue up together, their echoes all go to whoever sent last.
"""

from __future__ import annotations

import os
import select
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
    sock.setblocking(False)
    while True:
        select.select([sock], [], [])
        batch = []
        while True:
            try:
                data, addr = sock.recvfrom(65535)
            except BlockingIOError:
                break
            batch.append(data)
        for data in batch:
            sock.sendto(data, addr)  # BUG: addr is the sender of the batch's last datagram


if __name__ == "__main__":
    main()
