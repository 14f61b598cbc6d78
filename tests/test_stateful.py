"""The stateful machine (``fuzz.stateful``) catches bugs that only an interleaving or a reset shows, which
the single-connection echo checks cannot see, and prints the failing step sequence as a replay script."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from socket_harness import CheckOptions, SubprocessTarget, Verdict, check_target
from socket_harness.runner import select

BROKEN = Path(__file__).parent / "broken"
OPTIONS = CheckOptions(idle=1.0, grace=2.0, shrink_seconds=8.0)
SINGLE_CONNECTION = ["echo.fidelity", "echo.partial", "echo.half-close", "echo.interactive", "echo.large"]


def target_for(script: str) -> SubprocessTarget:
    return SubprocessTarget([sys.executable, str(BROKEN / f"{script}.py"), "{port}"], port=0, grace=2, name=script)


@pytest.mark.parametrize(
    "script",
    [
        "echoes_to_newest_client",  # one client's echo lands in another's stream
        "closes_wrong_socket_on_reset",  # one client's reset kills another
    ],
)
def test_only_the_stateful_machine_catches_it(script: str) -> None:
    single = check_target(target_for(script), OPTIONS, select(SINGLE_CONNECTION)).results
    assert all(r.verdict is Verdict.PASS for r in single), [(r.id, r.verdict, r.message) for r in single]

    searching = dataclasses.replace(OPTIONS, examples=40)  # as the zoo does: the search needs sequences
    result = check_target(target_for(script), searching, select(["fuzz.stateful"])).results[-1]
    assert result.verdict is Verdict.FAIL, result.message
    assert "open c0" in result.message and " steps: " in result.message, result.message
    assert result.reproducer is not None
    compile(result.reproducer, "replay", "exec")


def test_the_replay_script_shows_a_deterministic_failure() -> None:
    """On a deterministic bug (one recv(1024), then close), the printed script replays the failure."""
    result = check_target(target_for("recv_once"), OPTIONS, select(["fuzz.stateful"])).results[-1]
    assert result.verdict is Verdict.FAIL and result.reproducer, result.message
    steps = int(result.message.split(" after ")[1].split(" steps")[0])
    assert steps <= 6, f"a deterministic bug shrinks to a few steps: {result.message}"
    with target_for("recv_once") as target:
        host, port = target.address
        done = subprocess.run([sys.executable, "-c", result.reproducer, host, str(port)], capture_output=True,
                              text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1 and done.stdout.startswith("FAIL: "), done.stdout + done.stderr
