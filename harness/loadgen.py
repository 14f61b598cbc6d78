"""A closed-loop echo load generator: many connections, each sending a message and waiting for its echo.

:func:`generate` spreads the connections over worker processes (each pinned to the client CPUs), which use
non-blocking sockets, one epoll set and one preallocated receive buffer. After a warm-up, each worker
counts round trips and records every round trip's latency until the end of the window, and reports its own
CPU time, so the caller can tell when the client, not the server, was the bottleneck.

The workers are a small C program (``loadgen.c``, compiled once with the system's C compiler and cached),
so that a client costs less per round trip than any Python server it measures; without a compiler they are
Python processes, which saturate first (the report says so).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import select
import socket
import subprocess
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from . import cbuild, containment, sysinfo
from .errors import HarnessError
from .net import Address

#: a worker busy this share of the window was the bottleneck, not the server
SATURATED = 0.9


@dataclass
class Load:
    """What the client side measured over the window (after the warm-up)."""

    connections: int
    size: int
    seconds: float
    round_trips: int = 0
    latencies_ns: array[int] = field(default_factory=lambda: array("q"))
    client_busy: float = 0.0  #: the busiest worker's CPU time over the window, as a share of it
    connect_seconds: float = 0.0  #: time to open every connection
    errors: list[str] = field(default_factory=list)
    server_cpu: float | None = None  #: the server's CPU seconds over the window, when its pids were given
    client: str = "c"  #: which load workers ran: "c" or "python"

    @property
    def rate(self) -> float:
        """Round trips per second."""
        return self.round_trips / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile ``q`` (0-100) in microseconds (0 with no sample)."""
        if not self.latencies_ns:
            return 0.0
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] / 1000

    @property
    def saturated(self) -> bool:
        return self.client_busy >= SATURATED

    def add(
        self,
        trips: int,
        latencies: bytes,
        busy: float,
        connect_seconds: float,
        errors: list[str],
        server_cpu: float | None,
    ) -> None:
        """Fold in one worker's report: round trips and latencies add up, the busiest worker and the slowest
        connect phase count, the server's CPU comes from the one worker that measured it."""
        self.round_trips += trips
        self.latencies_ns.frombytes(latencies)
        self.client_busy = max(self.client_busy, busy)
        self.connect_seconds = max(self.connect_seconds, connect_seconds)
        self.errors += errors
        if server_cpu is not None:
            self.server_cpu = server_cpu


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    seconds: float = usage.ru_utime + usage.ru_stime
    return seconds


def _worker(
    address: Address,
    count: int,
    size: int,
    times: tuple[float, float, float],
    cpus: set[int],
    server_pids: list[int],
    out: Connection,
) -> None:
    """One worker process: ``count`` connections in ping-pong from ``times[0]``, measured from ``times[1]``
    to ``times[2]`` (monotonic); sends its results, and the server's CPU time over the window when it was
    given ``server_pids``."""
    start, warm_end, end = times
    if cpus:
        os.sched_setaffinity(0, cpus)
    errors: list[str] = []
    lat = array("q")
    trips = 0
    t0 = time.monotonic()
    socks = []
    try:
        for _ in range(count):
            sock = socket.create_connection(address, timeout=10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            socks.append(sock)
    except OSError as exc:
        errors.append(f"connect: {exc}")
    connect_seconds = time.monotonic() - t0
    message = memoryview(bytes(i % 251 for i in range(size)))
    buf = bytearray(max(size, 65536))
    view = memoryview(buf)
    ep = select.epoll()
    by_fd = {s.fileno(): s for s in socks}
    got = dict.fromkeys(by_fd, 0)
    unsent = dict.fromkeys(by_fd, 0)
    sent_at = dict.fromkeys(by_fd, 0)
    now_ns = time.perf_counter_ns
    while time.monotonic() < start:
        ep.poll(start - time.monotonic())
    for fd, sock in by_fd.items():
        ep.register(fd, select.EPOLLIN)
        sent_at[fd] = now_ns()
        unsent[fd] = size - sock.send(message)
        if unsent[fd]:
            ep.modify(fd, select.EPOLLIN | select.EPOLLOUT)
    cpu_at_warm = server_at_warm = None
    measuring = False
    while by_fd:
        now = time.monotonic()
        if now >= end:
            break
        if not measuring and now >= warm_end:
            measuring, cpu_at_warm = True, _cpu()
            server_at_warm = sysinfo.cpu_seconds(server_pids) if server_pids else None
        for fd, ev in ep.poll(min(0.1, end - now)):
            sock = by_fd[fd]
            try:
                if ev & select.EPOLLOUT and unsent[fd]:
                    unsent[fd] -= sock.send(message[size - unsent[fd] :])
                    if not unsent[fd]:
                        ep.modify(fd, select.EPOLLIN)
                if ev & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                    n = sock.recv_into(view, size - got[fd])
                    if n == 0:
                        raise ConnectionError("the server closed the connection")
                    got[fd] += n
                    if got[fd] == size:
                        t = now_ns()
                        if measuring:
                            trips += 1
                            lat.append(t - sent_at[fd])
                        got[fd] = 0
                        sent_at[fd] = t
                        unsent[fd] = size - sock.send(message)
                        if unsent[fd]:
                            ep.modify(fd, select.EPOLLIN | select.EPOLLOUT)
            except BlockingIOError:
                pass
            except OSError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                ep.unregister(fd)
                del by_fd[fd]
                sock.close()
    busy = (_cpu() - cpu_at_warm) / max(1e-9, time.monotonic() - warm_end) if cpu_at_warm is not None else 0.0
    server_now = sysinfo.cpu_seconds(server_pids) if server_pids else None
    server_cpu = server_now - server_at_warm if server_now is not None and server_at_warm is not None else None
    for sock in socks:
        sock.close()
    out.send((trips, lat.tobytes(), busy, connect_seconds, errors[:5], server_cpu))
    out.close()


def _c_workers(
    binary: Path,
    address: Address,
    shares: list[int],
    size: int,
    times: tuple[float, float, float],
    cpus: set[int] | None,
    server_pids: list[int],
    load: Load,
    cycles: bool = False,
) -> None:
    """Run the C workers (one per share of the connections) and add what they measured to ``load``."""
    with containment.temporary_directory("harness-load-") as tmp:
        procs = []
        for n, share in enumerate(shares):
            lat, out = Path(tmp) / f"lat{n}", Path(tmp) / f"out{n}"
            mode = ["--cycles"] if cycles else []
            argv = [str(binary), *mode, address[0], str(address[1]), str(share), str(size)]
            argv += [f"{t:.6f}" for t in times]
            argv += [str(lat), *(str(p) for p in (server_pids if n == 0 else []))]
            with open(out, "wb") as fh:
                proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if cpus:
                os.sched_setaffinity(proc.pid, cpus)
            procs.append((proc, lat, out))
        for proc, lat, out in procs:
            try:
                proc.wait(max(0.0, times[2] - time.monotonic()) + 15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
                load.errors.append("a load worker did not finish in time")
                continue
            report = out.read_text()
            fields = report.split(maxsplit=5)
            if len(fields) < 5:
                load.errors.append(f"a load worker failed: {report.strip()[:200]}")
                continue
            trips, busy, connect_seconds, server_cpu, errors = fields[:5]
            load.add(
                int(trips),
                lat.read_bytes() if lat.is_file() else b"",
                float(busy),
                float(connect_seconds),
                [fields[5].strip()] * min(5, int(errors)) if int(errors) else [],
                float(server_cpu) if float(server_cpu) >= 0 else None,
            )


def generate(
    address: Address,
    *,
    connections: int,
    size: int,
    duration: float,
    warmup: float,
    processes: int,
    cpus: set[int] | None = None,
    server_pids: list[int] | None = None,
    client: str = "auto",
    cycles: bool = False,
) -> Load:
    """Run the load: ``connections`` ping-pong connections of ``size``-byte messages over ``processes`` workers
    (at most one per connection), ``warmup`` seconds unmeasured, then ``duration`` seconds measured.
    ``client``: ``"c"``, ``"python"`` or ``"auto"`` (C when a compiler is there). With ``cycles`` each
    connection slot repeats connect, echo, close, and a round trip is a whole cycle (C client only).
    Bounded: every worker is joined (or killed) by the end of the window plus 15 s."""
    processes = max(1, min(processes, connections))
    begin = time.monotonic() + 0.2 + 0.0005 * connections  # workers connect, then all start together
    warm_end, end = begin + warmup, begin + warmup + duration
    shares = [connections // processes + (1 if n < connections % processes else 0) for n in range(processes)]
    binary = cbuild.compiled("loadgen.c") if client in ("auto", "c") else None
    if (client == "c" or cycles) and binary is None:
        raise HarnessError("the C load client cannot be built: no working C compiler (set CC, or use --client python)")
    if binary is not None:
        load = Load(connections, size, duration)
        _c_workers(binary, address, shares, size, (begin, warm_end, end), cpus, server_pids or [], load, cycles)
        return load
    ctx = multiprocessing.get_context("fork")
    workers = []
    for n, share in enumerate(shares):
        recv_end, send_end = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_worker,
            args=(address, share, size, (begin, warm_end, end), cpus or set(), server_pids if n == 0 else [], send_end),
            daemon=True,
        )
        proc.start()
        send_end.close()
        workers.append((proc, recv_end))
    load = Load(connections, size, duration, client="python")
    for proc, pipe in workers:
        if pipe.poll(max(0.0, end - time.monotonic()) + 15):
            load.add(*pipe.recv())
        else:
            load.errors.append("a load worker did not report in time")
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    return load
