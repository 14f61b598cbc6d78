"""Adversarial clients: a burst of simultaneous connects, and slowloris-style trickling writers."""

from __future__ import annotations

import socket
import threading
import time

from .. import connrepro, sockdiag
from ..errors import CheckSkipped, ServerFault, ServerWarning
from ..net import SYN_RETRIES, Address, connect, connect_nowait, retrying_in
from ..reproduce import replayed_by
from ..targets import Target
from ..wire import Exchange, Schedule, drive, echo_mismatch, exchange
from .base import CheckOptions, check
from .connections import RATE_LIMIT_PAUSE, rate_limited

BURST = 100
TRICKLERS = 50


#: how long a burst's clients get to be served: past TCP's third SYN retry (1, 3, 7 s), so that a server
#: whose small backlog overflowed has been offered every waiting client at least three times
BURST_BOUND = SYN_RETRIES[2] + 1.0


@check(
    "conn.burst",
    f"a burst of {BURST} simultaneous connects, all held open together: every client the server's kernel took "
    f"is served, then gets FIN (a listen backlog under {BURST}, clients it left to TCP's retries, or a rate limit "
    "that turns clients away for a while: warn)",
)
@replayed_by(lambda target, options: connrepro.burst_snippet(target.address, BURST, target.sequential))
def burst(target: Target, options: CheckOptions) -> str:
    """All connect at once; each gets its echo while all stay open (a sequential server serves them in turn,
    so there each half-closes at once); then all half-close and must see FIN.

    A client still waiting at the end is judged by what the kernel says of it: if TCP is still retrying its
    handshake (:func:`harness.net.retrying_in`: the server's listen backlog overflowed, so its kernel dropped
    the SYN or the final ACK), the server has not been given it yet: a delay of TCP's. With a backlog smaller
    than the burst (read from the kernel, :mod:`harness.sockdiag`), a client reset before any byte came back
    was turned away by the kernel (its SYN cookie failed), not by the server. Both are warnings, and so is the
    small backlog itself, whatever the timing of a run (the verdict must not flip between runs). Clients
    refused after others were served are a connection rate limit when the server serves again within
    :data:`~harness.checks.connections.RATE_LIMIT_PAUSE` (a warning), else a failure. A client the server's
    kernel took that got no echo is a failure."""
    payloads = [f"burst client {n}\n".encode() * 4 for n in range(BURST)]
    socks: list[socket.socket] = []
    bound = max(options.timeout, BURST_BOUND) + target.network_delay
    try:
        socks += (connect_nowait(target.address) for _ in range(BURST))
        first = [Schedule(p, half_close=target.sequential) for p in payloads]
        results = drive(socks, first, bound, options.idle * 2)
        backlog = _backlog(target.address)
        small = backlog is not None and backlog < BURST
        waiting = {
            n
            for n, ex in enumerate(results)
            if not ex.received and not (ex.eof or ex.reset or ex.error) and retrying_in(socks[n]) is not None
        }
        untouched = [n for n, ex in enumerate(results) if not ex.received and n not in waiting]
        turned_away = {n for n in untouched if small and results[n].reset}
        refused = {n for n in untouched if "refused" in (results[n].error or "").lower()}
        spared = waiting | turned_away | refused
        problems = {
            n: echo_mismatch(p, ex) for n, (p, ex) in enumerate(zip(payloads, results, strict=True)) if n not in spared
        }
        if not any(problems.values()):
            served = sorted(problems)
            ends = {n: results[n] for n in served}
            if not target.sequential:  # now every served client half-closes and must see FIN
                fins = drive([socks[n] for n in served], [Schedule(b"")] * len(served), options.timeout, options.idle)
                ends = dict(zip(served, fins, strict=True))
            problems = {n: f"no FIN after the echo: {ex.outcome()}" for n, ex in ends.items() if not ex.eof}
    finally:
        for sock in socks:
            sock.close()
    unserved = sorted(n for n, problem in problems.items() if problem)
    if unserved:
        raise ServerFault(
            f"only {BURST - len(unserved) - len(spared)} of {BURST} clients connected at once were served; "
            f"client {unserved[0]}: {problems[unserved[0]]}"
        )
    slowest = max((results[n].first_byte or 0.0 for n in problems), default=0.0)
    if refused:
        what = f"{len(refused)} of {BURST} clients connected at once were refused while {len(problems)} were served"
        warning = rate_limited(what, target.address, options)
        if warning is None:
            raise ServerFault(f"{what}, and the server did not serve again within {RATE_LIMIT_PAUSE:g}s")
        raise warning
    if waiting or turned_away or small:
        asked = f"listen backlog of {backlog}" if backlog is not None else "listen backlog"
        left = []
        if waiting:
            left.append(f"{len(waiting)} were still waiting for TCP to retry their handshake after {bound:g}s")
        if turned_away:
            left.append(f"{len(turned_away)} were reset by the kernel before reaching the server (a SYN cookie failed)")
        fate = "; ".join(left) or f"all were served, the slowest after {slowest:.1f}s"
        raise ServerWarning(
            f"the server's {asked} is smaller than a burst of {BURST} clients: {fate}. When it overflows the kernel "
            f"drops their SYN or final ACK and TCP retries at {', '.join(f'{t:g}' for t in SYN_RETRIES[:4])} s... "
            "(or, with SYN cookies, resets them): clients are delayed or turned away before the server sees them, "
            "no byte of an accepted one is lost; raise the backlog (listen(128) or more; socketserver: "
            "request_queue_size)"
        )
    note = f" (listen backlog {backlog})" if backlog is not None else ""
    return f"{BURST} clients served; slowest first echo after {slowest * 1000:.0f} ms{note}"


def _backlog(address: Address) -> int | None:
    """The backlog the server's listening socket on ``address`` asked for, when the kernel tells."""
    found = sockdiag.listeners(address[1])
    return max((lst.backlog for lst in found), default=None) if found else None


TRICKLE = b"slowly, bytewise"  #: what each trickler sends, one byte at a time
PROBES = 3  #: new clients that must be served, one after the other, while the others trickle
#: how long a new client may wait to be accepted by a server that is not starved: TCP's first SYN retransmission
#: (1 s) -- a full backlog costs that much, and so does inetutils-inetd's pause of a second before it accepts
#: again whenever a child exited while it waited in select()
ACCEPT_ALLOWANCE = SYN_RETRIES[0]
#: seconds between a trickler's bytes: the trickling outlasts every probe waiting its allowance in turn
#: (16 bytes: 3.5 s of trickling), so a probe still unserved when the tricklers finish was held up by them
TRICKLE_PAUSE = round((PROBES * ACCEPT_ALLOWANCE + 0.5) / (len(TRICKLE) - 1), 3)


@check(
    "conn.slowloris",
    f"while {TRICKLERS} clients trickle one byte every {TRICKLE_PAUSE * 1000:g} ms, new clients are served "
    "before the tricklers have finished, and the tricklers get their echo",
)
@replayed_by(lambda target, options: connrepro.slowloris_snippet(target.address, TRICKLERS, TRICKLE_PAUSE))
def slowloris(target: Target, options: CheckOptions) -> str:
    """Starvation, not speed: a new client must be served while the tricklers are still sending (a server
    that is merely slow to accept them, like a fork-per-connection one, passes). The trickling lasts long enough
    for each of the :data:`PROBES` new clients to wait its :data:`ACCEPT_ALLOWANCE` in turn."""
    if target.sequential:
        raise CheckSkipped("a sequential server serves one client at a time: tricklers block the rest by design")
    trickle = Schedule(TRICKLE, chunk_sizes=(1,), pauses=(TRICKLE_PAUSE,), half_close=True)
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
        for n in range(PROBES):
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
