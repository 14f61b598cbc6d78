"""Thread-per-connection echo server with blocking sockets.

``python -m servers.threaded [--host 127.0.0.1] [--port 0] [--listen-fd] [--grace 5]``

Each connection thread loops ``recv_into`` / ``sendall``: a client that stops reading blocks only its own
thread (natural backpressure, bounded memory), and a connection that sends nothing holds a 4 KiB buffer, not
``recv_size`` (memory follows what arrives). On shutdown the accept loop stops, the threads get ``grace``
seconds to finish, then the remaining connections are shut down (which wakes their blocked calls) and every
thread is joined.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Sequence

from .base import (
    DEFAULT_BACKLOG,
    DEFAULT_GRACE,
    DEFAULT_HOST,
    MSG_DONTWAIT,
    EchoServer,
    close_quietly,
    run_main,
    send_pieces,
)

JOIN_AFTER_FORCE = 2.0
#: bytes of the buffer each connection keeps while it waits: thousands of idle connections cost this each
IDLE_RECV = 4096


class BufferPool:
    """Spare ``size``-byte buffers shared by the connection threads: a busy connection borrows one for a read
    and its echo, an idle one holds none. Keeps at most ``keep`` spares; ``take`` and ``give`` are safe from
    any thread (single list operations)."""

    def __init__(self, size: int, keep: int = 64) -> None:
        self.size = size
        self.keep = keep
        self._spare: list[bytearray] = []

    def take(self) -> bytearray:
        """A buffer of ``size`` bytes, spare if one is."""
        try:
            return self._spare.pop()
        except IndexError:
            return bytearray(self.size)

    def give(self, buffer: bytearray) -> None:
        """Return a buffer from :meth:`take` (dropped when ``keep`` spares are already kept)."""
        if len(self._spare) < self.keep:
            self._spare.append(buffer)


def echo_blocking(conn: socket.socket, pool: BufferPool) -> None:
    """Echo everything ``conn`` sends until EOF, then send FIN. Network errors end the echo silently.

    Memory follows what arrives: an idle connection never holds a ``pool.size`` buffer. It waits on its own
    ``IDLE_RECV``-byte buffer; when a read fills it, what else has already arrived is read, without waiting,
    into a buffer borrowed from ``pool`` and goes back with it in one send. From then on (until a message
    fits the small buffer again) it waits holding no buffer at all (a one-byte peek) and reads each message
    whole into a borrowed buffer: one read per message, as large messages want."""
    small = memoryview(bytearray(min(IDLE_RECV, pool.size)))
    large = False
    try:
        while True:
            if large:
                if not conn.recv(1, socket.MSG_PEEK):  # the wait, holding nothing
                    break
                got = _echo_borrowed(conn, pool, None)
                large = got > len(small)
            else:
                n = conn.recv_into(small)
                if n < len(small) or not MSG_DONTWAIT:
                    if not n:
                        break
                    conn.sendall(small[:n])
                    continue
                got = _echo_borrowed(conn, pool, small)
                large = True
            if got == 0:  # the peer ended its stream
                break
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _echo_borrowed(conn: socket.socket, pool: BufferPool, head: memoryview | None) -> int:
    """Read what has arrived into a buffer borrowed from ``pool`` and send it back after ``head`` (bytes read
    before it), in one send. Without ``head`` the read may wait (the caller has seen data arrive); with it,
    it never does. Returns the bytes read: 0 at the end of the stream, -1 when nothing more had arrived."""
    buffer = pool.take()
    try:
        try:
            got = conn.recv_into(buffer, 0, 0 if head is None else MSG_DONTWAIT)
        except BlockingIOError:
            got = -1
        with memoryview(buffer) as view:
            body = view[: max(got, 0)]
            send_pieces(conn, (body,) if head is None else (head, body))
        return got
    finally:
        pool.give(buffer)


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
        #: the read buffers busy connections borrow (:func:`echo_blocking`)
        self.buffers = BufferPool(self.recv_size)
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
        echo_blocking(conn, self.buffers)

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
