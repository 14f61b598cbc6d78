"""Adversarial clients: a burst of simultaneous connects, and slowloris-style trickling writers."""

from __future__ import annotations

import errno
import selectors
import socket
import threading
import time

from ..errors import CheckSkipped, ServerFault
from ..net import Address, connect, family_of
from ..targets import Target
from ..wire import Exchange, Schedule, drive, echo_mismatch, exchange
from .base import CheckOptions, check

BURST = 100
TRICKLERS = 50


def _connect_burst(address: Address, count: int, timeout: float) -> tuple[list[socket.socket], list[float]]:
    """Start ``count`` non-blocking connects at once; return the connected sockets and each connect's latency.

    Raises :class:`ServerFault` if a connect is refused or not completed within ``timeout`` seconds.
    """
    socks: list[socket.socket] = []
    started = time.monotonic()
    for _ in range(count):
        sock = socket.socket(family_of(address[0]), socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS):
            for s in [*socks, sock]:
                s.close()
            raise ServerFault(f"connect {len(socks) + 1} of a burst of {count} failed at once: {errno.errorcode[code]}")
        socks.append(sock)
    latency: dict[socket.socket, float] = {}
    with selectors.DefaultSelector() as sel:
        for sock in socks:
            sel.register(sock, selectors.EVENT_WRITE)
        deadline = started + timeout
        while len(latency) < count and time.monotonic() < deadline:
            for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                sel.unregister(ready)
                error = ready.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    for s in socks:
                        s.close()
                    raise ServerFault(f"a connect of a burst of {count} failed: {errno.errorcode.get(error, error)}")
                latency[ready] = time.monotonic() - started
    if len(latency) < count:
        for s in socks:
            s.close()
        raise ServerFault(f"{count - len(latency)} of a burst of {count} connects got no answer in {timeout:g}s")
    return socks, [latency[s] for s in socks]


@check(
    "conn.burst",
    f"a burst of {BURST} simultaneous connects, all held open together: every client is served",
)
def burst(target: Target, options: CheckOptions) -> str:
    """All connect at once; each gets its echo while all stay open (a sequential server serves them in turn,
    so there each half-closes at once); then all half-close and must see FIN."""
    socks, latencies = _connect_burst(target.address, BURST, options.timeout)
    payloads = [f"burst client {n}\n".encode() * 4 for n in range(BURST)]
    try:
        first = [Schedule(p, half_close=target.sequential) for p in payloads]
        results = drive(socks, first, options.timeout * 2, options.idle * 2)
        problems = {n: echo_mismatch(p, ex) for n, (p, ex) in enumerate(zip(payloads, results, strict=True))}
        if not target.sequential and not any(problems.values()):
            results = drive(socks, [Schedule(b"")] * BURST, options.timeout, options.idle * 2)
        problems.update(
            {n: f"no FIN after the echo: {ex.outcome()}" for n, ex in enumerate(results) if not ex.eof}
            if not any(problems.values())
            else {}
        )
    finally:
        for sock in socks:
            sock.close()
    unserved = sorted(n for n, problem in problems.items() if problem)
    if unserved:
        raise ServerFault(
            f"only {BURST - len(unserved)} of {BURST} clients connected at once were served; "
            f"client {unserved[0]}: {problems[unserved[0]]}"
        )
    worst = max(latencies)
    note = " (SYNs were dropped: a full listen backlog made clients retry after 1 s)" if worst >= 0.9 else ""
    return f"{BURST} clients served; slowest connect {worst * 1000:.0f} ms{note}"


TRICKLE_PAUSE = 0.05  #: seconds between a trickler's bytes (16 bytes: 0.75 s of trickling)


@check(
    "conn.slowloris",
    f"while {TRICKLERS} clients trickle one byte every {TRICKLE_PAUSE * 1000:g} ms, new clients are served "
    "before the tricklers have finished, and the tricklers get their echo",
)
def slowloris(target: Target, options: CheckOptions) -> str:
    """Starvation, not speed: a new client must be served while the tricklers are still sending (a server
    that is merely slow to accept them, like a fork-per-connection one, passes)."""
    if target.sequential:
        raise CheckSkipped("a sequential server serves one client at a time: tricklers block the rest by design")
    trickle = Schedule(b"slowly, bytewise", chunk_sizes=(1,), pauses=(TRICKLE_PAUSE,), half_close=True)
    socks = [connect(target.address, options.timeout) for _ in range(TRICKLERS)]
    started = time.monotonic()
    last_byte = started + TRICKLE_PAUSE * (len(trickle.payload) - 1)
    outcome: list[list[Exchange]] = []
    runner = threading.Thread(
        target=lambda: outcome.append(drive(socks, [trickle] * TRICKLERS, options.timeout * 2, options.idle * 2)),
        daemon=True,
    )
    runner.start()
    try:
        worst = 0.0
        for n in range(3):
            probe = f"new client {n} while others trickle\n".encode()
            start = time.monotonic()
            window = max(0.05, last_byte - start) + target.network_delay
            ex = exchange(target.address, Schedule(probe), window, options.idle)
            worst = max(worst, time.monotonic() - start)
            if echo_mismatch(probe, ex) is not None:
                raise ServerFault(
                    f"while {TRICKLERS} clients trickled single bytes, new client {n + 1} was not served before "
                    f"they finished ({time.monotonic() - started:.1f}s in): {echo_mismatch(probe, ex)}"
                )
    finally:
        runner.join(options.timeout * 2 + 1)
        for sock in socks:
            sock.close()
    if not outcome:
        raise ServerFault("the trickling clients never finished")
    broken = [n for n, ex in enumerate(outcome[0]) if echo_mismatch(trickle.payload, ex) or not ex.eof]
    if broken:
        ex = outcome[0][broken[0]]
        raise ServerFault(
            f"{len(broken)} of {TRICKLERS} trickling clients did not get their echo; the first: "
            f"{echo_mismatch(trickle.payload, ex) or ex.outcome()}"
        )
    return f"{TRICKLERS} tricklers served; new clients served in at most {worst * 1000:.0f} ms meanwhile"
