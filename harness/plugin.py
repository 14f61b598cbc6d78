"""The pytest plugin (entry point ``pytest11``): options, fixtures and Hypothesis profiles.

Fixtures:

- ``reference_target``: each reference server (sequential, threaded, selector), in-process and as a
  subprocess, on an ephemeral port (module-scoped, parametrized: 6 servers); teardown asserts a clean stop;
- ``harness_options``: the :class:`~harness.checks.CheckOptions` built from the command line / ini / env;
- ``refused_address``: a loopback address that refuses connections at once;
- ``run_harness_check``: ``run_harness_check("echo.fidelity", target)`` runs one check, returns its result.

``pytest --server-cmd "COMMAND {port}"`` (or ``--server-connect HOST:PORT``) adds one test per check of the
catalogue, run against that server (see :mod:`harness.pytest_items`).

Every option has an ini key and an environment variable; a bad value is reported with where it came from.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from . import corpus, profiles, reference, validate
from .checks import REGISTRY, CheckOptions, CheckResult, run_check
from .errors import HarnessError
from .httproot import fixture_root
from .net import LOOPBACK_HOSTS, Address
from .net import refused_address as _refused_address
from .protocols import PROTOCOLS
from .proxy import Faults, lossless_faults
from .pytest_items import HarnessCollector, ServerUnderTest, make_target, options_key, server_key
from .targets import Target, names_placeholder
from .targets import reference_target as _reference_target

REFERENCE_SERVERS = reference.echo_servers()
MODES = ("inprocess", "subprocess")


@dataclass(frozen=True)
class _Option:
    name: str  # --NAME, ini NAME with _ for -, env HARNESS_NAME (upper case)
    kind: type
    default: object
    help: str

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def ini(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env(self) -> str:
        bare = self.name.removeprefix("harness-")
        return f"HARNESS_{bare.replace('-', '_').upper()}"


CHECK_OPTIONS = (
    _Option("harness-timeout", float, 10.0, "upper bound in seconds for one exchange"),
    _Option("harness-idle", float, 2.0, "seconds without a byte moving after which an exchange has hung"),
    _Option("harness-grace", float, 5.0, "seconds a server gets to exit after SIGTERM"),
    _Option("harness-shrink-seconds", float, 10.0, "time allowed to shrink a failing example"),
    _Option("harness-storm", int, 1000, "connect/echo/close cycles of the storm check"),
    _Option(
        "harness-database",
        str,
        None,
        "keep failures in this directory (commit it) or redis://HOST:PORT; every run replays them first",
    ),
)
SERVER_OPTIONS = (
    _Option("server-cmd", str, None, "run the conformance checks against this server: 'COMMAND {port}'"),
    _Option("server-connect", str, None, "run the checks against a server already running at HOST:PORT"),
    _Option("server-host", str, "127.0.0.1", "loopback address for --server-cmd (127.0.0.1 or ::1)"),
    _Option("server-sequential", bool, False, "the server serves one client at a time"),
    _Option("server-strict", bool, False, "warnings fail too"),
    _Option(
        "server-faults",
        str,
        None,
        "run the checks (but lifecycle) through the fault proxy, e.g. 'segments=1/7,gaps=0.05,latency=0.01'",
    ),
    _Option("server-protocol", str, "echo", "what the server speaks: echo, framed, greeting, http-file, udp-echo"),
    _Option("server-root", str, None, "http-file: the directory the server serves ({root} in the command)"),
    _Option("server-max-frame", int, None, "framed: the largest body the server accepts (default 1048576)"),
    _Option("server-banner", str, None, "greeting: the banner every client must get"),
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
#: the rule of each numeric option (:mod:`harness.validate`)
_RULES = {
    "harness-timeout": validate.SECONDS,
    "harness-idle": validate.SECONDS,
    "harness-grace": validate.SECONDS,
    "harness-shrink-seconds": validate.SECONDS,
    "harness-storm": validate.CYCLES,
    "server-max-frame": validate.MAX_FRAME,
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("socket-harness", "Socket Harness (TCP server conformance checks)")
    for opt in CHECK_OPTIONS + SERVER_OPTIONS:
        where = f"(ini {opt.ini}, env {opt.env})"
        if opt.kind is bool:
            group.addoption(opt.flag, dest=opt.ini, action="store_true", default=None, help=f"{opt.help} {where}")
            parser.addini(opt.ini, help=opt.help, type="bool", default=None)
        else:
            group.addoption(opt.flag, dest=opt.ini, default=None, help=f"{opt.help} {where}")
            parser.addini(opt.ini, help=opt.help, default=None)


def _value(config: pytest.Config, opt: _Option) -> object:
    """The option's value from the command line, else the ini file, else the environment, else its default;
    a bad value (a number that is not finite or not in its range, :mod:`harness.validate`) is a one-line usage
    error that names where it came from."""
    for source, raw in (
        (opt.flag, config.getoption(opt.ini)),
        (f"ini key {opt.ini}", config.getini(opt.ini)),
        (f"environment variable {opt.env}", os.environ.get(opt.env)),
    ):
        if raw is None or (raw == "" and opt.kind is not bool):
            continue
        if opt.kind is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in _TRUE | _FALSE:
                return str(raw).lower() in _TRUE
            raise pytest.UsageError(f"{source}: expected true or false, got {raw!r}")
        try:
            if opt.name == "harness-database":  # a path is relative to the project, wherever pytest runs
                return validate.database(source, str(raw) if "://" in str(raw) else str(config.rootpath / str(raw)))
            if opt.name == "server-cmd":
                validate.command_line(source, str(raw))
            if opt.name == "server-host" and raw not in LOOPBACK_HOSTS:
                raise validate.BadValue(f"{source}: must be one of {', '.join(LOOPBACK_HOSTS)}, got {raw!r}")
            if opt.kind is str:
                return str(raw)
            rule = _RULES[opt.name]
            return validate.whole(source, raw, rule) if rule.whole else validate.real(source, raw, rule)
        except validate.BadValue as exc:
            raise pytest.UsageError(str(exc)) from None
    return opt.default


#: a bad value found in the environment of a run that does not use the harness (see :func:`pytest_configure`)
_deferred_key = pytest.StashKey[str]()


def _harness_requested(config: pytest.Config) -> bool:
    """True when this run checks a server (``--server-cmd``/``--server-connect``, from any source)."""
    return any(
        config.getoption(name) or config.getini(name) or os.environ.get(f"HARNESS_{name.upper()}")
        for name in ("server_cmd", "server_connect")
    )


def pytest_configure(config: pytest.Config) -> None:
    try:
        _configure_options(config)
    except pytest.UsageError as exc:
        # a HARNESS_* variable is a name anyone may use: in a run that does not check a server, a bad one fails
        # only the tests that use the harness' fixtures, not the user's whole unrelated suite
        if _harness_requested(config) or "environment variable" not in str(exc):
            raise
        config.stash[_deferred_key] = str(exc)
        config.stash[options_key] = CheckOptions()
        for opt in SERVER_OPTIONS:
            setattr(config.option, opt.ini, opt.default)
    # the checks run on the harness' own profile; Hypothesis' global default (the user's tests) is left alone
    profiles.select(config.getoption("hypothesis_profile", None))
    config.addinivalue_line("markers", "harness_check(id): the Socket Harness check a test runs")
    try:
        target = make_target(config)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    if target is not None:
        faults = _faults(config.option.server_faults, config.stash[options_key].idle)
        config.stash[server_key] = ServerUnderTest(target, faults)


def _configure_options(config: pytest.Config) -> None:
    """Read and validate every option into ``config`` (:class:`pytest.UsageError` for a bad one)."""
    values = {opt.ini.removeprefix("harness_"): _value(config, opt) for opt in CHECK_OPTIONS}
    database = values.pop("database")
    if isinstance(database, str) and "://" not in database:
        database = str(config.rootpath / database)  # relative to the project, wherever pytest runs
    try:
        corpus.configure(database if isinstance(database, str) else None)
    except HarnessError as exc:
        raise pytest.UsageError(f"--harness-database: {exc}") from None
    config.stash[options_key] = CheckOptions(**values)  # type: ignore[arg-type]
    for opt in SERVER_OPTIONS:
        setattr(config.option, opt.ini, _value(config, opt))
    config.stash[options_key] = _with_protocol(config, config.stash[options_key])


def _options(config: pytest.Config) -> CheckOptions:
    """The check options, or the test fails with the bad value that was deferred (see :func:`pytest_configure`)."""
    deferred = config.stash.get(_deferred_key, None)
    if deferred is not None:
        pytest.fail(deferred, pytrace=False)
    return config.stash[options_key]


def _with_protocol(config: pytest.Config, options: CheckOptions) -> CheckOptions:
    """``options`` with the ``--server-protocol`` settings; for http-file without ``--server-root``, a fixture
    tree made in a temporary directory (removed at the end of the session)."""
    name = config.option.server_protocol
    if name not in PROTOCOLS:
        raise pytest.UsageError(f"--server-protocol: unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    root, max_frame, banner = config.option.server_root, config.option.server_max_frame, config.option.server_banner
    fields: dict[str, object] = {"protocol": name}
    if root is not None:
        if not os.path.isdir(root):
            raise pytest.UsageError(f"--server-root {root}: no such directory")
        fields["root"] = os.path.abspath(root)
    elif name == "http-file":
        command = config.option.server_cmd
        if command and not names_placeholder(shlex.split(command), "root"):
            raise pytest.UsageError(
                "--server-protocol http-file: say which directory the server serves: --server-root DIR, or put "
                "{root} in --server-cmd to have it serve a fixture tree the harness makes"
            )
        stack = contextlib.ExitStack()
        config.add_cleanup(stack.close)
        fields["root"] = stack.enter_context(fixture_root())
    if max_frame is not None:
        fields["max_frame"] = max_frame
    if banner is not None:
        fields["banner"] = banner.encode()
    return dataclasses.replace(options, **fields)  # type: ignore[arg-type]


def _faults(spec: str | None, idle: float) -> Faults | None:
    """``--server-faults``: lossless faults only (a cut fails every echo check by design) whose silences stay
    under ``idle`` (:func:`harness.validate.faults_fit_idle`), else a usage error."""
    if not spec:
        return None
    try:
        faults = lossless_faults("--server-faults", spec)
        validate.faults_fit_idle("--server-faults", faults.gaps, faults.latency, idle, "--harness-idle")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    return faults


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if server_key in config.stash:
        collector = HarnessCollector.from_parent(session, name="socket-harness", nodeid="socket-harness")
        items.extend(collector.collect())


def pytest_sessionfinish(session: pytest.Session) -> None:
    server = session.config.stash.get(server_key, None)
    if server is not None:
        server.close()


@pytest.fixture(scope="session")
def harness_options(request: pytest.FixtureRequest) -> CheckOptions:
    """Check options from ``--harness-*`` / ``harness_*`` ini keys / ``HARNESS_*`` env variables."""
    return _options(request.config)


@pytest.fixture
def refused_address() -> Iterator[Address]:
    """A loopback ``(host, port)`` that refuses connections at once (bound, never listening)."""
    with _refused_address() as address:
        yield address


def make_reference_target(
    name: str, mode: str, grace: float = 5.0, server_options: dict[str, object] | None = None
) -> Target:
    """Reference server ``name`` as an in-process (``inprocess``) or ``subprocess`` target, constructed with
    ``server_options`` (e.g. ``{"root": DIR}`` for ``http_file``)."""
    return _reference_target(name, mode, grace=grace, server_options=server_options)


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
    with running_reference_target(name, mode, _options(request.config).grace) as target:
        yield target


@contextlib.contextmanager
def running_reference_target(
    name: str, mode: str, grace: float = 5.0, server_options: dict[str, object] | None = None
) -> Iterator[Target]:
    """Start reference server ``name`` in ``mode`` (with ``server_options``); on leaving, assert a clean stop
    (if the block did not fail) and always release it."""
    target = make_reference_target(name, mode, grace, server_options)
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
