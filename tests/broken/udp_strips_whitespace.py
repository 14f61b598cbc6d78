"""Echoes ``data.strip()``: spaces, tabs, CR, LF and other ASCII whitespace at both ends are dropped.

Caught by: udp.fidelity (found by the property, not by the boundary sweep)

Realistic: testing with ``echo hello | nc -u`` sends a trailing newline, and stripping it looks harmless;
but an echo server must return every byte, and datagrams that start or end with such a byte change.
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
        sock.sendto(data.strip(), addr)  # BUG: should be sock.sendto(data, addr)


if __name__ == "__main__":
    main()
