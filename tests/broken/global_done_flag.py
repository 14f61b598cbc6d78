"""A per-connection "done" flag that is really one global: one client's EOF ends every other connection.

Caught by: conn.concurrency (a forced interleaving: client A is served, client B has a whole exchange and
half-closes, then A must still be served; each step waits for the one before, so no timing is involved)

Realistic: ``global done`` written to silence an UnboundLocalError in a handler that was first written for
one client at a time. Each handler resets it when it starts, so one client at a time works perfectly; as soon
as one client half-closes while another is mid-conversation, the other's loop exits and its connection is
closed under it.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType

done = False  # BUG: shared by every connection thread


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    global done
    done = False
    try:
        while not done:
            data = conn.recv(65536)
            if not data:
                done = True
                break
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
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
