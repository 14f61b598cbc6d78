"""Single-threaded echo server multiplexing every connection with :mod:`selectors`.

``python -m servers.selector [--host 127.0.0.1] [--port 0] [--listen-fd] [--grace 5]``

Non-blocking sockets throughout; each connection has an output buffer bounded by a high-water mark
(see :class:`servers.connection.EchoConnection`), so memory stays bounded whatever clients do. Running out
of descriptors while accepting pauses accepting briefly instead of killing the server.
"""

from __future__ import annotations

import select
import selectors
import time
from collections.abc import Sequence

from .base import EchoServer, run_main
from .connection import DEFAULT_HIGH_WATER, EchoConnection

READ = getattr(select, "EPOLLIN", 1)
WRITE = getattr(select, "EPOLLOUT", 4)
#: a hang-up or error is reported to the reader, whose recv then sees EOF or the error
READ_OR_HANGUP = READ | getattr(select, "EPOLLHUP", 0) | getattr(select, "EPOLLERR", 0)


class SelectorEchoServer(EchoServer):
    """All connections in one thread; see the module docstring. ``high_water`` bounds each output buffer.

    On Linux the loop talks to ``select.epoll`` directly (descriptor -> connection in one dict, one
    ``poll`` list per wake-up): the generic :mod:`selectors` layer costs about a fifth of the time of a
    1 KiB echo. Elsewhere it uses the best :mod:`selectors` selector through the same small interface.
    """

    high_water = DEFAULT_HIGH_WATER
    #: connections accepted per readiness event of the listener (keeps a connect burst from starving I/O)
    accept_batch = 64

    def _serve(self) -> None:
        poller = _Poller()
        buffer = memoryview(bytearray(self.recv_size))
        conns: dict[int, EchoConnection] = {}
        wake_fd, listen_fd = self._wake_r.fileno(), self.listener.fileno()
        poller.register(wake_fd, READ)
        poller.register(listen_fd, READ)
        listening = True
        deadline: float | None = None
        try:
            while True:
                if self.stopping and deadline is None:
                    deadline = time.monotonic() + self.grace
                    if listening:
                        poller.unregister(listen_fd)
                        listening = False
                    self.listener.close()
                if deadline is not None and (not conns or time.monotonic() >= deadline):
                    return
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                pause = self.accept_wait()
                if listening and pause is not None:
                    poller.unregister(listen_fd)
                    listening = False
                elif not listening and not self.stopping and pause is None:
                    poller.register(listen_fd, READ)
                    listening = True
                if pause is not None:
                    timeout = pause if timeout is None else min(timeout, pause)
                for fd, mask in poller.poll(timeout):
                    conn = conns.get(fd)
                    if conn is not None:
                        if mask & READ_OR_HANGUP:
                            conn.on_readable(buffer)
                        if mask & WRITE and not conn.closed:
                            conn.on_writable()
                        if conn.closed:
                            del conns[fd]
                            poller.forget(fd)
                        elif (events := conn.events) != conn.registered:
                            poller.modify(fd, events)
                            conn.registered = events
                    elif fd == wake_fd:
                        self.drain_wakeups()
                    elif fd == listen_fd and listening:
                        self._accept_batch(poller, conns)
        finally:
            for conn in conns.values():
                conn.close()
            poller.close()

    def _accept_batch(self, poller: _Poller, conns: dict[int, EchoConnection]) -> None:
        for _ in range(self.accept_batch):
            sock = self.accept()
            if sock is None:
                return
            conn = EchoConnection(sock, self.high_water)
            conns[sock.fileno()] = conn
            poller.register(sock.fileno(), READ)
            conn.registered = READ


class _Poller:
    """``register/modify/unregister/forget/poll`` on descriptors with epoll-style masks: epoll itself on
    Linux, else the default :mod:`selectors` selector. A mask of 0 keeps a descriptor registered but idle."""

    def __init__(self) -> None:
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._sel = selectors.DefaultSelector() if self._epoll is None else None
        self._masks: dict[int, int] = {}

    def register(self, fd: int, mask: int) -> None:
        if self._epoll is not None:
            self._epoll.register(fd, mask)
        else:
            self._masks[fd] = mask
            if mask:
                assert self._sel is not None
                self._sel.register(fd, _to_selectors(mask))

    def modify(self, fd: int, mask: int) -> None:
        if self._epoll is not None:
            self._epoll.modify(fd, mask)
            return
        assert self._sel is not None
        old = self._masks.get(fd, 0)
        self._masks[fd] = mask
        if old and mask:
            self._sel.modify(fd, _to_selectors(mask))
        elif mask:
            self._sel.register(fd, _to_selectors(mask))
        elif old:
            self._sel.unregister(fd)

    def unregister(self, fd: int) -> None:
        if self._epoll is not None:
            self._epoll.unregister(fd)
        else:
            self.modify(fd, 0)

    def forget(self, fd: int) -> None:
        """Drop a descriptor that was closed (epoll forgets closed descriptors by itself)."""
        if self._epoll is None:
            self.modify(fd, 0)
            self._masks.pop(fd, None)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        if self._epoll is not None:
            return self._epoll.poll(-1 if timeout is None else timeout)
        assert self._sel is not None
        return [(key.fd, _from_selectors(events)) for key, events in self._sel.select(timeout)]

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        if self._sel is not None:
            self._sel.close()


def _to_selectors(mask: int) -> int:
    return (selectors.EVENT_READ if mask & READ else 0) | (selectors.EVENT_WRITE if mask & WRITE else 0)


def _from_selectors(events: int) -> int:
    return (READ if events & selectors.EVENT_READ else 0) | (WRITE if events & selectors.EVENT_WRITE else 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(SelectorEchoServer, "Echo server: one thread, non-blocking sockets, selectors.", argv)


if __name__ == "__main__":
    raise SystemExit(main())
