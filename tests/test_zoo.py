"""The zoo: the command line run on every server in it.

Every deliberately broken server (``tests/broken``, plus third-party programs with known bugs) must be caught
by the check that targets its bug, with that check's verdict class; every correct server (the reference
servers, third-party programs, servers in other languages) must pass the whole catalogue with no false alarm.
A missed bug or a false alarm fails a test here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from socket_harness.targets import SubprocessTarget, Target, names_port, reference_target

HERE = Path(__file__).parent
PY = sys.executable


def broken(script: str) -> list[str]:
    return [PY, str(HERE / "broken" / f"{script}.py"), "{port}"]


#: name -> (command, check id, verdict, words the explanation must contain)
BROKEN = {
    "recv_once": (broken("recv_once"), "echo.fidelity", "fail", "came back"),
    "ignores_partial_send": (broken("ignores_partial_send"), "echo.fidelity", "fail", "came back"),
    "accepts_never_answers": (broken("accepts_never_answers"), "echo.fidelity", "fail", "came back"),
    "wrong_bytes": (broken("wrong_bytes"), "echo.fidelity", "fail", "differs at byte"),
    "strips_newlines": (broken("strips_newlines"), "echo.fidelity", "fail", ""),
    "recv_until_short": (broken("recv_until_short"), "echo.partial", "fail", "came back"),
    "no_half_close": (broken("no_half_close"), "echo.half-close", "fail", "instead of FIN"),
    "rst_on_close": (broken("rst_on_close"), "echo.half-close", "fail", "RST"),
    "drops_pending_on_eof": (broken("drops_pending_on_eof"), "echo.half-close", "fail", "lost"),
    "endless_echo": (broken("endless_echo"), "echo.half-close", "fail", "more than it was sent, from byte"),
    "closes_after_8mib": (broken("closes_after_8mib"), "echo.large", "fail", "lost"),
    "unbounded_buffer": (broken("unbounded_buffer"), "echo.backpressure", "fail", "buffering is unbounded"),
    "shared_buffer": (broken("shared_buffer"), "conn.concurrency", "fail", "client"),
    "global_done_flag": (broken("global_done_flag"), "conn.concurrency", "fail", "cut off after client B"),
    "serves_one_then_exits": (broken("serves_one_then_exits"), "conn.concurrency", "fail", "client"),
    "sequential_blocking": (broken("sequential_blocking"), "conn.idle", "fail", "idle connections"),
    "slow_accept": (broken("slow_accept"), "conn.idle", "fail", "idle connections"),
    "dies_on_reset": (broken("dies_on_reset"), "conn.reset", "fail", "reset"),
    "leaks_fds": (broken("leaks_fds"), "conn.storm", "fail", "descriptor leak"),
    "leaks_on_reset": (broken("leaks_on_reset"), "conn.fd-growth", "fail", "descriptor leak"),
    "nagle_two_writes": (broken("nagle_two_writes"), "latency.nagle", "warn", "Nagle"),
    "ignores_sigterm": (broken("ignores_sigterm"), "lifecycle.sigterm", "fail", "did not exit"),
    "drops_inflight": (broken("drops_inflight"), "lifecycle.drain", "warn", "mid-stream"),
    "traceback_on_exit": (broken("traceback_on_exit"), "lifecycle.traceback", "warn", "traceback"),
    "forking_keeps_listener": (broken("forking_keeps_listener"), "lifecycle.port-refuses", "fail", "still accepts"),
    "no_reuseaddr": (broken("no_reuseaddr"), "lifecycle.restart", "warn", "Address already in use"),
    "listens_all_interfaces": (broken("listens_all_interfaces"), "lifecycle.bind-address", "warn", "all interfaces"),
    "never_listens": (broken("never_listens"), "startup.ready", "fail", "did not"),
    "echoes_to_newest_client": (broken("echoes_to_newest_client"), "fuzz.stateful", "fail", "steps"),
    "max_clients": (broken("max_clients"), "conn.burst", "fail", "clients connected at once were served"),
    "header_in_accept_loop": (broken("header_in_accept_loop"), "conn.slowloris", "fail", "was not served"),
    "closes_wrong_socket_on_reset": (broken("closes_wrong_socket_on_reset"), "fuzz.stateful", "fail", "steps"),
    "crashes_at_startup": (broken("crashes_at_startup"), "startup.ready", "fail", "KeyError"),
    "picks_own_port": (broken("picks_own_port"), "startup.ready", "fail", "it listens on 127.0.0.1:"),
    "detached_worker": (broken("detached_worker"), "startup.ready", "fail", "not by the server"),
    "drops_silent_clients": (broken("drops_silent_clients"), "fuzz.faults", "fail", "through the proxy"),
    # third-party: nmap's ncat before its half-close fix (nmap/nmap#2510) drops what cat has not written yet
    "ncat --exec /bin/cat": (
        ["ncat", "-l", "{host}", "{port}", "--keep-open", "--exec", "/bin/cat"], "echo.half-close", "fail", "lost",
    ),
}  # fmt: skip

#: name -> (command, extra options); each must pass every check (skips allowed only where they say why). The
#: other reference servers pass every check in tests/test_properties.py and tests/test_lifecycle.py.
CORRECT = {
    "servers.selector": ([PY, "-m", "socket_harness.servers.selector", "--port", "{port}"], []),
    "socat (fork)": (["socat", "TCP-LISTEN:{port},bind={host},reuseaddr,fork,backlog=1024", "EXEC:cat"], []),
    "tcpserver (ucspi-tcp)": (["tcpserver", "-R", "-H", "-l", "0", "-c", "1000", "-b", "1024", "{host}", "{port}",
                               "cat"], []),
    "node net (JavaScript)": (["node", str(HERE / "correct" / "echo_server.js"), "{port}"], []),
    "socketserver (stdlib)": ([PY, str(HERE / "correct" / "stdlib_socketserver.py"), "{port}"], []),
}  # fmt: skip

#: quick settings for the broken servers: a hang is detected after 1 s of silence
QUICK = ["--examples", "10", "--grace", "2", "--startup-timeout", "3", "--timeout", "5", "--idle", "1",
         "--shrink-seconds", "3"]  # fmt: skip
#: the stateful search needs more sequences than a property needs examples
MORE = {"fuzz.stateful": ["--examples", "40"], "fuzz.faults": ["--examples", "40"]}


def need(program: str) -> None:
    """Skip when a third-party program is missing, except in CI, whose .ci/run installs them all."""
    if shutil.which(program) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is not installed: .ci/run must install it")
        pytest.skip(f"{program} is not installed (apt-get install socat ucspi-tcp ncat nodejs)")


def run_cli(command: list[str], *options: str, tmp_path: Path) -> tuple[int, dict[str, dict[str, str]], str]:
    """``python -m harness check OPTIONS -- COMMAND`` (no COMMAND: the reference servers) with a JSON report:
    the exit status, the first server's checks by id, and stdout."""
    if command:
        need(command[0])
    report = tmp_path / "report.json"
    repro = ["--repro-dir", str(tmp_path / "repro")]
    done = subprocess.run(
        [PY, "-m", "socket_harness", "check", *repro, *options, "--json", str(report),
         *(["--", *command] if command else [])],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    checks = {c["id"]: c for c in json.loads(report.read_text())["servers"][0]["checks"]}
    return done.returncode, checks, done.stdout


#: broken servers of the other protocols are named after their protocol, and their zoos are in test_NAME.py
OTHER_PROTOCOLS = ("framed_", "greeting_", "http_", "udp_")


def broken_scripts(prefix: str = "") -> set[str]:
    """The names of the scripts in tests/broken starting with ``prefix`` (no prefix: the echo servers)."""
    names = {p.stem for p in (HERE / "broken").glob("*.py")} - {"__init__"}
    if prefix:
        return {n for n in names if n.startswith(prefix)}
    return {n for n in names if not n.startswith(OTHER_PROTOCOLS)}


def test_every_broken_script_is_in_the_zoo() -> None:
    scripts = broken_scripts()
    assert scripts <= set(BROKEN), scripts - set(BROKEN)


#: checks whose failures leave no reproducer: what they judge is the server's own start and stop
NO_REPRODUCER = ("startup.", "lifecycle.")


def run_reproducer(script: Path, target: Target) -> subprocess.CompletedProcess[str]:
    """``python3 SCRIPT HOST PORT`` against the started ``target``, bounded."""
    host, port = target.address
    return subprocess.run([PY, str(script), host, str(port)], capture_output=True, text=True, timeout=180)


def assert_reproduces(check_id: str, script: Path | None, broken: Target, reference: Target) -> None:
    """The reproducer that failing check ``check_id`` wrote exits 1 against ``broken`` (started afresh) and 0
    against ``reference``, the protocol's reference server; a check of :data:`NO_REPRODUCER` writes none."""
    if check_id.startswith(NO_REPRODUCER):
        assert script is None or not script.exists(), f"{check_id} wrote a reproducer: list it elsewhere"
        return
    assert script is not None and script.is_file(), f"{check_id} failed without writing a reproducer"
    for target, status in ((broken, 1), (reference, 0)):
        with target:
            done = run_reproducer(script, target)
        which = "the broken server" if status else "the reference server"
        output = f"{script.name} against {which}: exit {done.returncode}\n{done.stdout}{done.stderr}"
        assert done.returncode == status, output
        assert len(done.stdout.splitlines()) == 1, f"one line saying which: {done.stdout}"


def reproducer_of(result: dict[str, str]) -> Path | None:
    """The file the command line wrote for ``result`` (a check of the JSON report), if any."""
    return Path(result["reproducer_path"]) if result.get("reproducer_path") else None


def broken_target(command: list[str], **options: object) -> SubprocessTarget:
    """``command`` as the command line starts it (told its port by ``{port}``, else by its readiness line)."""
    port = None if names_port(command) else 0
    return SubprocessTarget(command, port=port, grace=2, startup_timeout=5, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_server_is_caught_by_its_check(name: str, tmp_path: Path) -> None:
    command, check_id, verdict, words = BROKEN[name]
    strict = ["--strict"] if verdict == "warn" else []
    extra = MORE.get(check_id, [])
    status, checks, stdout = run_cli(command, "--only", check_id, *strict, *QUICK, *extra, tmp_path=tmp_path)
    result = checks[check_id]
    assert result["verdict"] == verdict, f"{name}: {check_id} said {result['verdict']}: {result['message']}"
    assert words in result["message"], result["message"]
    assert status == 1, stdout
    script = reproducer_of(result)
    if script is not None:  # its path is printed on the line after the failure
        lines = stdout.splitlines()
        failure = next(n for n, line in enumerate(lines) if line.split()[:2] == [check_id, verdict])
        assert lines[failure + 1].split()[:3] == ["reproducer:", "python3", str(script)], stdout
    assert_reproduces(check_id, script, broken_target(command), reference_target("selector"))


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_server_passes_everything(name: str, tmp_path: Path) -> None:
    command, options = CORRECT[name]
    status, checks, stdout = run_cli(command, *options, tmp_path=tmp_path)
    alarms = {
        cid: f"{c['verdict']}: {c['message']}" for cid, c in checks.items() if c["verdict"] not in ("pass", "skip")
    }
    assert not alarms, f"false alarms for {name}: {alarms}"
    skipped = {cid for cid, c in checks.items() if c["verdict"] == "skip"}
    assert skipped <= ({"conn.idle", "conn.slowloris"} if "--sequential" in options else set()), skipped
    assert status == 0, stdout


def test_sequential_blocking_is_correct_as_a_sequential_server(tmp_path: Path) -> None:
    """The tutorial's sequential server, checked as what it is: queued clients are served in turn."""
    status, checks, stdout = run_cli(broken("sequential_blocking"), "--sequential", "--only", "conn.*", *QUICK,
                                     tmp_path=tmp_path)  # fmt: skip
    assert status == 0, stdout
    assert checks["conn.concurrency"]["verdict"] == "pass" and checks["conn.idle"]["verdict"] == "skip"
