"""Its SIGTERM handler only sets a flag, checked between datagrams: blocked in recvfrom, it never stops.

Caught by: lifecycle.sigterm

Realistic: a "graceful" ``running = False`` handler is the textbook pattern, but Python retries the
interrupted ``recvfrom()`` after the handler (PEP 475), so unless a datagram arrives the loop never checks
the flag again, and the server has to be killed.

It also announces itself before it has finished setting up (a lookup table built after the readiness line):
a SIGTERM sent at once would land before the loop and be seen. The harness waits until the server is
blocked waiting for datagrams before it signals, so the bug is caught every time.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from types import FrameType


def main() -> None:
    running = True

    def on_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal running
        running = False  # BUG: seen only after the next datagram arrives

    signal.signal(signal.SIGTERM, on_stop)
    host = os.environ.get("HOST", "127.0.0.1")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(sys.argv[1])))
    print("listening on {}:{}".format(*sock.getsockname()[:2]), flush=True)
    hexes = {n: format(n, "02x") for n in range(256) for _ in range(400)}  # setup after the announcement
    while running and hexes:
        data, addr = sock.recvfrom(65535)
        sock.sendto(data, addr)


if __name__ == "__main__":
    main()
