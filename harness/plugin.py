"""The pytest plugin (entry point ``pytest11``): options, fixtures and Hypothesis profiles.

Fixtures:

- ``reference_target``: each reference server (sequential, threaded, selector), in-process and as a
  subprocess, on an ephemeral port (module-scoped, parametrized: 6 servers); teardown asserts a clean stop;
- ``harness_options``: the :class:`~harness.checks.CheckOptions` built from the command line / ini / env;
- ``refused_address``: a loopback address that refuses connections at once;
- ``run_harness_check``: ``run_harness_check("echo.fidelity", target)`` runs one check, returns its result.

Every option has an ini key and an environment variable; a bad value is reported with where it came from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from . import profiles
from .checks import REGISTRY, CheckOptions, CheckResult, run_check
from .net import Address
from .net import refused_address as _refused_address
from .targets import InProcessTarget, SubprocessTarget, Target, reference_command

REFERENCE_SERVERS = ("sequential", "threaded", "selector")
MODES = ("inprocess", "subprocess")


@dataclass(frozen=True)
class _Option:
    name: str  # --harness-NAME, ini harness_NAME, env HARNESS_NAME
    kind: type
    default: float
    help: str

    @property
    def flag(self) -> str:
        return f"--harness-{self.name}"

    @property
    def ini(self) -> str:
        return f"harness_{self.name.replace('-', '_')}"

    @property
    def env(self) -> str:
        return f"HARNESS_{self.name.replace('-', '_').upper()}"


OPTIONS = (
    _Option("timeout", float, 10.0, "upper bound in seconds for one exchange"),
    _Option("idle", float, 2.0, "seconds without a byte moving after which an exchange has hung"),
    _Option("grace", float, 5.0, "seconds a server gets to exit after SIGTERM"),
    _Option("shrink-seconds", float, 10.0, "time allowed to shrink a failing example"),
    _Option("storm", int, 1000, "connect/echo/close cycles of the storm check"),
)

_options_key = pytest.StashKey[CheckOptions]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("socket-harness", "Socket Harness (TCP server conformance checks)")
    for opt in OPTIONS:
        group.addoption(opt.flag, dest=opt.ini, default=None, help=f"{opt.help} (ini {opt.ini}, env {opt.env})")
        parser.addini(opt.ini, help=opt.help, default=None)


def _value(config: pytest.Config, opt: _Option) -> float:
    for source, raw in (
        (opt.flag, config.getoption(opt.ini)),
        (f"ini {opt.ini}", config.getini(opt.ini)),
        (f"env {opt.env}", os.environ.get(opt.env)),
    ):
        if raw is None or raw == "":
            continue
        try:
            value = opt.kind(raw)
        except ValueError:
            raise pytest.UsageError(f"{source}: expected a {opt.kind.__name__}, got {raw!r}") from None
        if value <= 0:
            raise pytest.UsageError(f"{source}: must be positive, got {raw!r}")
        return float(value)
    return opt.default


def pytest_configure(config: pytest.Config) -> None:
    values = {opt.name.replace("-", "_"): _value(config, opt) for opt in OPTIONS}
    values["storm"] = int(values["storm"])
    config.stash[_options_key] = CheckOptions(**values)  # type: ignore[arg-type]
    if not config.getoption("hypothesis_profile", None):
        profiles.load()
    config.addinivalue_line("markers", "harness_check(id): the Socket Harness check a test runs")


@pytest.fixture(scope="session")
def harness_options(request: pytest.FixtureRequest) -> CheckOptions:
    """Check options from ``--harness-*`` / ``harness_*`` ini keys / ``HARNESS_*`` env variables."""
    return request.config.stash[_options_key]


@pytest.fixture
def refused_address() -> Iterator[Address]:
    """A loopback ``(host, port)`` that refuses connections at once (bound, never listening)."""
    with _refused_address() as address:
        yield address


def make_reference_target(name: str, mode: str, grace: float = 5.0) -> Target:
    """Reference server ``name`` as an in-process (``inprocess``) or ``subprocess`` target."""
    if mode == "inprocess":
        return InProcessTarget(name, grace=grace)
    return SubprocessTarget(reference_command(name), port=0, grace=grace, name=name, sequential=name == "sequential")


def assert_clean_stop(target: Target) -> None:
    """Stop ``target`` and fail the test unless it stopped in time, with status 0 and no traceback."""
    stderr = target.stderr_tail(50)
    report = target.stop()
    assert report is not None, f"{target.name}: could not be stopped"
    assert report.exited_in_grace, f"{target.name}: did not stop within its grace period"
    assert report.returncode == 0, f"{target.name}: exit status {report.returncode}"
    assert not report.lingering, f"{target.name}: processes left in its group: {report.lingering}"
    assert "Traceback" not in stderr, f"{target.name}: traceback on stderr:\n{stderr}"


@pytest.fixture(
    scope="module",
    params=[(n, m) for n in REFERENCE_SERVERS for m in MODES],
    ids=[f"{n}-{m}" for n in REFERENCE_SERVERS for m in MODES],
)
def reference_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """Each reference server, in-process and as a subprocess, on an ephemeral port; stopped cleanly after."""
    name, mode = request.param
    target = make_reference_target(name, mode, request.config.stash[_options_key].grace)
    target.start()
    try:
        yield target
        assert_clean_stop(target)
    finally:
        target.close()


@pytest.fixture
def run_harness_check(harness_options: CheckOptions) -> Callable[..., CheckResult]:
    """``run_harness_check(check_id, target, **option_overrides)`` -> the check's :class:`CheckResult`."""

    def run(check_id: str, target: Target, **overrides: object) -> CheckResult:
        if check_id not in REGISTRY:
            raise pytest.UsageError(f"no check {check_id!r}; known: {', '.join(sorted(REGISTRY))}")
        options = CheckOptions(**{**harness_options.__dict__, **overrides})
        return run_check(REGISTRY[check_id], target, options)

    return run
