"""The pytest plugin's shell: ``pytest --server-cmd`` runs the catalogue as tests, options are validated with
where they came from, and a failing check shows its explanation and reproducer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BROKEN = Path(__file__).parent / "broken"


def pytest_in(directory: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "--rootdir", str(directory),
         str(directory), *args],
        capture_output=True, text=True, timeout=300, cwd=directory, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_server_cmd_runs_every_check_against_a_correct_server(tmp_path: Path) -> None:
    from socket_harness import catalogue

    command = f"{sys.executable} -m socket_harness.servers.threaded --port {{port}}"
    collected = pytest_in(tmp_path, "--collect-only", "-q", "--server-cmd", command)
    items = [line for line in collected.stdout.splitlines() if line.startswith("socket-harness::")]
    assert {item.split("::")[1] for item in items} == {c.id for c in catalogue()}, collected.stdout
    done = pytest_in(tmp_path, "-v", "-k", "fidelity or sigterm or startup", "--server-cmd", command)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "socket-harness::echo.fidelity PASSED" in done.stdout
    assert "socket-harness::lifecycle.sigterm PASSED" in done.stdout


def test_server_cmd_fails_a_broken_server_with_its_reproducer(tmp_path: Path) -> None:
    command = f"{sys.executable} {BROKEN / 'recv_once.py'} {{port}}"
    done = pytest_in(tmp_path, "-k", "fidelity", "--server-cmd", command, "--harness-shrink-seconds", "3")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "echo.fidelity fail" in done.stdout
    assert "minimal reproducer" in done.stdout and "socket.create_connection" in done.stdout
    written = tmp_path / "harness-repro" / "echo.fidelity.py"  # and written, as the command line does
    assert f"reproducer: python3 {written}" in done.stdout and written.is_file(), done.stdout[-3000:]


def test_server_protocol_runs_that_protocols_catalogue(tmp_path: Path) -> None:
    from socket_harness import catalogue

    command = f"{sys.executable} {BROKEN / 'framed_one_per_recv.py'} {{port}}"
    done = pytest_in(tmp_path, "-v", "--server-cmd", command, "--server-protocol", "framed", "-k", "framed")
    ran = {line.split("::")[1].split()[0] for line in done.stdout.splitlines() if line.startswith("socket-harness::")}
    assert ran == {c.id for c in catalogue("framed") if c.id.startswith("framed.")}, done.stdout[-3000:]
    assert "socket-harness::framed.back-to-back FAILED" in done.stdout
    assert done.returncode == 1
    bad = pytest_in(tmp_path, "--server-cmd", command, "--server-protocol", "gopher")
    assert bad.returncode == 4 and "unknown protocol 'gopher'" in bad.stderr, bad.stderr
    rootless = pytest_in(tmp_path, "--server-cmd", "python3 web.py {port}", "--server-protocol", "http-file")
    assert rootless.returncode == 4 and "--server-root DIR" in rootless.stderr, rootless.stderr


def test_server_faults_run_the_checks_through_the_fault_proxy(tmp_path: Path) -> None:
    """drops_silent_clients passes echo.fidelity on loopback and fails it behind 300 ms gaps; the reproducer
    starts a proxy with the same faults; lifecycle checks still talk to the server itself."""
    faults = ["--server-faults", "segments=100,gaps=0.3", "--harness-shrink-seconds", "3"]
    command = f"{sys.executable} {BROKEN / 'drops_silent_clients.py'} {{port}}"
    done = pytest_in(tmp_path, "-k", "fidelity or port-refuses", "--server-cmd", command, *faults)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "echo.fidelity fail" in done.stdout and "PROXY = Proxy(ADDRESS, " in done.stdout, done.stdout[-3000:]
    assert "1 failed, 1 passed" in done.stdout, done.stdout[-500:]  # lifecycle.port-refuses passes, direct
    lossy = pytest_in(tmp_path, "--server-cmd", command, "--server-faults", "cut=reset@3")
    assert lossy.returncode == 4 and "--server-faults takes faults that lose nothing" in lossy.stderr


def test_warnings_pass_unless_strict_which_can_come_from_the_environment(tmp_path: Path) -> None:
    command = f"{sys.executable} {BROKEN / 'nagle_two_writes.py'} {{port}}"
    relaxed = pytest_in(tmp_path, "-k", "nagle", "--server-cmd", command)
    assert relaxed.returncode == 0 and "HarnessCheckWarning" in relaxed.stdout, relaxed.stdout[-3000:]
    strict = pytest_in(tmp_path, "-k", "nagle", "--server-cmd", command, env={"HARNESS_SERVER_STRICT": "1"})
    assert strict.returncode == 1, strict.stdout[-3000:]


def test_a_server_that_never_starts_fails_startup_and_skips_the_rest(tmp_path: Path) -> None:
    done = pytest_in(tmp_path, "-rs", "--server-cmd", f"{sys.executable} {BROKEN / 'crashes_at_startup.py'} {{port}}")
    assert done.returncode == 1
    assert "startup.ready fail" in done.stdout and "KeyError" in done.stdout
    assert "the server did not start" in done.stdout


def test_bad_option_values_name_their_source(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nharness_timeout = soon\n")
    done = pytest_in(tmp_path)
    assert done.returncode == 4
    assert "ini key harness_timeout: must be a finite number of seconds > 0" in done.stderr
    done = pytest_in(tmp_path, "--harness-timeout", "-3")
    assert "--harness-timeout: must be a finite number of seconds > 0" in done.stderr
    (tmp_path / "pytest.ini").unlink()
    # an environment variable counts as the harness' once the run checks a server (else: test_good_citizen)
    done = pytest_in(tmp_path, "--server-connect", "127.0.0.1:1", env={"HARNESS_SERVER_STRICT": "maybe"})
    assert done.returncode == 4
    assert "environment variable HARNESS_SERVER_STRICT: expected true or false" in done.stderr


def test_a_pytest_timeout_still_kills_the_server_group(tmp_path: Path) -> None:
    """pytest-timeout (signal method) interrupts a test mid-start-up: the server and its child are killed."""
    marker = f"harness-timeout-probe-{os.getpid()}"
    server = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', sys.argv[1]]); "
        "print('child started', flush=True); time.sleep(300)"
    )
    (tmp_path / "test_hang.py").write_text(
        "import sys\n"
        "import pytest\n"
        "from socket_harness import SubprocessTarget\n\n"
        "@pytest.mark.timeout(3)\n"
        "def test_hangs():\n"
        f"    cmd = [sys.executable, '-c', {server!r}, {marker!r}]\n"
        "    with SubprocessTarget(cmd, port=None, startup_timeout=60) as target:\n"
        "        pass\n"
    )
    done = pytest_in(tmp_path, "-s")
    assert done.returncode == 1 and "Timeout" in done.stdout, done.stdout[-2000:]
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert left.stdout == "", f"processes left behind: {left.stdout}"


def test_pgrep_sees_marked_processes() -> None:
    """The check above can fail: a live process with the marker in its argv is found by pgrep."""
    marker = f"harness-pgrep-probe-{os.getpid()}"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    try:
        from socket_harness.waiting import poll_until

        assert poll_until(lambda: subprocess.run(["pgrep", "-f", marker], capture_output=True).stdout, 10)
    finally:
        proc.kill()
        proc.wait()
