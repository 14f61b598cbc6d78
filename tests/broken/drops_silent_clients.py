"""Closes a connection after 0.25 s without data from the client, as the tutorials' "recv with timeout" loops do.

Caught by: fuzz.faults (a network gap of 300 ms; no check that talks to the server directly can see it)

Realistic: ``select([conn], [], [], TIMEOUT)`` returning nothing is read as "the client has finished". On
loopback the bytes of a message arrive together, so every test passes; on a real network a delayed segment,
a slow client or a person typing loses the connection mid-stream.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
from types import FrameType

TIMEOUT = 0.25  # "long enough for the rest of the message to arrive"


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    try:
        while True:
            readable, _, _ = select.select([conn], [], [], TIMEOUT)
            if not readable:
                break  # BUG: silence is not the end of the stream; only recv() == b"" is
            data = conn.recv(65536)
            if not data:
                conn.shutdown(socket.SHUT_WR)
                break
            conn.sendall(data)
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
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
