"""The check framework: verdicts, the registry, options, and the Hypothesis runner behind property checks.

A check is a plain function ``(target, options) -> str`` registered with :func:`check`. It returns a short
note on success, raises :class:`~harness.errors.ServerFault` for a protocol violation (``fail``),
:class:`~harness.errors.ServerWarning` for an operational flaw (``warn``) and
:class:`~harness.errors.CheckSkipped` when it cannot apply. :func:`run_check` turns that into a
:class:`CheckResult`, so the command line, the pytest plugin and our tests all share one implementation.
"""

from __future__ import annotations

import enum
import io
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter

from .. import corpus, profiles, reproduce
from ..errors import CheckSkipped, HarnessError, ServerFault, ServerWarning
from ..protocols import PROTOCOLS
from ..targets import Target


class Verdict(str, enum.Enum):
    """The outcome of one check."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    ERROR = "error"  #: the harness itself failed (a bug of ours, reported as such)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class CheckOptions:
    """How hard and how long checks work. Every wait of every check is bounded by these."""

    timeout: float = 10.0  #: upper bound for one exchange
    idle: float = 2.0  #: an exchange with no byte moving for this long has hung
    grace: float = 5.0  #: seconds a server gets to exit after SIGTERM
    examples: int | None = None  #: Hypothesis examples per property (None: the profile's, scaled per check)
    shrink_seconds: float = 10.0  #: time allowed to shrink a failure before reporting the smallest so far
    connections: int = 4  #: concurrent clients in concurrency checks
    storm: int = 1000  #: connect/echo/close cycles of the storm check
    backpressure_bytes: int = 64 * 1024 * 1024  #: bytes offered while the reader stalls (>= 16 MiB)
    large_bytes: int = 64 * 1024 * 1024  #: size of the large-payload stream
    protocol: str = "echo"  #: the protocol the server speaks (:mod:`harness.protocols`)
    root: str | None = None  #: http-file: the directory the server serves
    max_frame: int = 1024 * 1024  #: framed: the largest body the server must accept
    banner: bytes | None = None  #: greeting: the banner expected (None: whatever the first client gets)


@dataclass
class CheckResult:
    """What one check concluded about one target."""

    id: str
    verdict: Verdict
    seconds: float
    message: str
    reproducer: str | None = None
    stderr_tail: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    reproducer_path: str | None = None  #: where the shell wrote :attr:`reproducer` as a script, if it did

    def line(self) -> str:
        """``id  verdict  time  message`` (first line of the message only)."""
        first = self.message.splitlines()[0] if self.message else ""
        return f"{self.id:<24} {self.verdict.value:<5} {self.seconds:6.2f}s  {first}"


CheckFunction = Callable[[Target, CheckOptions], str]


@dataclass(frozen=True)
class Check:
    """A registered check: stable id, what passing guarantees, and the verdict class of a violation."""

    id: str
    guarantee: str
    severity: Verdict
    func: CheckFunction
    #: share of the profile's max_examples this check runs (property checks only)
    weight: float = 1.0
    #: the protocols this check judges (:mod:`harness.protocols`)
    protocols: tuple[str, ...] = ("echo",)


REGISTRY: dict[str, Check] = {}


def check(
    id: str,
    guarantee: str,
    *,
    severity: Verdict = Verdict.FAIL,
    weight: float = 1.0,
    protocols: tuple[str, ...] = ("echo",),
) -> Callable[[CheckFunction], CheckFunction]:
    """Register ``func`` under the stable ``id``. ``guarantee`` is one line: what a pass means;
    ``protocols`` the protocols whose servers it judges."""
    if severity not in (Verdict.FAIL, Verdict.WARN):
        raise ValueError(f"severity must be Verdict.FAIL or Verdict.WARN, got {severity!r}")
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise ValueError(f"check {id!r}: protocols must name some of {', '.join(PROTOCOLS)}, got {protocols!r}")

    def register(func: CheckFunction) -> CheckFunction:
        if id in REGISTRY:
            raise ValueError(f"check id {id!r} registered twice")
        REGISTRY[id] = Check(id, guarantee, severity, func, weight, protocols)
        return func

    return register


def run_check(chk: Check, target: Target, options: CheckOptions) -> CheckResult:
    """Run one check and return its result; never raises for anything the server does."""
    start = time.monotonic()
    reproducer = None
    try:
        message = chk.func(target, options)
        verdict = Verdict.PASS
    except CheckSkipped as exc:
        verdict, message = Verdict.SKIP, str(exc)
    except ServerWarning as exc:
        verdict, message, reproducer = Verdict.WARN, exc.message, exc.reproducer
    except ServerFault as exc:
        verdict, message, reproducer = chk.severity, exc.message, exc.reproducer
    except HarnessError as exc:
        verdict, message = Verdict.ERROR, f"harness error: {exc}"
    except ConnectionRefusedError:
        state = "is no longer running" if not target.alive() else "refuses connections"
        verdict, message = chk.severity, f"connection refused: the server {state}"
    except TimeoutError as exc:
        verdict, message = chk.severity, f"no answer in time: {exc or 'timed out'}"
    except OSError as exc:
        verdict, message = chk.severity, f"socket error talking to the server: {exc}"
    except Exception as exc:
        verdict, message = Verdict.ERROR, f"harness bug: {exc!r}\n{traceback.format_exc()}"
    seconds = time.monotonic() - start
    if reproducer:
        reproducer = reproduce.bounded(target.adapt_reproducer(reproducer), options.idle, options.timeout)
    tail = target.stderr_tail() if verdict in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR) else ""
    return CheckResult(chk.id, verdict, seconds, message, reproducer, tail)


def examples_for(check_id: str, options: CheckOptions) -> int:
    """Examples check ``check_id`` runs: ``options.examples``, else the profile's max_examples times the
    weight the check was registered with."""
    if options.examples is not None:
        return max(1, options.examples)
    profile_examples: int = profiles.current().max_examples
    return max(1, round(profile_examples * REGISTRY[check_id].weight))


def check_settings(examples: int, **extra: Any) -> settings:
    """Hypothesis settings for a check run, on top of the harness' profile (:func:`profiles.current`, not
    Hypothesis' global default): ``examples`` examples, no deadline (network I/O), the blob printed, one bug
    reported, health checks off, no explain phase."""
    return settings(
        profiles.current(),
        max_examples=examples,
        deadline=None,
        print_blob=True,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        **extra,
    )


def falsify(
    strategy: st.SearchStrategy[Any],
    body: Callable[[Any], object],
    *,
    examples: int,
    options: CheckOptions,
    reproduce: Callable[[Any, ServerFault], str],
    key: str,
) -> int:
    """Run ``body`` on up to ``examples`` values of ``strategy``; raise the smallest failure found.

    ``body`` raises :class:`ServerFault` when the server misbehaves on a value. Shrinking stops after
    ``options.shrink_seconds``: from then on only values already seen to fail are run again (they fail
    again without touching the server), so the smallest failure found so far is the one reported. The
    raised fault carries ``reproduce(value, fault)`` and the Hypothesis blob. Returns the number of
    examples run when none failed. ``key`` (the check id) keys the example database, so failures found
    by one check are replayed by that check on the next run, against any server; with a database
    configured (:mod:`harness.corpus`), an ordinary run replays what it holds first.
    """
    failures: list[tuple[Any, ServerFault]] = []
    first_failure_at: list[float] = []
    runs = [0]

    def gated(value: Any) -> None:
        runs[0] += 1
        if first_failure_at and time.monotonic() - first_failure_at[0] > options.shrink_seconds:
            for seen, fault in failures:
                if seen == value:
                    raise fault
            return
        try:
            body(value)
        except ServerFault as fault:
            failures.append((value, fault))
            if not first_failure_at:
                first_failure_at.append(time.monotonic())
            raise

    # every check runs this same inner function: tell Hypothesis' database which check it is
    gated._hypothesis_internal_add_digest = key.encode()  # type: ignore[attr-defined]
    report = io.StringIO()
    try:
        with with_reporter(lambda text: print(text, file=report)):
            corpus.run_with_corpus(lambda config: config(given(strategy)(gated))(), check_settings(examples))
    except ServerFault as fault:
        value = failures[-1][0] if failures else None
        for seen, recorded in reversed(failures):
            if recorded is fault:
                value = seen
                break
        fault.reproducer = reproduce(value, fault) + hypothesis_blob(report.getvalue())
        raise
    except Flaky as exc:
        first_value, first_fault = failures[0] if failures else (None, ServerFault(str(exc)))
        raise ServerFault(
            f"intermittent: {first_fault.message} (the same input passed when replayed)",
            reproducer=reproduce(first_value, first_fault) + hypothesis_blob(report.getvalue()),
        ) from None
    return runs[0]


def hypothesis_blob(report: str) -> str:
    """The ``@reproduce_failure`` line Hypothesis reported, as a comment line (or nothing)."""
    lines = [line for line in report.splitlines() if "reproduce_failure" in line]
    return f"\n# Hypothesis: {lines[-1].strip()}" if lines else ""
