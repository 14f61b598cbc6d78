"""Greeting checks: every client receives the whole banner, whatever its recv sizes, then a clean close (FIN).

The banner expected is ``options.banner`` (``--banner``/``--banner-file``) or, without one, what the first
client of the run receives; every later client must receive exactly the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import weakref
from dataclasses import dataclass

from hypothesis import strategies as st

from .. import reproduce
from ..connrepro import DESCRIPTORS_BACK
from ..errors import ServerFault
from ..net import Address, connect
from ..strategies import recv_sizes
from ..targets import Target
from ..waiting import poll_until
from ..wire import MAX_RECEIVED
from .base import CheckOptions, check, examples_for, falsify

GREETING = ("greeting",)
MAX_BANNER = MAX_RECEIVED  #: a learned banner longer than this (64 MiB) is a server that never stops sending
CLIENT_CHATTER = b"hello server\r\n" * 4681  #: about 64 KiB a client sends before reading
TALKERS = 8  #: clients at once in greeting.client-talks


@dataclass(frozen=True)
class Visit:
    """One client: what it sends first, how long it waits before reading, the recv sizes it reads with."""

    recv_sizes: tuple[int, ...] = (65536,)
    stall: float = 0.0
    send_first: bytes = b""

    def describe(self) -> str:
        sent = f"sent {len(self.send_first)} B first, " if self.send_first else ""
        return f"{sent}waited {self.stall:g}s, recv({', '.join(map(str, self.recv_sizes))})"


@dataclass
class Received:
    """What a client got: the bytes, and how the connection ended ("FIN", "RST", "no EOF" or an error)."""

    data: bytes
    end: str


def visit(address: Address, v: Visit, options: CheckOptions, limit: int = MAX_BANNER) -> Received:
    """Connect, run ``v``, read until the server closes (at most ``limit`` bytes, ``options.timeout`` seconds
    in all, ``options.idle`` seconds of silence)."""
    sock = connect(address, options.timeout)
    try:
        if v.send_first:
            sock.sendall(v.send_first)
        if v.stall:
            time.sleep(v.stall)  # a slow reader, part of the scenario (not synchronisation)
        return _read_to_end(sock, v.recv_sizes, options, limit)
    finally:
        sock.close()


def _read_to_end(sock: socket.socket, sizes: tuple[int, ...], options: CheckOptions, limit: int) -> Received:
    data = bytearray()
    deadline = time.monotonic() + options.timeout
    i = 0
    while len(data) <= limit:
        left = deadline - time.monotonic()
        if left <= 0:
            return Received(bytes(data), "no EOF")
        sock.settimeout(min(left, options.idle))
        try:
            chunk = sock.recv(sizes[i % len(sizes)])
        except TimeoutError:
            return Received(bytes(data), "no EOF")
        except ConnectionResetError:
            return Received(bytes(data), "RST")
        except OSError as exc:
            return Received(bytes(data), f"error: {exc}")
        if not chunk:
            return Received(bytes(data), "FIN")
        data += chunk
        i += 1
    return Received(bytes(data), f"over {limit:,} B and still sending")


_learned: weakref.WeakKeyDictionary[Target, tuple[Address, bytes]] = weakref.WeakKeyDictionary()


def expected_banner(target: Target, options: CheckOptions) -> bytes:
    """``options.banner``, or what a first client receives from ``target`` (learned once per start);
    :class:`ServerFault` if that first client gets no banner or no clean close."""
    if options.banner is not None:
        return options.banner
    cached = _learned.get(target)
    if cached is not None and cached[0] == target.address:
        return cached[1]
    got = visit(target.address, Visit(), options)
    if got.end != "FIN" or not got.data:
        raise ServerFault(
            f"the first client received {len(got.data)} B, then {_ending(got.end, options)}",
            reproducer=_first_client_snippet(target.address),
        )
    _learned[target] = (target.address, got.data)
    return got.data


def _ending(end: str, options: CheckOptions) -> str:
    if end == "no EOF":
        return f"the server kept the connection open ({options.idle:g}s of silence): it must close after its banner"
    if end == "RST":
        return "the connection was reset (RST): the end of the banner may be lost"
    return end


def banner_problem(banner: bytes, got: Received, options: CheckOptions) -> str | None:
    """None if ``got`` is exactly ``banner`` then FIN, else what went wrong."""
    if got.data != banner:
        n = next((i for i, (a, b) in enumerate(zip(banner, got.data, strict=False)) if a != b), None)
        if n is None:
            n = min(len(banner), len(got.data))
            if len(got.data) < len(banner):
                return f"only {len(got.data)} of the banner's {len(banner)} B arrived, then {_ending(got.end, options)}"
            return f"{len(got.data) - len(banner)} B more than the {len(banner)} B banner arrived"
        return f"the banner differs at byte {n}: expected {banner[n : n + 12]!r}, got {got.data[n : n + 12]!r}"
    if got.end != "FIN":
        return f"the whole banner arrived ({len(banner)} B), then {_ending(got.end, options)}"
    return None


def _banner_block(banner: bytes) -> str:
    """The greeting oracle, in a reproducer: reading a client's banner to the end and judging it."""
    if len(banner) <= 4096:
        expected = f"BANNER = {banner!r}\nBANNER_LENGTH = len(BANNER)\n"
    else:  # a large banner is known by its length and digest
        digest = hashlib.sha256(banner).hexdigest()
        expected = f"BANNER = None\nBANNER_LENGTH, BANNER_SHA256 = {len(banner)}, {digest!r}\n"
    return (
        "\n\nimport hashlib\n\n"
        + expected
        + """

def read_to_end(sock, sizes=(65536,)):
    \"\"\"Read until the server closes (at most the banner and 64 KiB more): (the bytes, how it ended).\"\"\"
    got, i, deadline = bytearray(), 0, time.monotonic() + TIMEOUT
    while len(got) <= BANNER_LENGTH + 65536:
        data, end = receive(sock, sizes[i % len(sizes)], min(IDLE, max(0.01, deadline - time.monotonic())))
        if not data:
            return bytes(got), end
        got, i = got + data, i + 1
    return bytes(got), "more bytes than the banner, and still sending"


def banner_problem(got, end):
    \"\"\"None if ``got`` is exactly the banner and the server then closed with FIN, else what went wrong.\"\"\"
    same = got == BANNER if BANNER is not None else hashlib.sha256(got).hexdigest() == BANNER_SHA256
    if not same:
        if len(got) < BANNER_LENGTH:
            return f"only {len(got)} of the banner's {BANNER_LENGTH} B arrived, then {end}"
        if BANNER is not None and got[:BANNER_LENGTH] != BANNER:
            n = next(i for i, (a, b) in enumerate(zip(BANNER, got)) if a != b)
            return f"the banner differs at byte {n}: expected {BANNER[n:n + 12]!r}, got {got[n:n + 12]!r}"
        return f"{len(got)} B arrived, not the {BANNER_LENGTH} B banner"
    return None if end == "FIN" else f"the whole banner arrived ({BANNER_LENGTH} B), then {end} instead of FIN"
"""
    )


def _first_client_snippet(address: Address) -> str:
    """A reproducer of a first client that must receive some banner, then FIN (the banner is learned so)."""
    body = """\
def scenario():
    sock = connect()
    got, end, deadline = bytearray(), None, time.monotonic() + TIMEOUT
    try:
        while len(got) <= 64 << 20:
            data, end = receive(sock, 65536, min(IDLE, max(0.01, deadline - time.monotonic())))
            if not data:
                break
            got += data
    finally:
        sock.close()
    return None if got and end == "FIN" else f"a client received {len(got)} B, then {end} (expected a banner, then FIN)"


repeat(scenario, 1, "a client received a banner, then FIN")
"""
    return reproduce.script(address, "Replays a first client, which must get a banner and a close.", body)


def visit_snippet(address: Address, v: Visit, banner: bytes) -> str:
    """A reproducer replaying visit ``v``: exit 1 unless the client gets exactly ``banner``, then FIN."""
    body = f"""\
# a client that {v.describe()}
def scenario():
    sock = connect()
    try:
        sock.sendall({v.send_first!r})
        time.sleep({v.stall!r})  # a slow reader
        return banner_problem(*read_to_end(sock, {v.recv_sizes!r}))
    finally:
        sock.close()


repeat(scenario, 3, "the whole banner, then FIN")
"""
    return reproduce.script(address, "Replays the failing greeting client.", body, blocks=[_banner_block(banner)])


def _leak_snippet(address: Address) -> str:
    """A reproducer of greeting.client-talks' descriptor count: TALKERS clients talk, read to the end and close;
    the server's descriptors must come back."""
    body = f"""\
TALKERS, CHATTER = {TALKERS}, b"hello server\\r\\n" * 4681  # each client sends about 64 KiB before reading


def scenario():
    pid = the_server()
    before = fd_count(pid)
    if before is None:
        raise CannotJudge(f"cannot count the descriptors of process {{pid}}")
    for _ in range(TALKERS):
        sock = connect()
        try:
            sock.sendall(CHATTER)
            while receive(sock, 65536)[0]:  # the banner, then the server's FIN
                pass
        finally:
            sock.close()
    return descriptors_back(pid, before, f"{{TALKERS}} clients talked, got the banner and closed")


repeat(scenario, 1, f"{{TALKERS}} talkative clients closed and the server gave their descriptors back")
"""
    blocks = [reproduce.SERVER_PIDS, DESCRIPTORS_BACK]
    return reproduce.script(
        address, "Replays clients that talk, then close: descriptors must come back.", body, blocks=blocks
    )


def _talkers_snippet(address: Address, banner: bytes, stall: float) -> str:
    """A reproducer of greeting.client-talks: TALKERS clients send 64 KiB first, read late, then send more."""
    body = f"""\
TALKERS, CHATTER = {TALKERS}, b"hello server\\r\\n" * 4681  # each client sends about 64 KiB before reading


def scenario():
    socks = [connect() for _ in range(TALKERS)]
    try:
        for sock in socks:
            sock.sendall(CHATTER)
        time.sleep({stall!r})  # the clients are slow to read
        for n, sock in enumerate(socks):
            problem = banner_problem(*read_to_end(sock))
            if problem:
                return f"client {{n}} of {{TALKERS}}: {{problem}} (a server that closes with unread input sends RST)"
        # after the banner and FIN, bytes a client sends must not be answered with a reset
        for sock in socks:
            sock.sendall(b"goodbye\\r\\n")
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            for sock in socks:
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    return f"bytes sent after the banner were answered with a reset ({{os.strerror(error)}})"
            time.sleep(0.005)
    finally:
        for sock in socks:
            sock.close()
    return None


repeat(scenario, 3, f"{{TALKERS}} talkative clients got the whole banner, then FIN, and no reset")
"""
    return reproduce.script(address, "Replays clients that talk before reading.", body, blocks=[_banner_block(banner)])


def _holders_snippet(address: Address, banner: bytes, holders: int) -> str:
    """A reproducer of greeting.concurrent: ``holders`` clients connect and do not read; a new one must be
    served at once, and the holders afterwards."""
    body = f"""\
def scenario():
    holders = [connect() for _ in range({holders})]
    try:
        sock = connect()
        try:
            problem = banner_problem(*read_to_end(sock))
        finally:
            sock.close()
        if problem:
            return f"with {holders} clients connected and not reading, a new client was not served: {{problem}}"
        for n, sock in enumerate(holders):
            problem = banner_problem(*read_to_end(sock))
            if problem:
                return f"client {{n}} of the {holders} that waited: {{problem}}"
    finally:
        for sock in holders:
            sock.close()
    return None


repeat(scenario, 1, "a new client was served beside {holders} silent ones, and so were they")
"""
    return reproduce.script(
        address, "Replays a new client beside clients that do not read.", body, blocks=[_banner_block(banner)]
    )


def _judge(target: Target, options: CheckOptions, banner: bytes, v: Visit) -> None:
    problem = banner_problem(banner, visit(target.address, v, options, len(banner) + 65536), options)
    if problem is not None:
        raise ServerFault(f"{problem} [{v.describe()}]")


@st.composite
def visits(draw: st.DrawFn, banner_size: int = 0) -> Visit:
    """recv sizes (single bytes included, raised so that a banner of ``banner_size`` takes at most 4096
    reads) and a pause before the first read."""
    floor = max(1, -(-banner_size // 4096))
    sizes = draw(st.lists(recv_sizes(), min_size=1, max_size=3))
    return Visit(tuple(max(floor, size) for size in sizes), draw(st.sampled_from([0.0, 0.0, 0.01, 0.1])))


@check(
    "greeting.banner",
    "every client receives the whole banner, byte-identical, whatever its recv sizes and pace, then FIN",
    protocols=GREETING,
)
def banner(target: Target, options: CheckOptions) -> str:
    expected = expected_banner(target, options)
    n = falsify(
        visits(len(expected)),
        lambda v: _judge(target, options, expected, v),
        examples=examples_for("greeting.banner", options),
        options=options,
        reproduce=lambda v, fault: visit_snippet(target.address, v, expected),
        key="greeting.banner",
    )
    return f"{n} examples; a {len(expected)} B banner"


@check(
    "greeting.client-talks",
    "clients that send 64 KiB before reading still receive the whole banner, then FIN (not a reset that destroys "
    "it), and once they close the server gives their descriptors back",
    protocols=GREETING,
)
def talkative_client(target: Target, options: CheckOptions) -> str:
    expected = expected_banner(target, options)
    before = target.fd_count()
    v = Visit(stall=0.2, send_first=CLIENT_CHATTER)
    socks = []
    try:
        for _ in range(TALKERS):
            socks.append(connect(target.address, options.timeout))
            socks[-1].sendall(CLIENT_CHATTER)
        time.sleep(v.stall)  # the clients are slow to read: part of the scenario
        # Whether the chatter reached the server before its close is a race. If it did, a server that closes
        # without reading resets the connection at once; if not, it resets when more bytes come: send some.
        problems = [banner_problem(expected, _read_to_end(sock, v.recv_sizes, options, len(expected) + 65536), options)
                    for sock in socks]  # fmt: skip
        problem = next((p for p in problems if p is not None), None) or _resets_late_bytes(socks)
        if problem is not None:
            raise ServerFault(
                f"{problem} [{v.describe()}]. A server that closes with unread input sends RST, and the client's "
                "unread banner is thrown away: after shutdown(SHUT_WR), read (and discard) what the client sends "
                "until it closes",
                reproducer=_talkers_snippet(target.address, expected, v.stall),
            )
    finally:
        for sock in socks:
            sock.close()
    if before is None:
        return f"{TALKERS} clients: the whole banner, then FIN (descriptors not observable)"
    # the clients have closed: a server that reads each connection to its end gives its descriptor back
    if not poll_until(lambda: (target.fd_count() or 0) <= before + 2, options.idle * 2):
        after = target.fd_count() or 0
        raise ServerFault(
            reproducer=_leak_snippet(target.address),
            message=f"descriptor leak: the server held {before} descriptors before {TALKERS} clients talked, got the "
            f"banner and closed, and {after} after them (+{after - before}): it never reads a connection to its "
            "end (recv() returning b'') and closes it, so every visitor leaves one behind",
        )
    return f"{TALKERS} clients: the whole banner, then FIN; descriptors back to {before}"


def _resets_late_bytes(socks: list[socket.socket], wait: float = 0.2) -> str | None:
    """After the banner and FIN, each client sends a few more bytes: None if the server takes them (it still
    reads until the client closes), else the reset it answered with. Polls for at most ``wait`` seconds."""
    deadline = time.monotonic() + wait
    try:
        for sock in socks:
            sock.sendall(b"goodbye\r\n")
        while time.monotonic() < deadline:
            for sock in socks:
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    raise OSError(error, os.strerror(error))
            time.sleep(0.005)  # bounded poll: a reset on loopback arrives within microseconds
    except OSError as exc:
        return (
            f"the whole banner and FIN arrived, but bytes the client sent then were answered with a reset ({exc}): "
            "the server closed without reading what the client sent"
        )
    return None


@check(
    "greeting.concurrent",
    "while 20 clients hold their connections open without reading, a new client gets the banner at once, and so "
    "do the 20 afterwards",
    protocols=GREETING,
)
def concurrent(target: Target, options: CheckOptions) -> str:
    expected = expected_banner(target, options)
    holders = []
    try:
        for _ in range(20):
            holders.append(connect(target.address, options.timeout))
        start = time.monotonic()
        problem = banner_problem(expected, visit(target.address, Visit(), options, len(expected) + 65536), options)
        if problem is not None:
            raise ServerFault(
                f"with 20 clients connected and not reading, a new client was not served: {problem}. A server "
                "that serves one client at a time (or waits for each client to close) makes everyone wait",
                reproducer=_holders_snippet(target.address, expected, len(holders)),
            )
        took = time.monotonic() - start
        for n, sock in enumerate(holders):
            problem = banner_problem(expected, _read_to_end(sock, (65536,), options, len(expected) + 65536), options)
            if problem is not None:
                raise ServerFault(
                    f"client {n} of the 20 that waited: {problem}",
                    reproducer=_holders_snippet(target.address, expected, len(holders)),
                )
    finally:
        for sock in holders:
            sock.close()
    return f"the new client was served in {took * 1000:.0f} ms; the 20 got their banners"
