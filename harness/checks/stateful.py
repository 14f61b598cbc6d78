"""``fuzz.stateful``: a Hypothesis state machine over several concurrent connections to one server.

Rules open connections, write chunks (without reading), read with a given size, pause (data flows on every
connection), half-close (then everything must come back, then FIN), drain, reset and close, in any
interleaving Hypothesis chooses. After every step, for every connection still open: what it received is a
prefix of what it sent, and the server has neither closed nor reset it. A failure shrinks to a minimal step
sequence, printed as a standalone script that replays it.
"""

from __future__ import annotations

import io
import selectors
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from .. import corpus, reproduce
from ..errors import ServerFault
from ..net import Address, connect
from ..targets import Target
from ..waiting import poll_until
from ..wire import EXCESS_SAMPLE
from .base import CheckOptions, check, check_settings, examples_for, hypothesis_blob

Step = tuple[Any, ...]
MAX_CONNECTIONS = 4
MAX_STEPS = 20
#: after opening or ending a connection, the model lets the server react for this long (the server accepts
#: and starts serving, or notices the close), so a step means the same in the machine and in its replay
SETTLE = 0.005
#: after a drain, how long to watch for an unexpected FIN or RST behind the echo
WATCH = 0.01


@dataclass
class Conn:
    """One connection of the model: what was sent, what came back, what is still queued to send."""

    name: str
    sock: socket.socket
    sent: bytearray = field(default_factory=bytearray)
    received: bytearray = field(default_factory=bytearray)
    outbox: bytearray = field(default_factory=bytearray)
    half_closed: bool = False
    ended: str | None = None  #: how the server ended it, if it did: "FIN" or "RST"
    #: the offset of the first byte the server sent past everything it was sent, if it did (then reading stops,
    #: :data:`~harness.wire.EXCESS_SAMPLE` bytes of the excess kept)
    excess_at: int | None = None

    def pump(self, read: bool) -> bool:
        """Send what the socket takes, and (if ``read``) receive what is there, without blocking.
        Returns True if any byte moved."""
        moved = False
        if self.outbox:
            try:
                n = self.sock.send(self.outbox)
            except BlockingIOError:
                n = 0
            except OSError:
                self.ended = self.ended or "RST"
                n = 0
            del self.outbox[:n]
            moved = n > 0
        if read and self.ended is None:
            moved |= self.receive(65536)
        return moved

    def receive(self, size: int) -> bool:
        """One non-blocking recv of up to ``size`` bytes; records FIN or RST. True if bytes arrived. Once the
        server has sent more than it was sent (an echo never is), nothing more is read: ``received`` keeps the
        bytes sent and :data:`~harness.wire.EXCESS_SAMPLE` more, and ``excess_at`` says where the excess began."""
        if self.excess_at is not None:
            return False
        try:
            data = self.sock.recv(size)
        except BlockingIOError:
            return False
        except OSError:
            self.ended = "RST"
            return False
        if not data:
            self.ended = "FIN"
            return False
        if len(self.received) + len(data) > len(self.sent):
            self.excess_at = len(self.sent)
            data = data[: len(self.sent) + EXCESS_SAMPLE - len(self.received)]
        self.received += data
        return True


class _Gate:
    #: whether waiting for the server's descriptors to settle works (a leaking server makes it time out once,
    #: and then the check stops waiting)
    settle_by_descriptors = True

    """Shared between the machine runs of one check: the shrink budget and the failures seen. Once the
    budget is spent every rule is a no-op, so shrinking ends at once and the shortest failure seen is
    reported (Hypothesis then calls the failure flaky, which :func:`stateful` expects)."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.first_failure: float | None = None
        self.failures: list[tuple[list[Step], ServerFault]] = []

    @property
    def closed(self) -> bool:
        return self.first_failure is not None and time.monotonic() - self.first_failure > self.budget


def machine_for(target: Target, options: CheckOptions, gate: _Gate) -> type[RuleBasedStateMachine]:
    """A state machine class bound to ``target`` (one instance per Hypothesis example)."""
    limit = 1 if target.sequential else MAX_CONNECTIONS
    payloads = st.binary(min_size=1, max_size=256) | st.builds(
        lambda n, b: bytes([b]) * n, st.integers(257, 256 * 1024), st.integers(0, 255)
    )

    class ConnectionsMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.conns: list[Conn] = []
            self.count = 0
            self.steps: list[Step] = []
            self.failed = False
            self.baseline = target.fd_count()

        # -- helpers -----------------------------------------------------------------------------------
        def _fail(self, message: str) -> None:
            self.failed = True
            fault = ServerFault(message)
            gate.failures.append((list(self.steps), fault))
            if gate.first_failure is None:
                gate.first_failure = time.monotonic()
            raise fault

        def _flow(self, seconds: float, until: Any = None) -> None:
            """Move data on every connection for ``seconds`` (or until ``until()`` is true), reading all."""
            deadline = time.monotonic() + seconds
            while True:
                for c in self.conns:
                    c.pump(read=True)
                if until is not None and until():
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                events = [selectors.EVENT_READ | (selectors.EVENT_WRITE if c.outbox else 0) for c in self.conns]
                with selectors.DefaultSelector() as sel:
                    for c, ev in zip(self.conns, events, strict=True):
                        if c.ended is None:
                            sel.register(c.sock, ev)
                    if not sel.get_map():
                        return
                    sel.select(min(left, 0.05))

        def _drop(self, conn: Conn) -> None:
            if conn in self.conns:
                self.conns.remove(conn)

        # -- rules: connections are Bundle values, so a step names its connection and shrinks cleanly ---
        connections = Bundle("connections")

        @precondition(lambda self: len(self.conns) < limit)
        @rule(target=connections)
        def open(self) -> Conn | None:
            if gate.closed:
                return None
            name = f"c{self.count}"
            self.count += 1
            self.steps.append(("open", name))
            try:
                sock = connect(target.address, options.timeout)
            except OSError as exc:
                self._fail(f"{name}: connect failed: {exc}")
            sock.setblocking(False)
            conn = Conn(name, sock)
            self.conns.append(conn)
            self._flow(SETTLE)
            return conn

        @rule(conn=connections, data=payloads)
        def write(self, conn: Conn | None, data: bytes) -> None:
            if gate.closed or conn is None:
                return
            self.steps.append(("write", conn.name, data))
            conn.sent += data
            conn.outbox += data
            conn.pump(read=False)

        @rule(conn=connections, size=st.sampled_from([1, 7, 1024, 65536]))
        def read(self, conn: Conn | None, size: int) -> None:
            if gate.closed or conn is None:
                return
            self.steps.append(("read", conn.name, size))
            conn.pump(read=False)
            conn.receive(size)

        @precondition(lambda self: bool(self.conns))
        @rule(ms=st.sampled_from([0, 1, 10]))
        def pause(self, ms: int) -> None:
            if gate.closed:
                return
            self.steps.append(("pause", ms))
            self._flow(ms / 1000)

        @rule(conn=consumes(connections))
        def half_close(self, conn: Conn | None) -> None:
            if gate.closed or conn is None:
                return
            self.steps.append(("half_close", conn.name))
            self._flow(options.idle, until=lambda: not conn.outbox or conn.ended is not None)
            if conn.ended is not None:  # a FIN or RST that came before ours is a cut-off, not an answer
                self.echo_is_a_prefix_and_nobody_was_cut_off()
            try:
                conn.sock.shutdown(socket.SHUT_WR)
            except OSError:
                conn.ended = conn.ended or "RST"
            conn.half_closed = True
            self._flow(options.idle * 2, until=lambda: conn.ended is not None or conn.excess_at is not None)
            if conn.excess_at is not None:
                self._fail(f"{conn.name}: after shutdown(SHUT_WR), {_excess(conn)}")
            if conn.received != conn.sent or conn.ended != "FIN":
                how = {None: "no EOF", "RST": "a reset", "FIN": "FIN"}[conn.ended]
                self._fail(
                    f"{conn.name}: after shutdown(SHUT_WR), {len(conn.received)} of {len(conn.sent)} B came back, "
                    f"then {how} (expected all of it, then FIN)"
                )
            conn.sock.close()
            self._drop(conn)

        @rule(conn=connections)
        def drain(self, conn: Conn | None) -> None:
            if gate.closed or conn is None:
                return
            self.steps.append(("drain", conn.name))
            self._drain(conn)

        def _drain(self, conn: Conn) -> None:
            """Flow until all of ``conn``'s echo is back, then :data:`WATCH` more for an unexpected FIN or RST."""
            self._flow(options.idle * 2, until=lambda: len(conn.received) >= len(conn.sent) or conn.ended)
            if len(conn.received) < len(conn.sent) and conn.ended is None:
                self._fail(
                    f"{conn.name}: only {len(conn.received)} of {len(conn.sent)} B came back within "
                    f"{options.idle * 2:g}s (the connection is open and silent)"
                )
            self._flow(WATCH, until=lambda: conn.ended is not None)

        @rule(conn=consumes(connections), how=st.sampled_from(["close", "reset"]))
        def end(self, conn: Conn | None, how: str) -> None:
            if gate.closed or conn is None:
                return
            self.steps.append((how, conn.name))
            if how == "reset":
                try:
                    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            conn.sock.close()
            self._drop(conn)
            self._flow(SETTLE)

        # -- invariants --------------------------------------------------------------------------------
        @invariant()
        def echo_is_a_prefix_and_nobody_was_cut_off(self) -> None:
            if gate.closed:
                return
            for c in self.conns:
                if c.received != c.sent[: len(c.received)]:
                    n = next((i for i, (a, b) in enumerate(zip(c.received, c.sent, strict=False)) if a != b), None)
                    if n is None:  # all it sent came back, and more
                        self._fail(f"{c.name}: {_excess(c)}")
                    self._fail(f"{c.name}: echo differs from what was sent at byte {n}")
                if c.ended is not None:
                    self._fail(
                        f"{c.name}: the server ended the connection with {c.ended} although the client had not "
                        f"closed it ({len(c.received)} of {len(c.sent)} B had come back)"
                    )

        def teardown(self) -> None:
            """Every example ends by half-closing each connection still open and waiting for the server's FIN:
            all echo must be back, and the server has provably finished with this example's connections
            before the next example starts (no example sees the after-effects of another)."""
            try:
                if not self.failed and not gate.closed:
                    for conn in list(self.conns):
                        self.half_close(conn)
            finally:
                for conn in self.conns:
                    conn.sock.close()
                self._await_server_done()

        def _await_server_done(self) -> None:
            """Wait (bounded) until the server holds no more descriptors than when this example began: it has
            finished with every connection of this example, including reset ones, before the next begins."""
            before = self.baseline
            if before is None or not gate.settle_by_descriptors:
                return

            def settled() -> bool:
                count = target.fd_count()
                return count is not None and count <= before

            if not poll_until(settled, options.idle):
                gate.settle_by_descriptors = False

    return ConnectionsMachine


def _excess(conn: Conn) -> str:
    """What a connection whose server sent more than it was sent received past the echo."""
    sample = bytes(conn.received[len(conn.sent) : len(conn.sent) + 16])
    return (
        f"the server sent at least {len(conn.received) - len(conn.sent)} B more than it was sent, from byte "
        f"{len(conn.sent)}: {sample!r}... (an echo is never longer than what was sent)"
    )


#: typed here, since older Hypothesis releases leave this function unannotated
run_machine: Callable[..., None] = run_state_machine_as_test


@check(
    "fuzz.stateful",
    "any interleaving of opens, writes, reads, pauses, half-closes, drains, resets and closes on several connections "
    "keeps every echo exact and leaves the other connections undisturbed",
    weight=1.0,
)
def stateful(target: Target, options: CheckOptions) -> str:
    gate = _Gate(options.shrink_seconds)
    machine = machine_for(target, options, gate)
    examples = examples_for("fuzz.stateful", options)
    report = io.StringIO()
    config = check_settings(examples, stateful_step_count=MAX_STEPS)
    try:
        with with_reporter(lambda text: print(text, file=report)):
            corpus.run_with_corpus(lambda settings: run_machine(machine, settings=settings), config)
    except ServerFault as fault:
        steps = next((s for s, f in reversed(gate.failures) if f is fault), gate.failures[-1][0])
        raise ServerFault(
            f"{fault.message} after {len(steps)} steps: {describe(steps)}",
            reproducer=replay_script(target.address, steps, [s for s, _ in gate.failures])
            + hypothesis_blob(report.getvalue()),
        ) from None
    except Flaky:
        steps, shortest = min(gate.failures, key=lambda f: len(f[0]))
        raise ServerFault(
            f"{shortest.message} after {len(steps)} steps: {describe(steps)}",
            reproducer=replay_script(target.address, steps, [s for s, _ in gate.failures])
            + hypothesis_blob(report.getvalue()),
        ) from None
    mode = "one connection at a time (sequential)" if target.sequential else f"up to {MAX_CONNECTIONS} connections"
    return f"{examples} step sequences of up to {MAX_STEPS} steps, {mode}"


def describe(steps: list[Step]) -> str:
    """``open c0; write c0 5 B; reset c0; ...``: the step sequence in one line."""
    parts = []
    for step in steps:
        if step[0] == "write":
            parts.append(f"write {step[1]} {len(step[2])} B")
        else:
            parts.append(" ".join(str(x) for x in step))
    return "; ".join(parts)


#: the model of fuzz.stateful, in a reproducer: connections with a reader thread each, judged after every step
_REPLAY = """

import signal

SETTLE, WATCH = %r, %r  # seconds the harness let the server react after opening or ending a connection
PIDS = server_pids()  # the server's processes: every other run pauses them through the steps (see Replay)


class Conn:
    def __init__(self, name):
        self.name, self.sent, self.got, self.end, self.stopping = name, bytearray(), bytearray(), None, False
        self.sock = connect()
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        try:
            while data := self.sock.recv(65536):
                self.got += data[:len(self.sent) + 64 - len(self.got)]
                if len(self.got) > len(self.sent):  # more than it was sent: judged by check(), nothing more is read
                    return
            if not self.stopping:
                self.end = self.end or "FIN"
        except OSError:
            if not self.stopping:
                self.end = self.end or "RST"

    def close(self, reset=False):
        \"\"\"End the connection (with a RST when ``reset``). The reader is woken first (shutdown(SHUT_RD) sends
        nothing): a socket closed while a thread is blocked in recv() on it is not really closed.\"\"\"
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass
        self.reader.join(1.0)
        (abort if reset else socket.socket.close)(self.sock)

    def excess(self):
        \"\"\"What came past everything this connection sent, when all of it came back and more (else None).\"\"\"
        got = bytes(self.got)
        if len(got) <= len(self.sent) or not got.startswith(self.sent):
            return None
        return (f"the server sent at least {len(got) - len(self.sent)} B more than it was sent, from byte "
                f"{len(self.sent)}: {got[len(self.sent):len(self.sent) + 16]!r}... (an echo is never longer than what "
                "was sent)")


class Replay:
    \"\"\"The steps, run in order as the harness ran them; after each, every connection the client has not ended
    holds a prefix of what it sent and has not been ended by the server. With ``paused``, the server is stopped
    (SIGSTOP) through the steps that need no answer, and runs again (SIGCONT) for those that judge one: opens,
    writes and resets then reach it together, which forces the interleavings a race needs.\"\"\"

    def __init__(self, paused=False):
        self.conns, self.paused, self.held = {}, paused and bool(PIDS), False

    def hold(self):
        if self.paused and not self.held:
            for pid in PIDS:
                os.kill(pid, signal.SIGSTOP)
            self.held = True

    def release(self):
        if self.held:
            for pid in PIDS:
                os.kill(pid, signal.SIGCONT)
            self.held = False
            time.sleep(0.05)  # let it catch up with what queued meanwhile

    def check(self):
        for c in self.conns.values():
            got = bytes(c.got)
            if c.excess():
                return f"{c.name}: {c.excess()}"
            if got != c.sent[:len(got)]:
                n = next((i for i, (a, b) in enumerate(zip(got, c.sent)) if a != b), len(c.sent))
                return f"{c.name}: echo differs from what was sent at byte {n} ({len(got)} B back, {len(c.sent)} sent)"
            if c.end is not None:
                return (f"{c.name}: the server ended the connection with {c.end} although the client had not "
                        f"closed it ({len(c.got)} of {len(c.sent)} B had come back)")
        return None

    def open(self, name):
        self.hold()
        before = None if self.held else sum(fd_count(pid) or 0 for pid in PIDS)
        self.conns[name] = Conn(name)
        if before is not None and PIDS:  # the server runs: wait (at most 1 s) until it has accepted it
            deadline = time.monotonic() + 1.0
            while sum(fd_count(pid) or 0 for pid in PIDS) <= before and time.monotonic() < deadline:
                time.sleep(0.001)
        time.sleep(SETTLE)

    def write(self, name, data):
        self.hold()
        c = self.conns[name]
        c.sent += data
        try:
            c.sock.sendall(data)
        except OSError:
            c.end = c.end or "RST"

    def wait(self, seconds, until):
        deadline = time.monotonic() + seconds
        while not until() and time.monotonic() < deadline:
            time.sleep(0.001)

    def half_close(self, name):
        self.release()
        c = self.conns[name]
        problem = self.check()
        if problem:
            return problem
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            c.end = c.end or "RST"
        self.wait(IDLE * 2, lambda: c.end is not None or len(c.got) > len(c.sent))
        del self.conns[name]
        c.close()
        if c.excess():
            return f"{name}: after shutdown(SHUT_WR), {c.excess()}"
        if c.got != c.sent or c.end != "FIN":
            how = {None: "no EOF", "RST": "a reset", "FIN": "FIN"}[c.end]
            return (f"{name}: after shutdown(SHUT_WR), {len(c.got)} of {len(c.sent)} B came back, then {how} "
                    "(expected all of it, then FIN)")
        return None

    def drain(self, name):
        self.release()
        c = self.conns[name]
        self.wait(IDLE * 2, lambda: len(c.got) >= len(c.sent) or c.end is not None)
        if len(c.got) < len(c.sent) and c.end is None:
            return f"{name}: only {len(c.got)} of {len(c.sent)} B came back within {IDLE * 2:g}s"
        self.wait(WATCH, lambda: c.end is not None)
        return None

    def close(self, name, reset=False):
        self.hold()
        self.conns.pop(name).close(reset)
        time.sleep(SETTLE)

    def finish(self):
        \"\"\"As the harness ends an example: half-close every connection still open, expect all, then FIN.\"\"\"
        self.release()
        problem = self.check()
        for name in list(self.conns):
            problem = problem or self.half_close(name)
        return problem

    def close_all(self):
        self.release()
        for c in self.conns.values():
            c.close()
"""


#: failing step sequences a reproducer replays besides the reported one (the first ones the search found)
REPLAYED_FAILURES = 3


def replay_script(address: Address, steps: list[Step], seen: Sequence[list[Step]] = ()) -> str:
    """A reproducer performing ``steps`` against ``address``: exit 1 at the first step after which the model is
    broken (an echo that is not a prefix, a connection the server ended, a half-close without all of it then
    FIN). The shortest failure may have failed only once (a race), so the script also replays the first
    :data:`REPLAYED_FAILURES` other sequences of ``seen`` (every failure the search saw, in order). It repeats
    them (10 times, 3 s at most), every other time with the server paused through the steps that need no
    answer, since what goes wrong between connections is often a race."""
    others = [list(s) for s in seen if list(s) != list(steps)]
    unique = [s for n, s in enumerate(others) if s not in others[:n]][:REPLAYED_FAILURES]
    sequences = [list(steps), *unique]
    functions = []
    for n, sequence in enumerate(sequences):
        lines = [f"def sequence_{n}(r):", f"    # {describe(sequence)}"]
        for step in sequence:
            kind, rest = step[0], step[1:]
            if kind in ("half_close", "drain"):  # steps that judge what came back
                lines += [f"    if problem := r.{kind}({rest[0]!r}) or r.check():", "        return problem"]
                continue
            if kind == "open":
                lines.append(f"    r.open({rest[0]!r})")
            elif kind == "write":
                data: bytes = rest[1]
                literal = repr(data) if len(data) <= 64 or len(set(data)) > 1 else f"{bytes(data[:1])!r} * {len(data)}"
                lines.append(f"    r.write({rest[0]!r}, {literal})")
            elif kind in ("read", "pause"):
                pause = 0.01 if kind == "read" else rest[0] / 1000
                lines.append(f"    time.sleep({pause:g})  # {kind} {' '.join(map(str, rest))}")
            else:  # reset, close
                lines.append(f"    r.close({rest[0]!r}, reset={kind == 'reset'})")
            lines += ["    if problem := r.check():", "        return problem"]
        lines.append("    return r.finish()")
        functions.append("\n".join(lines))
    ok = "every step kept each echo exact and the other connections undisturbed"
    names = ", ".join(f"sequence_{n}" for n in range(len(sequences)))
    body = (
        "\n\n\n".join(functions)
        + f"""


SEQUENCES, RUNS = [{names}], iter(range(1 << 30))


def scenario():
    paused = next(RUNS) % 2 == 1
    for n, sequence in enumerate(SEQUENCES):
        r = Replay(paused)
        try:
            problem = sequence(r)
        finally:
            r.close_all()
        if problem:
            return problem + (f" (failure {{n + 1}} the harness saw)" if n else "")
    return None


repeat(scenario, 10, {ok!r}, seconds=3)
"""
    )
    about = f"Replays the failing step sequence: {describe(steps)}."
    blocks = [reproduce.SERVER_PIDS]
    return reproduce.script(address, about, _REPLAY % (SETTLE, WATCH) + "\n\n" + body, blocks=blocks)
