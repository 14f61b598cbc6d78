"""Running a server as a child process that can always be ended.

Guarantees of :class:`ServerProcess`:
- the child runs in a new session (its own process group), so the whole group can be signalled;
- its stdout and stderr go to files (a pipe nobody drains blocks the child; a grandchild holding a pipe blocks
  its reader forever), readable at any time;
- leaving the ``with`` block, or calling :meth:`kill_group`, SIGKILLs every process left in the group, even
  when the test failed or timed out; an ``atexit`` hook does the same for whatever is still running when the
  interpreter exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from . import sysinfo
from .errors import HarnessError, StartupFailure
from .waiting import poll_until

POLL = 0.01
#: readiness is polled every FIRST_POLL seconds for the first FAST_POLLING seconds, then every POLL
FIRST_POLL = 0.001
FAST_POLLING = 0.2
READY_LINE = re.compile(rb"^listening on (\S+)\s*$", re.MULTILINE)

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
        self._dir = Path(tempfile.mkdtemp(prefix="harness-server-"))
        self.stdout_path = self._dir / "stdout"
        self.stderr_path = self._dir / "stderr"
        full_env = dict(os.environ if env is None else env)
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            _spawn_state["active"] = True
            try:
                self.popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=full_env,
                    cwd=cwd,
                    pass_fds=tuple(pass_fds),
                    start_new_session=True,
                )
            except OSError as exc:
                shutil.rmtree(self._dir, ignore_errors=True)
                raise HarnessError(f"cannot start {argv[0]!r}: {exc.strerror}") from None
            finally:
                _spawn_state["active"] = False
        self.pid = self.popen.pid
        self.pgid = self.pid
        _live.add(self)
        if _spawn_state["interrupted"]:  # a stop was requested while spawning: end the server, then obey it
            _spawn_state["interrupted"] = False
            self.cleanup()
            raise KeyboardInterrupt

    # -- output ---------------------------------------------------------------------------------------
    def stdout(self) -> str:
        """Everything the server has written to stdout so far."""
        return _read(self.stdout_path)

    def stderr(self) -> str:
        """Everything the server has written to stderr so far."""
        return _read(self.stderr_path)

    def stderr_tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of stderr (for reports)."""
        return "\n".join(self.stderr().rstrip().splitlines()[-lines:])

    # -- start-up -------------------------------------------------------------------------------------
    def poll(self) -> int | None:
        """The exit status if the server has ended, else None."""
        return self.popen.poll()

    def _exited_error(self, what: str) -> StartupFailure:
        tail = self.stderr_tail()
        detail = f"; stderr ends with:\n{tail}" if tail else " and printed nothing on stderr"
        return StartupFailure(f"the server exited with status {self.popen.returncode} {what}{detail}")

    def wait_ready(self, timeout: float, port: int | None = None, transport: str = "tcp") -> str | None:
        """Wait until the server is ready and return the ``HOST:PORT`` of its readiness line, if it printed one.

        Ready means: a ``listening on HOST:PORT`` line on stdout, or (when ``port`` is given and ``/proc`` is
        readable) a socket in LISTEN state on ``port`` (UDP: a socket bound to it), read from the kernel
        without a probe.
        Raises :class:`StartupFailure` if the server exits first, or is not ready within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        watch_port = port is not None and port > 0 and sysinfo.available()
        started = time.monotonic()
        while True:
            match = READY_LINE.search(self.stdout_path.read_bytes())
            if match:
                return match.group(1).decode(errors="replace")
            if watch_port and sysinfo.listening_sockets(port or 0, transport):
                return None
            # a server is usually ready within tens of ms: look every millisecond at first, then less often
            if self._wait_exit(deadline, FIRST_POLL if time.monotonic() - started < FAST_POLLING else POLL):
                raise self._exited_error("before it was ready")
            if time.monotonic() >= deadline:
                what = f"listen on {transport} port {port}" if watch_port else "print 'listening on HOST:PORT'"
                raise StartupFailure(f"the server did not {what} within {timeout:g}s (it is still running)")

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
        try:
            self.popen.wait(timeout=max(0.0, min(interval or POLL, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            return False
        return True

    # -- stopping -------------------------------------------------------------------------------------
    def stop(self, grace: float, sig: int = signal.SIGTERM) -> StopReport:
        """:meth:`terminate`, then SIGKILL the whole group: afterwards no process of the group is alive."""
        report = self.terminate(grace, sig)
        self.kill_group()
        return report

    def terminate(self, grace: float, sig: int = signal.SIGTERM) -> StopReport:
        """Send ``sig`` to the server and wait up to ``grace`` s for it to exit; SIGKILL it (only it) if not.

        Other members of its group are left alone, so the caller can observe what they still hold; the
        report lists those alive when the server was gone. :meth:`kill_group` ends them.
        """
        start = time.monotonic()
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(timeout=grace)
            in_grace = True
        except subprocess.TimeoutExpired:
            in_grace = False
        seconds = time.monotonic() - start
        if not in_grace:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=5)
        return StopReport(self.popen.returncode, in_grace, seconds, self._others_in_group())

    def _others_in_group(self) -> tuple[int, ...]:
        """Live members of the server's process group other than the server itself."""
        return tuple(p for p in (sysinfo.group_members(self.pgid) or []) if p != self.pid)

    def wait_group_empty(self, timeout: float) -> tuple[int, ...]:
        """Wait up to ``timeout`` s for every process of the group to end; return those still alive."""
        poll_until(lambda: not self._others_in_group(), timeout)
        return self._others_in_group()

    def kill_group(self) -> None:
        """SIGKILL every process of the server's group and reap the server. Idempotent, never raises."""
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a SIGKILLed process always ends
            pass
        _live.discard(self)

    def cleanup(self) -> None:
        """Kill the group and delete the output files."""
        self.kill_group()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode(errors="replace")
    except OSError:
        return ""


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_live):
        proc.kill_group()
