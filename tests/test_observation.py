"""No pass without an observation: every check, run where the thing it observes is taken away, must not pass.

- A *silent* server (it accepts and reads everything, answers nothing, closes when the client closes) takes
  away every reply: no check of any protocol's catalogue but the lifecycle ones (which observe the stop) may
  pass on it.
- A *dead* server (killed after it was ready) takes away everything the lifecycle checks observe: none of
  them may pass.
A check that passes here passed on a precondition it never saw hold.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from socket_harness import CheckOptions, SubprocessTarget, Verdict
from socket_harness.checks import catalogue, run_check
from socket_harness.httproot import fixture_root
from socket_harness.protocols import PROTOCOLS

HERE = Path(__file__).parent
SILENT_TCP = HERE / "broken" / "accepts_never_answers.py"
SILENT_UDP = """
import os, socket, sys
sock = socket.socket(socket.AF_INET6 if ":" in os.environ["HOST"] else socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((os.environ["HOST"], int(sys.argv[1])))
while True:
    sock.recvfrom(65536)  # never answers
"""
QUICK = {"examples": 5, "timeout": 3.0, "idle": 0.5, "grace": 2.0, "shrink_seconds": 1.0, "storm": 50}


def _cases() -> list[tuple[str, str]]:
    return [
        (name, chk.id)
        for name in PROTOCOLS
        for chk in catalogue(name)
        if not chk.id.startswith(("lifecycle.", "startup."))
    ]


@pytest.fixture(scope="module")
def http_root() -> Iterator[str]:
    with fixture_root() as root:
        yield root


def _target(protocol: str, tmp: Path, root: str) -> SubprocessTarget:
    if PROTOCOLS[protocol].transport == "udp":
        script = tmp / "silent_udp.py"
        script.write_text(SILENT_UDP)
        return SubprocessTarget([sys.executable, str(script), "{port}"], transport="udp", grace=2.0)
    return SubprocessTarget([sys.executable, str(SILENT_TCP), "{port}"], grace=2.0, placeholders={"root": root})


@pytest.mark.parametrize(("protocol", "check_id"), _cases(), ids=[f"{p}:{c}" for p, c in _cases()])
def test_no_check_passes_against_a_silent_server(protocol: str, check_id: str, tmp_path: Path, http_root: str) -> None:
    options = CheckOptions(protocol=protocol, root=http_root, **QUICK)  # type: ignore[arg-type]
    chk = next(c for c in catalogue(protocol) if c.id == check_id)
    with _target(protocol, tmp_path, http_root) as target:
        result = run_check(chk, target, options)
    assert result.verdict is not Verdict.PASS, f"{check_id} passed on a server that answers nothing: {result.message}"
    assert result.verdict is not Verdict.ERROR, result.message


LIFECYCLE = [(name, c.id) for name in PROTOCOLS for c in catalogue(name) if c.id.startswith("lifecycle.")]


@pytest.mark.parametrize(("protocol", "check_id"), LIFECYCLE, ids=[f"{p}:{c}" for p, c in LIFECYCLE])
def test_no_lifecycle_check_passes_on_a_server_that_is_already_dead(
    protocol: str, check_id: str, tmp_path: Path, http_root: str
) -> None:
    options = CheckOptions(protocol=protocol, root=http_root, **QUICK)  # type: ignore[arg-type]
    chk = next(c for c in catalogue(protocol) if c.id == check_id)
    with _target(protocol, tmp_path, http_root) as target:
        assert target.pid is not None
        os.kill(target.pid, signal.SIGKILL)
        assert target.process is not None
        target.process.wait(5)
        result = run_check(chk, target, options)
    assert result.verdict is not Verdict.PASS, f"{check_id} passed on a dead server: {result.message}"
    assert result.verdict is not Verdict.ERROR, result.message
