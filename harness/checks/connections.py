"""Connection checks: many clients at once, idle clients, resets, and a connect/close storm."""

from __future__ import annotations

import selectors
import socket
import time

from hypothesis import strategies as st

from .. import connrepro
from ..errors import CheckSkipped, ServerFault, ServerWarning
from ..net import Address, connect, connect_nowait, reset, retrying_in
from ..reproduce import concurrent_snippet, replayed_by
from ..strategies import KiB, PayloadSpec, schedules
from ..targets import Target
from ..waiting import poll_until
from ..wire import Schedule, converse, drive, echo_mismatch, exchange
from .base import CheckOptions, check, examples_for, falsify

Client = tuple[PayloadSpec, Schedule]


def _tagged(n: int, client: Client) -> Client:
    """Give client ``n`` a payload no other client has (an 8-byte tag in front)."""
    spec, sch = client
    tagged = PayloadSpec(spec.size + 8, spec.kind, spec.seed, bytes([65 + n]) * 8 + spec.head)
    return tagged, Schedule(tagged.build(), sch.chunk_sizes, sch.pauses, sch.recv_sizes, sch.stall_reader, True)


def _connect_all(address: Address, count: int, timeout: float, why: str = "") -> list[socket.socket]:
    """``count`` connections; :class:`ServerFault` saying which failed and how (refused, or no answer)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            socks.append(connect(address, timeout))
    except OSError as exc:
        for sock in socks:
            sock.close()
        if isinstance(exc, TimeoutError):
            how = f"got no answer within {timeout:g}s: the server is not accepting and its listen backlog is full"
        else:
            how = f"failed: {exc}"
        raise ServerFault(f"{why}connection {len(socks) + 1} of {count} {how}") from None
    return socks


@check(
    "conn.concurrency",
    "several clients with distinct payloads, interleaved, each get exactly their own echo "
    "(sequential servers: queued clients are served in turn)",
    weight=0.5,
)
def concurrency(target: Target, options: CheckOptions) -> str:
    count = options.connections

    def body(clients: list[Client]) -> None:
        tagged = [_tagged(n, c) for n, c in enumerate(clients)]
        # connects are only started: a sequential server with a small backlog takes the later ones when it has
        # served the earlier ones (TCP retries their SYNs meanwhile), which it could not if we waited for them
        socks: list[socket.socket] = []
        try:
            socks += (connect_nowait(target.address) for _ in tagged)
            results = drive(socks, [sch for _, sch in tagged], options.timeout * 2, options.idle * 2)
            retrying = [retrying_in(sock) is not None for sock in socks]
        finally:
            for sock in socks:
                sock.close()
        for n, ((_, sch), ex) in enumerate(zip(tagged, results, strict=True)):
            problem = echo_mismatch(sch.payload, ex)
            if problem is None and not ex.eof:
                problem = f"no FIN after the echo: {ex.outcome()}"
            if problem is not None:
                if retrying[n]:
                    problem += "; TCP was still retrying its handshake (the listen backlog stayed full)"
                others = [bytes([65 + m]) * 8 for m in range(len(tagged)) if m != n]
                if any(tag in ex.received for tag in others):
                    problem = "cross-talk: another client's bytes arrived on this connection; " + problem
                raise ServerFault(f"client {n} of {len(tagged)}: {problem}")

    if not target.sequential:
        _one_client_ends_while_another_talks(target, options)
        # the pause makes the handlers' race very likely, not certain (which thread the kernel wakes first
        # is its choice: one CI run of shared_buffer saw a try with no cross-talk): try it a few times
        for _ in range(FORCED_TRIES):
            _messages_that_arrive_together(target, options)
    strategy = st.lists(schedules(max_size=128 * KiB), min_size=2, max_size=count)
    n = falsify(
        strategy,
        body,
        examples=examples_for("conn.concurrency", options),
        options=options,
        reproduce=lambda value, fault: concurrent_snippet(target.address, [_tagged(i, c) for i, c in enumerate(value)]),
        key="conn.concurrency",
    )
    mode = "served in turn" if target.sequential else "served concurrently"
    return f"{n} examples of 2 to {count} clients {mode}"


_TALKER = (b"A: my first message\n", b"A: after B has gone\n", b"A: still talking\n")
_LEAVER = b"B: a whole conversation, then half-close\n"


def _one_client_ends_while_another_talks(target: Target, options: CheckOptions) -> None:
    """A fixed interleaving, forced by waiting for each step's echo (no timing involved): client A is served a
    message; client B then has a whole exchange and half-closes; A must still be served, twice, then FIN.
    A server whose per-connection state is shared (a global "done" flag) ends A when B ends."""
    a = connect(target.address, options.timeout)
    try:
        first = converse(a, _TALKER[:1], 65536, options.timeout, options.idle)[0]
        problem = echo_mismatch(_TALKER[0], first) or ("the server closed it" if first.eof else None)
        if problem is None:
            b = exchange(target.address, Schedule(_LEAVER), options.timeout, options.idle)
            problem = echo_mismatch(_LEAVER, b) or (None if b.eof else f"client B got no FIN: {b.outcome()}")
            if problem is not None:
                problem = f"client B, while client A was connected: {problem}"
            else:
                later = converse(a, _TALKER[1:], 65536, options.timeout, options.idle)
                for n, (message, ex) in enumerate(zip(_TALKER[1:], later, strict=False), start=2):
                    if echo_mismatch(message, ex) or ex.eof:
                        problem = (
                            f"client A was cut off after client B ended its own connection: message {n} of 3 "
                            f"({echo_mismatch(message, ex) or 'echoed, but then ' + ex.outcome()}); connections "
                            "share state they should not (a global flag or buffer)"
                        )
                        break
                else:
                    if len(later) < 2:
                        problem = "client A was cut off after client B ended its own connection"
    finally:
        a.close()
    if problem is not None:
        raise ServerFault(problem, reproducer=_talker_snippet(target.address))


#: times conn.concurrency pauses the server while every client sends (each a new set of connections)
FORCED_TRIES = 5


@replayed_by(lambda target, options: connrepro.together_snippet(target.address, max(2, options.connections)))
def _messages_that_arrive_together(target: Target, options: CheckOptions) -> None:
    """A forced interleaving: every client is served once (so each has its handler running), then the server
    is paused (SIGSTOP: :meth:`~harness.targets.Target.frozen`) while each sends a message, so all of them are
    waiting at the server together when it runs again, as under load. Each must get back its own message
    only: a buffer shared between connections shows now, every time, not when the scheduler happens to
    interleave two handlers. (A server that cannot be paused is still checked, without the forcing.)"""
    count = max(2, options.connections)
    messages = [bytes([65 + n]) * 8 + f" client {n}: arriving with the others\n".encode() * 8 for n in range(count)]
    socks = _connect_all(target.address, count, options.timeout)
    try:
        for n, sock in enumerate(socks):
            hello = bytes([65 + n]) * 8 + b" hello\n"
            ex = converse(sock, [hello], 65536, options.timeout, options.idle)[0]
            if echo_mismatch(hello, ex):
                raise ServerFault(f"client {n} of {count}, served alone first: {echo_mismatch(hello, ex)}")
        with target.frozen():
            for sock, message in zip(socks, messages, strict=True):
                sock.sendall(message)
        # half-close, and read each message's echo (not a byte more) until FIN
        results = drive(socks, [Schedule(b"", expect=len(m)) for m in messages], options.timeout, options.idle * 2)
    finally:
        for sock in socks:
            sock.close()
    for n, (message, ex) in enumerate(zip(messages, results, strict=True)):
        problem = echo_mismatch(message, ex)
        if problem is not None:
            others = [bytes([65 + m]) * 8 for m in range(count) if m != n]
            crossed = any(tag in ex.received for tag in others)
            raise ServerFault(
                f"client {n} of {count}, whose message reached the server together with the others': "
                + ("cross-talk: another client's bytes arrived on this connection; " if crossed else "")
                + problem
            )


def _talker_snippet(address: Address) -> str:
    return connrepro.talker_snippet(address, _TALKER, _LEAVER)


@check(
    "conn.idle",
    "idle connections held open (silent, or stopped mid-message) do not starve a new client",
)
@replayed_by(lambda target, options: connrepro.idle_snippet(target.address, options.connections * 2, options.idle * 2))
def idle(target: Target, options: CheckOptions) -> str:
    if target.sequential:
        raise CheckSkipped("a sequential server serves one client at a time: idle clients block the rest by design")
    count = options.connections * 2
    idlers = _connect_all(target.address, count, options.idle * 2, "while opening idle connections, ")
    try:
        for sock in idlers[::2]:
            sock.sendall(b"partial message, then silence")
        payload = b"hello from a new client\n" * 40
        start = time.monotonic()
        ex = exchange(target.address, Schedule(payload, half_close=True), options.idle * 2, options.idle)
        problem = echo_mismatch(payload, ex)
        if problem is not None:
            raise ServerFault(
                f"with {len(idlers)} idle connections open, a new client got no complete echo within "
                f"{options.idle * 2:g}s: {problem}"
            )
        return f"new client served in {1000 * (time.monotonic() - start):.1f} ms beside {len(idlers)} idle ones"
    finally:
        for sock in idlers:
            sock.close()


def _fill_until_blocked(sock: socket.socket, limit: int, quiet: float, timeout: float) -> int:
    """Write without reading until the socket stays unwritable for ``quiet`` s (or ``limit`` bytes)."""
    sock.setblocking(False)
    chunk = bytes(64 * KiB)
    sent = 0
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_WRITE)
        while sent < limit and time.monotonic() < deadline:
            if not sel.select(quiet):
                break
            try:
                sent += sock.send(chunk)
            except BlockingIOError:
                continue
            except OSError:
                break
    return sent


@check(
    "conn.reset",
    "a client that resets (RST) mid-stream, with echo pending, leaves the server and other clients unharmed",
)
@replayed_by(lambda target, options: connrepro.reset_snippet(target.address))
def reset_midstream(target: Target, options: CheckOptions) -> str:
    victim = connect(target.address, options.timeout)
    pending = _fill_until_blocked(victim, 32 * 1024 * KiB, 0.2, options.timeout)
    bystander = connect(target.address, options.timeout)
    try:
        first = b"bystander, before the reset\n" * 10
        bystander.sendall(first)
        reset(victim)
        second = b"bystander, after the reset\n" * 10
        # the echo of both messages, the first sent before the reset
        again = Schedule(second, half_close=True, expect=len(first + second))
        ex = drive([bystander], [again], options.timeout, options.idle * 2)[0]
        got = bytes(ex.received)
        if got != first + second or not ex.eof:
            raise ServerFault(
                f"after another client reset its connection with {pending} B unread, a bystander connection "
                f"got {len(got)} of {len(first + second)} B back ({ex.outcome()})"
                + ("; the server is no longer running" if not target.alive() else "")
            )
    finally:
        bystander.close()
    if not target.alive():
        raise ServerFault("the server died after a client reset its connection")
    require_new_client_served(target.address, options, "a client reset")
    return f"reset with {pending >> 10} KiB unread; bystander and new client served"


def require_new_client_served(address: Address, options: CheckOptions, what: str) -> None:
    """:class:`ServerFault` unless a new connection to ``address`` gets its echo, then FIN; ``what`` (what
    happened just before) goes into the message."""
    message = f"a new client after {what}\n".encode()
    ex = exchange(address, Schedule(message), options.timeout, options.idle)
    problem = echo_mismatch(message, ex)
    if problem is not None:
        raise ServerFault(f"after {what}, a new client was not served: {problem}")


#: how long a server that stopped accepting is given to accept again before that counts as a failure: past
#: xinetd's default, which closes a service for 10 s once it gets more than 50 connections a second (cps)
RATE_LIMIT_PAUSE = 15.0


def back_within(address: Address, options: CheckOptions, bound: float = RATE_LIMIT_PAUSE) -> float | None:
    """Seconds until a new client at ``address`` gets its echo again (polled every 0.25 s), or None when it
    does not within ``bound``: a server that turned connections away for a while (a connection rate limit)
    is told from one that stopped serving."""
    start = time.monotonic()
    message = b"are you serving again?\n"

    def served() -> bool:
        try:
            ex = exchange(address, Schedule(message), min(2.0, options.timeout), options.idle)
        except OSError:
            return False
        return echo_mismatch(message, ex) is None and ex.eof

    return time.monotonic() - start if poll_until(served, bound, 0.25) else None


def refuses(address: Address, options: CheckOptions) -> bool:
    """True when a connect to ``address`` is refused at once (nothing listens there now)."""
    try:
        connect(address, min(2.0, options.timeout)).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    return False


def rate_limited(what: str, address: Address, options: CheckOptions) -> ServerWarning | None:
    """The warning for ``what`` (connections turned away after many were served) when the server then refuses
    connections for a while (its listener closed, as xinetd does past its ``cps`` limit) and serves again
    within :data:`RATE_LIMIT_PAUSE`; else None, and it is a failure: a server that drops one connection and
    serves the next at once is not rate limiting, it is losing clients."""
    if not refuses(address, options):
        return None
    back = back_within(address, options)
    if back is None:
        return None
    return ServerWarning(
        f"{what}, and it served new clients again {back:.1f}s later: a connection rate limit (xinetd's "
        "default cps = 50 10 closes a service for 10 s past 50 connections a second), which turns clients "
        "away but loses no byte of an accepted one"
    )


#: storm cycles through a network with added delays (each cycle waits out the delays)
STORM_THROUGH_DELAYS = 100


@check(
    "conn.storm",
    "1,000 connect/echo/close cycles (or as many as fit in --timeout) all echo correctly and the server's "
    "descriptor count returns to baseline",
)
@replayed_by(lambda target, options: connrepro.storm_snippet(target.address, options.storm))
def storm(target: Target, options: CheckOptions) -> str:
    """Bounded by count and by time: a server that serves one connection at a time slowly (inetd forks a
    process per connection) is judged on the cycles that fit in ``options.timeout``, and the result says how
    far it got. Speed is not the promise; every cycle's echo and the descriptors are."""
    before = target.fd_count()
    start = time.monotonic()
    stop_at = start + options.timeout
    payload = b"storm\n"
    # through a delaying network every cycle waits out the delays: fewer cycles say the same
    planned = options.storm if not target.network_delay else min(options.storm, STORM_THROUGH_DELAYS)
    cycles = 0
    for cycle in range(planned):
        if cycle and time.monotonic() >= stop_at:
            break
        cycles += 1
        try:
            sock = connect(target.address, options.timeout)
        except OSError as exc:
            turned_away = f"connect {cycle + 1} of {planned} failed: {exc}"
            if cycle and isinstance(exc, ConnectionRefusedError) and target.alive():
                warning = rate_limited(f"after {cycle} cycles the server refused connections", target.address, options)
                if warning is not None:
                    raise warning from None
            raise ServerFault(turned_away) from None
        try:
            ex = drive([sock], [Schedule(payload)], options.timeout, options.idle)[0]
        finally:
            sock.close()
        if echo_mismatch(payload, ex) or not ex.eof:
            problem = f"cycle {cycle + 1} of {planned}: {echo_mismatch(payload, ex) or ex.outcome()}"
            if cycle and not ex.received and (ex.reset or ex.eof or ex.error) and target.alive():
                warning = rate_limited(
                    f"after {cycle} cycles the server ended a connection unanswered ({ex.outcome()})",
                    target.address,
                    options,
                )
                if warning is not None:
                    raise warning
            raise ServerFault(problem)
    rate = cycles / (time.monotonic() - start)
    done = f"{cycles} cycles" if cycles == planned else f"{cycles} of {planned} cycles in {options.timeout:g}s"
    if before is None:
        return f"{done} at {rate:.0f}/s (descriptors not observable)"
    _require_descriptors_back(target, before, f"{cycles} connections", options)
    return f"{done} at {rate:.0f}/s; descriptors back to {before}"


@check(
    "conn.fd-growth",
    "connections that end in any way (clean close, reset, close with echo unread) give back their descriptors",
)
@replayed_by(lambda target, options: connrepro.fd_growth_snippet(target.address, 1 if target.sequential else 16))
def fd_growth(target: Target, options: CheckOptions) -> str:
    before = target.fd_count()
    if before is None:
        raise CheckSkipped("the server's descriptors are not observable (not started by the harness, or no /proc)")
    total = 48
    batch = 1 if target.sequential else 16  # a sequential server serves the next client only after this one
    for first in range(0, total, batch):
        try:
            socks = _connect_all(target.address, batch, options.timeout)
        except ServerFault:
            # a server that closed its listener for a while (a connection rate limit, see conn.storm) is waited
            # for, once: the descriptors are what this check observes
            if not (target.alive() and refuses(target.address, options) and back_within(target.address, options)):
                raise
            socks = _connect_all(target.address, batch, options.timeout)
        try:
            echoes = drive(socks, [Schedule(_FD_PAYLOAD, half_close=False)] * batch, options.timeout, options.idle)
            # the connections must really be served before they are ended: else nothing of the server's was
            # there to give back, and "descriptors back" would be a pass without an observation
            unserved = [
                (n, problem) for n, ex in enumerate(echoes, start=first) if (problem := echo_mismatch(_FD_PAYLOAD, ex))
            ]
            if unserved:
                raise ServerFault(f"connection {unserved[0][0] + 1} of {total} got no echo: {unserved[0][1]}")
            for n, sock in enumerate(socks, start=first):
                _end_connection(sock, n % 3, options)
        finally:
            for sock in socks:
                sock.close()
    _require_descriptors_back(target, before, f"{total} connections ended by reset, unread close or close", options)
    return f"{total} connections (reset, unread close, clean close); descriptors back to {before}"


_FD_PAYLOAD = b"descriptor check\n" * 64


def _end_connection(sock: socket.socket, how: int, options: CheckOptions) -> None:
    """End a connection in one of three ways: 0 reset, 1 close with echo unread (RST), 2 clean close."""
    if how == 0:
        reset(sock)
    elif how == 1:
        sock.sendall(_FD_PAYLOAD)
        sock.close()
    else:
        drive([sock], [Schedule(b"", half_close=True)], options.timeout, options.idle)
        sock.close()


def _require_descriptors_back(target: Target, before: int, what: str, options: CheckOptions) -> None:
    """Wait (bounded) for the server's descriptor count to return to ``before`` (+2 slack); else fail."""

    def settled() -> bool:
        count = target.fd_count()
        return count is not None and count <= before + 2

    if not poll_until(settled, options.idle * 2):
        count = target.fd_count() or 0
        raise ServerFault(
            f"descriptor leak: the server held {before} descriptors before {what} and {count} after them "
            f"(+{count - before}): connections are not closed"
        )
