"""Framed checks: length-prefixed messages (a 10-byte ASCII decimal header, then the body) echoed frame by frame.

The oracle: the reply parses as the same bodies, in order, each behind a valid header (the server may pad its
headers either way), and the server closes with FIN once the client has ended the stream between frames. A
header that is not a number, or declares more than ``options.max_frame`` bytes, must end the connection
without a reply, and must not cost the server memory it was only promised.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass

from hypothesis import strategies as st

from .. import containment, reproduce, sysinfo
from ..errors import CheckSkipped, ServerFault
from ..net import Address, connect
from ..strategies import KiB, PayloadSpec, payload_specs, recv_sizes
from ..targets import Target
from ..waiting import poll_until
from ..wire import Exchange, Schedule, converse, drive, excess_problem, exchange
from .base import CheckOptions, check, examples_for, falsify

HEADER_SIZE = 10
#: the largest length a header can declare (ten ASCII digits)
MAX_DECLARABLE = 10**HEADER_SIZE - 1
FRAMED = ("framed",)
#: headers that are not a length: each must close the connection
BAD_HEADERS = (b"hello worl", b"-5        ", b"1e3       ", b"0x10      ", b"\x00" * 10, b"12 34     ", b"          ")


def frame(body: bytes) -> bytes:
    """``body`` behind the tutorial's header: its length, left-aligned and padded with spaces to 10 bytes."""
    return f"{len(body):<{HEADER_SIZE}}".encode() + body


def parse_frames(data: bytes) -> tuple[list[bytes], str | None]:
    """The bodies of the complete frames in ``data``, and what is wrong with the rest (None: nothing left)."""
    bodies: list[bytes] = []
    pos = 0
    while pos < len(data):
        header = data[pos : pos + HEADER_SIZE]
        digits = header.strip(b" ")
        if len(header) < HEADER_SIZE:
            return bodies, f"a reply ends with {len(header)} B of a header: {header!r}"
        if not digits.isdigit():
            return bodies, f"reply frame {len(bodies)} has a header that is not a length: {header!r}"
        end = pos + HEADER_SIZE + int(digits)
        if end > len(data):
            return bodies, f"reply frame {len(bodies)} declares {int(digits)} B but only {len(data) - pos - 10} B came"
        bodies.append(data[pos + HEADER_SIZE : end])
        pos = end
    return bodies, None


def frames_problem(sent: list[bytes], ex: Exchange, *, want_eof: bool = True) -> str | None:
    """None if ``ex`` carries exactly the frames of ``sent`` (and then FIN, with ``want_eof``), else why not."""
    got, rest = parse_frames(bytes(ex.received))
    for n, (body, back) in enumerate(zip(sent, got, strict=False)):
        if body != back:
            first = next(
                (i for i, (a, b) in enumerate(zip(body, back, strict=False)) if a != b), min(len(body), len(back))
            )
            return f"frame {n} ({len(body)} B) came back as {len(back)} B differing at byte {first}"
    if ex.excess_at is not None:  # more than the frames sent: the client stopped reading there
        return excess_problem(ex.excess_at, ex)
    if len(got) > len(sent):
        return f"{len(got) - len(sent)} extra frames came back after the {len(sent)} sent"
    if rest is not None:
        return rest
    if len(got) < len(sent):
        return f"only {len(got)} of {len(sent)} frames came back; then: {ex.outcome()}"
    if want_eof and not ex.eof:
        return f"all {len(sent)} frames came back, but then: {ex.outcome()} instead of FIN"
    return None


@dataclass(frozen=True)
class FrameRun:
    """Frames written as one stream cut into ``chunk_sizes`` (with ``pauses``), read with ``recv_sizes``."""

    bodies: tuple[PayloadSpec, ...]
    chunk_sizes: tuple[int, ...] = (65536,)
    pauses: tuple[float, ...] = (0.0,)
    recv_sizes: tuple[int, ...] = (65536,)

    def schedule(self) -> Schedule:
        stream = b"".join(frame(spec.build()) for spec in self.bodies)
        return Schedule(stream, self.chunk_sizes, self.pauses, self.recv_sizes, half_close=True)

    def describe(self) -> str:
        sizes = ", ".join(str(spec.size) for spec in self.bodies[:8]) + (", ..." if len(self.bodies) > 8 else "")
        return f"{len(self.bodies)} frames of [{sizes}] B, {self.schedule().describe()}"


@st.composite
def frame_runs(draw: st.DrawFn, *, max_frames: int = 6, max_size: int = 64 * KiB) -> FrameRun:
    """Several frames, a chunking of their stream (single bytes, splits inside headers) and recv sizes."""
    bodies = draw(st.lists(payload_specs(max_size=max_size, min_size=0), min_size=1, max_size=max_frames))
    total = sum(HEADER_SIZE + spec.size for spec in bodies)
    floor = max(1, -(-total // 4096))  # at most 4096 writes or reads: an example stays under a second
    chunks = draw(st.lists(st.integers(1, 64 * KiB) | st.sampled_from([1, 3, 7, 10, 11]), min_size=1, max_size=4))
    pauses = draw(st.lists(st.sampled_from([0.0, 0.001, 0.01]), min_size=1, max_size=3))
    reads = draw(st.lists(recv_sizes(), min_size=1, max_size=3))
    return FrameRun(
        tuple(bodies), tuple(max(floor, c) for c in chunks), tuple(pauses), tuple(max(floor, r) for r in reads)
    )


#: the framed oracle, in a reproducer: frames of a reply, and what is wrong with a reply to frames sent
FRAMES = """

def frame(body):
    return f"{len(body):<10}".encode() + body


def frames_problem(sent, got, end):
    \"\"\"None if ``got`` is exactly the frames ``sent`` (any header padding), then FIN; else what is wrong.\"\"\"
    data, back, pos, rest = bytes(got), [], 0, None
    while pos < len(data):
        header, digits = data[pos:pos + 10], data[pos:pos + 10].strip(b" ")
        if len(header) < 10:
            rest = f"a reply ends with {len(header)} B of a header: {header!r}"
        elif not digits.isdigit():
            rest = f"reply frame {len(back)} has a header that is not a length: {header!r}"
        elif pos + 10 + int(digits) > len(data):
            rest = f"reply frame {len(back)} declares {int(digits)} B but only {len(data) - pos - 10} B came"
        if rest:
            break
        back.append(data[pos + 10:pos + 10 + int(digits)])
        pos += 10 + int(digits)
    for n, (body, echoed) in enumerate(zip(sent, back)):
        if body != echoed:
            return f"frame {n} ({len(body)} B) came back as {len(echoed)} B that differ"
    if len(back) > len(sent):
        return f"{len(back) - len(sent)} extra frames came back after the {len(sent)} sent"
    if rest or len(back) < len(sent):
        return rest or f"only {len(back)} of {len(sent)} frames came back; then: {end}"
    return None if end == "FIN" else f"all {len(sent)} frames came back, but then: {end} instead of FIN"
"""


def frames_snippet(address: Address, run: FrameRun) -> str:
    """A reproducer sending ``run``'s frames to ``address`` as one stream cut the same way: exit 1 unless the
    same frames come back, then FIN."""
    bodies = ",\n    ".join(spec.code() for spec in run.bodies)
    body = f"""\
# {run.describe()}
BODIES = [
    {bodies},
]


def scenario():
    stream = b"".join(frame(body) for body in BODIES)
    got, end, _ = exchange(stream, {run.chunk_sizes!r}, {run.pauses!r}, {run.recv_sizes!r}, half_close=True)
    return frames_problem(BODIES, got, end)


repeat(scenario, 3, f"the {{len(BODIES)}} frames came back, then FIN")
"""
    return reproduce.script(address, "Replays the failing frames.", body, blocks=[reproduce.ECHO_CLIENT, FRAMES])


def _run_frames(target: Target, options: CheckOptions, run: FrameRun) -> None:
    ex = exchange(target.address, run.schedule(), options.timeout, options.idle)
    problem = frames_problem([spec.build() for spec in run.bodies], ex)
    if problem is not None:
        gone = "; the server is no longer running" if not target.alive() else ""
        raise ServerFault(f"{problem}{gone} [{run.describe()}]")


@check(
    "framed.fidelity",
    "any frames (0 B to 64 KiB bodies, all byte values), their stream cut anywhere and read in any sizes, come "
    "back as the same frames, then FIN",
    protocols=FRAMED,
)
def fidelity(target: Target, options: CheckOptions) -> str:
    n = falsify(
        frame_runs(max_size=min(64 * KiB, options.max_frame)),
        lambda run: _run_frames(target, options, run),
        examples=examples_for("framed.fidelity", options),
        options=options,
        reproduce=lambda run, fault: frames_snippet(target.address, run),
        key="framed.fidelity",
    )
    return f"{n} examples"


def _concurrently(target: Target, options: CheckOptions, schedules: list[Schedule]) -> list[Exchange]:
    socks = [connect(target.address, options.timeout) for _ in schedules]
    try:
        return drive(socks, schedules, options.timeout, options.idle)
    finally:
        for sock in socks:
            sock.close()


@check(
    "framed.split",
    "one frame written in two parts, split at every position of its header and body (50 ms apart), comes back whole",
    protocols=FRAMED,
)
def split(target: Target, options: CheckOptions) -> str:
    body = b"split me anywhere"
    stream = frame(body)
    positions = range(1, len(stream))
    schedules = [Schedule(stream, (k, len(stream)), (0.0, 0.05), half_close=True) for k in positions]
    for k, ex in zip(positions, _concurrently(target, options, schedules), strict=True):
        problem = frames_problem([body], ex)
        if problem is not None:
            where = f"inside the header after {k} B" if k < HEADER_SIZE else f"{k - HEADER_SIZE} B into the body"
            run = FrameRun((PayloadSpec(len(body), "zeros", 0, body),), (k, len(stream)), (0.0, 0.05))
            raise ServerFault(f"a frame split {where}: {problem}", reproducer=frames_snippet(target.address, run))
    return f"{len(positions)} split positions"


@check(
    "framed.back-to-back",
    "many frames (empty ones included) arriving in one segment each come back: none is lost to a recv boundary",
    protocols=FRAMED,
)
def back_to_back(target: Target, options: CheckOptions) -> str:
    specs = tuple(PayloadSpec(size, "random", size) for size in (5, 0, 1, 300, 9, 10, 11, 0, 1500, 3) * 5)
    run = FrameRun(specs, chunk_sizes=(1 << 20,))
    try:
        _run_frames(target, options, run)
    except ServerFault as fault:
        fault.message = f"{len(specs)} frames sent in one write: {fault.message}"
        fault.reproducer = frames_snippet(target.address, run)
        raise
    return f"{len(specs)} frames in one segment"


#: the frames of an interactive client, each sent only once the reply to the one before has come back
CONVERSATION = (5, 0, 1024, 10, 9, 65536)


@check(
    "framed.interactive",
    "a client that sends a frame and waits for its reply before the next (no half-close) gets each reply: a "
    "server that answers only at EOF serves no real client",
    protocols=FRAMED,
)
def interactive(target: Target, options: CheckOptions) -> str:
    specs = [PayloadSpec(min(size, options.max_frame), "random", size) for size in CONVERSATION]
    bodies = [spec.build() for spec in specs]
    sock = connect(target.address, options.timeout)
    try:
        replies = converse(sock, [frame(b) for b in bodies], 65536, options.timeout, options.idle)
    finally:
        sock.close()
    for n, body in enumerate(bodies):
        ex = replies[n] if n < len(replies) else None
        got, problem = parse_frames(bytes(ex.received)) if ex is not None else ([], "never sent")
        if ex is None or got != [body] or problem is not None:
            what = ex.outcome() if ex is not None else "not sent"
            if ex is not None and ex.timed_out:
                what = f"nothing came back within {options.idle:g}s while the client waited (the connection was open)"
            raise ServerFault(
                f"frame {n + 1} of {len(bodies)} ({len(body)} B), sent after the replies to the ones before: "
                f"{len(ex.received) if ex is not None else 0} B came back; {what}; a server that answers only once "
                "the client half-closes serves no client that waits for its reply",
                reproducer=_conversation_snippet(target.address, specs),
            )
    return f"{len(bodies)} frames, each answered before the next was sent"


def _conversation_snippet(address: Address, specs: list[PayloadSpec]) -> str:
    bodies = ",\n    ".join(spec.code() for spec in specs)
    body = f"""\
BODIES = [
    {bodies},
]


def scenario():
    sock = connect()
    try:
        for n, body in enumerate(BODIES):
            sent = frame(body)
            sock.sendall(sent)
            got = b""
            while len(got) < len(sent):
                data, end = receive(sock, 65536)
                if not data:
                    return f"frame {{n + 1}}: {{len(got)}} of {{len(sent)}} B of its reply came back; then {{end}}"
                got += data
            problem = frames_problem([body], got, "FIN")
            if problem:
                return f"frame {{n + 1}}: {{problem}}"
    finally:
        sock.close()
    return None


repeat(scenario, 1, f"each of the {{len(BODIES)}} frames was answered before the next was sent")
"""
    return reproduce.script(address, "Replays the conversation: each frame waits for its reply.", body, blocks=[FRAMES])


def _refused(target: Target, options: CheckOptions, header: bytes, follow: int) -> str | None:
    """Send ``header`` then ``follow`` bytes; None if the server ended the connection without a reply, else
    what it did instead."""
    schedule = Schedule(header + bytes(follow), chunk_sizes=(HEADER_SIZE, 64 * KiB), half_close=False)
    ex = exchange(target.address, schedule, options.timeout, options.idle)
    if ex.received:
        return f"it answered {len(ex.received)} B ({bytes(ex.received[:20])!r}...)"
    if ex.eof or ex.reset or ex.error:
        return None
    return f"it kept the connection open and read all {ex.sent} B that followed"


@check(
    "framed.oversize",
    "a header declaring more than the maximum frame (--max-frame) closes the connection at once, with no reply "
    "and no memory spent on the promise; the server keeps serving",
    protocols=FRAMED,
)
def oversize(target: Target, options: CheckOptions) -> str:
    if options.max_frame >= MAX_DECLARABLE:
        raise CheckSkipped(
            f"no {HEADER_SIZE}-byte header can declare more than --max-frame {options.max_frame:,}, so no frame can "
            "be oversized"
        )
    before = sysinfo.rss_kib(target.pid)
    follow = 4 * 1024 * 1024
    for declared in sorted({options.max_frame + 1, MAX_DECLARABLE}):
        header = f"{declared:<{HEADER_SIZE}}".encode()
        problem = _refused(target, options, header, follow)
        if problem is not None:
            grew = sysinfo.rss_kib(target.pid)
            memory = (
                f"; its memory grew by {(grew - before) // 1024} MiB"
                if before and grew and grew - before >= 1024
                else ""
            )
            raise ServerFault(
                f"a header declaring {declared:,} B (over the {options.max_frame:,} B maximum) did not end the "
                f"connection: {problem}{memory}. A client could make the server buffer whatever it declares "
                "(if your server accepts larger frames, say so with --max-frame)",
                reproducer=_refusal_snippet(target.address, header, follow),
            )
    header = f"{MAX_DECLARABLE:<{HEADER_SIZE}}".encode()
    _require_served(target, options, "the oversized frames", _refusal_snippet(target.address, header, follow))
    return f"connections declaring {options.max_frame + 1:,} B and {MAX_DECLARABLE:,} B were closed"


@check(
    "framed.bad-header",
    "a header that is not a decimal length (letters, a sign, hex, NULs, blanks) closes that connection with no "
    "reply, and the server keeps serving",
    protocols=FRAMED,
)
def bad_header(target: Target, options: CheckOptions) -> str:
    for header in BAD_HEADERS:
        problem = _refused(target, options, header, 64)
        if problem is not None:
            raise ServerFault(
                f"the header {header!r} is not a length, but the server did not end the connection: {problem}",
                reproducer=_refusal_snippet(target.address, header, 64),
            )
        _require_served(target, options, f"the header {header!r}", _refusal_snippet(target.address, header, 64))
    return f"{len(BAD_HEADERS)} bad headers refused"


def _require_served(target: Target, options: CheckOptions, what: str, reproducer: str | None = None) -> None:
    """:class:`ServerFault` unless a new client gets its frame back, then FIN, after ``what`` (``reproducer``
    replays ``what`` and this new client)."""
    body = f"a new client after {what}".encode()
    try:
        ex = exchange(target.address, Schedule(frame(body)), options.timeout, options.idle)
    except ConnectionRefusedError:
        raise ServerFault(
            f"after {what}, a new client was not served: connection refused, the server no longer listens "
            "(did it crash? see its stderr)",
            reproducer=reproducer,
        ) from None
    problem = frames_problem([body], ex)
    if problem is not None:
        gone = " (the server is no longer running)" if not target.alive() else ""
        raise ServerFault(f"after {what}, a new client was not served{gone}: {problem}", reproducer=reproducer)


def _refusal_snippet(address: Address, header: bytes, follow: int) -> str:
    """A reproducer sending ``header`` and ``follow`` bytes: exit 1 unless the server ends that connection with
    no reply, and then serves a new client's frame."""
    body = f"""\
HEADER, FOLLOW = {header!r}, {follow}


def scenario():
    sock = connect()

    def write():
        try:
            sock.sendall(HEADER)
            sock.sendall(bytes(FOLLOW))
        except OSError:
            pass  # the server closed: what it should do

    threading.Thread(target=write, daemon=True).start()
    data, end = receive(sock, 65536)
    sock.close()
    if data:
        return f"the header {{HEADER!r}} was answered with {{len(data)}} B ({{data[:20]!r}}...): it must close"
    if end.startswith("nothing more came"):
        return f"the header {{HEADER!r}} did not end the connection: {{end}}"
    body = b"a new client after the refused header"
    try:
        got, end, _ = exchange(frame(body))
    except ConnectionRefusedError:
        return "after the refused header, a new client was refused: the server no longer listens (did it crash?)"
    problem = frames_problem([body], got, end)
    return f"after the refused header, a new client was not served: {{problem}}" if problem else None


repeat(scenario, 1, "the connection was closed without a reply, and a new client was served")
"""
    return reproduce.script(
        address, "Replays a header the server must refuse.", body, blocks=[reproduce.ECHO_CLIENT, FRAMES]
    )


def _unpickle_snippet(address: Address) -> str:
    """A reproducer sending a pickle whose loading creates a canary directory: exit 1 if it appears (or the
    frame does not come back whole)."""
    body = """\
import pickle, tempfile


class Canary:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):  # unpickling this calls os.mkdir(path), and nothing else
        return os.mkdir, (self.path,)


def scenario():
    with tempfile.TemporaryDirectory(prefix="harness-canary-") as parent:
        canary = os.path.join(parent, "the-server-unpickled-me")
        body = pickle.dumps(Canary(canary), protocol=2)
        got, end, _ = exchange(frame(body))
        deadline = time.monotonic() + 0.5  # the server may unpickle after answering
        while time.monotonic() < deadline:
            if os.path.exists(canary):
                return f"the server unpickled a frame's body: the pickle it was sent created {canary}"
            time.sleep(0.01)
        return frames_problem([body], got, end)


repeat(scenario, 1, "the pickled body came back unopened")
"""
    return reproduce.script(
        address, "Sends a pickle the server must not load.", body, blocks=[reproduce.ECHO_CLIENT, FRAMES]
    )


class _Canary:
    """Unpickling this creates the directory ``path`` (and does nothing else)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (self.path,)


@check(
    "framed.no-unpickle",
    "a body that is a pickle comes back byte-identical and is never unpickled (unpickling runs the sender's code)",
    protocols=FRAMED,
)
def no_unpickle(target: Target, options: CheckOptions) -> str:
    with containment.temporary_directory("harness-canary-") as parent:
        canary = os.path.join(parent, "the-server-unpickled-me")
        body = pickle.dumps(_Canary(canary), protocol=2)
        run = FrameRun((PayloadSpec(len(body), "zeros", 0, body),))
        ex = exchange(target.address, run.schedule(), options.timeout, options.idle)
        # the server may unpickle after answering: give it a moment to show
        if poll_until(lambda: os.path.exists(canary), 0.2):
            raise ServerFault(
                f"the server unpickled a frame's body: the pickle it was sent created {canary}. Any client can "
                "run any code on this server; treat bodies as bytes (pickle.loads only data you trust)",
                reproducer=_unpickle_snippet(target.address),
            )
        problem = frames_problem([body], ex)
        if problem is not None:
            raise ServerFault(f"a pickled body: {problem}", reproducer=_unpickle_snippet(target.address))
    return "the pickled body came back unopened"
