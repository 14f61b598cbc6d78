"""Servers that try to escape: every process they start is found and ended, also when the harness is SIGKILLed.

Each hostile server (tests/hostile/) records the pid of every process it makes in the file named by
$HOSTILE_PIDS: the tests' own observation, independent of how the harness tracks processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from socket_harness import sysinfo
from socket_harness.process import ServerProcess
from socket_harness.waiting import poll_until

HOSTILE = Path(__file__).parent / "hostile"
pytestmark = pytest.mark.skipif(not sysinfo.available(), reason="process tracking needs /proc")

#: within this many seconds of the harness' end, no process of a server may remain (issue 12)
GONE_WITHIN = 3.0


def recorded(path: Path) -> dict[int, str]:
    """pid -> role, from a $HOSTILE_PIDS file."""
    if not path.exists():
        return {}
    return {int(pid): role for role, pid in (line.split() for line in path.read_text().splitlines() if line)}


def alive(pids: object) -> list[int]:
    return [p for p in pids if sysinfo.alive(p)]  # type: ignore[attr-defined]


def check(server: str, tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    pids = tmp_path / "pids"
    report = tmp_path / "report.json"
    out = (tmp_path / "stdout").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "check",
            "--grace",
            "1",
            "--json",
            str(report),
            *extra,
            "--",
            sys.executable,
            str(HOSTILE / server),
            "{port}",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, HOSTILE_PIDS=str(pids)),
    )
    out.close()
    return proc, pids, report


def verdicts(report: Path) -> dict[str, tuple[str, str]]:
    data = json.loads(report.read_text())
    return {c["id"]: (c["verdict"], c["message"]) for s in data["servers"] for c in s["checks"]}


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("helper_new_session.py", {"lifecycle.group": "fail", "echo.fidelity": "pass"}),
        ("setsid_child.py", {"lifecycle.group": "fail", "lifecycle.port-refuses": "fail"}),
        ("double_fork_daemon.py", {"startup.ready": "pass", "echo.fidelity": "pass", "lifecycle.group": "pass"}),
    ],
)
def test_an_escaping_process_is_judged_and_ended(server: str, expected: dict[str, str], tmp_path: Path) -> None:
    proc, pids, report = check(server, tmp_path, "--only", "echo.fidelity", "--only", "lifecycle.*")
    try:
        proc.wait(timeout=100)
    finally:
        proc.kill()
    got = verdicts(report)
    for cid, verdict in expected.items():
        assert got[cid][0] == verdict, (cid, got[cid], (tmp_path / "stdout").read_text())
    made = recorded(pids)
    assert len(made) >= 2, made  # the server did start the processes it escapes with
    assert poll_until(lambda: not alive(made), GONE_WITHIN), {p: made[p] for p in alive(made)}


def test_a_daemon_is_followed_to_the_process_that_holds_the_port(tmp_path: Path) -> None:
    proc, _pids, report = check("double_fork_daemon.py", tmp_path, "--only", "echo.fidelity")
    assert proc.wait(timeout=60) == 0, (tmp_path / "stdout").read_text()
    message = verdicts(report)["startup.ready"][1]
    assert "exited with status 0 and left pid" in message and "double_fork_daemon.py" in message, message


@pytest.mark.parametrize(
    ("server", "roles"),
    [
        ("helper_new_session.py", {"server", "helper"}),
        ("setsid_child.py", {"server", "child"}),
        ("double_fork_daemon.py", {"launcher", "daemon"}),
        ("floods_output.py", {"server"}),
    ],
)
def test_sigkill_of_the_harness_mid_check_takes_its_servers_with_it(
    server: str, roles: set[str], tmp_path: Path
) -> None:
    proc, pids, _report = check(server, tmp_path, "--only", "echo.*", "--examples", "1000")
    stdout = tmp_path / "stdout"
    try:
        assert poll_until(
            lambda: roles <= set(recorded(pids).values()) and b"startup.ready" in stdout.read_bytes(), 30
        ), (
            recorded(pids),
            stdout.read_text(),
        )
        made = recorded(pids)
        assert alive(made), "nothing to contain: the server ended before the harness was killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed = time.monotonic()
        assert poll_until(lambda: not alive(made), GONE_WITHIN), {p: made[p] for p in alive(made)}
        print(f"{server}: every process gone {time.monotonic() - killed:.3f}s after SIGKILL of the harness")
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_output_is_kept_bounded_head_and_tail_with_what_was_dropped() -> None:
    script = (
        "import os, sys\n"
        "os.write(2, b'first line\\n')\n"
        "for _ in range(4096): os.write(2, b'y' * 4096)\n"  # 16 MiB
        "os.write(2, b'\\nlast line\\n')\n"
    )
    with ServerProcess([sys.executable, "-c", script]) as server:
        assert server.wait(30)
        server.kill_group()
        text = server.stderr()
        assert text.startswith("first line\n") and text.endswith("last line\n")
        assert "bytes not kept" in text and len(text) < 200_000
        assert server.err.total == len("first line\n") + 4096 * 4096 + len("\nlast line\n")
        assert server.stderr_tail(1) == "last line"


def test_no_output_file_or_directory_is_left() -> None:
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("harness-server-*"))
    with ServerProcess([sys.executable, "-c", "print('hello')"]) as server:
        assert server.wait(30)
    assert server.stdout() == "hello\n"
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("harness-server-*")) <= before


def test_sigkill_of_the_harness_leaves_no_temporary_directory(tmp_path: Path) -> None:
    """The http-file fixture tree lives in a temporary directory: the watchdog removes it too."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "stdout"
    server = [sys.executable, "-m", "socket_harness.servers.http_file", "--port", "{port}", "--root", "{root}"]
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "socket_harness", "check", "--protocol", "http-file", "--", *server],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, TMPDIR=str(tmp)),
        )
    try:
        assert poll_until(lambda: b"startup.ready" in out.read_bytes(), 30), out.read_text()
        assert list(tmp.glob("harness-root-*")), "no fixture tree to leave behind"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert poll_until(lambda: not list(tmp.iterdir()), GONE_WITHIN), list(tmp.iterdir())
    finally:
        proc.kill()
        proc.wait(timeout=10)
