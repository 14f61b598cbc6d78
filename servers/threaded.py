"""Thread-per-connection echo server with blocking sockets.

``python -m servers.threaded [--host 127.0.0.1] [--port 0] [--listen-fd] [--grace 5]``

Each connection thread loops ``recv_into`` / ``sendall``: a client that stops reading blocks only its own
thread (natural backpressure, bounded memory). On shutdown the accept loop stops, the threads get ``grace``
seconds to finish, then the remaining connections are shut down (which wakes their blocked calls) and every
thread is joined.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Sequence

from .base import DEFAULT_BACKLOG, DEFAULT_GRACE, DEFAULT_HOST, EchoServer, close_quietly, run_main

JOIN_AFTER_FORCE = 2.0


def echo_blocking(conn: socket.socket, recv_size: int) -> None:
    """Echo everything ``conn`` sends until EOF, then send FIN. Network errors end the echo silently."""
    buffer = memoryview(bytearray(recv_size))
    try:
        while n := conn.recv_into(buffer):
            conn.sendall(buffer[:n])
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class ThreadedEchoServer(EchoServer):
    """A thread per connection; see the module docstring."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        sock: socket.socket | None = None,
        grace: float = DEFAULT_GRACE,
        backlog: int = DEFAULT_BACKLOG,
    ) -> None:
        super().__init__(host, port, sock=sock, grace=grace, backlog=backlog)
        self._lock = threading.Lock()
        self._active: dict[threading.Thread, socket.socket] = {}

    def _serve(self) -> None:
        try:
            self._accept_until_stopped()
        finally:
            self.listener.close()
            self._drain()

    def _accept_until_stopped(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._wake_r, selectors.EVENT_READ)
            sel.register(self.listener, selectors.EVENT_READ)
            while not self.stopping:
                for key, _ in sel.select(self.accept_wait()):
                    if key.fileobj is self._wake_r:
                        self.drain_wakeups()
                    elif self.accept_wait() is None:
                        conn = self.accept()
                        if conn is not None:
                            self._start(conn)

    def _start(self, conn: socket.socket) -> None:
        thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
        with self._lock:
            self._active[thread] = conn
        thread.start()

    def handle(self, conn: socket.socket) -> None:
        """Serve one connection (blocking, in its own thread) until it ends; the caller closes ``conn``.
        Servers of other protocols built on this one override only this method."""
        echo_blocking(conn, self.recv_size)

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        finally:
            close_quietly(conn)
            with self._lock:
                self._active.pop(threading.current_thread(), None)

    def _drain(self) -> None:
        """Join the connection threads: ``grace`` seconds to finish, then force their sockets shut."""
        deadline = time.monotonic() + self.grace
        for thread in self._snapshot():
            thread.join(max(0.0, deadline - time.monotonic()))
        for thread, conn in self._snapshot_items():
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            thread.join(JOIN_AFTER_FORCE)

    def _snapshot(self) -> list[threading.Thread]:
        with self._lock:
            return list(self._active)

    def _snapshot_items(self) -> list[tuple[threading.Thread, socket.socket]]:
        with self._lock:
            return list(self._active.items())

    @property
    def active_connections(self) -> int:
        """Number of connection threads still running."""
        with self._lock:
            return len(self._active)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(ThreadedEchoServer, "Echo server: a thread per connection, blocking sockets.", argv)


if __name__ == "__main__":
    raise SystemExit(main())
