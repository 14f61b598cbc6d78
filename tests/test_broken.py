"""Proof that the checks can fail: every deliberately broken server in ``tests/broken`` is caught by the check
its docstring names, with the verdict class of that check (``fail`` or ``warn``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness import CheckOptions, SubprocessTarget, Verdict, check_target
from harness.runner import select

BROKEN = Path(__file__).parent / "broken"

#: script -> (check id, verdict, words the explanation must contain)
CAUGHT_BY = {
    "recv_once": ("echo.fidelity", Verdict.FAIL, "came back"),
    "ignores_partial_send": ("echo.fidelity", Verdict.FAIL, "came back"),
    "accepts_never_answers": ("echo.fidelity", Verdict.FAIL, "came back"),
    "wrong_bytes": ("echo.fidelity", Verdict.FAIL, "differs at byte"),
    "strips_newlines": ("echo.fidelity", Verdict.FAIL, ""),
    "recv_until_short": ("echo.partial", Verdict.FAIL, "came back"),
    "no_half_close": ("echo.half-close", Verdict.FAIL, "instead of FIN"),
    "rst_on_close": ("echo.half-close", Verdict.FAIL, "RST"),
    "drops_pending_on_eof": ("echo.half-close", Verdict.FAIL, "lost"),
    "unbounded_buffer": ("echo.backpressure", Verdict.FAIL, "buffering is unbounded"),
    "shared_buffer": ("conn.concurrency", Verdict.FAIL, "client"),
    "serves_one_then_exits": ("conn.concurrency", Verdict.FAIL, "client"),
    "sequential_blocking": ("conn.idle", Verdict.FAIL, "idle connections"),
    "slow_accept": ("conn.idle", Verdict.FAIL, "idle connections"),
    "dies_on_reset": ("conn.reset", Verdict.FAIL, "reset"),
    "leaks_fds": ("conn.storm", Verdict.FAIL, "descriptor leak"),
    "nagle_two_writes": ("latency.nagle", Verdict.WARN, "Nagle"),
    "ignores_sigterm": ("lifecycle.sigterm", Verdict.FAIL, "did not exit"),
    "drops_inflight": ("lifecycle.sigterm", Verdict.FAIL, "mid-stream"),
    "traceback_on_exit": ("lifecycle.traceback", Verdict.WARN, "traceback"),
    "forking_keeps_listener": ("lifecycle.port-refuses", Verdict.FAIL, "still accepts"),
    "no_reuseaddr": ("lifecycle.restart", Verdict.WARN, "Address already in use"),
    "listens_all_interfaces": ("lifecycle.bind-address", Verdict.WARN, "all interfaces"),
    "never_listens": ("startup.ready", Verdict.FAIL, "did not"),
    "crashes_at_startup": ("startup.ready", Verdict.FAIL, "KeyError"),
}

#: quick options: hangs are detected after 1 s of silence, shrinking gets 3 s
OPTIONS = CheckOptions(timeout=5.0, idle=1.0, grace=2.0, examples=10, shrink_seconds=3.0)


def test_every_broken_server_is_listed() -> None:
    scripts = {p.stem for p in BROKEN.glob("*.py")} - {"__init__"}
    assert scripts == set(CAUGHT_BY)


def run_broken(script: str, check_id: str, **target_options: object) -> tuple[Verdict, str, str | None]:
    target = SubprocessTarget(
        [sys.executable, str(BROKEN / f"{script}.py"), "{port}"],
        port=0,
        grace=OPTIONS.grace,
        startup_timeout=2.0,
        name=script,
        **target_options,  # type: ignore[arg-type]
    )
    report = check_target(target, OPTIONS, select([check_id]))
    result = next(r for r in report.results if r.id == check_id)
    return result.verdict, result.message, result.reproducer


@pytest.mark.parametrize("script", sorted(CAUGHT_BY))
def test_broken_server_is_caught_by_its_check(script: str) -> None:
    check_id, verdict, words = CAUGHT_BY[script]
    got, message, reproducer = run_broken(script, check_id)
    assert got is verdict, f"{script}: {check_id} said {got}: {message}"
    assert words in message, message
    if check_id.startswith("echo.") and check_id != "echo.backpressure":
        assert reproducer and "socket.create_connection" in reproducer


def test_sequential_blocking_is_correct_as_a_sequential_server() -> None:
    """The same server checked as sequential: queued clients are served in turn, the idle check is skipped."""
    verdict, message, _ = run_broken("sequential_blocking", "conn.concurrency", sequential=True)
    assert verdict is Verdict.PASS, message
    verdict, message, _ = run_broken("sequential_blocking", "conn.idle", sequential=True)
    assert verdict is Verdict.SKIP, message
