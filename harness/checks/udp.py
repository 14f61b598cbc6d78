"""udp-echo checks: every datagram comes back whole, unchanged, to its own sender, whatever it holds.

UDP may lose a datagram even on loopback (a full receive buffer drops it), so no check judges a datagram
lost after one try: :func:`exchange_datagrams` resends whatever has not come back, with growing per-try
timeouts derived from ``options.idle``, and calls it lost only after the last try. Whatever does come back
is judged at once and strictly: a truncated, corrupted or duplicated datagram, one delivered to another
client, or one sent from another address is always a fail.

Each exchange uses fresh client sockets bound to the target's loopback host, and a check keeps its recent
sockets open until it ends (:class:`ClientSockets`), so a late echo of an earlier example can never reach a
later example through a reused port.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from hypothesis import strategies as st

from .. import reproduce
from ..errors import ServerFault
from ..net import Address, family_of, format_address
from ..payload_code import payload_of
from ..strategies import KiB, PayloadSpec, payload_specs, sizes
from ..targets import Target
from .base import CheckOptions, check, examples_for, falsify

UDP = ("udp-echo",)
#: the largest UDP payload per address family: 65535 - 8 (UDP header) - 20 (IPv4 header); IPv6 counts no
#: header of its own in its 16-bit payload length, so 65535 - 8
MAX_PAYLOAD = {socket.AF_INET: 65507, socket.AF_INET6: 65527}
#: a receive buffer larger than any datagram
RECV_SIZE = 65535
#: client socket buffers asked for, so a burst of echoes is not dropped by the client itself
CLIENT_BUFFER = 4 << 20
#: tries per datagram before it is judged lost (with 10 % random loss, one in a million datagrams is misjudged)
TRIES = 6
#: datagrams read from one client socket at a time: a server that sends without end cannot keep a read going
COLLECT_BATCH = 256
#: client sockets a check keeps open (the oldest is closed when a new one is needed)
KEEP_SOCKETS = 64
#: the most clients of one burst in udp.clients (whatever ``options.connections`` says): fewer than KEEP_SOCKETS
MAX_CLIENTS = 16
#: the fixed-size sizes of the deterministic sweep of udp.fidelity (the family's maximum is added)
SWEEP_SIZES = (0, 1, 2, 255, 256, 512, 1023, 1024, 1025, 1472, 1473, 2048, 2049, 4096, 4097, 8192, 8193, 16385,
               32768, 65500)  # fmt: skip


def max_payload(host: str) -> int:
    """The largest UDP payload that fits one datagram on ``host`` (65507 B on 127.0.0.1, 65527 B on ::1)."""
    return MAX_PAYLOAD[family_of(host)]


def try_timeouts(options: CheckOptions) -> tuple[float, ...]:
    """Per-try timeouts of one datagram: doubling up to ``options.idle`` (bounded by ``options.timeout``), none
    under 50 ms; their sum (about 2 x idle) is how long a datagram may take before it is judged lost."""
    last = max(0.05, min(options.idle, options.timeout))
    return tuple(max(0.05, last / 2 ** (TRIES - 1 - n)) for n in range(TRIES))


class ClientSockets:
    """Datagram sockets bound to an ephemeral port of the server's loopback host, non-blocking, with large
    buffers. Keeps the last :data:`KEEP_SOCKETS` open and closes all of them on exit."""

    def __init__(self, host: str) -> None:
        self.family = family_of(host)
        self.host = host
        self._open: deque[socket.socket] = deque()

    def new(self) -> socket.socket:
        """A fresh bound socket; its port is not used by any socket this object closed recently."""
        while len(self._open) >= KEEP_SOCKETS:
            self._open.popleft().close()
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, CLIENT_BUFFER)
                except OSError:
                    pass
            sock.bind((self.host, 0))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._open.append(sock)
        return sock

    def close(self) -> None:
        """Close every socket still open."""
        while self._open:
            self._open.popleft().close()

    def __enter__(self) -> ClientSockets:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True)
class Send:
    """One datagram of an exchange: which client sends it, its bytes, and the code that rebuilds them."""

    client: int
    payload: bytes
    code: str  #: a Python expression (needing ``import random``) evaluating to ``payload``


@dataclass
class Outcome:
    """What came back of an exchange; :meth:`problem` judges it."""

    sends: list[Send]
    server: Address
    tries: int = 0  #: tries made (a retry resends only what has not come back)
    seconds: float = 0.0
    sent: list[int] = field(default_factory=list)  #: times each datagram was sent
    received: list[int] = field(default_factory=list)  #: times each came back to its own sender
    misdirected: list[tuple[int, int]] = field(default_factory=list)  #: (datagram, client it reached)
    corrupted: list[tuple[int, bytes, int | None]] = field(default_factory=list)  #: (client, data, likely send)
    foreign_source: list[tuple[int, Address]] = field(default_factory=list)  #: (client, where it came from)
    server_exit: str = ""  #: set when the server was found dead
    strays: frozenset[bytes] = frozenset()  #: late echoes of datagrams from earlier, closed sockets: ignored

    def __post_init__(self) -> None:
        self.sent = [0] * len(self.sends)
        self.received = [0] * len(self.sends)

    @property
    def lost(self) -> list[int]:
        """Datagrams that never came back to their sender."""
        return [i for i, n in enumerate(self.received) if n == 0]

    @property
    def duplicated(self) -> list[int]:
        """Datagrams that came back more often than they were sent."""
        return [i for i, n in enumerate(self.received) if n > self.sent[i]]

    @property
    def wrong(self) -> bool:
        """True once anything came back that no correct server sends (judged without waiting further)."""
        return bool(self.misdirected or self.corrupted or self.foreign_source or self.duplicated)

    def problem(self) -> str | None:
        """None if every datagram came back once per send, unchanged, to its sender; else the explanation."""
        many = len({s.client for s in self.sends}) > 1
        if self.foreign_source:
            client, source = self.foreign_source[0]
            return (
                f"{_who(client, many)} got a reply from {format_address(source)}, not from the server's address "
                f"{format_address(self.server)}: a client that connect()s its socket (most do) never sees it; "
                "reply with sendto() on the socket the datagram arrived on"
            )
        if self.corrupted:
            client, data, likely = self.corrupted[0]
            if likely is None:
                return (
                    f"{_who(client, many)} got a {len(data)} B datagram that matches none it sent "
                    "(corrupted or truncated beyond recognition)"
                )
            return _describe_corruption(self.sends[likely].payload, data, _who(client, many))
        if self.misdirected:
            index, client = self.misdirected[0]
            victims = len({c for _, c in self.misdirected})
            return (
                f"client {client} received a datagram that client {self.sends[index].client} sent "
                f"({len(self.misdirected)} datagram(s) delivered to {victims} wrong client(s)): the server replies "
                "to the wrong address (e.g. the last or first client it heard from) instead of to the sender of "
                "each datagram; reply with sendto(data, addr) using the addr recvfrom() returned with that datagram"
            )
        if self.duplicated:
            index = self.duplicated[0]
            return (
                f"a {len(self.sends[index].payload)} B datagram sent {self.sent[index]} time(s) came back "
                f"{self.received[index]} times: the server sends some replies more than once"
            )
        lost = self.lost
        if not lost:
            return None
        first = self.sends[lost[0]]
        retried = f"even after {self.tries} {'try' if self.tries == 1 else 'tries'} over {self.seconds:.1f}s"
        if len(self.sends) == 1:
            text = f"the {len(first.payload)} B datagram got no reply, {retried}"
        else:
            text = (
                f"{len(lost)} of {len(self.sends)} datagrams got no reply {retried} "
                f"(e.g. a {len(first.payload)} B one from {_who(first.client, many)})"
            )
        if all(len(self.sends[i].payload) == 0 for i in lost):
            text += (
                ": the server ignores empty datagrams, but an empty datagram is valid UDP and must be echoed "
                "(for UDP, recvfrom() returning b'' does not mean 'closed')"
            )
        elif many and len(lost) < len(self.sends) and _only_one_client_served(self):
            text += (
                ": only one client got replies; the server seems to send every echo to one remembered "
                "address instead of to each datagram's sender"
            )
        if self.server_exit:
            text += f"; {self.server_exit}"
        return text


def _who(client: int, many: bool) -> str:
    return f"client {client}" if many else "the client"


def _only_one_client_served(outcome: Outcome) -> bool:
    served = {outcome.sends[i].client for i, n in enumerate(outcome.received) if n}
    return len(served) <= 1


def _describe_corruption(sent: bytes, got: bytes, who: str) -> str:
    """Explain how ``got`` differs from ``sent`` (the datagram it most likely echoes)."""
    first = next((n for n, (a, b) in enumerate(zip(sent, got, strict=False)) if a != b), min(len(sent), len(got)))
    if len(sent) <= 32 and len(got) <= 32:  # small enough to show: the difference speaks for itself
        return f"a {len(sent)} B datagram {sent!r} came back as {len(got)} B {got!r} to {who}"
    if len(got) < len(sent) and first == len(got):
        if not got:
            return f"a {len(sent)} B datagram came back empty (0 B) to {who}"
        return (
            f"a {len(sent)} B datagram came back as {len(got)} B (its first {len(got)} bytes) to {who}: the server "
            f"reads with a {len(got)}-byte buffer (recvfrom({len(got)})) and truncates larger datagrams; read with "
            f"a {RECV_SIZE}-byte buffer, larger than any datagram"
        )
    if len(got) > len(sent) and first == len(sent):
        return f"a {len(sent)} B datagram came back as {len(got)} B to {who}: {len(got) - len(sent)} B were appended"
    text = f"a {len(sent)} B datagram came back as {len(got)} B to {who}, differing at byte {first}"
    if first < min(len(sent), len(got)):
        text += f" (sent {sent[first]:#04x}, got {got[first]:#04x})"
    if b"\xef\xbf\xbd" in got and b"\xef\xbf\xbd" not in sent:
        text += (
            ": it holds U+FFFD replacement characters, so the server decodes the bytes as UTF-8 text and "
            "encodes them again; echo the bytes as they are"
        )
    return text


def exchange_datagrams(
    server: Address,
    sends: Sequence[Send],
    clients: Sequence[socket.socket],
    timeouts: Sequence[float],
    alive: Callable[[], bool] = lambda: True,
    strays: frozenset[bytes] = frozenset(),
    hold: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
) -> Outcome:
    """Send every datagram of ``sends`` (``clients[send.client]`` sends it) to ``server``, then collect the
    echoes; resend what has not come back after each of ``timeouts`` (one per try). The first try's sends
    happen inside ``hold()`` (e.g. :meth:`Target.frozen`: they queue up at the server together).

    Guarantees: every wait is bounded by the sum of ``timeouts``; collection stops at once when everything
    came back or something wrong did (see :attr:`Outcome.wrong`), and retrying stops when ``alive()`` turns
    False. Every datagram's payload must be unique within the exchange (that is how an echo is attributed).
    An echo of one of ``strays`` (sent earlier from a socket since closed, whose port may be reused) is ignored.
    """
    outcome = Outcome(list(sends), server, strays=strays)
    owner = {s.payload: i for i, s in enumerate(sends)}
    if len(owner) != len(sends):
        raise ValueError("exchange_datagrams needs distinct payloads")
    start = time.monotonic()
    with selectors.DefaultSelector() as sel:
        for n, sock in enumerate(clients):
            sel.register(sock, selectors.EVENT_READ, n)
        for attempt, timeout in enumerate(timeouts):
            outcome.tries = attempt + 1
            with hold() if attempt == 0 else contextlib.nullcontext():
                for i in outcome.lost:
                    _send(clients[sends[i].client], sends[i].payload, server, timeout)
                    outcome.sent[i] += 1
            deadline = time.monotonic() + timeout
            while outcome.lost and not outcome.wrong and (left := deadline - time.monotonic()) > 0:
                for key, _ in sel.select(left):
                    _collect(key.fileobj, key.data, owner, outcome)  # type: ignore[arg-type]
            if not outcome.lost or outcome.wrong:
                break
            if not alive():
                outcome.server_exit = "the server is no longer running"
                break
        for key in list(sel.get_map().values()):  # whatever else is already queued (duplicates, strays)
            _collect(key.fileobj, key.data, owner, outcome)  # type: ignore[arg-type]
    outcome.seconds = time.monotonic() - start
    return outcome


def _send(sock: socket.socket, payload: bytes, server: Address, timeout: float) -> None:
    """Send one datagram; when our own send buffer is full, wait (at most ``timeout``) for room. A datagram
    that still cannot be sent counts as sent and unanswered: the next try resends it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock.sendto(payload, server)
            return
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:
                raise
        left = deadline - time.monotonic()
        if left <= 0:
            return
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_WRITE)
            sel.select(left)


def _collect(sock: socket.socket, client: int, owner: dict[bytes, int], outcome: Outcome) -> None:
    """Read the datagrams queued on ``sock`` (client number ``client``), at most :data:`COLLECT_BATCH` of them,
    and classify them in ``outcome``; stop at the first that no correct server sends (what is kept of a server
    that floods its clients is bounded: it is judged at its first wrong datagram)."""
    for _ in range(COLLECT_BATCH):
        if outcome.wrong:
            return
        try:
            data, source = sock.recvfrom(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # an ICMP error (the server's port closed): the datagrams stay unanswered
            return
        if (source[0], source[1]) != outcome.server:
            outcome.foreign_source.append((client, (source[0], source[1])))
            continue
        index = owner.get(data)
        if index is None and data in outcome.strays:
            continue
        if index is None:
            outcome.corrupted.append((client, data, _likely_origin(data, client, outcome.sends)))
        elif outcome.sends[index].client != client:
            outcome.misdirected.append((index, client))
        else:
            outcome.received[index] += 1


def _likely_origin(data: bytes, client: int, sends: Sequence[Send]) -> int | None:
    """The datagram ``data`` most likely echoes: the one whose tag (``client C datagram N|``) it starts with,
    else the client's only datagram, else None."""
    end = data.find(b"|", 0, 40)
    if end > 0:
        tagged = [i for i, s in enumerate(sends) if s.payload.startswith(data[: end + 1])]
        if tagged:
            return tagged[0]
    own = [i for i, s in enumerate(sends) if s.client == client]
    return own[0] if len(own) == 1 else None


# -- reproducers ------------------------------------------------------------------------------------------

#: the udp-echo oracle, in a reproducer: send datagrams (retrying what got no reply) and judge what came back
DATAGRAMS = (
    f"\n\nTRIES = {TRIES}  # a datagram is judged lost only after this many tries (UDP may drop one on loopback)\n"
    + """
import errno, signal

SERVER = (socket.getaddrinfo(ADDRESS[0], ADDRESS[1], FAMILY, socket.SOCK_DGRAM)[0][4][0], ADDRESS[1])


def exchange_datagrams(sends, pause=()):
    \"\"\"Send every (client, payload) of ``sends`` from fresh sockets (one per client) while the processes in
    ``pause`` are stopped (SIGSTOP: the datagrams queue up at the server together), collect the echoes, resend
    what got no reply with growing timeouts; None if each came back once, unchanged, from the server's
    address to its own sender, else what went wrong.\"\"\"
    socks = []
    for _ in range(max(c for c, _ in sends) + 1):
        sock = socket.socket(FAMILY, socket.SOCK_DGRAM)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            sock.setsockopt(socket.SOL_SOCKET, option, 4 << 20)
        sock.bind((SERVER[0], 0))
        sock.setblocking(False)
        socks.append(sock)
    owner = {payload: i for i, (_, payload) in enumerate(sends)}
    sent, received, wrong = [0] * len(sends), [0] * len(sends), []

    def collect(n):
        for _ in range(256):  # at most this many at a time, and none once something wrong came
            if wrong:
                return
            try:
                data, source = socks[n].recvfrom(65535)
            except OSError:  # nothing more queued, or an ICMP error: unanswered
                return
            i = owner.get(data)
            if source[:2] != SERVER:
                wrong.append(f"client {n} got a reply from {source[:2]}, not from the server's address {SERVER}")
            elif i is None:
                own = [p for c, p in sends if c == n]
                how = f": {mismatch(own[0], data, None)}" if len(own) == 1 else f" that matches none: {data[:40]!r}"
                wrong.append(f"client {n} got a {len(data)} B datagram back{how}")
            elif sends[i][0] != n:
                wrong.append(f"client {n} received a datagram that client {sends[i][0]} sent")
            else:
                received[i] += 1
                if received[i] > sent[i]:
                    wrong.append(f"a {len(data)} B datagram sent {sent[i]} time(s) came back {received[i]} times")

    last = max(0.05, IDLE)
    try:
        for attempt in range(TRIES):
            lost = [i for i, n in enumerate(received) if not n]
            for pid in pause if attempt == 0 else ():
                os.kill(pid, signal.SIGSTOP)
            try:
                for i in lost:
                    client, payload = sends[i]
                    try:
                        socks[client].sendto(payload, SERVER)
                    except (BlockingIOError, InterruptedError):
                        pass  # our own buffer is full: counted as sent and unanswered, the next try resends it
                    except OSError as exc:
                        if exc.errno != errno.ENOBUFS:
                            raise
                    sent[i] += 1
            finally:
                for pid in pause if attempt == 0 else ():
                    os.kill(pid, signal.SIGCONT)
            deadline = time.monotonic() + max(0.05, last / 2 ** (TRIES - 1 - attempt))
            while not all(received) and not wrong and time.monotonic() < deadline:
                for sock in select.select(socks, [], [], max(0.0, deadline - time.monotonic()))[0]:
                    collect(socks.index(sock))
            if all(received) or wrong:
                break
        for n in range(len(socks)):
            collect(n)  # whatever else is queued (duplicates)
    finally:
        for sock in socks:
            sock.close()
    if wrong:
        return wrong[0]
    lost = [i for i, n in enumerate(received) if not n]
    if lost:
        client, payload = sends[lost[0]]
        return (f"{len(lost)} of {len(sends)} datagrams got no reply after {TRIES} tries (e.g. a {len(payload)} B "
                f"one from client {client}); a server that crashed shows this way too")
    return None
"""
)


def _family(address: Address) -> str:
    return "AF_INET6" if family_of(address[0]) == socket.AF_INET6 else "AF_INET"


def one_snippet(address: Address, code: str, timeout: float = 2.0) -> str:
    """A reproducer sending the datagram ``code`` evaluates to (retrying): exit 1 unless it comes back whole and
    unchanged, from the server's address."""
    body = f"""\
PAYLOAD = {code}

repeat(lambda: exchange_datagrams([(0, PAYLOAD)]), 1, f"the {{len(PAYLOAD)}} B datagram came back unchanged")
"""
    return reproduce.script(address, "Replays the failing datagram.", body, blocks=[DATAGRAMS], idle=timeout)


def burst_snippet(address: Address, sends: Sequence[Send], timeout: float = 2.0) -> str:
    """A reproducer replaying a burst of datagrams from several clients while the server is paused (as the
    harness paused it): exit 1 unless each client gets back exactly its own datagrams."""
    lines = "\n".join(f"    ({s.client}, {s.code})," for s in sends)
    body = f"""\
SENDS = [  # (client, payload), in sending order
{lines}
]
# The harness paused the server (SIGSTOP) while the burst was sent, so that the datagrams queued up at it
# together, as under load; this script does the same to the process it finds holding the port (or to $PID).
# Without that, the server may answer each datagram before the next arrives, and the bug may not show.
PIDS = server_pids(udp=True)
paused = "" if PIDS else " (the server was not paused: its process was not found; set PID=)"
repeat(lambda: exchange_datagrams(SENDS, PIDS), 3, "each client got back exactly its own datagrams" + paused)
"""
    blocks = [reproduce.SERVER_PIDS, DATAGRAMS]
    return reproduce.script(address, "Replays the failing burst of datagrams.", body, blocks=blocks, idle=timeout)


# -- the checks ---------------------------------------------------------------------------------------------


def _exchange_one(
    target: Target,
    options: CheckOptions,
    pool: ClientSockets,
    payload: bytes,
    code: str,
    strays: frozenset[bytes] = frozenset(),
) -> None:
    """Echo one datagram from a fresh socket; :class:`ServerFault` (with a reproducer) if it fails."""
    sends, socks = [Send(0, payload, code)], [pool.new()]
    outcome = exchange_datagrams(target.address, sends, socks, try_timeouts(options), target.alive, strays)
    problem = outcome.problem()
    if problem is not None:
        raise ServerFault(problem, reproducer=one_snippet(target.address, code))


def _sweep_sizes(host: str) -> list[int]:
    top = max_payload(host)
    return sorted({s for s in SWEEP_SIZES if s <= top} | {top - 1, top})


def datagram_specs(*, max_size: int) -> st.SearchStrategy[PayloadSpec]:
    """Datagram payloads up to ``max_size`` bytes: any kind of :func:`~harness.strategies.payload_specs`, or
    (as often) a short text-like one (lines with CR, LF, NUL, split UTF-8 characters), as line protocols send."""
    text = payload_specs(max_size=min(max_size, 2 * KiB), kinds=("crlf-nul", "utf8-split"))
    return st.one_of(payload_specs(max_size=max_size), text)


@check(
    "udp.fidelity",
    "datagrams of 0 B up to the largest UDP payload (65507 B on IPv4, 65527 B on IPv6), over all byte values, "
    "come back whole and byte-identical to their sender",
    weight=3.0,
    protocols=UDP,
)
def fidelity(target: Target, options: CheckOptions) -> str:
    """A deterministic sweep of boundary sizes (the first failure is the smallest failing size), then a
    property over sizes favouring boundaries and every payload kind of :mod:`harness.strategies`."""
    top = max_payload(target.host)
    with ClientSockets(target.host) as pool:
        for size in _sweep_sizes(target.host):
            spec = PayloadSpec(size, "all-bytes", size)
            _exchange_one(target, options, pool, spec.build(), spec.code())
        n = falsify(
            datagram_specs(max_size=top),
            lambda spec: _exchange_one(target, options, pool, spec.build(), spec.code()),
            examples=examples_for("udp.fidelity", options),
            options=options,
            reproduce=lambda spec, fault: one_snippet(target.address, spec.code()),
            key="udp.fidelity",
        )
    return f"{len(_sweep_sizes(target.host))} boundary sizes up to {top} B, then {n} examples"


def tagged_datagram(client: int, seq: int, size: int) -> Send:
    """Datagram ``seq`` of ``client``: a tag naming both, then random bytes, ``size`` bytes in all (at least
    the tag), so an echo can always be attributed."""
    tag = f"client {client} datagram {seq}|".encode()
    code = f"{tag!r} + random.Random({client * 1000 + seq}).randbytes({max(0, size - len(tag))})"
    return Send(client, payload_of(code), code)


def burst_plans(*, max_clients: int = 4, max_sends: int = 48) -> st.SearchStrategy[list[tuple[int, int]]]:
    """Bursts: lists of ``(client, size)`` in sending order, over 1 to ``max_clients`` clients; sizes favour
    boundaries up to 16 KiB (a tag makes every datagram at least ~25 B)."""
    entry = st.tuples(st.integers(0, max(1, max_clients) - 1), sizes(max_size=16 * KiB))
    return st.lists(entry, min_size=2, max_size=max_sends)


def _burst(target: Target, options: CheckOptions, pool: ClientSockets, plan: list[tuple[int, int]]) -> None:
    """Run one burst from fresh sockets; :class:`ServerFault` (with a reproducer) if any client is wronged."""
    clients = max(c for c, _ in plan) + 1
    seqs = [0] * clients
    sends = []
    for client, size in plan:
        sends.append(tagged_datagram(client, seqs[client], size))
        seqs[client] += 1
    socks = [pool.new() for _ in range(clients)]
    # the server is paused while the burst is sent, so the clients' datagrams queue up at it together (as
    # under load): that is when a server batching its reads shows which address it answers
    outcome = exchange_datagrams(target.address, sends, socks, try_timeouts(options), target.alive, hold=target.frozen)
    problem = outcome.problem()
    if problem is not None:
        where = f"{len(sends)} datagrams from {clients} client(s)"
        raise ServerFault(f"{problem} [{where}]", reproducer=burst_snippet(target.address, sends))


@check(
    "udp.clients",
    "several clients sending bursts at once each get back exactly their own datagrams: none delivered to "
    "another client, none duplicated, none lost (after retries)",
    protocols=UDP,
)
def clients(target: Target, options: CheckOptions) -> str:
    """Two clients interleaving 16 datagrams each first (cross-talk needs their datagrams queued together at
    the server), then a property over bursts."""
    most = min(max(2, options.connections), MAX_CLIENTS)
    with ClientSockets(target.host) as pool:
        _burst(target, options, pool, [(n % 2, 64 if n < 16 else 1500) for n in range(32)])
        n = falsify(
            burst_plans(max_clients=most),
            lambda plan: _burst(target, options, pool, plan),
            examples=examples_for("udp.clients", options),
            options=options,
            reproduce=lambda plan, fault: fault.reproducer or "",
            key="udp.clients",
        )
    return f"{n} bursts from up to {most} clients"


#: (what it is, the code building it): datagrams a naive server chokes on, in the order they are sent
GARBAGE: tuple[tuple[str, str], ...] = (
    ("invalid UTF-8", r"b'\xff\xfe\xfd invalid utf-8 \xc3\x28 \xa0\xa1 \xf0\x28\x8c\x28'"),
    ("a truncated multi-byte UTF-8 character", r"'€'.encode()[:2]"),
    ("NUL and control bytes", "bytes(range(32)) + b'\\x7f'"),
    ("a lone NUL byte", r"b'\x00'"),
    ("something that looks like a command", r"b'QUIT\r\n%s%n%x{0}\x1b[2J'"),
    ("every byte value", "bytes(range(256)) * 4"),
    ("1025 random bytes (one more than a 1024-byte buffer)", "random.Random(1025).randbytes(1025)"),
    ("8193 random bytes (one more than an 8 KiB buffer)", "random.Random(8193).randbytes(8193)"),
    ("the largest datagram, of random bytes", "random.Random(65507).randbytes(MAX)"),
    ("an empty datagram", "b''"),
)


@check(
    "udp.garbage",
    "hostile datagrams (invalid UTF-8, NUL and control bytes, the largest size, empty, a sender that vanished) "
    "neither crash nor stall the server: each is echoed unchanged and it keeps serving",
    protocols=UDP,
)
def garbage(target: Target, options: CheckOptions) -> str:
    top = max_payload(target.host)
    with ClientSockets(target.host) as pool:
        # a client that vanishes before its echo: the reply goes to a closed port (an ICMP error comes back)
        gone_payload = b"from a client that is gone before its echo"
        gone = pool.new()
        gone.sendto(gone_payload, target.address)
        gone.close()
        steps = (("a datagram from a client that closed its socket before the echo came", "b'still there?'"),)
        for what, code in steps + GARBAGE:
            code = code.replace("MAX", str(top))
            payload = payload_of(code)
            try:
                _exchange_one(target, options, pool, payload, code, frozenset({gone_payload}))
            except ServerFault as fault:
                fault.message = f"after {what}: {fault.message}{_crash_hint(target)}"
                fault.reproducer = _garbage_snippet(fault.reproducer or "")
                raise
    return f"survived {len(GARBAGE)} hostile datagrams and a vanished client; each was echoed unchanged"


def _crash_hint(target: Target) -> str:
    """What the server's stderr says about a crash, with a hint when it is a decoding error."""
    if target.alive():
        return ""
    tail = target.stderr_tail(3).strip().splitlines()
    last = tail[-1] if tail else ""
    hint = f"; the server exited{': ' + last if last else ''}"
    if "UnicodeDecodeError" in last or "codec can't decode" in last:
        hint += " -- it decodes datagrams as text; echo the bytes as they are, never decode them"
    return hint


def _garbage_snippet(replay: str) -> str:
    """``replay`` (a :func:`one_snippet`) introduced as the datagram after which the server failed."""
    after = "Replays the datagram after which the server failed (a crash shows as no reply)."
    return replay.replace("Replays the failing datagram.", after, 1)
