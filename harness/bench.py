"""``python -m harness bench``: how fast is this echo server, next to well-known baselines in the same run?

Each measurement starts the server fresh, pins it to the server CPUs (the load workers to the others), runs a
closed-loop load (:mod:`harness.loadgen`) through a warm-up and a measured window, and reads the server's
CPU time and peak memory from ``/proc``. With baselines, the server under test and each baseline are measured
in turn, ``pairs`` times, and the ratios of each pair are summarised by their median and spread: on a noisy
machine only same-run ratios mean anything.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from . import cbuild, sysinfo, validate
from .anchors import ANCHORS
from .errors import HarnessError
from .loadgen import generate
from .targets import SubprocessTarget, Target, reference_target


@dataclass
class Measurement:
    """One server, one run."""

    server: str
    connections: int
    size: int
    seconds: float
    round_trips_per_s: float
    mb_per_s: float  #: echoed payload, one way, in 10^6 bytes per second
    p50_us: float
    p99_us: float
    p999_us: float
    connections_per_s: float  #: how fast all the connections were opened at the start
    server_cpu_us_per_rt: float | None
    server_peak_rss_kib: int | None
    client_busy: float  #: the busiest load worker's CPU share of the window
    client_saturated: bool
    client: str  #: the load workers: "c" or "python"
    cycles: bool  #: round trips are whole connect/echo/close cycles
    stalls_over_1s: int  #: round trips (cycles) that took a second or more: SYNs dropped and retried
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        cpu = f"{self.server_cpu_us_per_rt:5.1f} us" if self.server_cpu_us_per_rt is not None else "   n/a  "
        rss = f"{self.server_peak_rss_kib / 1024:6.1f} MiB" if self.server_peak_rss_kib is not None else "  n/a"
        note = "  CLIENT SATURATED: the load, not the server, was the limit" if self.client_saturated else ""
        errors = f"  {len(self.errors)} errors, first: {self.errors[0]}" if self.errors else ""
        unit = "cycles/s" if self.cycles else "rt/s"
        stalls = f"  {self.stalls_over_1s} took over 1 s" if self.stalls_over_1s else ""
        return (
            f"{self.server:<22} {self.round_trips_per_s:>10,.0f} {unit} {self.mb_per_s:8.1f} MB/s  "
            f"p50 {self.p50_us:7.0f} us  p99 {self.p99_us:7.0f} us  p99.9 {self.p999_us:7.0f} us  "
            f"cpu/rt {cpu}  peak {rss}  {self.connections_per_s:,.0f} conn/s{stalls}{note}{errors}"
        )


def cpu_split() -> tuple[set[int], set[int]]:
    """(server CPUs, client CPUs): the first allowed CPU for the server, the rest for the load (one CPU: both)."""
    allowed = sorted(os.sched_getaffinity(0))
    return {allowed[0]}, set(allowed[1:]) or {allowed[0]}


#: the load clients ``--client`` chooses from
CLIENTS = ("auto", "c", "python")


@dataclass(frozen=True)
class Shape:
    """The load of every run: ``connections`` in ping-pong with ``size``-byte messages, ``warmup`` seconds
    unmeasured then ``duration`` measured, from ``processes`` workers of the ``client`` kind."""

    connections: int = 50
    size: int = 1024
    duration: float = 3.0
    warmup: float = 1.0
    processes: int = 1
    client: str = "auto"
    cycles: bool = False  #: each connection slot repeats connect, echo, close (a round trip is a cycle)

    def __post_init__(self) -> None:
        """Every number inside the rule of its command-line option (:mod:`harness.validate`), else
        :class:`~harness.validate.BadValue` naming the field; an unknown ``client`` too."""
        validate.whole("connections", self.connections, validate.CONNECTIONS)
        validate.whole("size", self.size, validate.MESSAGE_BYTES)
        validate.real("duration", self.duration, validate.SECONDS)
        validate.real("warmup", self.warmup, validate.SECONDS_OR_ZERO)
        validate.whole("processes", self.processes, validate.PROCESSES)
        if self.client not in CLIENTS:
            raise validate.BadValue(f"client: must be one of {', '.join(CLIENTS)}, got {self.client!r}")


def measure(make: Callable[[], Target], name: str, shape: Shape) -> Measurement:
    """Start a fresh server from ``make``, load it, stop it; the server never outlives this call."""
    server_cpus, client_cpus = cpu_split()
    connections, size, duration = shape.connections, shape.size, shape.duration
    with make() as target:
        pids = _pin(target, server_cpus)
        load = generate(
            target.address,
            connections=connections,
            size=size,
            duration=duration,
            warmup=shape.warmup,
            processes=shape.processes,
            cpus=client_cpus,
            server_pids=pids,
            client=shape.client,
            cycles=shape.cycles,
        )
        peak = sysinfo.peak_rss_kib(target.pid) if target.pid else None
    cpu = load.server_cpu / load.round_trips * 1e6 if load.server_cpu is not None and load.round_trips else None
    return Measurement(
        server=name,
        connections=connections,
        size=size,
        seconds=duration,
        round_trips_per_s=load.rate,
        mb_per_s=load.rate * size / 1e6,
        p50_us=load.percentile(50),
        p99_us=load.percentile(99),
        p999_us=load.percentile(99.9),
        connections_per_s=load.rate if shape.cycles else connections / max(load.connect_seconds, 1e-9),
        server_cpu_us_per_rt=cpu,
        server_peak_rss_kib=peak,
        client_busy=load.client_busy,
        client_saturated=load.saturated,
        client=load.client,
        cycles=shape.cycles,
        stalls_over_1s=sum(1 for ns in load.latencies_ns if ns >= 1_000_000_000),
        errors=load.errors,
    )


def _pin(target: Target, cpus: set[int]) -> list[int]:
    """Pin every process of the server's group to ``cpus`` (threads it starts later inherit it); their pids."""
    if target.pid is None:
        return []
    pids = sysinfo.group_members(target.pid) or [target.pid]
    for pid in pids:
        try:
            os.sched_setaffinity(pid, cpus)
        except OSError:
            pass
    return pids


#: every baseline: the Python ones of :mod:`harness.anchors`, and an epoll echo server in C (the ceiling)
BASELINES = (*ANCHORS, "c-epoll")


def anchor_target(name: str, startup_timeout: float = 10.0) -> SubprocessTarget:
    """A baseline server as a subprocess on an ephemeral port."""
    if name not in BASELINES:
        raise HarnessError(f"unknown baseline {name!r}: choose from {', '.join(BASELINES)}")
    if name == "c-epoll":
        binary = cbuild.compiled("echo_epoll.c")
        if binary is None:
            raise HarnessError("the c-epoll baseline needs a C compiler (cc, gcc or clang; or set CC)")
        argv = [str(binary), "127.0.0.1", "0"]
    else:
        argv = [sys.executable, "-m", f"{__package__}.anchors", name, "--port", "0"]
    return SubprocessTarget(argv, port=0, name=name, startup_timeout=startup_timeout)


@dataclass
class Comparison:
    """The server under test against one baseline: ratios of round trips/s, pair by pair."""

    baseline: str
    ratios: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    def line(self, server: str) -> str:
        return (
            f"{server} / {self.baseline}: median {self.median:.2f}x "
            f"(spread {min(self.ratios):.2f}-{max(self.ratios):.2f} over {len(self.ratios)} pairs)"
        )


def run_bench(
    servers: Sequence[tuple[str, Callable[[], Target]]],
    baselines: Sequence[str],
    shape: Shape,
    *,
    pairs: int,
    report: Callable[[Measurement], None] = lambda m: None,
) -> tuple[list[Measurement], list[Comparison]]:
    """Measure every server (and every baseline) ``pairs`` times, alternating, each run on a fresh start.
    Returns every measurement and, for the first server, its comparison with each baseline."""
    validate.whole("pairs", pairs, validate.PAIRS)
    everyone = list(servers) + [(b, lambda b=b: anchor_target(b)) for b in baselines]
    runs: dict[str, list[Measurement]] = {name: [] for name, _ in everyone}
    measurements = []
    for _ in range(pairs):
        for name, make in everyone:
            m = measure(make, name, shape)
            runs[name].append(m)
            measurements.append(m)
            report(m)
    first = servers[0][0]
    comparisons = [
        Comparison(b, [t.round_trips_per_s / a.round_trips_per_s for t, a in zip(runs[first], runs[b], strict=True)])
        for b in baselines
        if all(a.round_trips_per_s for a in runs[b])
    ]
    return measurements, comparisons


def default_servers() -> list[tuple[str, Callable[[], Target]]]:
    """The concurrent reference servers, each as a subprocess (the sequential one serves one connection at a
    time: bench it on its own with ``--connections 1``)."""
    return [(name, lambda name=name: reference_target(name)) for name in ("selector", "threaded")]  # type: ignore[misc]


def write_json(path: str, measurements: list[Measurement], comparisons: list[Comparison], server: str) -> None:
    """Every measurement and ratio, as JSON."""
    data = {
        "measurements": [asdict(m) for m in measurements],
        "ratios": [
            {"server": server, "baseline": c.baseline, "median": c.median, "ratios": c.ratios} for c in comparisons
        ],
    }
    with open(path, "w") as fh:
        json.dump(data, fh, indent=2)
