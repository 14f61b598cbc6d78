"""Single-threaded echo server multiplexing every connection with :mod:`selectors`.

``python -m servers.selector [--host 127.0.0.1] [--port 0] [--listen-fd] [--grace 5]``

Non-blocking sockets throughout; each connection has an output buffer bounded by a high-water mark
(see :class:`servers.connection.EchoConnection`), so memory stays bounded whatever clients do. Running out
of descriptors while accepting pauses accepting briefly instead of killing the server.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Sequence

from .base import EchoServer, run_main
from .connection import DEFAULT_HIGH_WATER, EchoConnection

_LISTENER = object()
_WAKEUP = object()


class SelectorEchoServer(EchoServer):
    """All connections in one thread; see the module docstring. ``high_water`` bounds each output buffer."""

    high_water = DEFAULT_HIGH_WATER
    #: connections accepted per readiness event of the listener (keeps a connect burst from starving I/O)
    accept_batch = 64

    def _serve(self) -> None:
        sel = selectors.DefaultSelector()
        buffer = memoryview(bytearray(self.recv_size))
        conns: dict[socket.socket, EchoConnection] = {}
        events_of: dict[socket.socket, int] = {}
        sel.register(self._wake_r, selectors.EVENT_READ, _WAKEUP)
        sel.register(self.listener, selectors.EVENT_READ, _LISTENER)
        listening = True
        deadline: float | None = None
        try:
            while True:
                if self.stopping and deadline is None:
                    deadline = time.monotonic() + self.grace
                    if listening:
                        sel.unregister(self.listener)
                        listening = False
                    self.listener.close()
                if deadline is not None and (not conns or time.monotonic() >= deadline):
                    return
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                pause = self.accept_wait()
                if listening and pause is not None:
                    sel.unregister(self.listener)
                    listening = False
                elif not listening and not self.stopping and pause is None:
                    sel.register(self.listener, selectors.EVENT_READ, _LISTENER)
                    listening = True
                if pause is not None:
                    timeout = pause if timeout is None else min(timeout, pause)
                for key, mask in sel.select(timeout):
                    data = key.data
                    if data is _WAKEUP:
                        self.drain_wakeups()
                    elif data is _LISTENER:
                        self._accept_batch(sel, conns, events_of)
                    else:
                        assert isinstance(data, EchoConnection)
                        if mask & selectors.EVENT_READ:
                            data.on_readable(buffer)
                        if mask & selectors.EVENT_WRITE and not data.closed:
                            data.on_writable()
                        self._update(sel, data, conns, events_of)
        finally:
            for conn in conns.values():
                conn.close()
            sel.close()

    def _accept_batch(
        self,
        sel: selectors.BaseSelector,
        conns: dict[socket.socket, EchoConnection],
        events_of: dict[socket.socket, int],
    ) -> None:
        for _ in range(self.accept_batch):
            sock = self.accept()
            if sock is None:
                return
            conn = EchoConnection(sock, self.high_water)
            conns[sock] = conn
            events_of[sock] = selectors.EVENT_READ
            sel.register(sock, selectors.EVENT_READ, conn)

    @staticmethod
    def _update(
        sel: selectors.BaseSelector,
        conn: EchoConnection,
        conns: dict[socket.socket, EchoConnection],
        events_of: dict[socket.socket, int],
    ) -> None:
        """Re-register ``conn`` for the events it now wants, or forget it once closed."""
        sock = conn.sock
        if conn.closed:
            conns.pop(sock, None)
            events_of.pop(sock, None)
            try:
                sel.unregister(sock)
            except (KeyError, ValueError):
                pass
            return
        wanted = (selectors.EVENT_READ if conn.wants_read else 0) | (selectors.EVENT_WRITE if conn.wants_write else 0)
        current = events_of[sock]
        if wanted == current:
            return
        if wanted == 0:
            sel.unregister(sock)
        elif current == 0:
            sel.register(sock, wanted, conn)
        else:
            sel.modify(sock, wanted, conn)
        events_of[sock] = wanted


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(SelectorEchoServer, "Echo server: one thread, non-blocking sockets, selectors.", argv)


if __name__ == "__main__":
    raise SystemExit(main())
