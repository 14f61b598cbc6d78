"""``pytest --server-cmd "COMMAND {port}"``: the check catalogue as pytest items, one per check.

The server is started once, before the first check, and stopped when the session ends (also after a failure
or a pytest-timeout, since :meth:`Target.close` kills its whole process group). A ``fail`` verdict fails the
item with the check's explanation and minimal reproducer; ``warn`` passes with a warning (fails with
``--server-strict``); ``skip`` skips with the reason. ``--server-faults SPEC`` runs every check but the
lifecycle ones through the fault proxy. As the command line does, a failing or warning check's reproducer is
also written to ``harness-repro/CHECK_ID.py`` (in the directory pytest was started from).
"""

from __future__ import annotations

import shlex
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import reproduce
from .checks import CheckOptions, CheckResult, Verdict, catalogue, run_check
from .checks.base import Check
from .errors import StartupFailure
from .net import parse_address
from .protocols import protocol
from .proxy import Faults, ProxiedView
from .targets import ConnectTarget, SubprocessTarget, Target, names_port

#: where reproducers are written, under the directory pytest was started from (as the command line's default)
REPRO_DIR = "harness-repro"


def keep_reproducer(result: CheckResult, directory: Path) -> None:
    """:func:`harness.reproduce.keep`; a file that cannot be written is reported in the failure instead."""
    try:
        reproduce.keep(result, directory)
    except OSError as exc:
        result.message += f"\n(the reproducer could not be written to {directory}: {exc.strerror})"


class HarnessCheckWarning(UserWarning):
    """A ``warn`` verdict: an operational flaw of the server under test."""


class CheckFailed(Exception):
    """Raised by an item whose check failed; carries the result for the report."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.message)
        self.result = result


@dataclass
class ServerUnderTest:
    """The one server of a ``--server-cmd`` session, started on first use; with ``faults``, checks other than
    the lifecycle ones reach it through a fault proxy (:attr:`view`)."""

    target: Target
    faults: Faults | None = None
    started: bool = False
    startup_error: str | None = None
    view: ProxiedView | None = None

    def ensure_started(self) -> None:
        if not self.started:
            self.started = True
            try:
                self.target.start()
            except StartupFailure as exc:
                self.startup_error = exc.message
                return
            if self.faults is not None:
                self.view = ProxiedView(self.target, self.faults)

    def close(self) -> None:
        if self.view is not None:
            self.view.close()
        if self.started:
            self.target.close()


def make_target(config: pytest.Config) -> Target | None:
    """The target described by ``--server-cmd`` / ``--server-connect``, or None if neither is given."""
    command = config.getoption("server_cmd")
    connect = config.getoption("server_connect")
    sequential = bool(config.getoption("server_sequential"))
    host = config.getoption("server_host")
    if command and connect:
        raise pytest.UsageError("--server-cmd and --server-connect exclude each other")
    options: CheckOptions = config.stash[options_key]
    transport = protocol(options.protocol).transport
    if connect:
        return ConnectTarget(parse_address(connect), sequential=sequential, transport=transport)
    if not command:
        return None
    argv = shlex.split(command)
    return SubprocessTarget(
        argv,
        host,
        port=None if names_port(argv) else 0,
        grace=options.grace,
        sequential=sequential,
        name=command,
        transport=transport,
        placeholders={"root": options.root} if options.root is not None else None,
    )


options_key = pytest.StashKey[CheckOptions]()
server_key = pytest.StashKey[ServerUnderTest]()


class HarnessCollector(pytest.Collector):
    """Collects one :class:`HarnessCheckItem` per check of the catalogue."""

    def collect(self) -> Iterator[pytest.Item]:
        for chk in catalogue(self.config.stash[options_key].protocol):
            yield HarnessCheckItem.from_parent(self, name=chk.id, check=chk)


class HarnessCheckItem(pytest.Item):
    """One check against the server under test."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.add_marker(pytest.mark.harness_check(check.id))

    def runtest(self) -> None:
        server = self.config.stash[server_key]
        server.ensure_started()
        if server.startup_error is not None:
            if self.check.id == "startup.ready":
                raise CheckFailed(CheckResult(self.check.id, Verdict.FAIL, 0.0, server.startup_error))
            pytest.skip("the server did not start (see startup.ready)")
        if self.check.id == "startup.ready":
            return
        on = (server.view or server.target).target_for(self.check.id)
        result = run_check(self.check, on, self.config.stash[options_key])
        keep_reproducer(result, Path(self.config.invocation_params.dir) / REPRO_DIR)
        if result.verdict is Verdict.SKIP:
            pytest.skip(result.message)
        strict = bool(self.config.getoption("server_strict"))
        if result.verdict in (Verdict.FAIL, Verdict.ERROR) or (result.verdict is Verdict.WARN and strict):
            raise CheckFailed(result)
        if result.verdict is Verdict.WARN:
            warnings.warn(HarnessCheckWarning(f"{self.check.id}: {result.message}"), stacklevel=1)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            r = excinfo.value.result
            lines = [f"{r.id} {r.verdict.value}: {r.message}", f"guarantee: {self.check.guarantee}"]
            if r.reproducer_path:
                lines += [f"reproducer: python3 {r.reproducer_path} [HOST] PORT  (exit 1 while the bug is there)"]
            if r.reproducer:
                lines += ["minimal reproducer:", r.reproducer]
            if r.stderr_tail:
                lines += ["server stderr (last lines):", r.stderr_tail]
            return "\n".join(lines)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "socket-harness", None, f"{self.check.id}: {self.check.guarantee}"
