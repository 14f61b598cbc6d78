"""Echo with ``socketserver.ThreadingTCPServer`` and its defaults: ``python echo_threading_tcpserver.py PORT``.

Shape: the standard library's socketserver documentation (the ``ThreadingTCPServer`` / ``BaseRequestHandler``
examples, ``with ... as server: server.serve_forever()`` on ``"localhost"``), with the one change that makes a
handler an echo server: it loops on ``recv`` until EOF instead of answering one ``recv``. Nothing else is set:
``request_queue_size`` stays 5, ``allow_reuse_address`` False, ``daemon_threads`` False, no signal handler (SIGTERM
kills the process, Python's default).
"""

import socketserver
import sys


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(1024)
            if not data:
                break
            self.request.sendall(data)


if __name__ == "__main__":
    HOST, PORT = "localhost", int(sys.argv[1])
    with socketserver.ThreadingTCPServer((HOST, PORT), EchoHandler) as server:
        server.serve_forever()
