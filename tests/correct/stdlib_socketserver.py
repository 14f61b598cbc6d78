"""A correct echo server built on the standard library's ``socketserver``: ``python stdlib_socketserver.py PORT``.

Third-party in the sense that the harness did not write its core: ``ThreadingTCPServer`` with the two settings
its defaults get wrong (``allow_reuse_address``, and ``daemon_threads`` plus ``block_on_close`` so a shutdown
waits for the connections in flight), and a handler that loops until EOF instead of assuming one recv is one
message. SIGTERM stops accepting, lets connections finish, exits 0.
"""

from __future__ import annotations

import os
import signal
import socket
import socketserver
import sys
import threading
from types import FrameType


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False
    block_on_close = True
    request_queue_size = 1024


def main() -> int:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    with Server((os.environ.get("HOST", "127.0.0.1"), port), EchoHandler) as server:

        def on_term(signum: int, frame: FrameType | None) -> None:
            threading.Thread(target=server.shutdown).start()  # shutdown() blocks: not in the handler's thread

        signal.signal(signal.SIGTERM, on_term)
        host, bound = server.server_address[:2]
        print(f"listening on {host}:{bound}", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
