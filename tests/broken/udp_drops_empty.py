"""Skips empty datagrams (``if not data: continue``), so a 0-byte datagram never gets its echo.

Caught by: udp.fidelity

Realistic: with TCP, ``recv()`` returning ``b''`` means the peer closed, and the habit of skipping it is
carried over; for UDP an empty datagram is a valid message that must be echoed like any other.
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
        if not data:  # BUG: an empty datagram is a message, not "nothing"
            continue
        sock.sendto(data, addr)


if __name__ == "__main__":
    main()
