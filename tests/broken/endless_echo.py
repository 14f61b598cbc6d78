"""Echoes every byte, then, once the client half-closes, sends its last chunk again and again, forever.

Caught by: echo.half-close

Realistic: "send what we have" written with a variable that keeps the last chunk, and recv() returning b''
read as "nothing new": the echo itself is exact, but at EOF the loop neither breaks nor blocks, and the
client that waits for the server's FIN gets an endless stream instead (a client that keeps everything it is
sent runs out of memory).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from types import FrameType


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def handle(conn: socket.socket) -> None:
    with conn:
        pending = b""
        try:
            while True:
                # BUG: b'' (EOF) is taken as "nothing new": the last chunk stays pending and is sent again, forever
                pending = conn.recv(65536) or pending
                if not pending:
                    break  # EOF before any byte: nothing to send
                conn.sendall(pending)
        except OSError:  # ConnectionResetError, BrokenPipeError: drop this client only
            pass


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
