"""Decodes every datagram as UTF-8 (to log it): invalid UTF-8 raises UnicodeDecodeError and the server dies.

Caught by: udp.garbage

Realistic: ``data.decode()`` to print or process "the message" works for every test string typed by hand;
the first binary or truncated datagram crashes the whole server, for every client, with a traceback.
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
        text = data.decode("utf-8")  # BUG: raises UnicodeDecodeError on invalid UTF-8, killing the server
        print(f"{addr}: {len(text)} characters", file=sys.stderr)
        sock.sendto(text.encode("utf-8"), addr)


if __name__ == "__main__":
    main()
