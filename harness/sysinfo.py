"""What the kernel says about a process: descriptors, threads, memory, process groups, listening sockets.

Linux reads ``/proc``; elsewhere every function returns None, and checks that need it are skipped.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def available() -> bool:
    """True where ``/proc`` describes processes (Linux)."""
    return (PROC / "self" / "fd").is_dir()


def fd_count(pid: int | None = None) -> int | None:
    """Open descriptors of ``pid`` (default: this process), or None if they cannot be read."""
    try:
        return len(os.listdir(PROC / str(pid or os.getpid()) / "fd"))
    except OSError:
        return None


def _status_field(pid: int | None, field: str) -> int | None:
    try:
        text = (PROC / str(pid or os.getpid()) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def thread_count(pid: int | None = None) -> int | None:
    """Threads of ``pid`` (default: this process), or None."""
    return _status_field(pid, "Threads")


def rss_kib(pid: int | None = None) -> int | None:
    """Resident memory of ``pid`` in KiB, or None."""
    return _status_field(pid, "VmRSS")


def peak_rss_kib(pid: int | None = None) -> int | None:
    """Peak resident memory (high-water mark) of ``pid`` in KiB, or None."""
    return _status_field(pid, "VmHWM")


def _stat_fields(path: Path) -> list[str] | None:
    """The fields of a ``/proc/.../stat`` file after the command name (field 3, the state, first), or None if
    it cannot be read. The name may contain spaces and parentheses: the fields start after the last ')'."""
    try:
        stat = path.read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def alive(pid: int) -> bool:
    """True if ``pid`` is a live process (not a zombie waiting to be reaped)."""
    fields = _stat_fields(PROC / str(pid) / "stat")
    return fields is not None and bool(fields) and fields[0] != "Z"


def parent_of(pid: int) -> int | None:
    """The parent of ``pid``, or None if it has ended."""
    fields = _stat_fields(PROC / str(pid) / "stat")
    return int(fields[1]) if fields else None


def group_members(pgid: int) -> list[int] | None:
    """Live (non-zombie) processes whose process group is ``pgid``, or None without ``/proc``."""
    if not available():
        return None
    members = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry / "stat")
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def group_states(pgid: int) -> set[str] | None:
    """The scheduler states (``/proc/PID/task/TID/stat``: S asleep in a system call, R running, T stopped by
    a signal...) of every thread of every live process in group ``pgid``; None without ``/proc``."""
    members = group_members(pgid)
    if members is None:
        return None
    states = set()
    for pid in members:
        try:
            tasks = list((PROC / str(pid) / "task").iterdir())
        except OSError:
            continue  # ended meanwhile
        for task in tasks:
            fields = _stat_fields(task / "stat")
            if fields:
                states.add(fields[0])
    return states


_LISTEN = "0A"
_UNCONNECTED = "07"  #: a UDP socket bound but not connected (in /proc/net/udp)


@dataclass(frozen=True)
class Listener:
    """A socket waiting for clients: TCP in LISTEN state, or UDP bound and not connected."""

    address: str  #: local IP address, e.g. ``127.0.0.1`` or ``::``
    port: int
    inode: int  #: the socket's inode: ``socket:[INODE]`` among the descriptors of the process holding it
    v6: bool  #: from /proc/net/tcp6 (udp6)

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


def listeners(transport: str = "tcp", port: int | None = None) -> list[Listener] | None:
    """Every listening socket of ``transport`` (on ``port`` only, when given), or None without ``/proc``."""
    found: list[Listener] = []
    seen_any = False
    state_wanted = _LISTEN if transport == "tcp" else _UNCONNECTED
    for name, v6 in ((transport, False), (f"{transport}6", True)):
        try:
            lines = (PROC / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        seen_any = True
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != state_wanted:
                continue
            hex_ip, hex_port = fields[1].split(":")
            if port is None or int(hex_port, 16) == port:
                found.append(Listener(_decode_ip(hex_ip, v6), int(hex_port, 16), int(fields[9]), v6))
    return found if seen_any else None


def listening_sockets(port: int, transport: str = "tcp") -> list[str] | None:
    """Local addresses in LISTEN state on TCP ``port`` (``transport="udp"``: UDP sockets bound to it), e.g.
    ``['127.0.0.1', '::']``, or None without ``/proc``."""
    found = listeners(transport, port)
    return None if found is None else [listener.address for listener in found]


def serving(candidates: list[Listener], host: str) -> list[Listener]:
    """Those of ``candidates`` (all on one port) that the kernel would hand a client connecting to ``host``: the
    ones bound to ``host`` itself if any, else IPv4 wildcards, else IPv6 wildcards (which take IPv4 too unless
    ``IPV6_V6ONLY``, which /proc does not show), as Linux prefers the most specific socket."""
    if ":" in host:
        tiers = [{(True, host)}, {(True, "::")}]
    else:
        tiers = [{(False, host), (True, f"::ffff:{host}")}, {(False, "0.0.0.0")}, {(True, "::")}]
    for tier in tiers:
        chosen = [c for c in candidates if (c.v6, c.address) in tier]
        if chosen:
            return chosen
    return []


def socket_inodes(pid: int) -> set[int] | None:
    """The inodes of the sockets among ``pid``'s descriptors, or None if they cannot be read (a process of
    another user, or one that has ended)."""
    fd_dir = PROC / str(pid) / "fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return None
    inodes = set()
    for name in names:
        try:
            link = os.readlink(fd_dir / name)
        except OSError:
            continue  # closed meanwhile
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    return inodes


def process_group(pgid: int, pid: int) -> Iterator[int]:
    """The members of group ``pgid`` whose leader is ``pid``, lazily: ``pid`` and its descendants in the group
    first (from ``/proc/PID/task/TID/children``, without listing all of ``/proc``), then, only if the caller
    asks for more, any other member (one whose parent has ended), found by listing ``/proc``."""
    family = [pid, *(p for p in descendants(pid) if pgid_of(p) == pgid)]
    yield from family
    yield from (p for p in group_members(pgid) or [] if p not in family)


def descendants(pid: int, limit: int = 10000) -> list[int]:
    """The live descendants of ``pid`` (at most ``limit``), parents before their children; [] if none or not
    observable."""
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < limit:
        parent = todo.pop(0)
        try:
            tasks = list((PROC / str(parent) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            found.extend(children)
            todo.extend(children)
    return found[:limit]


def pgid_of(pid: int) -> int | None:
    """The process group of ``pid``, or None if it has ended."""
    fields = _stat_fields(PROC / str(pid) / "stat")
    return int(fields[2]) if fields else None


def holders(inodes: set[int]) -> list[int]:
    """The processes (of those whose descriptors can be read) that hold any socket of ``inodes``; this lists
    all of ``/proc``, so it is for reports, not for polling."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (socket_inodes(int(entry.name)) or set()) & inodes:
            found.append(int(entry.name))
    return found


def command_line(pid: int, limit: int = 200) -> str | None:
    """The command line of ``pid`` (arguments joined by spaces, cut to ``limit`` characters), or None."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    text = " ".join(arg.decode(errors="replace") for arg in raw.split(b"\0") if arg)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_holders(pids: list[int]) -> str:
    """``pid 123 (python3 -m http.server 8000)`` for each of ``pids``, or "a process of another user" when
    none is known (a socket whose holder's descriptors cannot be read)."""
    if not pids:
        return "a process of another user"
    named = [f"pid {p} ({cmd})" if (cmd := command_line(p)) else f"pid {p}" for p in pids[:3]]
    return ", ".join(named) + (f" and {len(pids) - 3} more" if len(pids) > 3 else "")


def serving_sockets(host: str, port: int, transport: str = "tcp") -> list[Listener] | None:
    """The listening sockets that would take a client of ``host:port`` (see :func:`serving`), or None
    without ``/proc``."""
    found = listeners(transport, port)
    return None if found is None else serving(found, host)


def held_by_group(inodes: set[int], pid: int, pgid: int) -> bool | None:
    """True if a member of process group ``pgid`` (whose leader is ``pid``) holds a socket of ``inodes``,
    False if none does, None if that cannot be told (a member whose descriptors cannot be read). Reads the
    descriptors of ``pid`` first, then of its descendants, and lists ``/proc`` only if they do not hold it."""
    unreadable = False
    for member in process_group(pgid, pid):
        held = socket_inodes(member)
        if held is None:
            unreadable = unreadable or pgid_of(member) is not None  # one that ended meanwhile holds nothing
        elif held & inodes:
            return True
    return None if unreadable else False


def group_listeners(pgid: int, pid: int, transport: str = "tcp") -> list[Listener] | None:
    """The listening sockets the group's members hold, or None without ``/proc``."""
    found = listeners(transport)
    if found is None:
        return None
    inodes: set[int] = set()
    for member in process_group(pgid, pid):
        inodes |= socket_inodes(member) or set()
    return [listener for listener in found if listener.inode in inodes]


def _decode_ip(hex_ip: str, v6: bool) -> str:
    raw = bytes.fromhex(hex_ip)
    # /proc prints each 32-bit word in host (little-endian) order
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.IPv6Address(words) if v6 else ipaddress.IPv4Address(words))


def cpu_seconds(pids: list[int]) -> float | None:
    """User plus system CPU time of ``pids`` (all their threads), in seconds; None if none is readable."""
    total, seen = 0, False
    for pid in pids:
        fields = _stat_fields(PROC / str(pid) / "stat")
        if not fields:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        seen = True
    return total / os.sysconf("SC_CLK_TCK") if seen else None
