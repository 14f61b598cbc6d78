"""The wire client: drives one or many connections from schedules, reading and writing concurrently.

A :class:`Schedule` says what one connection does: which chunks to write (with pauses before the first few),
which recv sizes to use, whether to stall reading until the writer is blocked (backpressure), and whether
to half-close after the last write. :func:`drive` runs any number of them at once in one non-blocking loop,
so a large payload never deadlocks against a correct server, and every wait is bounded by a deadline.
The outcome of each connection is an :class:`Exchange`: what came back, how it ended, and when.

What is kept is bounded too: a connection keeps at most the bytes its oracle expects back
(:attr:`Schedule.expect`, by default the echo of its payload) plus an :data:`EXCESS_SAMPLE` of what came
beyond them; the first byte past the expected ones ends the exchange at once (:attr:`Exchange.excess_at`), so
a server that answers with an endless stream costs a bounded amount of memory and time.
"""

from __future__ import annotations

import itertools
import selectors
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .net import Address, connect, reset, retrying_in

#: pauses apply to the first this-many writes only, so a long chunking stays fast
MAX_PAUSED_WRITES = 16
#: bytes kept past what a connection was expected to receive, to show in a report what the excess was
EXCESS_SAMPLE = 64
#: the most a client of the harness keeps of one reply that has no natural bound (an unknown banner, a response
#: whose size nothing announces): beyond it the server is taken to be sending without end
MAX_RECEIVED = 64 * 1024 * 1024


@dataclass(frozen=True)
class Schedule:
    """What one connection does. Sizes and pauses are cycled: ``chunk_sizes=(1,)`` writes single bytes.

    - ``payload``: every byte to write, in order;
    - ``chunk_sizes``: sizes of successive writes (cycled; the last write may be shorter);
    - ``pauses``: seconds to wait before each of the first :data:`MAX_PAUSED_WRITES` writes (cycled);
    - ``recv_sizes``: sizes asked of successive recv calls (cycled);
    - ``stall_reader``: do not read until writing has been blocked for this many seconds (0: read at once);
    - ``half_close``: ``shutdown(SHUT_WR)`` after the last write, then read until EOF;
      otherwise read until as many bytes came back as were sent;
    - ``expect``: the most bytes the oracle expects back on this connection (None: ``len(payload)``, the echo
      of the payload; a client that only reads the rest of an echo sent earlier says how much that is). One byte
      more ends the exchange (see :attr:`Exchange.excess_at`).
    """

    payload: bytes
    chunk_sizes: tuple[int, ...] = (65536,)
    pauses: tuple[float, ...] = (0.0,)
    recv_sizes: tuple[int, ...] = (65536,)
    stall_reader: float = 0.0
    half_close: bool = True
    expect: int | None = None

    def __post_init__(self) -> None:
        if not self.chunk_sizes or min(self.chunk_sizes) < 1:
            raise ValueError(f"chunk_sizes must be positive sizes, got {self.chunk_sizes!r}")
        if not self.recv_sizes or min(self.recv_sizes) < 1:
            raise ValueError(f"recv_sizes must be positive sizes, got {self.recv_sizes!r}")
        if not self.pauses or min(self.pauses) < 0:
            raise ValueError(f"pauses must be >= 0 seconds, got {self.pauses!r}")
        if self.expect is not None and self.expect < 0:
            raise ValueError(f"expect must be a number of bytes >= 0, got {self.expect!r}")

    @property
    def expected(self) -> int:
        """The most bytes this connection may receive before the server has sent more than it was sent."""
        return len(self.payload) if self.expect is None else self.expect

    def __repr__(self) -> str:
        expect = "" if self.expect is None else f", expect={self.expect!r}"
        return (
            f"Schedule(<{len(self.payload)} B>, chunk_sizes={self.chunk_sizes!r}, pauses={self.pauses!r}, "
            f"recv_sizes={self.recv_sizes!r}, stall_reader={self.stall_reader!r}, half_close={self.half_close!r}"
            f"{expect})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Pretty-printers (Hypothesis, IPython) show the short repr, never the whole payload."""
        printer.text(repr(self))

    def chunks(self) -> list[bytes]:
        """The payload cut into the writes this schedule makes."""
        out: list[bytes] = []
        pos = 0
        for size in itertools.cycle(self.chunk_sizes):
            if pos >= len(self.payload):
                return out
            out.append(self.payload[pos : pos + size])
            pos += size
        return out  # pragma: no cover - cycle() never ends

    def describe(self) -> str:
        """One line for reports: payload size, chunking, pauses, recv sizes, stall and half-close."""
        parts = [f"{len(self.payload)} B", f"writes of {_sizes(self.chunk_sizes)}"]
        if any(self.pauses):
            parts.append(f"pauses {', '.join(f'{p * 1000:g} ms' for p in self.pauses)}")
        parts.append(f"recv({_sizes(self.recv_sizes)})")
        if self.stall_reader:
            parts.append(f"reader stalled until writes block for {self.stall_reader:g}s")
        parts.append("then shutdown(SHUT_WR)" if self.half_close else "no half-close")
        if self.expect is not None:
            parts.append(f"expecting {self.expect} B back")
        return ", ".join(parts)


def _sizes(sizes: tuple[int, ...]) -> str:
    return "/".join(str(s) for s in sizes)


@dataclass
class Exchange:
    """What happened on one connection."""

    sent: int = 0  #: bytes the server accepted from us
    #: what came back: at most the bytes expected (:attr:`Schedule.expected`) and :data:`EXCESS_SAMPLE` more
    received: bytearray = field(default_factory=bytearray)
    eof: bool = False  #: the server closed its side cleanly (FIN)
    reset: bool = False  #: the connection was reset (RST) by the server
    timed_out: bool = False  #: the deadline passed before the exchange completed
    error: str | None = None  #: any other socket error, as text
    elapsed: float = 0.0  #: seconds from the first write to completion
    first_byte: float | None = None  #: seconds from the first write to the first echoed byte
    stalled_for: float = 0.0  #: seconds the writer was blocked while the reader stalled
    sent_while_stalled: int = 0  #: bytes the server accepted before the stalled reader was released
    #: the offset of the first byte the server sent past those expected, when it sent more (the exchange ended
    #: there; :attr:`received` holds a sample of the excess)
    excess_at: int | None = None

    def outcome(self) -> str:
        """How the connection ended, in words."""
        if self.excess_at is not None:
            return (
                f"the server sent more than the {self.excess_at} B expected, so the client stopped reading "
                f"at byte {self.excess_at} (the connection was still open)"
            )
        if self.reset:
            return "the server reset the connection (RST)"
        if self.error:
            return f"socket error: {self.error}"
        if self.timed_out:
            return "timed out"
        return "the server closed with FIN" if self.eof else "still open"


class _Conn:
    """Progress of one schedule over one socket (internal to :func:`drive`)."""

    def __init__(self, sock: socket.socket, schedule: Schedule, exchange: Exchange, start: float) -> None:
        self.sock = sock
        self.schedule = schedule
        self.ex = exchange
        self.start = start
        self.view = memoryview(schedule.payload)
        self.sizes = itertools.cycle(schedule.chunk_sizes)
        self.recv_sizes = itertools.cycle(schedule.recv_sizes)
        self.pauses = itertools.cycle(schedule.pauses)
        self.writes = 0
        self.chunk_end = 0
        self.next_write_at = start
        self.write_closed = False
        self.last_progress = start
        self.reading = schedule.stall_reader == 0
        self.expected = schedule.expected
        self.done = False
        self._next_chunk(start)

    def _next_chunk(self, now: float) -> None:
        if self.ex.sent >= len(self.view):
            return
        self.chunk_end = min(len(self.view), self.ex.sent + next(self.sizes))
        pause = next(self.pauses) if self.writes < MAX_PAUSED_WRITES else 0.0
        self.next_write_at = now + pause
        self.writes += 1

    @property
    def writing(self) -> bool:
        return not self.write_closed

    def wants(self, now: float) -> int:
        events = 0
        if self.reading:
            events |= selectors.EVENT_READ
        if self.writing and now >= self.next_write_at:
            events |= selectors.EVENT_WRITE
        return events

    def on_write(self, now: float) -> None:
        if self.ex.sent >= len(self.view):
            self._close_write()
            return
        try:
            n = self.sock.send(self.view[self.ex.sent : self.chunk_end])
        except BlockingIOError:
            n = 0
        except OSError as exc:
            self._fail(exc)
            return
        if n:
            self.ex.sent += n
            self.last_progress = now
            if self.ex.sent >= self.chunk_end:
                self._next_chunk(now)
        if self.ex.sent >= len(self.view):
            self._close_write()

    def _close_write(self) -> None:
        if self.write_closed:
            return
        self.write_closed = True
        if not self.reading:  # everything was written while the reader stalled
            self.ex.sent_while_stalled = self.ex.sent
            self.reading = True
        if not self.schedule.half_close and len(self.ex.received) >= self.expected:
            self.done = True
        elif self.schedule.half_close:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError as exc:
                self._fail(exc)

    def on_read(self, now: float) -> None:
        try:
            data = self.sock.recv(next(self.recv_sizes))
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(exc)
            return
        if not data:
            self.ex.eof = True
            self.done = True
            return
        if self.ex.first_byte is None:
            self.ex.first_byte = now - self.start
        if len(self.ex.received) + len(data) > self.expected:  # more than the oracle expects: stop here
            self.ex.received += data[: self.expected + EXCESS_SAMPLE - len(self.ex.received)]
            self.ex.excess_at = self.expected
            self.done = True
            return
        self.ex.received += data
        if not self.schedule.half_close and len(self.ex.received) >= self.expected and self.write_closed:
            self.done = True

    def poll_stall(self, now: float) -> None:
        """Release a stalled reader once no write has made progress for ``stall_reader`` seconds."""
        if not self.reading and now - self.last_progress >= self.schedule.stall_reader:
            self.ex.stalled_for = now - self.last_progress
            self.ex.sent_while_stalled = self.ex.sent
            self.reading = True

    def _fail(self, exc: OSError) -> None:
        if isinstance(exc, (ConnectionResetError, ConnectionAbortedError)):
            self.ex.reset = True
        else:
            self.ex.error = f"{type(exc).__name__}: {exc}"
        self.done = True


def drive(
    socks: Sequence[socket.socket], schedules: Sequence[Schedule], timeout: float, idle: float | None = None
) -> list[Exchange]:
    """Run ``schedules[i]`` over ``socks[i]``, all at once, for at most ``timeout`` seconds. A socket may still
    be connecting (:func:`harness.net.connect_nowait`): its schedule starts once it is connected.

    With ``idle``, also give up once no byte has moved in either direction on any connection (and no
    scheduled pause or stall is pending) for ``idle`` seconds: a hung server costs ``idle``, not ``timeout``.
    A connection that TCP is still retrying (a SYN or data the server's kernel dropped because its listen
    backlog was full, :func:`harness.net.retrying_in`) is not idle: the wait extends to its next
    retransmission, so a small backlog delays clients without their being judged hung.

    Returns one :class:`Exchange` per socket; sockets are left open (the caller closes or resets them).
    An exchange is complete when its server sent EOF (half-close schedules), or when as many bytes came
    back as were expected (others: :attr:`Schedule.expected`), or on a reset or error, or at once when the
    server sent more than expected (:attr:`Exchange.excess_at`; at most :data:`EXCESS_SAMPLE` bytes of the
    excess are kept); anything unfinished at the deadline is marked ``timed_out``. Never blocks past the
    deadline.
    """
    if len(socks) != len(schedules):
        raise ValueError("one schedule per socket")
    start = time.monotonic()
    deadline = start + timeout
    conns = []
    for sock, schedule in zip(socks, schedules, strict=True):
        sock.setblocking(False)
        conns.append(_Conn(sock, schedule, Exchange(), start))
    watched: dict[socket.socket, int] = {}
    last_activity = start
    retry_hold = start  #: TCP itself is retrying a connection until then (see below)
    with selectors.DefaultSelector() as sel:
        while True:
            now = time.monotonic()
            active = [c for c in conns if not c.done]
            if not active:
                break
            busy_until = max(max(c.next_write_at, c.last_progress + c.schedule.stall_reader) for c in active)
            limit = deadline if idle is None else min(deadline, max(max(last_activity, busy_until) + idle, retry_hold))
            if now >= limit and now < deadline and idle is not None:
                # Nothing moved for ``idle`` s; but a connection whose SYN or data the server's kernel has not
                # taken yet (a full listen backlog) is not hung: TCP retransmits it on its own timer. Wait for
                # that retransmission before judging (bounded by the deadline).
                retries = [r for r in (retrying_in(c.sock) for c in active) if r is not None]
                if retries:
                    retry_hold = now + max(retries)
                    limit = min(deadline, retry_hold)
            if now >= limit:
                for c in active:
                    c.ex.timed_out = True
                break
            wake = limit
            for c in active:
                c.poll_stall(now)
                if not c.reading:
                    wake = min(wake, c.last_progress + c.schedule.stall_reader)
                if c.writing and now < c.next_write_at:
                    wake = min(wake, c.next_write_at)
                watch(sel, watched, c.sock, c.wants(now), c)
            for key, mask in sel.select(max(0.0, wake - now)):
                c = key.data
                now = time.monotonic()
                moved = c.ex.sent + len(c.ex.received)
                if mask & selectors.EVENT_WRITE and not c.done:
                    c.on_write(now)
                if mask & selectors.EVENT_READ and not c.done:
                    c.on_read(now)
                if c.done or c.ex.sent + len(c.ex.received) != moved:
                    last_activity = now
            for c in conns:
                if c.done and c.sock in watched:
                    watch(sel, watched, c.sock, 0, c)
    end = time.monotonic()
    for c in conns:
        c.ex.elapsed = end - start
    return [c.ex for c in conns]


def watch(
    sel: selectors.BaseSelector, watched: dict[socket.socket, int], sock: socket.socket, events: int, data: Any
) -> None:
    """Make ``sel`` watch ``sock`` for ``events`` (0: not at all) with ``data``, registering, modifying or
    unregistering only when that changes; ``watched`` records what each socket is registered for."""
    current = watched.get(sock, 0)
    if events == current:
        return
    if events == 0:
        sel.unregister(sock)
        del watched[sock]
    elif current == 0:
        sel.register(sock, events, data)
        watched[sock] = events
    else:
        sel.modify(sock, events, data)
        watched[sock] = events


def exchange(address: Address, schedule: Schedule, timeout: float, idle: float | None = None) -> Exchange:
    """Open a connection, run ``schedule`` on it (see :func:`drive`), close it; return what happened."""
    sock = connect(address, timeout)
    try:
        return drive([sock], [schedule], timeout, idle)[0]
    finally:
        sock.close()


def converse(
    sock: socket.socket, messages: Sequence[bytes], recv_size: int, timeout: float, idle: float | None = None
) -> list[Exchange]:
    """Send each message and wait for its whole echo before sending the next (an interactive client).

    Stops at the first message whose echo is incomplete or longer than the message; returns the exchanges made
    so far.
    """
    results = []
    deadline = time.monotonic() + timeout
    for message in messages:
        schedule = Schedule(message, chunk_sizes=(max(1, len(message)),), recv_sizes=(recv_size,), half_close=False)
        ex = drive([sock], [schedule], max(0.0, deadline - time.monotonic()), idle)[0]
        results.append(ex)
        if ex.timed_out or ex.reset or ex.error or ex.eof or ex.excess_at is not None or ex.received != message:
            break
    return results


def echo_mismatch(sent: bytes, ex: Exchange) -> str | None:
    """None if ``ex`` carries exactly the echo of ``sent``, else a one-line explanation of the difference: the
    first differing byte, the bytes lost, or the first byte past the echo (a server that sent more than it was
    sent: :func:`excess_problem`)."""
    got = ex.received
    if got == sent:
        return None
    n = _first_difference(sent, got)
    if n < len(got) and n < len(sent):
        return (
            f"echo differs at byte {n} of {len(sent)}: sent {sent[n : n + 8]!r}, got {bytes(got[n : n + 8])!r} "
            f"({len(got)} B came back; {ex.outcome()})"
        )
    if len(got) > len(sent):
        return excess_problem(len(sent), ex)
    return f"only {len(got)} of {len(sent)} B came back ({len(sent) - len(got)} lost); {ex.outcome()}"


def excess_problem(expected: int, ex: Exchange) -> str:
    """The failure of a server that sent more than the ``expected`` bytes it was sent (``ex.received`` holds
    them and more): how many more came (at least, when the client stopped reading at the first excess byte),
    from which byte, and a sample of them."""
    extra = len(ex.received) - expected
    sample = bytes(ex.received[expected : expected + 16])
    if ex.excess_at is None:
        return f"the server sent {extra} B more than it was sent, from byte {expected}: {sample!r}; {ex.outcome()}"
    return (
        f"the server sent at least {extra} B more than it was sent, from byte {expected}: {sample!r}... (the client "
        "stopped reading at the first excess byte: an echo is never longer than what was sent)"
    )


def _first_difference(a: bytes | bytearray, b: bytes | bytearray) -> int:
    """The offset of the first byte where ``a`` and ``b`` differ (the shorter length if one is a prefix of the
    other), compared 64 KiB at a time: a long echo costs no per-byte Python loop and no copy of itself."""
    end = min(len(a), len(b))
    step = 64 * 1024
    for start in range(0, end, step):
        stop = min(end, start + step)
        if a[start:stop] != b[start:stop]:
            return next(i for i in range(start, stop) if a[i] != b[i])
    return end


__all__ = [
    "EXCESS_SAMPLE",
    "MAX_RECEIVED",
    "Exchange",
    "Schedule",
    "converse",
    "drive",
    "echo_mismatch",
    "excess_problem",
    "exchange",
    "reset",
]
