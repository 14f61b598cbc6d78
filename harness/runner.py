"""Run the check catalogue against one target: start it, run the checks in order, always stop it."""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .checks import CheckOptions, CheckResult, Verdict, catalogue, run_check
from .checks.base import Check
from .errors import HarnessError, StartupFailure
from .proxy import Faults, ProxiedView
from .targets import Target

#: seconds a server that just failed a check is given to be seen dead, if it is dying
DYING = 0.5


@dataclass
class TargetReport:
    """Every check result for one server."""

    name: str
    results: list[CheckResult] = field(default_factory=list)
    stderr_tail: str = ""
    protocol: str = "echo"  #: the protocol the server was checked for

    def failed(self, strict: bool = False) -> bool:
        """True if a check failed (or warned, when ``strict``), or the harness could not run one."""
        bad = {Verdict.FAIL, Verdict.ERROR} | ({Verdict.WARN} if strict else set())
        return any(r.verdict in bad for r in self.results)


def select(patterns: Sequence[str] | None, protocol: str = "echo") -> list[Check]:
    """Checks of ``protocol`` whose id matches any glob in ``patterns`` (all when None), in running order.

    ``startup.ready`` is always included when anything matches: every run starts the server first.
    An empty list means nothing matched."""
    checks = catalogue(protocol)
    if not patterns:
        return checks
    chosen = [c for c in checks if any(fnmatch.fnmatchcase(c.id, p) for p in patterns)]
    if chosen and all(c.id != "startup.ready" for c in chosen):
        chosen.insert(0, next(c for c in checks if c.id == "startup.ready"))
    return chosen


def check_target(
    target: Target,
    options: CheckOptions,
    checks: Sequence[Check] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    faults: Faults | None = None,
) -> TargetReport:
    """Start ``target``, run ``checks`` (default: all), stop it. A start-up failure fails ``startup.ready``
    and skips the rest. Never leaves the target running.

    With ``faults``, every check but the lifecycle ones talks to the server through a
    :class:`~harness.proxy.FaultProxy` with those faults (lifecycle checks stop and restart the server itself)."""
    name = target.name if faults is None else f"{target.name} through faults: {faults.describe()}"
    report = TargetReport(name, protocol=options.protocol)
    chosen = list(checks) if checks is not None else catalogue(options.protocol)

    def record(result: CheckResult) -> None:
        report.results.append(result)
        if on_result is not None:
            on_result(result)

    start = time.monotonic()
    try:
        target.start()
    except StartupFailure as exc:
        record(CheckResult("startup.ready", Verdict.FAIL, time.monotonic() - start, exc.message))
        for chk in chosen:
            if chk.id != "startup.ready":
                record(CheckResult(chk.id, Verdict.SKIP, 0.0, "skipped: the server did not start"))
        report.stderr_tail = target.stderr_tail()
        target.close()
        return report
    ready = time.monotonic() - start
    view: Target | None = None
    dead: str | None = None  #: why the server is gone for good (it died and could not be started again)
    try:
        view = ProxiedView(target, faults, options.timeout) if faults is not None else target
        for chk in chosen:
            if chk.id == "startup.ready":
                note = target.startup_note()
                record(CheckResult(chk.id, Verdict.PASS, ready, f"ready in {ready * 1000:.0f} ms{note}"))
                continue
            if dead is not None:
                record(CheckResult(chk.id, Verdict.SKIP, 0.0, f"skipped: {dead}"))
                continue
            result = run_check(chk, view.target_for(chk.id), options)
            # a server that broke may be dying (printing its traceback): give it a moment to be seen dead, so
            # its death is charged to the check that caused it, not to the next one
            bad = result.verdict is not Verdict.PASS and result.verdict is not Verdict.SKIP
            if not chk.id.startswith("lifecycle.") and target.lifecycle and target.ended_within(DYING if bad else 0):
                dead = _died_during(result, target)
                if dead is None and faults is not None:  # the server is back, maybe on another port
                    view.close()
                    view = ProxiedView(target, faults, options.timeout)
            record(result)
    finally:
        if view is not None and view is not target:
            view.close()
        report.stderr_tail = target.stderr_tail()
        target.close()
    return report


def _died_during(result: CheckResult, target: Target) -> str | None:
    """The server died while ``result``'s check ran: make that result a failure that says so (once: the
    checks that follow judge a server started again, not a corpse), and start it again. Returns None when
    it runs again, else why the remaining checks cannot run."""
    status = target.exit_status()
    how = (
        f"exit status {status}"
        if status is not None and status >= 0
        else (f"killed by signal {-status}" if status is not None else "it is no longer running")
    )
    note = f"the server died during {result.id} ({how})"
    result.stderr_tail = target.stderr_tail()
    target.close()
    try:
        target.start()
    except (StartupFailure, HarnessError) as exc:
        again = f"; it could not be started again: {exc}"
        dead: str | None = f"{note} and could not be started again"
    else:
        again = "; it was started again for the checks that follow"
        dead = None
    if result.verdict in (Verdict.FAIL, Verdict.ERROR):
        result.message = f"{result.message}\n{note}{again}"
    else:
        result.verdict, result.message = Verdict.FAIL, f"{note}{again}\n(the check itself said: {result.message})"
    return dead
