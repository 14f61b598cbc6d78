"""Keeping track of every process a server starts, and ending them all, even when the harness itself dies.

A server may start processes that leave its process group and session (``setsid``, a double-forking daemon
whose launcher exits). Three things keep them in reach:

- **a token in the environment**: every server is started with ``SOCKET_HARNESS_SERVER=<run>-<n>``, which its
  descendants inherit (unless they replace their whole environment), so the harness finds them wherever they
  went by reading ``/proc/PID/environ``;
- **the harness as child subreaper** (``prctl(PR_SET_CHILD_SUBREAPER)``, Linux): a process orphaned by the
  death of its parent is re-parented to the harness rather than to init, so it stays among the harness'
  descendants, and the harness can wait for it (see :func:`reap`);
- **a watchdog**: a small process started once per harness process, holding the reading end of a pipe whose
  writing end only the harness holds. When the harness ends in any way (SIGKILL and the OOM killer included),
  the pipe reaches end-of-file and the watchdog SIGKILLs every process carrying this run's token, and every
  member of the process groups the harness registered with it, removes the temporary directories it was told
  of (:func:`temporary_directory`), then exits.

Where the platform offers none of this (no ``/proc``, no ``prctl``), the process group is the fallback.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator

from . import sysinfo

#: the environment variable carrying a server's token
ENV_KEY = "SOCKET_HARNESS_SERVER"
_PR_SET_CHILD_SUBREAPER = 36
#: how many rounds of "find them, kill them" an end takes at most (a process forking as fast as it can)
KILL_ROUNDS = 50

_lock = threading.Lock()
_state: dict[str, object] = {}
_counter = itertools.count(1)


def run_token() -> str:
    """This harness process' token prefix (new after a fork, so a child process never kills its parent's)."""
    with _lock:
        if _state.get("pid") != os.getpid():
            _state.clear()
            _state["pid"] = os.getpid()
            _state["run"] = f"{os.getpid()}.{secrets.token_hex(4)}"
        return str(_state["run"])


def new_token() -> str:
    """A token for one server: ``<run>-<n>``."""
    return f"{run_token()}-{next(_counter)}"


def enable_subreaper() -> bool:
    """Make this process a child subreaper (once); True if it is one. A user's pytest session that starts a
    server gets this too: orphans of anything it started come to it, and only the servers' are reaped."""
    with _lock:
        if "subreaper" not in _state or _state.get("subreaper_pid") != os.getpid():
            _state["subreaper_pid"] = os.getpid()
            _state["subreaper"] = _prctl_subreaper()
        return bool(_state["subreaper"])


def _prctl_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def tokened(token: str) -> list[int]:
    """Live processes whose environment carries ``ENV_KEY=token`` (``token`` may be a run prefix: then every
    server of the run). Reads every ``/proc/PID/environ`` it may: for ends and reports, not for polling."""
    if not sysinfo.available():
        return []
    needle = f"{ENV_KEY}={token}".encode()
    found = []
    me = os.getpid()
    for entry in sysinfo.PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(var.startswith(needle) for var in env.split(b"\0")) and sysinfo.alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def members(token: str, roots: Iterable[int], pgids: Iterable[int]) -> list[int]:
    """Every live process of one server: ``roots`` and their descendants, the members of ``pgids``, and every
    process carrying ``token`` (and their descendants). Zombies are not counted."""
    found: set[int] = set()
    for pgid in pgids:
        found.update(sysinfo.group_members(pgid) or [])
    todo = {*(r for r in roots if sysinfo.alive(r)), *tokened(token)}
    for pid in list(todo):
        todo.update(sysinfo.descendants(pid))
    found |= {p for p in todo if sysinfo.alive(p)}
    found.discard(os.getpid())
    return sorted(found)


def kill_all(token: str, roots: Iterable[int], pgids: Iterable[int], spare: Iterable[int] = ()) -> list[int]:
    """SIGKILL every process of one server (see :func:`members`), round after round until none is left (a
    process may fork while it is being killed), then reap those that came to the harness as orphans. Returns
    the pids killed. ``spare``: pids not to reap here (the harness' own ``Popen`` children, which reap
    themselves)."""
    roots, pgids, spare = list(roots), list(pgids), set(spare)
    killed: set[int] = set()
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for _ in range(KILL_ROUNDS):
        left = members(token, roots, pgids)
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        reap(killed - spare)
    reap(killed - spare)
    return sorted(killed)


def reap(pids: Iterable[int]) -> None:
    """Collect the exit status of those of ``pids`` that are zombie children of the harness (orphans it
    adopted as subreaper), so they do not linger as zombies. Never blocks, never raises."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except (ChildProcessError, OSError):
            pass


_WATCHDOG = r"""
import os, signal, sys
run, me = sys.argv[1].encode(), os.getpid()
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups, dirs = set(), set()
for line in sys.stdin.buffer:
    word, _, arg = line.rstrip(b"\n").partition(b" ")
    if word == b"+" and arg.isdigit():
        groups.add(int(arg))
    elif word == b"-" and arg.isdigit():
        groups.discard(int(arg))
    elif word == b"d+" and arg:
        dirs.add(arg)
    elif word == b"d-":
        dirs.discard(arg)
needle = b"SOCKET_HARNESS_SERVER=" + run + b"-"
def alive(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except OSError:
        return False
def doomed():
    out = set()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = f.read()
            with open("/proc/%d/stat" % pid, "rb") as f:
                pgid = int(f.read().rpartition(b")")[2].split()[2])
        except (OSError, ValueError, IndexError):
            continue
        if (pgid in groups or any(v.startswith(needle) for v in env.split(b"\0"))) and alive(pid):
            out.add(pid)
    return out
for _ in range(50):
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    left = doomed()
    if not left:
        break
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
import shutil
for path in dirs:
    shutil.rmtree(path, ignore_errors=True)
"""


class _Watchdog:
    """The watchdog of this harness process (see the module docstring)."""

    def __init__(self) -> None:
        read, self._write = os.pipe2(os.O_CLOEXEC)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHDOG, run_token()],
                stdin=read,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a terminal's ^C or a killpg of the harness' group does not reach it
                env={k: v for k, v in os.environ.items() if k != ENV_KEY},
            )
        finally:
            os.close(read)
        self.pid = os.getpid()

    def send(self, line: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self._write, line.encode() + b"\n")


def watchdog() -> _Watchdog | None:
    """This harness process' watchdog, started on first use; None where it cannot run (no ``/proc``)."""
    if not sysinfo.available():
        return None
    with _lock:
        dog = _state.get("watchdog")
        if isinstance(dog, _Watchdog) and dog.pid == os.getpid() and dog.proc.poll() is None:
            return dog
    run_token()
    try:
        dog = _Watchdog()
    except OSError:
        return None
    with _lock:
        _state["watchdog"] = dog
    return dog


def watchdog_pids() -> set[int]:
    """The pid of this harness process' watchdog (empty if it has none)."""
    with _lock:
        dog = _state.get("watchdog")
    return {dog.proc.pid} if isinstance(dog, _Watchdog) and dog.pid == os.getpid() else set()


def guard_group(pgid: int) -> None:
    """Tell the watchdog to kill group ``pgid`` if the harness dies."""
    dog = watchdog()
    if dog is not None:
        dog.send(f"+ {pgid}")


def release_group(pgid: int) -> None:
    """The group ``pgid`` has been ended: the watchdog forgets it (its number may be reused)."""
    with _lock:
        dog = _state.get("watchdog")
    if isinstance(dog, _Watchdog) and dog.pid == os.getpid():
        dog.send(f"- {pgid}")


@contextlib.contextmanager
def temporary_directory(prefix: str) -> Iterator[str]:
    """A new temporary directory, removed when the block ends, and by the watchdog if the harness dies first
    (SIGKILL included); yields its path."""
    path = tempfile.mkdtemp(prefix=prefix)
    dog = watchdog()
    if dog is not None and "\n" not in path:
        dog.send(f"d+ {path}")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if dog is not None:
            dog.send(f"d- {path}")
