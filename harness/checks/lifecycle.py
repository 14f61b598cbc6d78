"""Lifecycle checks: SIGTERM with clients mid-stream, the port afterwards, leftovers, restart, bind address.

The shutdown is observed once per target start (:func:`observe_shutdown`) and each lifecycle check judges
one aspect of that observation; the target is started again afterwards so later checks still have a server.

The rules (a check passes only on what it saw; when its observation could not be made it skips, or fails,
with the cause -- never passes):

- ``lifecycle.sigterm`` (fail): after SIGTERM the server stops within the grace and does not crash (killed by
  another signal). Dying at once is a clean stop: Python's default SIGTERM action, asyncio and Node do that.
  A status other than 0 or 143 is a warning (lighttpd exits 1 when SIGTERM finds connections open).
- ``lifecycle.drain`` (warn): the exchange in flight during the SIGTERM completes. Good practice, which the
  protocols do not promise.
- ``lifecycle.port-refuses`` (fail): once the server's process is gone, its port refuses: no child kept the
  listener and serves on behind the server's back.
- ``lifecycle.group``, ``lifecycle.traceback``, ``lifecycle.restart``, ``lifecycle.bind-address`` (warn).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import sysinfo
from ..errors import CheckSkipped, HarnessError, ServerFault, ServerWarning, StartupFailure
from ..httpclient import Reply, fetch, request_bytes
from ..httproot import scan_root
from ..net import Address, can_bind, connect, format_address
from ..process import StopReport
from ..protocols import PROTOCOLS, TCP, protocol
from ..strategies import KiB, PayloadSpec
from ..targets import InProcessTarget, SubprocessTarget, Target
from ..wire import Exchange, Schedule, drive, echo_mismatch
from .base import CheckOptions, Verdict, check
from .framed import frame, frames_problem
from .http import file_problem

TRACEBACK = "Traceback (most recent call last)"


@dataclass
class ShutdownObservation:
    """What happened when the server was told to stop while a client was mid-stream."""

    address: Address
    report: StopReport | None = None  #: None: the server was not signalled (see ``error``)
    inflight: bool = False  #: a client was mid-exchange when the signal was sent
    inflight_problem: str | None = None  #: None: the exchange in flight completed
    inflight_what: str = "its echo"  #: what the client in flight was getting
    before_problem: str | None = None  #: the exchange before the signal failed (nothing was put in flight)
    port_after: str | None = None  #: "refused", "accepted" or "timeout"; None: not probed
    stderr: str = ""  #: what the server wrote to stderr from the SIGTERM on (bounded)
    stderr_mark: int = 0  #: stderr's size when the signal was sent
    threads_left: list[str] = field(default_factory=list)
    lingering: tuple[int, ...] = ()  #: processes of the group still alive when the grace period ended
    fds_before: int | None = None
    fds_after: int | None = None
    rebind_problem: str | None = None  #: None: a new listener could bind the port once the server was gone
    restarted: bool = False  #: the server was started again on the same port and was ready
    restart_problem: str | None = None  #: why it could not be restarted on the same port
    restart_skip: str | None = None  #: why restarting on the same port could not be tried at all
    error: str | None = None  #: the observation itself could not be made (the server was not running)


_observed: weakref.WeakKeyDictionary[Target, tuple[Address, ShutdownObservation]] = weakref.WeakKeyDictionary()


def observe_shutdown(target: Target, options: CheckOptions) -> ShutdownObservation:
    """Stop ``target`` with a client mid-stream, observe everything, then start it again (cached per start)."""
    if not target.lifecycle:
        raise CheckSkipped("the harness does not own this server (--connect): it cannot stop and restart it")
    cached = _observed.get(target)
    if cached is not None and cached[0] == target.address:
        return cached[1]
    obs = _observe(target, options)
    if target._address is None:  # restart failed: bring up a server on any port for the remaining checks
        _restart_anywhere(target)
    _observed[target] = (target.address, obs)
    return obs


def _observe(target: Target, options: CheckOptions) -> ShutdownObservation:
    obs = ShutdownObservation(target.address)
    if not target.alive():
        status = target.exit_status()
        how = f" (it had exited with status {status})" if status is not None else ""
        obs.error = f"the server was not running when the lifecycle checks began{how}"
        target.close()
        return obs
    threads_before = {t.name for t in threading.enumerate()}
    in_process = isinstance(target, InProcessTarget)
    obs.fds_before = target.fd_count() if in_process else None
    stop_mid_exchange = IN_FLIGHT.get(options.protocol)
    if stop_mid_exchange is not None:
        stop_mid_exchange(target, options, obs)
    else:  # greeting, udp-echo: the server is stopped with no client in the middle of an exchange
        # once it waits for one: a SIGTERM on its way there would miss a handler that is only seen then
        target.wait_asleep(min(1.0, options.timeout))
        _terminate(target, options, obs)
    obs.stderr = _stderr_since(target, obs.stderr_mark)
    target.close()
    obs.rebind_problem = can_bind(obs.address)
    if in_process:
        poll_threads = [t.name for t in threading.enumerate() if t.name not in threads_before and t.is_alive()]
        obs.threads_left = poll_threads
        obs.fds_after = target.fd_count()
    obs.restart_skip = target.same_port_restart_impossible()
    if obs.restart_skip is None:
        try:
            target.restart()
            obs.restarted = True
        except (StartupFailure, HarnessError) as exc:
            obs.restart_problem = str(exc)
    return obs


def _stop_mid_echo(target: Target, options: CheckOptions, obs: ShutdownObservation) -> None:
    """Echo: SIGTERM while a client streams 1 MiB through the server (after a 256 KiB echo)."""
    first = PayloadSpec(256 * KiB, "random", 1).build()
    rest = PayloadSpec(1024 * KiB, "random", 2).build()
    _stop_mid_stream(
        target, options, obs, first, rest, lambda ex: echo_mismatch(first, ex), lambda ex: echo_mismatch(rest, ex)
    )


def _stop_mid_frames(target: Target, options: CheckOptions, obs: ShutdownObservation) -> None:
    """Framed: SIGTERM while a client streams 32 frames of 32 KiB (after one frame of 64 KiB)."""
    size = max(0, min(32 * KiB, options.max_frame))
    first_body = PayloadSpec(max(0, min(64 * KiB, options.max_frame)), "random", 1).build()
    bodies = [PayloadSpec(size, "random", n).build() for n in range(2, 34)]
    obs.inflight_what = "its frames"
    _stop_mid_stream(
        target,
        options,
        obs,
        frame(first_body),
        b"".join(map(frame, bodies)),
        lambda ex: frames_problem([first_body], ex, want_eof=False),
        lambda ex: frames_problem(bodies, ex, want_eof=False),
    )


def _stop_mid_stream(
    target: Target,
    options: CheckOptions,
    obs: ShutdownObservation,
    first: bytes,
    rest: bytes,
    judge_first: Callable[[Exchange], str | None],
    judge_rest: Callable[[Exchange], str | None],
) -> None:
    """Exchange ``first``, then stop ``target`` with SIGTERM while ``rest`` streams through it (then the
    client half-closes); the judges say what is wrong with what came back of each (None: nothing).
    Records what happened in ``obs``."""
    sock = connect(obs.address, options.timeout)
    try:
        ex = drive([sock], [Schedule(first, half_close=False)], options.timeout, options.idle)[0]
        problem = judge_first(ex)
        if problem:  # nothing can be put in flight: the server is stopped with no client, the rest is observed
            obs.before_problem = problem
            sock.close()
            _terminate(target, options, obs)
            return
        # The rest streams in the background while the server is told to stop; the port is probed the
        # moment the server's own process is gone. A correct server exits only after draining, so the
        # port refuses; a child that inherited the listener is still serving the stream, so it accepts.
        # Its first half is paced over ~0.5 s, so it is still in flight when even a busy server gets to
        # the signal (what a server that closes its clients at once does to them is then seen every time).
        schedule = Schedule(rest, chunk_sizes=(32 * KiB,), pauses=(0.03,), half_close=True)
        streamed: list[Exchange] = []
        streamer = threading.Thread(
            target=lambda: streamed.append(drive([sock], [schedule], options.grace + options.timeout, options.idle)[0]),
            daemon=True,
        )
        streamer.start()
        obs.inflight = True
        _terminate(target, options, obs, lambda: streamer.join(options.grace + options.timeout + 1))
        if not streamed:
            obs.inflight_problem = "the client mid-stream never finished"
        else:
            problem = judge_rest(streamed[0])
            if problem is None and not streamed[0].eof:
                problem = f"everything came back but the connection ended with: {streamed[0].outcome()}"
            obs.inflight_problem = problem
    finally:
        sock.close()


def _stop_mid_download(target: Target, options: CheckOptions, obs: ShutdownObservation) -> None:
    """http-file: SIGTERM while a client downloads the largest file of the root (skipped without a root)."""
    if options.root is None or not os.path.isdir(options.root):
        return _terminate(target, options, obs)
    view = scan_root(options.root)
    item = view.largest or (view.sample[0] if view.sample else None)
    if item is None:
        return _terminate(target, options, obs)
    obs.inflight_what = f"its download of {item.url} ({item.size:,} B)"
    sent, signalled = threading.Event(), threading.Event()
    replies: list[Reply] = []

    def download() -> None:
        def hold() -> None:  # read nothing until the stop signal is on its way: the download is in flight
            sent.set()
            signalled.wait(options.timeout)

        request = request_bytes("GET", item.url, obs.address)
        limit = item.size + 64 * KiB
        timeout = options.grace + options.timeout
        replies.append(fetch(obs.address, request, options, limit=limit, timeout=timeout, after_send=hold))

    downloader = threading.Thread(target=download, daemon=True)
    downloader.start()
    sent.wait(options.timeout)
    signalled.set()
    obs.inflight = True
    _terminate(target, options, obs, lambda: downloader.join(options.grace + options.timeout + 1))
    if not replies:
        obs.inflight_problem = "the download never finished"
    else:
        obs.inflight_problem = file_problem(replies[0], item.data())


def _terminate(
    target: Target, options: CheckOptions, obs: ShutdownObservation, then: Callable[[], None] | None = None
) -> None:
    """SIGTERM ``target`` and wait for it (the grace); probe its port (TCP) at once; run ``then`` (e.g. wait
    for the client in flight); note which processes of its group are left when the grace has passed."""
    signalled = time.monotonic()
    obs.stderr_mark = _stderr_size(target)
    obs.report = target.terminate()
    obs.port_after = _probe(obs.address, options) if protocol(options.protocol).transport == "tcp" else None
    if then is not None:
        then()
    if isinstance(target, SubprocessTarget):
        obs.lingering = target.leftovers(max(0.0, signalled + options.grace - time.monotonic()))


#: how each protocol keeps a client busy while the server is told to stop (others: no client at all)
IN_FLIGHT: dict[str, Callable[[Target, CheckOptions, ShutdownObservation], None]] = {
    "echo": _stop_mid_echo,
    "framed": _stop_mid_frames,
    "http-file": _stop_mid_download,
}


def _probe(address: Address, options: CheckOptions) -> str:
    try:
        sock = connect(address, min(2.0, options.timeout))
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "timeout"
    sock.close()
    return "accepted"


def _stderr_size(target: Target) -> int:
    process = getattr(target, "process", None)
    return process.stderr_size() if process is not None else 0


def _stderr_since(target: Target, mark: int) -> str:
    """What the server wrote to stderr since the SIGTERM (bounded): a traceback a client's reset made it print
    during the run is not one of stopping."""
    process = getattr(target, "process", None)
    return process.stderr_since(mark) if process is not None else ""


def _restart_anywhere(target: Target) -> None:
    if hasattr(target, "port"):
        target.port = 0 if isinstance(target, InProcessTarget) or _announces(target) else None
    target.start()


def _announces(target: Target) -> bool:
    process = getattr(target, "process", None)
    return process is not None and process.announced is not None


@check(
    "startup.ready",
    "the server accepts connections within the start-up timeout (judged by the runner)",
    protocols=tuple(PROTOCOLS),
)
def startup_ready(target: Target, options: CheckOptions) -> str:
    """The runner judges start-up while starting the target; run alone, this only confirms it runs."""
    if not target.alive():
        raise ServerFault("the server is not running")
    return "running"


@check(
    "lifecycle.sigterm",
    "on SIGTERM the server stops within the grace without crashing (dying at once is a clean stop); a status "
    "other than 0, 143 or death by SIGTERM is a warn",
    protocols=tuple(PROTOCOLS),
)
def sigterm(target: Target, options: CheckOptions) -> str:
    obs = observe_shutdown(target, options)
    if obs.error:
        raise ServerFault(obs.error)
    report = obs.report
    if report is None:
        raise ServerFault("the server did not stop at all")
    if not report.exited_in_grace:
        raise ServerFault(f"the server did not exit within {options.grace:g}s of SIGTERM and had to be killed")
    code = report.returncode
    if code is not None and code < 0 and code != -signal.SIGTERM:
        raise ServerFault(f"after SIGTERM the server crashed: it was killed by {_signal_name(-code)}")
    if obs.threads_left:
        raise ServerFault(f"threads left running after shutdown: {', '.join(obs.threads_left)}")
    if obs.fds_before is not None and obs.fds_after is not None and obs.fds_after > obs.fds_before:
        raise ServerFault(f"descriptors left open after shutdown: {obs.fds_before} before, {obs.fds_after} after")
    if not report.clean:  # it stopped, in time: the status is its own report, which a supervisor reads
        raise ServerWarning(
            f"the server stopped {report.seconds:.2f}s after SIGTERM but exited with status {code} (0, or 143 "
            "for 'terminated', is what a supervisor reads as a clean stop)"
        )
    how = "died of SIGTERM" if code == -signal.SIGTERM else f"exited {code}"
    return f"{how} {report.seconds:.2f}s after SIGTERM"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@check(
    "lifecycle.drain",
    "on SIGTERM the exchange in flight (an echo, frames, a download) completes before the server exits "
    "(good practice; the protocols do not promise it)",
    severity=Verdict.WARN,
    protocols=tuple(IN_FLIGHT),
)
def drain(target: Target, options: CheckOptions) -> str:
    obs = observe_shutdown(target, options)
    if obs.error:
        raise CheckSkipped(f"nothing could be observed: {obs.error}")
    if obs.before_problem:
        raise CheckSkipped(f"nothing was in flight: the exchange before the shutdown failed: {obs.before_problem}")
    if not obs.inflight or obs.report is None:
        raise CheckSkipped("no exchange could be kept in flight for this server (http-file: no file to download)")
    if obs.inflight_problem:
        raise ServerWarning(
            f"a client mid-stream during the shutdown lost {obs.inflight_what}: {obs.inflight_problem}. Stopping "
            "at once on SIGTERM is a clean stop; draining first (stop accepting, let the connections in flight "
            "finish, then exit) spares their clients"
        )
    return f"the client mid-stream got all {obs.inflight_what} before the server exited"


@check("lifecycle.port-refuses", "once the server has exited, its port refuses connections", protocols=TCP)
def port_refuses(target: Target, options: CheckOptions) -> str:
    obs = observe_shutdown(target, options)
    if obs.port_after is None:
        raise CheckSkipped(f"the port was not probed: {obs.error or 'the server was not stopped'}")
    if obs.port_after == "accepted":
        lingering = obs.report.lingering if obs.report else ()
        who = f" (still alive: {sysinfo.describe_holders(list(lingering))})" if lingering else ""
        raise ServerFault(
            f"{format_address(obs.address)} still accepts connections after the server exited{who}: "
            "a child process kept the listening socket"
        )
    if obs.port_after == "timeout":
        raise ServerFault(f"{format_address(obs.address)} neither refuses nor accepts after the server exited")
    return "refused at once"


@check(
    "lifecycle.group",
    "no process the server started outlives it: its group, its descendants, and whatever left them (setsid, a "
    "double fork) but carries its token",
    protocols=tuple(PROTOCOLS),
)
def group(target: Target, options: CheckOptions) -> str:
    if isinstance(target, InProcessTarget):
        raise CheckSkipped("an in-process server has no process group of its own (see lifecycle.sigterm for threads)")
    obs = observe_shutdown(target, options)
    if obs.report is None:
        raise CheckSkipped(f"the server was not stopped, so nothing can outlive it: {obs.error}")
    if not sysinfo.available():
        raise CheckSkipped("process groups are not observable here (needs /proc)")
    if obs.lingering:
        raise ServerFault(
            f"{len(obs.lingering)} process(es) the server started were still alive {options.grace:g}s after it "
            f"exited, and had to be killed: {sysinfo.describe_holders(list(obs.lingering))}"
        )
    return "no process of the server was left"


@check(
    "lifecycle.traceback",
    "stopping with SIGTERM prints no traceback (what the server printed before the signal is not judged)",
    severity=Verdict.WARN,
    protocols=tuple(PROTOCOLS),
)
def no_traceback(target: Target, options: CheckOptions) -> str:
    if isinstance(target, InProcessTarget):
        raise CheckSkipped("the output of an in-process server is not captured")
    obs = observe_shutdown(target, options)
    if obs.report is None:
        raise CheckSkipped(f"the server was not stopped, so its stopping printed nothing: {obs.error}")
    if TRACEBACK in obs.stderr:
        tail = obs.stderr[obs.stderr.rindex(TRACEBACK) :].strip().splitlines()[-1]
        raise ServerWarning(f"the server printed a traceback on stderr: {tail}")
    return "stderr has no traceback"


@check(
    "lifecycle.restart",
    "the server restarts on the same port at once after a shutdown (SO_REUSEADDR)",
    severity=Verdict.WARN,
    protocols=TCP,
)
def restart(target: Target, options: CheckOptions) -> str:
    obs = observe_shutdown(target, options)
    if obs.report is None:
        raise CheckSkipped(f"the server was not stopped, so it could not be restarted: {obs.error}")
    if obs.rebind_problem:
        raise ServerWarning(f"port {obs.address[1]} could not be bound again after the shutdown: {obs.rebind_problem}")
    if obs.restart_problem:
        raise ServerWarning(
            f"restarting on port {obs.address[1]} right after the shutdown failed: {obs.restart_problem}"
        )
    if not obs.restarted:
        raise CheckSkipped(f"port {obs.address[1]} was free again at once, but {obs.restart_skip}")
    return f"restarted on port {obs.address[1]} at once and was ready"


@check(
    "lifecycle.bind-address",
    "the server listens only on the address it was asked to (not on all interfaces)",
    severity=Verdict.WARN,
    protocols=TCP,
)
def bind_address(target: Target, options: CheckOptions) -> str:
    if not target.alive():
        raise CheckSkipped("the server is not running: which address it binds cannot be seen")
    found = sysinfo.listening_sockets(target.address[1])
    if found is None:
        raise CheckSkipped("listening sockets are not observable here (needs /proc)")
    if not found:
        raise CheckSkipped(f"nothing listens on port {target.address[1]} now: which address it binds cannot be seen")
    wildcard = [a for a in found if a in ("0.0.0.0", "::")]
    if wildcard:
        raise ServerWarning(
            f"port {target.address[1]} listens on {', '.join(wildcard)} (all interfaces), "
            f"not only on {target.host}: bind to the address you were given"
        )
    return f"listening on {', '.join(sorted(set(found)))} only"
