"""Echo checks: the bytes that go in come back, in order, however they are written and read."""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

from .. import sysinfo
from ..errors import ServerFault, ServerWarning
from ..net import connect
from ..reproduce import conversation_snippet, snippet
from ..strategies import MiB, PayloadSpec, payload_specs, recv_sizes, schedules
from ..targets import Target
from ..wire import Exchange, Schedule, converse, drive, echo_mismatch, exchange
from .base import CheckOptions, check, examples_for, falsify


def _run_schedule(
    target: Target, options: CheckOptions, schedule: Schedule, *, want_eof: bool, timeout: float | None = None
) -> Exchange:
    """Run one schedule (bounded by ``timeout``, default ``options.timeout``, and by ``options.idle``);
    raise :class:`ServerFault` saying what went wrong, if anything, else return the exchange."""
    ex = exchange(target.address, schedule, timeout or options.timeout, options.idle)
    problem = echo_mismatch(schedule.payload, ex)
    if problem is None and want_eof and not ex.eof:
        problem = f"all {len(schedule.payload)} B came back, but then: {ex.outcome()} instead of FIN"
    if problem is not None:
        if not target.alive():
            problem += "; the server is no longer running"
        raise ServerFault(f"{problem} [{schedule.describe()}]")
    return ex


def _run_fixed(
    target: Target, options: CheckOptions, spec: PayloadSpec, schedule: Schedule, *, timeout: float | None = None
) -> Exchange:
    """:func:`_run_schedule` for a fixed example (the echo must end with FIN): a failure carries a replay of
    ``spec`` under ``schedule`` as its reproducer."""
    try:
        return _run_schedule(target, options, schedule, want_eof=True, timeout=timeout)
    except ServerFault as fault:
        fault.reproducer = snippet(target.address, spec, schedule)
        raise


#: the bound of one long stream (echo.large, echo.backpressure), in multiples of --timeout
LONG_STREAM_TIMEOUTS = 3


def _run_long(target: Target, options: CheckOptions, spec: PayloadSpec, schedule: Schedule) -> tuple[Exchange, str]:
    """Run a long fixed stream, bounded by :data:`LONG_STREAM_TIMEOUTS` times ``options.timeout``; return the
    exchange and, for a server too slow to finish within that bound, a note saying how far and how fast it got
    ("" when it finished).

    A hang (no byte moving for ``options.idle``), a wrong or missing byte, or an end other than FIN after the
    whole echo raises :class:`ServerFault` with a replay. A server still echoing correctly when the bound passes
    is slow, not broken (the protocol promises the bytes, not a rate): the client stops writing there and
    half-closes, and the server must then echo every byte it was sent, then FIN. So a slow server is judged on a
    whole echo and is never cut off mid-stream.
    """
    timeout = options.timeout * LONG_STREAM_TIMEOUTS
    sock = connect(target.address, options.timeout)
    try:
        ex = drive([sock], [schedule], timeout, options.idle)[0]
        got = ex.received
        if not (ex.timed_out and ex.elapsed >= timeout * 0.99 and got and schedule.payload.startswith(got)):
            sock.close()
            return _judged(target, spec, schedule, ex), ""
        # the rest of the echo of what the server accepted, and not a byte more
        tail = drive([sock], [Schedule(b"", half_close=True, expect=ex.sent - len(got))], timeout, options.idle)[0]
    finally:
        sock.close()
    got += tail.received
    whole = dataclasses.replace(  # the stream's exchange, ended as its tail ended
        ex,
        received=got,
        excess_at=None if tail.excess_at is None else ex.sent,
        eof=tail.eof,
        reset=tail.reset,
        timed_out=tail.timed_out,
        error=tail.error,
        elapsed=ex.elapsed + tail.elapsed,
    )
    sent = schedule.payload[: ex.sent]
    problem = echo_mismatch(sent, whole) or (None if whole.eof else f"no FIN after the echo: {whole.outcome()}")
    if problem is not None:
        raise ServerFault(
            f"the echo was still coming when the {timeout:g}s bound passed, so the client stopped writing after "
            f"{ex.sent} B and half-closed; then: {problem} [{schedule.describe()}]",
            reproducer=snippet(target.address, spec, schedule),
        )
    rate = len(whole.received) / whole.elapsed / 1e6
    return whole, (
        f"slow: {len(whole.received) >> 20} of {len(schedule.payload) >> 20} MiB in {whole.elapsed:.0f}s "
        f"({rate:.1f} MB/s), byte-identical, then FIN. The echo was still coming when the {timeout:g}s bound "
        f"passed, so the client stopped writing there and half-closed"
    )


def _judged(target: Target, spec: PayloadSpec, schedule: Schedule, ex: Exchange) -> Exchange:
    """``ex`` if it is the whole echo of ``schedule`` then FIN, else :class:`ServerFault` with a replay."""
    problem = echo_mismatch(schedule.payload, ex)
    if problem is None and not ex.eof:
        problem = f"all {len(schedule.payload)} B came back, but then: {ex.outcome()} instead of FIN"
    if problem is not None:
        if not target.alive():
            problem += "; the server is no longer running"
        raise ServerFault(f"{problem} [{schedule.describe()}]", reproducer=snippet(target.address, spec, schedule))
    return ex


def _property(
    key: str,
    target: Target,
    options: CheckOptions,
    strategy: st.SearchStrategy[tuple[PayloadSpec, Schedule]],
    want_eof: bool,
) -> str:
    n = falsify(
        strategy,
        lambda value: _run_schedule(target, options, value[1], want_eof=want_eof),
        examples=examples_for(key, options),
        options=options,
        reproduce=lambda value, fault: snippet(target.address, value[0], value[1]),
        key=key,
    )
    return f"{n} examples"


@check("echo.fidelity", "payloads of 0 B to 1 MiB over all byte values come back byte-identical", weight=1.0)
def fidelity(target: Target, options: CheckOptions) -> str:
    strategy = payload_specs(max_size=MiB).map(lambda spec: (spec, Schedule(spec.build(), half_close=False)))
    return _property("echo.fidelity", target, options, strategy, want_eof=False)


@check(
    "echo.partial",
    "any chunking of the writes (single bytes, pauses) and any recv size give a byte-identical echo",
    weight=1.0,
)
def partial(target: Target, options: CheckOptions) -> str:
    return _property("echo.partial", target, options, schedules(half_close=False), want_eof=False)


@check(
    "echo.half-close",
    "after the client's shutdown(SHUT_WR) every remaining byte is echoed, then the server closes with FIN",
    weight=0.5,
)
def half_close(target: Target, options: CheckOptions) -> str:
    """First a fixed example that half-closes while most of the echo is certainly still on its way (the
    client reads nothing until it has sent everything and its FIN: a server that closes at EOF loses it
    whatever the timing), then the property."""
    spec = PayloadSpec(size=256 * 1024, kind="random", seed=256)
    _run_fixed(target, options, spec, Schedule(spec.build(), chunk_sizes=(65536,), stall_reader=options.idle))
    return _property("echo.half-close", target, options, schedules(half_close=True, max_size=MiB), want_eof=True)


@check(
    "echo.interactive",
    "each message is echoed in full before the next is sent (sizes at multiples of 1024 included)",
    weight=0.5,
)
def interactive(target: Target, options: CheckOptions) -> str:
    def body(value: tuple[list[PayloadSpec], int]) -> None:
        specs, recv_size = value
        sock = connect(target.address, options.timeout)
        try:
            results = converse(sock, [s.build() for s in specs], recv_size, options.timeout, options.idle)
        finally:
            sock.close()
        last = results[-1]
        message = specs[len(results) - 1].build()
        problem = echo_mismatch(message, last)
        if problem is not None:
            raise ServerFault(f"message {len(results)} of {len(specs)}: {problem}")

    strategy = st.tuples(st.lists(payload_specs(min_size=1, max_size=16 * 1024), min_size=1, max_size=8), recv_sizes())
    n = falsify(
        strategy,
        body,
        examples=examples_for("echo.interactive", options),
        options=options,
        reproduce=lambda value, fault: conversation_snippet(target.address, value[0], value[1]),
        key="echo.interactive",
    )
    return f"{n} conversations"


@check("echo.large", "a 64 MiB stream, written and read at full speed, comes back byte-identical")
def large(target: Target, options: CheckOptions) -> str:
    spec = PayloadSpec(size=options.large_bytes, kind="random", seed=128)
    schedule = Schedule(spec.build(), chunk_sizes=(256 * 1024,), recv_sizes=(256 * 1024,), half_close=True)
    ex, slow = _run_long(target, options, spec, schedule)
    if slow:
        raise ServerWarning(slow)
    return f"{len(schedule.payload) >> 20} MiB echoed at {len(schedule.payload) / ex.elapsed / 1e6:.0f} MB/s"


@check(
    "echo.backpressure",
    "with the reader stalled the server stops reading (the writer blocks): nothing lost, no deadlock, "
    "bounded buffering",
)
def backpressure(target: Target, options: CheckOptions) -> str:
    """Offer ``backpressure_bytes`` (64 MiB) with the reader stalled until writing has been blocked 0.3 s.

    A server that honours backpressure stops reading once its echo cannot be sent, so the writer blocks
    after the socket buffers fill (a few MiB on loopback). One that keeps reading buffers everything: the
    whole payload is accepted while nobody reads. That signal is language-neutral; the server's peak memory
    (garbage-collected runtimes grow it by allocation churn alone) is reported as a measurement.
    """
    spec = PayloadSpec(size=options.backpressure_bytes, kind="random", seed=16)
    schedule = Schedule(spec.build(), stall_reader=0.3, half_close=True)
    pid = target.pid
    before = sysinfo.rss_kib(pid) if pid else None
    ex, slow = _run_long(target, options, spec, schedule)
    peak = sysinfo.peak_rss_kib(pid) if pid else None
    memory = f"; peak memory grew {peak - before} KiB" if peak is not None and before is not None else ""
    mib = len(schedule.payload) >> 20
    if ex.sent_while_stalled >= len(schedule.payload):
        raise ServerFault(
            f"buffering is unbounded: all {mib} MiB were accepted while the client read nothing{memory}; "
            "the server keeps reading while its unsent echo piles up (stop reading above a high-water mark)",
            reproducer=snippet(target.address, spec, schedule, unbounded=True),
        )
    if slow:
        raise ServerWarning(
            f"{slow}; the writer blocked after {ex.sent_while_stalled >> 10} KiB while the reader stalled"
        )
    return (
        f"{mib} MiB echoed; the writer blocked after {ex.sent_while_stalled >> 10} KiB while the reader stalled{memory}"
    )
