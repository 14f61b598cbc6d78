"""Reproducers: the standalone scripts a failing check leaves behind, so a person can rerun the failure by hand.

Every reproducer is a Python 3 script that needs nothing but the standard library (the fault-proxy one
carries its own small proxy). It takes the server's address as ``python3 CHECK.py [HOST] PORT``, else from
the ``HOST``/``PORT`` environment variables, else it uses the address the failure was seen at; it replays
the scenario, judges what comes back by the rule the check applied, prints one line (``FAIL: ...`` or
``OK: ...``) and exits with :data:`MISBEHAVES` (1) when the server still misbehaves, :data:`BEHAVES` (0)
when it behaves, and :data:`CANNOT_RUN` (2) when it could not judge (bad arguments, nothing listening at
the address, something it needs to observe that it cannot). Where a bug shows only in a race, the script
repeats its scenario a bounded number of times and stops at the first misbehaviour.

:func:`script` assembles one from the shared :data:`PROLOGUE` and a scenario; the generators here cover the
echo checks; each protocol's checks build theirs the same way. :func:`write` puts one in a file.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .errors import ServerFault
from .net import Address
from .strategies import PayloadSpec
from .wire import MAX_PAUSED_WRITES, Schedule

if TYPE_CHECKING:  # the checks import this module
    from .checks.base import CheckOptions, CheckResult
    from .targets import Target

BEHAVES, MISBEHAVES, CANNOT_RUN = 0, 1, 2
#: seconds without a byte moving after which a reproducer calls an exchange hung (the harness' default idle)
IDLE = 2.0
#: seconds one exchange of a reproducer may take in all (the harness' default timeout)
TIMEOUT = 10.0
#: the line :func:`through_proxy` puts a network in front of the server after
NETWORK_MARKER = "# -- the network between this script and the server --"
#: the second line of every file :func:`write` writes, so a stale one can be recognised and removed
WRITTEN_BY = "# written by socket-harness"

PROLOGUE = '''\
"""{about}

Usage: python3 {{script}} [HOST] PORT   (else $HOST and $PORT, else the address the failure was seen at,
{seen}). Standard library only.
Exit status: 1 the server misbehaves as the harness judged, 0 it behaves, 2 this script could not judge.
"""
import os, random, select, socket, struct, sys, threading, time

DEFAULT = {address!r}
IDLE, TIMEOUT = {idle!r}, {timeout!r}  # a hang: no byte moving for IDLE s; one exchange: at most TIMEOUT s


def _address():
    args = sys.argv[1:]
    if any(a in ("-h", "--help") for a in args):
        print(__doc__.replace("{{script}}", sys.argv[0]))
        sys.exit(0)
    host = args[0] if len(args) == 2 else os.environ.get("HOST") or DEFAULT[0]
    port = args[-1] if args else os.environ.get("PORT") or str(DEFAULT[1])
    if len(args) > 2 or not port.isdigit() or not 0 < int(port) < 65536:
        print(f"usage: python3 {{sys.argv[0]}} [HOST] PORT (a port from 1 to 65535)", file=sys.stderr)
        sys.exit(2)
    return host.strip("[]"), int(port)


ADDRESS = _address()
FAMILY = socket.AF_INET6 if ":" in ADDRESS[0] else socket.AF_INET
{marker}


class CannotJudge(Exception):
    """This script could not observe what it needs (exit status 2)."""


_connected = []


def connect(address=None, timeout=TIMEOUT):
    """A connected blocking socket (no timeout once connected: reads wait with select). A refusal before any
    connection succeeded means nothing listens at the address: this script cannot judge anything."""
    try:
        sock = socket.create_connection(address or ADDRESS, timeout=timeout)
    except ConnectionRefusedError:
        if not _connected:
            raise CannotJudge(f"nothing listens at {{(address or ADDRESS)[0]}} port {{(address or ADDRESS)[1]}}")
        raise
    _connected.append(True)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def abort(sock):
    """Close ``sock`` with a reset (RST) instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def receive(sock, size, idle=None):
    """One recv of up to ``size`` bytes, waiting at most ``idle`` s: (data, None), or (b"", how it ended)."""
    try:
        if not select.select([sock], [], [], IDLE if idle is None else idle)[0]:
            return b"", f"nothing more came for {{IDLE if idle is None else idle:g}} s (the connection stayed open)"
        data = sock.recv(size)
    except ConnectionResetError:
        return b"", "RST (the connection was reset)"
    except OSError as exc:
        return b"", f"socket error {{exc!r}}"
    return (data, None) if data else (b"", "FIN")


def mismatch(sent, got, end):
    """None if ``got`` is exactly ``sent``, else what differs (``end``: how the connection ended)."""
    sent, got = bytes(sent), bytes(got)
    if got == sent:
        return None
    n = next((i for i, (a, b) in enumerate(zip(sent, got)) if a != b), min(len(sent), len(got)))
    then = f"; then {{end}}" if end else ""
    if n < len(got) and n < len(sent):
        return f"echo differs at byte {{n}} of {{len(sent)}}: sent {{sent[n:n + 8]!r}}, got {{got[n:n + 8]!r}}{{then}}"
    if len(got) > len(sent):
        least = "at least " if end and "stopped reading" in end else ""
        return (f"the server sent {{least}}{{len(got) - len(sent)}} B more than it was sent, from byte {{len(sent)}}: "
                f"{{got[n:n + 16]!r}}{{then}}")
    return f"only {{len(got)}} of {{len(sent)}} B came back ({{len(sent) - len(got)}} lost){{then}}"


def repeat(scenario, times, ok, seconds=None):
    """Run ``scenario()`` (None when the server behaved, else what went wrong) up to ``times`` times (and, with
    ``seconds``, no longer than that once a run has ended); print one line and exit 1 at the first
    misbehaviour, 0 when every run behaved, 2 when it could not judge."""
    until = time.monotonic() + seconds if seconds else None
    for n in range(times):
        if until is not None and n and time.monotonic() > until:
            times = n
            break
        try:
            problem = scenario()
        except CannotJudge as exc:
            print(f"CANNOT JUDGE: {{exc}}")
            sys.exit(2)
        except TimeoutError:
            problem = "a connection attempt timed out: the server is not accepting (is its listen backlog full?)"
        except OSError as exc:
            problem = f"socket error: {{exc!r}}"
        if problem:
            print(f"FAIL: {{problem}}" + (f" (run {{n + 1}} of up to {{times}})" if times > 1 else ""))
            sys.exit(1)
    print(f"OK: {{ok}}" + (f" ({{times}} runs)" if times > 1 else ""))
    sys.exit(0)
'''

ECHO_CLIENT = (
    f"\n\nMAX_PAUSED = {MAX_PAUSED_WRITES}  # pauses apply to the first writes only, as in the harness\n"
    + """

def exchange(payload, chunks=(65536,), pauses=(0.0,), recv_sizes=(65536,), half_close=True, stall=0.0, sock=None,
             unbounded=False, close=True, expect=None):
    \"\"\"One client as the harness ran it: write ``payload`` in ``chunks`` (after ``pauses``) while reading with
    ``recv_sizes``; with ``stall``, read nothing until writing has been blocked that long; with ``half_close``,
    shutdown(SHUT_WR) after the last write and read until the server closes, else until as many bytes came
    back as were expected (``expect``, else as many as were sent). A byte past those expected ends the reading
    at once (64 B of the excess are kept). Returns (what came back, how it ended or None, True if the whole
    payload was accepted while the client read nothing); with ``unbounded``, it stops at once in that case.\"\"\"
    sock = sock or connect()
    progress, done, errors = [time.monotonic()], threading.Event(), []

    def write():
        pos = i = 0
        try:
            while pos < len(payload):
                if i < MAX_PAUSED and pauses[i % len(pauses)]:
                    time.sleep(pauses[i % len(pauses)])
                size = chunks[i % len(chunks)]
                sock.sendall(payload[pos:pos + size])
                pos, i = pos + size, i + 1
                progress[0] = time.monotonic()
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            errors.append(f"writing stopped after {pos} B: {exc!r}")
        finally:
            done.set()

    threading.Thread(target=write, daemon=True).start()
    unread = False
    if stall:  # a stalled reader: wait until the writer has made no progress for `stall` s (or is done)
        while not done.wait(0.01) and time.monotonic() - progress[0] < stall:
            pass
        unread = done.is_set() and not errors
        if unbounded and unread:
            sock.close()
            return bytearray(), None, True
    got, end, i = bytearray(), None, 0
    expect = len(payload) if expect is None else expect
    deadline = time.monotonic() + TIMEOUT * 3
    while half_close or len(got) < expect:
        data, end = receive(sock, recv_sizes[i % len(recv_sizes)], min(IDLE, max(0.01, deadline - time.monotonic())))
        i += 1
        if not data:
            break
        got += data[:expect + 64 - len(got)]
        if len(got) > expect:  # more than the oracle expects: the client stops reading at the first excess byte
            end = "the client stopped reading (the connection was still open)"
            break
    if close:
        sock.close()
    return got, end, unread


def echo_client(payload, chunks=(65536,), pauses=(0.0,), recv_sizes=(65536,), half_close=True, stall=0.0,
                sock=None, unbounded=False, close=True):
    \"\"\":func:`exchange`, judged as the echo checks judge it: None if exactly the payload came back (then FIN,
    when half-closing), else what went wrong; with ``unbounded``, also a server that accepted the whole payload
    while the client read nothing.\"\"\"
    got, end, unread = exchange(payload, chunks, pauses, recv_sizes, half_close, stall, sock, unbounded, close)
    if unbounded and unread:
        return (f"buffering is unbounded: all {len(payload) >> 20} MiB were accepted while the client read "
                "nothing (the server keeps reading while its unsent echo piles up)")
    problem = mismatch(payload, got, end)
    if problem is None and half_close and end != "FIN":
        problem = f"all {len(payload)} B came back, but then: {end} instead of FIN"
    return problem
"""
)

SERVER_PIDS = """

def server_pids(udp=False):
    \"\"\"The processes holding the socket bound to ADDRESS's port ($PID if set), read from /proc (Linux, same
    user); an empty list when they cannot be found.\"\"\"
    if os.environ.get("PID"):
        return [int(os.environ["PID"])]
    inodes = set()
    for table in (("udp", "udp6") if udp else ("tcp", "tcp6")):
        try:
            with open(f"/proc/net/{table}") as f:
                rows = [line.split() for line in f.read().splitlines()[1:]]
        except OSError:
            continue
        for row in rows:
            if int(row[1].rsplit(":", 1)[1], 16) == ADDRESS[1] and row[3] == ("07" if udp else "0A"):
                inodes.add(f"socket:[{row[9]}]")
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc") if inodes else []):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                pids.append(int(pid))
        except OSError:
            continue
    return sorted(pids)


def fd_count(pid):
    \"\"\"Descriptors process ``pid`` holds (None when they cannot be counted).\"\"\"
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def the_server():
    \"\"\"The one pid this script observes (the first holder of the port); CannotJudge if none is found.\"\"\"
    pids = server_pids()
    if not pids:
        raise CannotJudge("cannot find the server's process in /proc (run as its user, on Linux, or set PID=)")
    return pids[0]
"""

PROXY = """

MAX_GAPPED, MAX_SEGMENTED = 4, 1 << 20  # as in the harness: gaps before the first 4 segments, sizes over 1 MiB


class Proxy:
    \"\"\"A loopback proxy in front of ``upstream`` that reshapes each connection as the harness' fault proxy
    did: writes of ``segments`` sizes, ``gaps`` before the first client segments, ``latency``, a ``rate`` in B/s,
    and a ``cut`` ("close", "reset" or "vanish") once ``cut_after`` client bytes have reached the server.\"\"\"

    def __init__(self, upstream, segments=(), gaps=(0.0,), latency=0.0, rate=None, cut=None, cut_after=0):
        self.upstream, self.segments, self.gaps, self.latency = upstream, segments, gaps, latency
        self.rate, self.cut, self.cut_after = rate, cut, cut_after
        self.listener = socket.socket(FAMILY, socket.SOCK_STREAM)
        self.listener.bind((upstream[0], 0))
        self.listener.listen(128)
        self.address = self.listener.getsockname()[:2]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        \"\"\"Stop accepting (connections in flight carry on until they end).\"\"\"
        self.listener.close()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            try:
                server = socket.create_connection(self.upstream, timeout=TIMEOUT)
                server.settimeout(None)
            except OSError:
                abort(client)
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = {"client": client, "server": server, "lock": threading.Lock(), "open": 2, "cut": False}
            threading.Thread(target=self._pump, args=(pair, client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(pair, server, client, False), daemon=True).start()

    def _pump(self, pair, src, dst, up):
        n, made, sliced, forwarded, discard = 0, 0, 0, 0, False
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                pos = 0
                while pos < len(data) and not discard:
                    if up and self.cut is not None and forwarded >= self.cut_after:
                        if self._cut(pair):
                            return
                        discard = True  # a "close" cut: what the client still sends is dropped
                        break
                    size = len(data)
                    if self.segments and sliced < MAX_SEGMENTED:
                        size, n = self.segments[n % len(self.segments)], n + 1
                    if self.rate:
                        size = min(size, max(1, self.rate // 100))
                    if up and self.cut is not None:
                        size = min(size, self.cut_after - forwarded)
                    chunk = data[pos:pos + size]
                    delay = self.latency + (self.gaps[made % len(self.gaps)] if up and made < MAX_GAPPED else 0.0)
                    time.sleep(delay + (len(chunk) / self.rate if self.rate else 0.0))  # the network's pace
                    dst.sendall(chunk)
                    pos, made, sliced = pos + len(chunk), made + 1, sliced + len(chunk)
                    forwarded += len(chunk)
                if up and self.cut is not None and forwarded >= self.cut_after and not discard:
                    if self._cut(pair):
                        return
                    discard = True
        except OSError:
            with pair["lock"]:
                for sock in (pair["client"], pair["server"]):
                    abort(sock)
            return
        try:
            if not (up and pair["cut"]):
                dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        with pair["lock"]:
            pair["open"] -= 1
            if pair["open"] == 0:
                pair["client"].close()
                pair["server"].close()

    def _cut(self, pair):
        \"\"\"Apply the cut; True when the connection is gone (reset, vanish), False for a close.\"\"\"
        pair["cut"] = True
        if self.cut == "close":
            try:
                pair["server"].shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return False
        with pair["lock"]:
            abort(pair["client"])
            if self.cut == "reset":
                abort(pair["server"])
            else:  # vanish: the server just sees its connection close
                pair["server"].close()
        return True
"""


def script(
    address: Address,
    about: str,
    body: str,
    *,
    blocks: Iterable[str] = (),
    idle: float = IDLE,
    timeout: float = TIMEOUT,
) -> str:
    """A reproducer: :data:`PROLOGUE` (``about`` is its first docstring line), the ``blocks`` it needs
    (:data:`ECHO_CLIENT`, :data:`SERVER_PIDS`, :data:`PROXY`), then ``body``, the scenario, which must end by
    exiting through ``repeat(...)`` (or ``sys.exit`` with :data:`BEHAVES`/:data:`MISBEHAVES`)."""
    seen = f"{address[0]} port {address[1]}"
    head = PROLOGUE.format(about=about, seen=seen, address=address, idle=idle, timeout=timeout, marker=NETWORK_MARKER)
    return head + "".join(blocks) + "\n\n" + body.rstrip("\n") + "\n"


def bounded(reproducer: str, idle: float, timeout: float) -> str:
    """``reproducer`` judging hangs with the check's own ``idle`` bound (no byte moving for that long), and one
    exchange bounded by ``timeout`` (never less than it already allowed)."""
    match = re.search(r"^IDLE, TIMEOUT = ([0-9.e+-]+), ([0-9.e+-]+)  #", reproducer, re.MULTILINE)
    if match is None:
        return reproducer
    bounds = f"IDLE, TIMEOUT = {idle!r}, {max(timeout, float(match.group(2)))!r}  #"
    return reproducer[: match.start()] + bounds + reproducer[match.end() :]


def through_proxy(reproducer: str, seen_at: Address, upstream: Address, faults: Mapping[str, object]) -> str:
    """``reproducer`` (written for a proxy at ``seen_at`` in front of the server at ``upstream``) made to start
    its own :data:`PROXY` with ``faults`` (the fields of :class:`harness.proxy.Faults`) in front of the server it
    is given, since the harness' proxy is gone by the time anyone runs it."""
    if NETWORK_MARKER not in reproducer:
        return reproducer
    arguments = ", ".join(f"{name}={value!r}" for name, value in faults.items())
    network = (
        f"{NETWORK_MARKER}\n# The check ran through the harness' fault proxy: this script starts one like it.\n"
        f"{PROXY.strip()}\n\n\nPROXY = Proxy(ADDRESS, {arguments})\nADDRESS = PROXY.address"
    )
    return reproducer.replace(f"DEFAULT = {seen_at!r}", f"DEFAULT = {upstream!r}", 1).replace(
        NETWORK_MARKER, network, 1
    )


def _client_call(spec: PayloadSpec, sch: Schedule) -> str:
    stall = f", stall={sch.stall_reader!r}" if sch.stall_reader else ""
    return (
        f"echo_client({spec.code()}, chunks={sch.chunk_sizes!r}, pauses={sch.pauses!r}, "
        f"recv_sizes={sch.recv_sizes!r}, half_close={sch.half_close!r}{stall}"
    )


def snippet(address: Address, spec: PayloadSpec, schedule: Schedule, *, unbounded: bool = False) -> str:
    """A reproducer running one client with ``schedule`` (whose payload ``spec`` builds) against ``address``:
    the exact echo (then FIN, when it half-closes) or exit 1; with ``unbounded``, also exit 1 when the server
    accepted the whole payload while the client read nothing (``echo.backpressure``). Repeated (up to 20
    times, 3 s), since how a server's reads split the stream depends on timing."""
    call = _client_call(spec, schedule) + (", unbounded=True)" if unbounded else ")")
    what = "the whole echo came back" + (", then FIN" if schedule.half_close else "")
    body = f"""\
# {schedule.describe()}
repeat(lambda: {call}, {1 if unbounded or spec.size > 1 << 20 else 20}, "{what}", seconds=3)
"""
    return script(address, "Replays the failing echo exchange.", body, blocks=[ECHO_CLIENT])


def concurrent_snippet(address: Address, clients: Sequence[tuple[PayloadSpec, Schedule]]) -> str:
    """A reproducer connecting every ``(spec, schedule)`` client first, then running them all at once: each
    must get exactly its own echo (then FIN); repeated (up to 200 times, 5 s), since what goes wrong between
    clients is often a race."""
    calls = ",\n".join(
        f"        lambda sock: {_client_call(spec, sch)}, sock=sock, close=False)" for spec, sch in clients
    )
    body = f"""\
def scenario():
    clients = [
{calls},
    ]
    socks = [connect() for _ in clients]  # all connected first, as the harness did
    problems, start = [None] * len(clients), threading.Barrier(len(clients))

    def run(n):
        start.wait()  # all start writing at once
        problems[n] = clients[n](socks[n])

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 4)
    for sock in socks:  # all stay open until every client is done, as in the harness
        sock.close()
    return next((f"client {{n}} of {{len(clients)}}: {{p}}" for n, p in enumerate(problems) if p), None)


repeat(scenario, 200, "every client got exactly its own echo, then FIN", seconds=5)
"""
    return script(address, f"Replays {len(clients)} clients at once.", body, blocks=[ECHO_CLIENT])


def conversation_snippet(address: Address, specs: Sequence[PayloadSpec], recv_size: int) -> str:
    """A reproducer sending each message and waiting for its whole echo before the next."""
    messages = ",\n    ".join(spec.code() for spec in specs)
    body = f"""\
MESSAGES = [
    {messages},
]


def scenario():
    sock = connect()
    try:
        for n, message in enumerate(MESSAGES):
            sock.sendall(message)
            got, end = bytearray(), None
            while len(got) < len(message):
                data, end = receive(sock, {recv_size})
                if not data:
                    break
                got += data
            problem = mismatch(message, got, end)
            if problem:
                return f"message {{n + 1}} of {{len(MESSAGES)}}: {{problem}}"
    finally:
        sock.close()
    return None


repeat(scenario, 20, "each message was echoed in full before the next was sent", seconds=3)
"""
    return script(address, "Replays the failing conversation: each message must come back before the next.", body,
                  blocks=[ECHO_CLIENT])  # fmt: skip


R = TypeVar("R")


def replayed_by(
    make: Callable[[Target, CheckOptions], str],
) -> Callable[[Callable[[Target, CheckOptions], R]], Callable[[Target, CheckOptions], R]]:
    """Decorate a check function (below its ``@check``), or a helper taking the same arguments, so that a
    :class:`~harness.errors.ServerFault` (or warning) it raises without a reproducer carries
    ``make(target, options)``."""

    def decorate(func: Callable[[Target, CheckOptions], R]) -> Callable[[Target, CheckOptions], R]:
        @functools.wraps(func)
        def checked(target: Target, options: CheckOptions) -> R:
            try:
                return func(target, options)
            except ServerFault as fault:
                if fault.reproducer is None:
                    fault.reproducer = make(target, options)
                raise

        return checked

    return decorate


# -- files ----------------------------------------------------------------------------------------------------


def safe_name(name: str) -> str:
    """``name`` (a server's or a check's) as one file-name component: letters, digits, ``.``, ``_``, ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "server"


def path_for(directory: str | os.PathLike[str], check_id: str) -> Path:
    """Where the reproducer of ``check_id`` goes in ``directory``: ``DIRECTORY/CHECK_ID.py``."""
    return Path(directory) / f"{safe_name(check_id)}.py"


def write(directory: str | os.PathLike[str], check_id: str, reproducer: str, message: str = "") -> Path:
    """Write ``reproducer`` as the executable script ``DIRECTORY/CHECK_ID.py`` (the directory is made when
    missing), headed by the check's id and the first line of ``message``; return its path. OSError if the
    file cannot be written."""
    path = path_for(directory, check_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    first = message.splitlines()[0] if message else ""
    head = f"#!/usr/bin/env python3\n{WRITTEN_BY}: {check_id} failed: {first}\n".replace("\r", "")
    path.write_text(head + reproducer)
    path.chmod(0o755)
    return path


def keep(result: CheckResult, directory: str | os.PathLike[str]) -> None:
    """For a failing or warning ``result`` with a reproducer: write it to ``directory`` and record the path in
    ``result.reproducer_path``; for any other result, remove the file an earlier run wrote for that check.
    OSError if the file cannot be written."""
    if result.reproducer and result.verdict.value in ("fail", "warn"):
        result.reproducer_path = str(write(directory, result.id, result.reproducer, result.message))
    else:
        remove_stale(directory, result.id)


def remove_stale(directory: str | os.PathLike[str], check_id: str) -> None:
    """Remove the reproducer of ``check_id`` that an earlier run wrote to ``directory`` (only a file this module
    wrote), so the directory holds reproducers of the checks that failed this time only."""
    path = path_for(directory, check_id)
    try:
        with path.open() as f:
            ours = f.readline().startswith("#!") and f.readline().startswith(WRITTEN_BY)
        if ours:
            path.unlink()
    except OSError:
        pass
