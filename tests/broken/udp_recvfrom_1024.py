"""Reads each datagram with recvfrom(1024): anything longer is silently truncated to its first 1024 bytes.

Caught by: udp.fidelity

Realistic: ``recvfrom(1024)`` is in nearly every UDP tutorial. Unlike TCP, a datagram is read whole or not
at all: the kernel discards whatever does not fit the buffer, so short test strings work and a 1500 B
datagram comes back as 1024 B.
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
        data, addr = sock.recvfrom(1024)  # BUG: a datagram longer than 1024 B loses the rest
        sock.sendto(data, addr)


if __name__ == "__main__":
    main()
