"""Sequential echo server: one client at a time; clients that connect meanwhile wait in the backlog.

``python -m servers.sequential [--host 127.0.0.1] [--port 0] [--listen-fd] [--grace 5]``

The tutorial server done right: it loops until EOF instead of assuming one ``recv`` is one message, echoes
with non-blocking reads and writes (so a client that writes a lot before reading cannot deadlock it), sends
FIN after the client's half-close, survives resets, and stops on request after at most ``grace`` seconds.
"""

from __future__ import annotations

import selectors
import time
from collections.abc import Sequence

from .base import EchoServer, run_main
from .connection import DEFAULT_HIGH_WATER, EchoConnection


class SequentialEchoServer(EchoServer):
    """Serves one connection to completion before accepting the next; see the module docstring."""

    high_water = DEFAULT_HIGH_WATER

    def _serve(self) -> None:
        buffer = memoryview(bytearray(self.recv_size))
        with selectors.DefaultSelector() as sel:
            sel.register(self._wake_r, selectors.EVENT_READ)
            sel.register(self.listener, selectors.EVENT_READ)
            while not self.stopping:
                for key, _ in sel.select(self.accept_wait()):
                    if key.fileobj is self._wake_r:
                        self.drain_wakeups()
                    elif not self.stopping and self.accept_wait() is None:
                        conn = self.accept()
                        if conn is not None:
                            self._serve_one(EchoConnection(conn, self.high_water), buffer)

    def _serve_one(self, conn: EchoConnection, buffer: memoryview) -> None:
        """Echo ``conn`` until it closes; once a stop is requested, give it at most ``grace`` seconds."""
        deadline: float | None = None
        with selectors.DefaultSelector() as sel:
            sel.register(self._wake_r, selectors.EVENT_READ)
            registered = 0
            try:
                while not conn.closed:
                    if self.stopping and deadline is None:
                        deadline = time.monotonic() + self.grace
                    if deadline is not None and time.monotonic() >= deadline:
                        return
                    wanted = (selectors.EVENT_READ if conn.wants_read else 0) | (
                        selectors.EVENT_WRITE if conn.wants_write else 0
                    )
                    if wanted != registered:
                        if registered:
                            sel.unregister(conn.sock)
                        if wanted:
                            sel.register(conn.sock, wanted)
                        registered = wanted
                    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                    for key, mask in sel.select(timeout):
                        if key.fileobj is self._wake_r:
                            self.drain_wakeups()
                            continue
                        if mask & selectors.EVENT_READ:
                            conn.on_readable(buffer)
                        if mask & selectors.EVENT_WRITE and not conn.closed:
                            conn.on_writable()
            finally:
                conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(SequentialEchoServer, "Echo server: one client at a time.", argv)


if __name__ == "__main__":
    raise SystemExit(main())
