"""Clean shutdown while clients are mid-stream, for every reference server in both modes: in-flight echo
completes within the grace period, exit status 0, no traceback, the port refuses and is bindable again,
no threads, descriptors or processes left behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from socket_harness import CheckOptions, CheckResult, Target, Verdict
from socket_harness.checks.lifecycle import observe_shutdown
from socket_harness.plugin import MODES, REFERENCE_SERVERS, running_reference_target

LIFECYCLE = ["lifecycle.sigterm", "lifecycle.drain", "lifecycle.port-refuses", "lifecycle.group", "lifecycle.traceback"]
LIFECYCLE += ["lifecycle.restart", "lifecycle.bind-address"]


@pytest.fixture(params=[(n, m) for n in REFERENCE_SERVERS for m in MODES], ids=lambda p: f"{p[0]}-{p[1]}")
def fresh_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """A reference server of its own for each test (lifecycle checks stop and restart it)."""
    with running_reference_target(*request.param) as target:
        yield target


def test_shutdown_mid_stream_is_clean(
    fresh_target: Target, run_harness_check: Callable[..., CheckResult], harness_options: CheckOptions
) -> None:
    results = {cid: run_harness_check(cid, fresh_target) for cid in LIFECYCLE}
    in_process = fresh_target.pid is None
    for cid, result in results.items():
        if in_process and cid in ("lifecycle.group", "lifecycle.traceback"):
            assert result.verdict is Verdict.SKIP, result.message
        else:
            assert result.verdict is Verdict.PASS, f"{cid}: {result.message}"
    obs = observe_shutdown(fresh_target, harness_options)  # the cached observation the checks judged
    assert obs.report is not None and obs.report.returncode == 0 and obs.report.exited_in_grace
    assert obs.inflight and obs.inflight_problem is None and obs.port_after == "refused" and obs.rebind_problem is None
    assert obs.restarted
    assert "Traceback" not in obs.stderr and not obs.threads_left
    assert fresh_target.alive(), "the lifecycle checks must leave a running server behind"
