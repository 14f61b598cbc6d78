"""One echo connection driven by readiness events: the state machine behind the non-blocking servers.

It guarantees, whatever the peer does:
- every byte received is sent back, in order, however the kernel splits reads and writes;
- memory is bounded: once more than ``high_water`` bytes wait to be sent, the connection asks not to be
  read (:attr:`wants_read` is False) until the peer has taken enough of them;
- a half-close (EOF from the peer) flushes what is pending, then sends FIN and closes;
- a reset or any other socket error closes this connection only, silently.
"""

from __future__ import annotations

import select
import socket

DEFAULT_HIGH_WATER = 1 << 20
READ = getattr(select, "EPOLLIN", 1)
WRITE = getattr(select, "EPOLLOUT", 4)


class EchoConnection:
    """Echo state of one non-blocking socket. Call :meth:`on_readable` / :meth:`on_writable` on events."""

    __slots__ = ("closed", "eof", "high_water", "pending", "registered", "sock")

    def __init__(self, sock: socket.socket, high_water: int = DEFAULT_HIGH_WATER) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.high_water = high_water
        self.pending = bytearray()
        self.eof = False
        self.closed = False
        #: the events the owner's poller watches for this connection (kept by the owner)
        self.registered = 0

    @property
    def wants_read(self) -> bool:
        """True while the peer has not half-closed and the unsent echo is under the high-water mark."""
        return not self.eof and not self.closed and len(self.pending) < self.high_water

    @property
    def wants_write(self) -> bool:
        """True while echo is waiting for the socket to become writable."""
        return bool(self.pending) and not self.closed

    @property
    def events(self) -> int:
        """The poll events this connection waits for now, as an epoll mask (0 while it waits for nothing):
        read while :attr:`wants_read`, write while :attr:`wants_write`."""
        return (READ if self.wants_read else 0) | (WRITE if self.wants_write else 0)

    def on_readable(self, buffer: memoryview) -> None:
        """Receive into ``buffer`` and try to echo it at once (most echoes never touch :attr:`pending`)."""
        try:
            n = self.sock.recv_into(buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if n == 0:
            self.eof = True
            self._finish_if_flushed()
            return
        if self.pending:
            self.pending += buffer[:n]
            return
        try:
            sent = self.sock.send(buffer[:n])
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.close()
            return
        if sent < n:
            self.pending += buffer[sent:n]

    def on_writable(self) -> None:
        """Send as much pending echo as the socket takes; after EOF, close once everything is sent."""
        if self.pending:
            try:
                sent = self.sock.send(self.pending)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.close()
                return
            del self.pending[:sent]
        self._finish_if_flushed()

    def _finish_if_flushed(self) -> None:
        if self.eof and not self.pending:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self.close()

    def close(self) -> None:
        """Close the socket (idempotent). Pending echo is dropped: only used on error, EOF or forced stop."""
        if not self.closed:
            self.closed = True
            self.pending.clear()
            try:
                self.sock.close()
            except OSError:
                pass
