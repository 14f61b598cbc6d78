"""Running a server as a child process that can always be ended.

Guarantees of :class:`ServerProcess`:
- the child runs in a new session (its own process group), so the whole group can be signalled;
- every process it starts is tracked, wherever it goes (its token in the environment, the harness as child
  subreaper, the watchdog that ends them all if the harness dies: see :mod:`harness.containment`); a server
  that exits 0 leaving a daemon that holds its port is followed to that daemon;
- its stdout and stderr are drained as they arrive into bounded memory (:mod:`harness.output`): the first and
  last 64 KiB of each, readable at any time, also after the end; nothing is written to disk;
- leaving the ``with`` block, or calling :meth:`kill_group`, SIGKILLs every process of the server, even
  when the test failed or timed out; an ``atexit`` hook does the same for whatever is still running when the
  interpreter exits, and the watchdog when it dies without running it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from . import containment, output, sysinfo
from .errors import HarnessError, StartupFailure
from .output import Capture
from .waiting import poll_until

POLL = 0.01
#: a report reads at most this much of the end of stderr
TAIL_BYTES = 64 << 10
#: readiness is polled every FIRST_POLL seconds for the first FAST_POLLING seconds, then every POLL
FIRST_POLL = 0.001
FAST_POLLING = 0.2
#: a readiness line, matched against one whole line (without its newline)
READY_LINE = re.compile(rb"listening on (\S+)\s*")
#: a line longer than this is not a readiness line, and no more of it is kept
MAX_LINE = 4096
#: the first lines of output a start-up failure shows, each cut to HEAD_WIDTH characters
HEAD_LINES = 5
HEAD_WIDTH = 200
#: how long, once every process of a server is dead, the harness waits for its output pipes to end
OUTPUT_END = 1.0

#: every server started and not yet killed: strong references, so the atexit hook still finds a server whose
#: ServerProcess object was dropped without cleanup
_live: set[ServerProcess] = set()

#: True while a server is being spawned (see :func:`spawning`); an interrupt requested meanwhile is held here
_spawn_state: dict[str, bool] = {"active": False, "interrupted": False}


def spawning() -> bool:
    """True while a server is being spawned. A signal handler that would raise there (say KeyboardInterrupt)
    must call :func:`interrupt_after_spawn` instead: raised inside ``subprocess.Popen``, after the fork but
    before ``Popen`` returns, the exception would lose the child's pid, and the server would outlive us."""
    return _spawn_state["active"]


def interrupt_after_spawn() -> None:
    """Raise KeyboardInterrupt as soon as the server being spawned is registered (and so will be killed)."""
    _spawn_state["interrupted"] = True


@dataclass(frozen=True)
class StopReport:
    """How a server ended after :meth:`ServerProcess.stop`."""

    returncode: int | None  #: exit status, or -N for death by signal N, None if it never ended
    exited_in_grace: bool  #: it ended by itself within the grace period after SIGTERM
    seconds: float  #: from SIGTERM to exit (or to the kill)
    lingering: tuple[int, ...]  #: other group members still alive when the grace period ended

    @property
    def clean(self) -> bool:
        """Within the grace period: exit 0, death by SIGTERM itself, or exit 143 (128 + SIGTERM, the
        conventional status of a program that reports termination by SIGTERM, as socat and the JVM do)."""
        return self.exited_in_grace and self.returncode in (0, -signal.SIGTERM, 128 + signal.SIGTERM)


class OutputScanner:
    """Looks for the readiness line in what a server writes to stdout, fed chunk by chunk as it arrives.

    Memory stays bounded whatever the server prints: at most ``MAX_LINE`` bytes of an unfinished line are kept
    (a longer line is not a readiness line, and is skipped up to its newline), plus the first ``HEAD_LINES``
    lines, cut to ``HEAD_WIDTH`` characters, for reports. A line counts only once its newline has arrived.
    Only the first readiness line counts. Thread-safe (fed by the output pump, read by the harness).
    """

    def __init__(self) -> None:
        self.head: list[str] = []  #: the first lines (cut), for reports
        self.found: str | None = None  #: the HOST:PORT of the first readiness line, once it arrived
        self._partial = bytearray()
        self._overlong = False  #: the current line is longer than MAX_LINE: skipped up to its newline
        self._lock = threading.Lock()

    def scan(self) -> str | None:
        """The ``HOST:PORT`` of the first whole readiness line the server wrote, or None (yet)."""
        return self.found

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the stream."""
        with self._lock:
            if self.found is not None and len(self.head) >= HEAD_LINES:
                return  # nothing more to learn from stdout: a flood of output costs no scanning
            start = 0
            while True:
                end = chunk.find(b"\n", start)
                if end < 0:
                    self._keep(chunk[start:])
                    return
                self._keep(chunk[start:end])
                start = end + 1
                line, overlong = bytes(self._partial), self._overlong
                self._partial.clear()
                self._overlong = False
                if len(self.head) < HEAD_LINES:
                    self.head.append(_cut(line, overlong))
                match = None if overlong or self.found is not None else READY_LINE.fullmatch(line)
                if match:
                    self.found = match.group(1).decode(errors="replace")

    def _keep(self, piece: bytes) -> None:
        if self._overlong:
            return
        if len(self._partial) + len(piece) > MAX_LINE:
            self._partial.extend(piece[: MAX_LINE - len(self._partial)])
            self._overlong = True
        else:
            self._partial.extend(piece)

    def unfinished(self) -> str:
        """The line the server has begun but not ended (cut), or ""."""
        with self._lock:
            return _cut(bytes(self._partial), self._overlong) if self._partial else ""


def _cut(line: bytes, longer: bool = False) -> str:
    text = line.decode(errors="replace").rstrip("\r")
    if longer or len(text) > HEAD_WIDTH:
        return text[:HEAD_WIDTH] + " [...]"
    return text


class _Adopted:
    """A ``Popen``-like handle on a process the harness did not start but adopted as child subreaper (a
    daemon whose launcher exited): its exit status is collected with ``waitpid``. Where it is not the
    harness' child (no subreaper), its end is seen in ``/proc`` and its status is unknown (reported as 0)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            if not sysinfo.alive(self.pid):
                self.returncode = 0
            return self.returncode
        if pid:
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        poll_until(lambda: self.poll() is not None, 3600.0 if timeout is None else timeout, FIRST_POLL)
        if self.returncode is None:
            raise subprocess.TimeoutExpired([str(self.pid)], timeout or 0.0)
        return self.returncode


class ServerProcess:
    """A server started from ``argv`` in its own process group; see the module docstring."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        pass_fds: Sequence[int] = (),
        cwd: str | None = None,
    ) -> None:
        if not argv:
            raise HarnessError("no server command given")
        if shutil.which(argv[0]) is None and not Path(argv[0]).is_file():
            raise HarnessError(f"command not found: {argv[0]!r}")
        self.argv = list(argv)
        #: this server's token: every process carrying it in its environment is one of the server's
        self.token = containment.new_token()
        containment.enable_subreaper()
        containment.watchdog()
        #: reads stdout for the readiness line; ``announced`` is that line's HOST:PORT once seen
        self.scanner = OutputScanner()
        self.out = Capture(self.scanner.feed)
        self.err = Capture()
        full_env = dict(os.environ if env is None else env)
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        full_env[containment.ENV_KEY] = self.token
        self._out_r, out_w = output.pipe_for(self.out)
        self._err_r, err_w = output.pipe_for(self.err)
        _spawn_state["active"] = True
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                env=full_env,
                cwd=cwd,
                pass_fds=tuple(pass_fds),
                start_new_session=True,
            )
        except OSError as exc:
            self._release_output()
            raise HarnessError(f"cannot start {argv[0]!r}: {exc.strerror}") from None
        finally:
            _spawn_state["active"] = False
            os.close(out_w)
            os.close(err_w)
        #: the process that is the server: the one started, or the daemon it handed over to (see ``followed``)
        self.proc: subprocess.Popen[bytes] | _Adopted = self.popen
        self.pid = self.popen.pid
        self.pgid = self.pid
        self._groups = {self.pgid}
        #: (pid, status) of the launcher when the server is a daemon it started and then exited
        self.followed: tuple[int, int] | None = None
        self._stopping = False
        containment.guard_group(self.pgid)
        self.announced: str | None = None
        _live.add(self)
        if _spawn_state["interrupted"]:  # a stop was requested while spawning: end the server, then obey it
            _spawn_state["interrupted"] = False
            self.cleanup()
            raise KeyboardInterrupt

    # -- output ---------------------------------------------------------------------------------------
    def stdout(self) -> str:
        """What the server has written to stdout so far: its first and last 64 KiB, and how much was not kept."""
        return self.out.text()

    def stderr(self) -> str:
        """What the server has written to stderr so far: its first and last 64 KiB, and how much was not kept."""
        return self.err.text()

    def stderr_size(self) -> int:
        """How many bytes the server has written to stderr so far (a mark for :meth:`stderr_since`)."""
        return self.err.total

    def stderr_since(self, mark: int) -> str:
        """What the server wrote to stderr after ``mark`` (:meth:`stderr_size`), at most its last
        ``TAIL_BYTES`` bytes."""
        return self.err.since(mark, TAIL_BYTES).decode(errors="replace")

    def stderr_tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of stderr (for reports), from at most its last ``TAIL_BYTES`` bytes."""
        data = self.err.since(0, TAIL_BYTES)
        if self.err.total > len(data):
            data = data.partition(b"\n")[2]  # from a line's start
        return "\n".join(data.decode(errors="replace").rstrip().splitlines()[-lines:])

    # -- start-up -------------------------------------------------------------------------------------
    def poll(self) -> int | None:
        """The exit status if the server has ended, else None. A server that exits 0 while a process it
        started holds its listening socket (a daemon that detached) is followed to that process."""
        status = self.proc.poll()
        if status == 0 and not self._stopping and self.announced is not None and self._follow(holding_only=True):
            return self.proc.poll()
        return status

    def _follow(self, holding_only: bool) -> bool:
        """The server exited 0 leaving processes of its own: make the one that holds a listening socket (or,
        unless ``holding_only``, the first one) the server. True if there was one to follow."""
        launcher = self.pid
        left = [p for p in containment.members(self.token, [], []) if p != launcher]
        if not left:
            return False
        holders = [p for p in left if _holds_listener(p)]
        if holding_only and not holders:
            return False
        successor = (holders or left)[0]
        status = self.proc.poll()
        self.followed = (launcher, 0 if status is None else status)
        self.proc = _Adopted(successor)
        self.pid = successor
        self.pgid = sysinfo.pgid_of(successor) or successor
        if self.pgid not in self._groups:
            self._groups.add(self.pgid)
            containment.guard_group(self.pgid)
        return True

    def followed_note(self) -> str:
        """`` (pid L exited with status 0 and left pid P (CMD) running: checking that)`` for a followed
        daemon, else ""."""
        if self.followed is None:
            return ""
        launcher, status = self.followed
        return (
            f" (pid {launcher} exited with status {status} and left {sysinfo.describe_holders([self.pid])} "
            "running: checking that one)"
        )

    def _exited_error(self, what: str) -> StartupFailure:
        tail = self.stderr_tail()
        detail = f"; stderr ends with:\n{tail}" if tail else " and printed nothing on stderr"
        return StartupFailure(
            f"the server exited with status {self.proc.returncode} {what}{self.followed_note()}{detail}"
        )

    def wait_ready(
        self, timeout: float, port: int | None = None, transport: str = "tcp", host: str | None = None
    ) -> str | None:
        """Wait until the server is ready and return the ``HOST:PORT`` of its readiness line, if it printed one.

        Ready means: a whole ``listening on HOST:PORT`` line (its newline arrived) on stdout, or (when
        ``port`` is given and ``/proc`` is readable) a socket in LISTEN state on ``port`` (UDP: a socket bound
        to it), read from the kernel without a probe. Stdout is read incrementally, in bounded memory.
        With ``host`` (and ``/proc``), the socket must also be the server's: the one that takes clients of
        ``host:PORT`` (the readiness line's port, else ``port``) is held by a member of its process group.
        A server that exits 0 before it is ready, leaving a process of its own running (a daemon's launcher),
        is followed to that process, and the wait goes on (:attr:`followed`).
        Raises :class:`StartupFailure` if the server exits first, if another process holds the announced
        port (naming it), or if it is not ready within ``timeout`` seconds (showing what it printed and
        the ports it does listen on).
        """
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        watch = _Watch(self, port if port is not None and port > 0 else None, transport, host)
        while True:
            if self.announced is None:
                self.announced = self.scanner.scan()
            if self.announced is not None and watch.announced_ok(self.announced):
                return self.announced
            if self.announced is None and watch.port_ok():
                return None
            # a server is usually ready within tens of ms: look every millisecond at first, then less often
            if self._wait_exit(deadline, FIRST_POLL if time.monotonic() - started < FAST_POLLING else POLL):
                if self.proc.returncode == 0 and self._follow(holding_only=False):
                    continue
                raise self._exited_error(f"before it was ready{watch.foreign_note()}")
            if time.monotonic() >= deadline:
                raise StartupFailure(watch.not_ready(timeout))

    def output_head(self) -> str:
        """What a start-up failure shows of the server's output: the first lines of stdout and of stderr
        (bounded), and an unfinished stdout line."""
        parts = []
        if self.scanner.head:
            parts.append("its stdout begins with:\n" + "\n".join(f"  {line}" for line in self.scanner.head))
        if self.scanner.unfinished():
            parts.append(f"its stdout has an unfinished line (no newline yet): {self.scanner.unfinished()!r}")
        if not parts:
            parts.append("it printed nothing on stdout")
        err = [_cut(line) for line in self.err.head(MAX_LINE * HEAD_LINES).splitlines()[:HEAD_LINES]]
        if err:
            parts.append("its stderr begins with:\n" + "\n".join(f"  {line}" for line in err))
        return "\n".join(parts)

    def wait_asleep(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until every thread of the group is asleep twice in a row, 1 ms apart (a
        server blocked waiting for a client, not one between its readiness line and its first ``accept``);
        True if it was, False if not within the timeout or not observable (no ``/proc``)."""
        if not sysinfo.available():
            return False
        streak = 0

        def settled() -> bool:
            nonlocal streak
            streak = streak + 1 if sysinfo.group_states(self.pgid) == {"S"} else 0
            return streak >= 2

        return poll_until(settled, timeout, FIRST_POLL)

    @contextlib.contextmanager
    def frozen(self, timeout: float = 1.0) -> Iterator[bool]:
        """Stop every process of the group (SIGSTOP) for the ``with`` block, and continue them (SIGCONT) when
        it ends, however it ends. Yields True once every thread is seen stopped (within ``timeout`` s; False
        if not seen, e.g. without ``/proc``): what clients send meanwhile queues up at the server together."""
        try:
            os.killpg(self.pgid, signal.SIGSTOP)
        except (ProcessLookupError, PermissionError):
            yield False
            return
        try:
            stopped = sysinfo.available() and poll_until(
                lambda: sysinfo.group_states(self.pgid) in ({"T"}, set()), timeout, FIRST_POLL
            )
            yield stopped
        finally:
            try:
                os.killpg(self.pgid, signal.SIGCONT)
            except (ProcessLookupError, PermissionError):
                pass

    def _wait_exit(self, deadline: float, interval: float = 0.0) -> bool:
        """Wait up to ``interval`` (default one poll interval; never past ``deadline``) for the server to exit;
        True if it has."""
        return self.wait(max(0.0, min(interval or POLL, deadline - time.monotonic())))

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the server to end; True if it has."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    # -- stopping -------------------------------------------------------------------------------------
    def stop(self, grace: float, sig: int = signal.SIGTERM) -> StopReport:
        """:meth:`terminate`, then SIGKILL everything of the server: afterwards none of its processes lives."""
        report = self.terminate(grace, sig)
        self.kill_group()
        return report

    def terminate(self, grace: float, sig: int = signal.SIGTERM) -> StopReport:
        """Send ``sig`` to the server and wait up to ``grace`` s for it to exit; SIGKILL it (only it) if not.

        The other processes of the server (its group, its descendants, whatever carries its token) are left
        alone, so the caller can observe what they still hold; the report lists those alive when the server
        was gone. :meth:`kill_group` ends them.
        """
        self._stopping = True
        start = time.monotonic()
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
        in_grace = self.wait(grace)
        seconds = time.monotonic() - start
        if not in_grace:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait(5)
        return StopReport(self.proc.returncode, in_grace, seconds, self.others())

    def others(self) -> tuple[int, ...]:
        """Live processes of the server other than the server itself: the members of its process group(s),
        its descendants, and every process carrying its token, wherever it went (setsid, double fork)."""
        return tuple(
            p for p in containment.members(self.token, [self.pid], self._groups) if p not in (self.pid, self.popen.pid)
        )

    def wait_group_empty(self, timeout: float) -> tuple[int, ...]:
        """Wait up to ``timeout`` s for every other process of the server (:meth:`others`) to end; return those
        still alive."""
        poll_until(lambda: not self.others(), timeout, 0.05)
        return self.others()

    def kill_group(self) -> None:
        """SIGKILL every process of the server (:meth:`others` and the server), reap them, and stop reading
        their output once it has ended. Idempotent, never raises."""
        self._stopping = True
        mine = {self.popen.pid, self.pid}
        containment.kill_all(self.token, mine, self._groups, spare=mine)
        for proc in {self.popen, self.proc}:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover - a SIGKILLed process always ends
                pass
        for pgid in self._groups:
            containment.release_group(pgid)
        self._release_output()
        _live.discard(self)

    def _release_output(self) -> None:
        """Take what is left in the output pipes (their end comes once every writer is dead), then close them."""
        for capture, read in ((self.out, self._out_r), (self.err, self._err_r)):
            if not capture.closed.wait(OUTPUT_END):
                output.abandon(read, capture)
                capture.closed.wait(OUTPUT_END)

    def cleanup(self) -> None:
        """End every process of the server (:meth:`kill_group`); what it wrote stays readable."""
        self.kill_group()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


def _holds_listener(pid: int) -> bool:
    """True if ``pid`` holds a listening socket (TCP LISTEN or a bound UDP socket)."""
    inodes = sysinfo.socket_inodes(pid) or set()
    if not inodes:
        return False
    return any(listener.inode in inodes for t in ("tcp", "udp") for listener in sysinfo.listeners(t) or [])


def _port_of(announced: str) -> int | None:
    """The port of a readiness line's ``HOST:PORT``, or None if it has no valid one."""
    port = announced.rpartition(":")[2]
    return int(port) if port.isascii() and port.isdigit() and 0 < int(port) < 65536 else None


class _Watch:
    """What :meth:`ServerProcess.wait_ready` watches besides stdout: the server's socket on ``port`` (when
    given), and whose the socket is (when ``host`` is given and ``/proc`` readable). It remembers, per port,
    the sockets it found held outside the server's group and by whom, to name them in the failure and not to
    read all of ``/proc`` again for sockets the group cannot have gained."""

    #: how often the sockets of a port held by no process we can see are looked at again (seconds)
    RECHECK = 0.1

    def __init__(self, server: ServerProcess, port: int | None, transport: str, host: str | None) -> None:
        self.server = server
        self.port = port if port is not None and sysinfo.available() else None
        self.transport = transport
        self.host = host if host is not None and sysinfo.available() else None
        #: port -> (inodes of the sockets serving it, not the group's; the pids holding them; when seen)
        self.foreign: dict[int, tuple[frozenset[int], list[int], float]] = {}
        self.announced_port: int | None = None

    def _ours(self, port: int) -> bool | None:
        """True: the socket taking clients of host:port is the server's (or that cannot be observed); False:
        a process outside its group holds it (remembered in ``foreign``); None: nothing takes them yet, or
        no process we can see holds them (a process of another user, or a socket being handed over)."""
        assert self.host is not None
        chosen = sysinfo.serving_sockets(self.host, port, self.transport)
        if chosen is None:
            return True  # /proc went away: nothing to observe
        if not chosen:
            return None
        inodes = frozenset(c.inode for c in chosen)
        known = self.foreign.get(port)
        if known is not None and known[0] == inodes and (known[1] or time.monotonic() < known[2] + self.RECHECK):
            return False if known[1] else None
        if sysinfo.held_by_group(set(inodes), self.server.pid, self.server.pgid) is not False:
            return True
        pids = sysinfo.holders(set(inodes))
        self.foreign[port] = (inodes, pids, time.monotonic())
        return False if pids else None

    def announced_ok(self, announced: str) -> bool:
        """True once the announced port is the server's (or cannot be judged); :class:`StartupFailure` if
        another process holds it."""
        self.announced_port = _port_of(announced)
        if self.host is None or self.announced_port is None:
            return True
        ours = self._ours(self.announced_port)
        if ours is False:
            raise StartupFailure(self._announced_elsewhere(announced, self.announced_port))
        return bool(ours)

    def _announced_elsewhere(self, announced: str, port: int) -> str:
        where = self.where("which listens on")
        return (
            f"the readiness line says 'listening on {announced}', but port {port} is held by {self.holders(port)}, "
            f"not by the server{f' ({where})' if where else ''}"
        )

    def port_ok(self) -> bool:
        """True once the server listens on the port it was given (with ``host``: its own socket)."""
        if self.port is None:
            return False
        if self.host is None:
            return bool(sysinfo.listening_sockets(self.port, self.transport))
        return bool(self._ours(self.port))

    def holders(self, port: int) -> str:
        """Who holds the sockets of ``port`` remembered in ``foreign`` (pid and command line when readable)."""
        known = self.foreign.get(port)
        return sysinfo.describe_holders(known[1] if known else [])

    def foreign_note(self) -> str:
        """`` (port P is held by ...)`` when another process holds the port waited for, else ""."""
        port = self.announced_port if self.server.announced is not None else self.port
        if port is None or port not in self.foreign:
            return ""
        return f" (port {port} is held by {self.holders(port)})"

    def own_ports(self) -> list[sysinfo.Listener] | None:
        """The listening sockets of the server's group (None without ``/proc``)."""
        return sysinfo.group_listeners(self.server.pgid, self.server.pid, self.transport)

    def where(self, lead: str) -> str:
        """``LEAD A, B`` (where the server's group listens), ``LEAD no port``, or "" without ``/proc``."""
        found = self.own_ports()
        if found is None:
            return ""
        return f"{lead} {', '.join(sorted({str(f) for f in found})) or 'no port'}"

    def suggestion(self, instead: bool) -> str:
        """``; it listens on A: give --port N...`` for a server that listens where the harness does not look
        (``instead``: it was given a port), ``; it listens on no port``, or "" without ``/proc``."""
        found = self.own_ports()
        if found is None:
            return ""
        if not found:
            return "; it listens on no port"
        where = ", ".join(sorted({str(f) for f in found}))
        ports = sorted({f.port for f in found})
        port = str(ports[0]) if len(ports) == 1 else "N"
        if instead:
            return f"; it listens on {where} instead: make it use the port it is given ({{port}} or $PORT)"
        return f"; it listens on {where}: give --port {port}, or put {{port}} in its command for the harness to choose"

    def not_ready(self, timeout: float) -> str:
        """The failure of a server still running at the deadline: what it did not do, what holds the port,
        where it listens and what to give the harness; then the first lines it printed."""
        server = self.server
        if server.announced is not None and self.announced_port in self.foreign:
            first = self._announced_elsewhere(server.announced, self.announced_port)
        elif server.announced is not None:
            first = (
                f"the readiness line says 'listening on {server.announced}', but nothing listens on "
                f"{self.host}:{self.announced_port} after {timeout:g}s{self.where('; it listens on')}"
            )
        elif self.port is not None:
            held = (
                f": port {self.port} is held by {self.holders(self.port)}, not by the server"
                if self.port in self.foreign
                else ""
            )
            first = (
                f"the server did not listen on {self.transport} port {self.port} within {timeout:g}s "
                f"(it is still running){held}{self.suggestion(True)}"
            )
        else:
            first = (
                f"the server did not print 'listening on HOST:PORT' within {timeout:g}s (it is still running)"
                f"{self.suggestion(False)}"
            )
        return f"{first}\n{server.output_head()}"


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_live):
        proc.kill_group()
