"""What the kernel says about a process: descriptors, threads, memory, process groups, listening sockets.

Linux reads ``/proc``; elsewhere every function returns None, and checks that need it are skipped.
"""

from __future__ import annotations

import ipaddress
import os
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


def listening_sockets(port: int, transport: str = "tcp") -> list[str] | None:
    """Local addresses in LISTEN state on TCP ``port`` (``transport="udp"``: UDP sockets bound to it), e.g.
    ``['127.0.0.1', '::']``, or None without ``/proc``."""
    found: list[str] = []
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
            local, state = fields[1], fields[3]
            hex_ip, hex_port = local.split(":")
            if state == state_wanted and int(hex_port, 16) == port:
                found.append(_decode_ip(hex_ip, v6))
    return found if seen_any else None


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
