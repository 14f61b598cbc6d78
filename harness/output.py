"""What a server writes to stdout and stderr, kept in bounded memory and never on disk.

Each stream of a server is a pipe that one background thread of the harness (the *pump*) drains as soon as
anything arrives, so the server never blocks on a full pipe for long, and a grandchild that keeps the pipe open
blocks no reader (nobody waits for its end-of-file). Of each stream a :class:`Capture` keeps the first
``HEAD_BYTES`` bytes and the last ``TAIL_BYTES``, and counts what it dropped in between: a server that writes
1 GiB costs the harness 128 KiB of memory and no disk. Nothing is left behind when the harness ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import threading
from collections.abc import Callable

#: bytes kept of the start and of the end of each stream
HEAD_BYTES = 64 << 10
TAIL_BYTES = 64 << 10
_READ = 64 << 10
#: the pipe's capacity asked of the kernel (the unprivileged maximum by default), so a burst of output does
#: not block the server while the pump waits for its turn
PIPE_SIZE = 1 << 20


class Capture:
    """One stream: its first ``HEAD_BYTES`` and last ``TAIL_BYTES`` bytes, and how many it wrote in all.

    ``on_data`` (optional) is called, in the pump's thread, with every chunk as it arrives (the readiness
    scanner). Thread-safe.
    """

    def __init__(self, on_data: Callable[[bytes], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0  #: bytes the stream carried so far
        self.closed = threading.Event()  #: set at end-of-file (every writer closed it) or when abandoned
        self._on_data = on_data

    def feed(self, chunk: bytes) -> None:
        """Record ``chunk`` (called by the pump)."""
        if self._on_data is not None:
            self._on_data(chunk)
        with self._lock:
            self.total += len(chunk)
            room = HEAD_BYTES - len(self._head)
            if room > 0:
                self._head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self._tail += chunk
                if len(self._tail) > TAIL_BYTES:
                    del self._tail[: len(self._tail) - TAIL_BYTES]

    @property
    def dropped(self) -> int:
        """Bytes between the head and the tail that were not kept."""
        with self._lock:
            return self.total - len(self._head) - len(self._tail)

    def since(self, mark: int, limit: int = TAIL_BYTES) -> bytes:
        """What the stream carried after its first ``mark`` bytes, at most the last ``limit`` bytes of it (and
        only what was kept: bytes dropped between head and tail are skipped)."""
        with self._lock:
            start = max(mark, self.total - limit)
            tail_start = self.total - len(self._tail)
            parts = []
            if start < len(self._head):
                parts.append(bytes(self._head[start:]))
            parts.append(bytes(self._tail[max(0, start - tail_start) :]))
            return b"".join(parts)[-limit:] if limit else b""

    def head(self, size: int = HEAD_BYTES) -> bytes:
        """The first ``size`` bytes (at most ``HEAD_BYTES``)."""
        with self._lock:
            return bytes(self._head[:size])

    def text(self) -> str:
        """Everything kept, with a line saying how much was dropped between the head and the tail."""
        with self._lock:
            dropped = self.total - len(self._head) - len(self._tail)
            middle = f"\n[... {dropped} bytes not kept ...]\n".encode() if dropped else b""
            return (bytes(self._head) + middle + bytes(self._tail)).decode(errors="replace")


class _Pump:
    """The thread that drains every server's pipes into their captures."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pending: list[tuple[int, Capture, bool]] = []
        self._thread = threading.Thread(target=self._run, name="harness-output-pump", daemon=True)
        self._thread.start()
        self.pid = os.getpid()

    def add(self, fd: int, capture: Capture) -> None:
        self._command(fd, capture, True)

    def abandon(self, fd: int, capture: Capture) -> None:
        self._command(fd, capture, False)

    def _command(self, fd: int, capture: Capture, add: bool) -> None:
        with self._lock:
            self._pending.append((fd, capture, add))
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")

    def _apply(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_r, 4096)
        with self._lock:
            pending, self._pending = self._pending, []
        for fd, capture, add in pending:
            if add:
                self._selector.register(fd, selectors.EVENT_READ, capture)
                continue
            try:
                key = self._selector.get_key(fd)
            except (KeyError, ValueError):
                continue  # it reached its end already (and the number may be another pipe's now)
            if key.data is capture:
                self._selector.unregister(fd)
                self._drain(fd, capture)
                self._finish(fd, capture)

    def _drain(self, fd: int, capture: Capture) -> None:
        """Take what is already in the pipe (bounded), without waiting for more."""
        for _ in range(64):
            try:
                chunk = os.read(fd, _READ)
            except (BlockingIOError, OSError):
                return
            if not chunk:
                return
            capture.feed(chunk)

    @staticmethod
    def _finish(fd: int, capture: Capture) -> None:
        with contextlib.suppress(OSError):
            os.close(fd)
        capture.closed.set()

    def _run(self) -> None:
        while True:
            for key, _ in self._selector.select():
                if key.data is None:
                    self._apply()
                    continue
                fd, capture = key.fd, key.data
                try:
                    chunk = os.read(fd, _READ)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    capture.feed(chunk)
                else:
                    self._selector.unregister(fd)
                    self._finish(fd, capture)


_pumps: dict[int, _Pump] = {}
_pumps_lock = threading.Lock()


def _pump() -> _Pump:
    with _pumps_lock:
        pump = _pumps.get(os.getpid())
        if pump is None:
            pump = _pumps[os.getpid()] = _Pump()
        return pump


def pipe_for(capture: Capture) -> tuple[int, int]:
    """A new pipe whose reading end the pump drains into ``capture``: returns (reading end, writing end). The
    writing end is for the child's stdout or stderr: the caller closes it once the child has it."""
    read, write = os.pipe2(os.O_CLOEXEC)
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, PIPE_SIZE)  # type: ignore[attr-defined,unused-ignore]
    os.set_blocking(read, False)
    _pump().add(read, capture)
    return read, write


def abandon(read: int, capture: Capture) -> None:
    """Stop draining the pipe ``read`` into ``capture`` (taking what is already in it) and close it, unless it
    reached its end already; ``capture`` keeps what it has and is marked closed."""
    _pump().abandon(read, capture)
