"""Reads each client's first 16 bytes (a "header") in the accept loop, before handing it to a thread.

Caught by: conn.slowloris (and conn.idle, whose silent clients block it the same way)

Realistic: peeking at a greeting or header to choose a handler is done "quickly" in the accept loop; a client
that trickles its first bytes (slowloris) holds the accept loop for as long as it likes, and every other new
client waits. Clients that send their first bytes promptly, as the echo checks do, never notice.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType

HEADER = 16


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket, first: bytes) -> None:
    try:
        conn.sendall(first)
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        conn.close()


def main() -> None:
    signal.signal(signal.SIGTERM, on_sigterm)
    host = os.environ.get("HOST", "127.0.0.1")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(sys.argv[1])))
    listener.listen(128)
    print("listening on {}:{}".format(*listener.getsockname()[:2]), flush=True)
    while True:
        conn, _ = listener.accept()
        first = b""
        try:
            while len(first) < HEADER:  # BUG: blocks the accept loop on a slow client
                chunk = conn.recv(HEADER - len(first))
                if not chunk:
                    break
                first += chunk
        except OSError:
            conn.close()
            continue
        threading.Thread(target=handle, args=(conn, first), daemon=True).start()


if __name__ == "__main__":
    main()
