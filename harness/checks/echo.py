"""Echo checks: the bytes that go in come back, in order, however they are written and read."""

from __future__ import annotations

import time

from hypothesis import strategies as st

from .. import sysinfo
from ..errors import ServerFault
from ..net import connect
from ..reproduce import conversation_snippet, snippet
from ..strategies import MiB, PayloadSpec, payload_specs, recv_sizes, schedules
from ..targets import Target
from ..wire import Exchange, Schedule, converse, echo_mismatch, exchange
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
    start = time.monotonic()
    # a long stream on a busy machine: the idle bound still catches a hang within seconds
    _run_fixed(target, options, spec, schedule, timeout=options.timeout * 3)
    rate = len(schedule.payload) / (time.monotonic() - start) / 1e6
    return f"{len(schedule.payload) >> 20} MiB echoed at {rate:.0f} MB/s"


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
    ex = _run_fixed(target, options, spec, schedule, timeout=options.timeout * 3)
    peak = sysinfo.peak_rss_kib(pid) if pid else None
    memory = f"; peak memory grew {peak - before} KiB" if peak is not None and before is not None else ""
    mib = len(schedule.payload) >> 20
    if ex.sent_while_stalled >= len(schedule.payload):
        raise ServerFault(
            f"buffering is unbounded: all {mib} MiB were accepted while the client read nothing{memory}; "
            "the server keeps reading while its unsent echo piles up (stop reading above a high-water mark)",
            reproducer=snippet(target.address, spec, schedule),
        )
    return (
        f"{mib} MiB echoed; the writer blocked after {ex.sent_while_stalled >> 10} KiB while the reader stalled{memory}"
    )
