"""The command line: exit status 0/1/2, clear errors without tracebacks, reports, and no orphan process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from socket_harness import sysinfo
from socket_harness.targets import SubprocessTarget

BROKEN = Path(__file__).parent / "broken"


def harness(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socket_harness", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (["check", "--bogus"], "unrecognized arguments"),
        (["check", "--host", "10.0.0.1"], "invalid choice"),
        (["check", "--", "no-such-command-anywhere", "{port}"], "command not found: no-such-command-anywhere"),
        (["check", "--connect", "localhost"], "expected HOST:PORT"),
        (["check", "--connect", "192.168.1.1:80"], "only loopback"),
        (["check", "--port", "9", "--connect", "127.0.0.1:9"], "not allowed with"),
        (["check", "--only", "no.such.check"], "no check matches"),
        (["check", "--grace", "0"], "--grace: must be a finite number of seconds > 0"),
        (["check", "--port", "8000"], "give one after --"),
        (["check", "--faults", "speed=9"], "bad fault 'speed=9'"),
        (["check", "--faults", "cut=reset@10"], "--faults takes faults that lose nothing"),
        (["check", "--protocol", "gopher"], "invalid choice: 'gopher'"),
        (["check", "--root", "."], "--root is an option of --protocol http-file, not of echo"),
        (["check", "--protocol", "framed", "--banner", "hi"], "--banner is an option of --protocol greeting"),
        (["check", "--protocol", "http-file", "--root", "/no/such/dir"], "--root /no/such/dir: no such directory"),
        (["check", "--protocol", "framed", "--max-frame", "-1"], "--max-frame: must be a whole number of bytes"),
        (["check", "--repro-dir", str(BROKEN / "recv_once.py")], "--repro-dir"),
        (["check", "--protocol", "greeting", "--banner-file", "/no/such/file"], "--banner-file /no/such/file"),
        (["check", "--protocol", "udp-echo", "--faults", "segments=1"], "the fault proxy carries TCP streams"),
        (["check", "--protocol", "http-file", "--", "python3", "web.py", "{port}"], "say which directory your server"),
        ([], "required"),
    ],
)
def test_misuse_exits_2_with_a_clear_message(args: list[str], words: str) -> None:
    done = harness(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("script", "status"), [("drops_silent_clients", 1), (None, 0)])
def test_checks_run_through_the_fault_proxy(script: str | None, status: int, tmp_path: Path) -> None:
    """A server that drops a client after 0.25 s of silence passes echo.fidelity on loopback (see the zoo)
    and fails it through a network with 300 ms gaps; a correct one passes through it."""
    server = [str(BROKEN / f"{script}.py")] if script else ["-m", "socket_harness.servers.selector", "--port"]
    done = harness("check", "--faults", "segments=100,gaps=0.3", "--only", "echo.fidelity", "--examples", "3",
                   "--repro-dir", str(tmp_path), "--", sys.executable, *server, "{port}")  # fmt: skip
    assert done.returncode == status, done.stdout + done.stderr
    assert "through faults: segments of 100 B, gaps 300 ms" in done.stdout
    if status:  # the reproducer replays through a proxy of its own (standard library only), with the same faults
        script_path = tmp_path / "echo.fidelity.py"
        text = script_path.read_text()
        assert "PROXY = Proxy(ADDRESS, segments=(100,), gaps=(0.3,)" in text and "import harness" not in text, text
        for command, expected in ((server, 1), (["-m", "socket_harness.servers.selector", "--port"], 0)):
            with SubprocessTarget([sys.executable, *command, "{port}"], port=None) as target:
                replay = subprocess.run([sys.executable, str(script_path), *map(str, target.address)],
                                        capture_output=True, text=True, timeout=60)  # fmt: skip
            assert replay.returncode == expected, replay.stdout + replay.stderr


def test_list_names_every_check_with_its_class_rule_and_module() -> None:
    done = harness("check", "--list")
    assert done.returncode == 0
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    for check_id in ("echo.fidelity", "conn.storm", "lifecycle.sigterm", "latency.nagle"):
        assert check_id in rows, done.stdout
    assert rows["lifecycle.drain"].split()[1] == "warn" and rows["lifecycle.sigterm"].split()[1] == "fail"
    assert rows["conn.burst"].endswith("[harness/checks/adversarial.py]"), rows["conn.burst"]
    assert "framed." not in done.stdout


def test_list_of_a_protocol_names_its_checks_and_the_lifecycle_ones() -> None:
    done = harness("check", "--protocol", "framed", "--list")
    assert done.returncode == 0
    ids = {line.split()[0] for line in done.stdout.splitlines()}
    assert {"framed.fidelity", "framed.oversize", "startup.ready", "lifecycle.sigterm"} <= ids
    assert not any(i.startswith(("echo.", "conn.", "greeting.")) for i in ids), ids


def test_a_correct_server_passes_and_reports_are_written(tmp_path: Path) -> None:
    out = {k: tmp_path / f"report.{k}" for k in ("json", "xml", "html")}
    done = harness(
        "check", "--only", "echo.*", "--json", str(out["json"]), "--junitxml", str(out["xml"]),
        "--html", str(out["html"]), "--", sys.executable, "-m", "socket_harness.servers.selector", "--port", "{port}",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "echo.fidelity" in done.stdout and "pass" in done.stdout
    data = json.loads(out["json"].read_text())
    assert {c["id"] for c in data["servers"][0]["checks"]} >= {"startup.ready", "echo.fidelity"}
    assert all(c["verdict"] == "pass" for c in data["servers"][0]["checks"])
    suite = ET.parse(out["xml"]).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    assert "echo.fidelity" in out["html"].read_text()


def test_a_broken_server_exits_1_with_a_shrunk_reproducer(tmp_path: Path) -> None:
    """The reproducer is written to --repro-dir/CHECK_ID.py, executable, its path printed on the line after the
    failure and kept in the JSON report with its text; -v prints the text inline too."""
    report, repro = tmp_path / "r.json", tmp_path / "repro"
    command = ["--", sys.executable, str(BROKEN / "recv_once.py"), "{port}"]
    done = harness("check", "--only", "echo.fidelity", "--json", str(report), "--repro-dir", str(repro), *command)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    failure = next(n for n, line in enumerate(lines) if line.split()[:2] == ["echo.fidelity", "fail"])
    assert lines[failure + 1].split()[:3] == ["reproducer:", "python3", str(repro / "echo.fidelity.py")], lines
    assert "minimal reproducer" not in done.stdout  # the text itself only with -v
    check = next(c for c in json.loads(report.read_text())["servers"][0]["checks"] if c["id"] == "echo.fidelity")
    assert check["verdict"] == "fail" and check["reproducer_path"] == str(repro / "echo.fidelity.py")
    assert os.access(check["reproducer_path"], os.X_OK)
    assert (repro / "echo.fidelity.py").read_text().endswith(check["reproducer"])
    # shrunk to the smallest payload recv(1024) cannot carry: 1025 bytes
    assert "1025" in check["reproducer"], check["reproducer"]
    verbose = harness("check", "-v", "--only", "echo.fidelity", "--repro-dir", str(repro), *command)
    assert "minimal reproducer" in verbose.stdout and "def echo_client(" in verbose.stdout, verbose.stdout


def test_the_reproducer_replays_the_failure_standalone(tmp_path: Path) -> None:
    """The reproducer, run on its own against the same (restarted) server, exits 1 saying what is wrong; it takes
    the address from its command line ([HOST] PORT) or from HOST/PORT, and says so when nothing listens there."""
    from socket_harness import Verdict, check_target, reproduce
    from socket_harness.checks import CheckOptions
    from socket_harness.runner import select

    target = SubprocessTarget([sys.executable, str(BROKEN / "recv_once.py"), "{port}"], port=0, grace=2)
    options = CheckOptions(examples=10, idle=1, shrink_seconds=3)
    result = check_target(target, options, select(["echo.fidelity"])).results[-1]
    assert result.verdict is Verdict.FAIL and result.reproducer
    script = str(reproduce.write(tmp_path, result.id, result.reproducer, result.message))
    with target:  # the same server again, on a new port
        host, port = target.address
        by_argument = subprocess.run([sys.executable, script, host, str(port)], capture_output=True, text=True,
                                     timeout=30)  # fmt: skip
        by_environment = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=30,
                                        env={**os.environ, "HOST": host, "PORT": str(port)})  # fmt: skip
    for done in (by_argument, by_environment):
        assert done.returncode == 1 and done.stdout.startswith("FAIL: only 1024 of 1025 B"), done.stdout + done.stderr
    gone = subprocess.run([sys.executable, script, host, str(port)], capture_output=True, text=True, timeout=30)
    assert gone.returncode == 2 and "nothing listens" in gone.stdout, gone.stdout + gone.stderr
    misuse = subprocess.run([sys.executable, script, "a", "b", "c"], capture_output=True, text=True, timeout=30)
    assert misuse.returncode == 2 and "usage:" in misuse.stderr and "Traceback" not in misuse.stderr


def test_repro_dirs_and_stale_reproducers(tmp_path: Path) -> None:
    """Several servers get one subdirectory each (sanitized, unique); a check that no longer fails takes away the
    reproducer an earlier run wrote for it, and never a file the harness did not write."""
    from socket_harness import reproduce
    from socket_harness.checks import CheckResult, Verdict
    from socket_harness.cli import repro_dirs

    assert repro_dirs("d", ["servers.selector"]) == [Path("d")]
    assert repro_dirs("d", ["python3 a.py {port}", "python3 a.py {port}", "x"]) == [
        Path("d/python3-a.py-port"), Path("d/python3-a.py-port-2"), Path("d/x")
    ]  # fmt: skip
    failed = CheckResult("echo.fidelity", Verdict.FAIL, 0.1, "lost bytes", reproducer="import sys\nsys.exit(1)\n")
    reproduce.keep(failed, tmp_path)
    assert failed.reproducer_path == str(tmp_path / "echo.fidelity.py")
    (tmp_path / "echo.large.py").write_text("# mine\n")
    for check_id in ("echo.fidelity", "echo.large"):
        reproduce.keep(CheckResult(check_id, Verdict.PASS, 0.1, "ok"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["echo.large.py"]


def test_sigterm_to_the_harness_kills_the_server_group() -> None:
    """A harness stopped mid-check leaves no server process behind (never_listens would wait forever)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "socket_harness", "check", "--startup-timeout", "60", "--", sys.executable,
         str(BROKEN / "never_listens.py"), "{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        from socket_harness.waiting import poll_until

        assert poll_until(lambda: _children_of(proc.pid), 20), "the server never started"
        server_pids = _children_of(proc.pid)
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 143 and "Traceback" not in err
        assert poll_until(lambda: not any(_alive(p) for p in server_pids), 5), server_pids
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


pytestmark = pytest.mark.skipif(not sysinfo.available(), reason="needs /proc")


CORRECT = Path(__file__).parent / "correct"


@pytest.mark.parametrize(
    "how",
    ["port", "listen-fd", "env", "ipv6"],
)
def test_every_way_of_telling_a_server_its_port(how: str, tmp_path: Path) -> None:
    """--port N (it listens by itself), --listen-fd (fd 3), $PORT/$HOST in its environment, --host ::1."""
    from socket_harness.net import can_bind, free_port

    only = ["--only", "echo.fidelity", "--only", "lifecycle.sigterm", "--examples", "5"]
    if how == "port":
        port = str(free_port())
        args = ["--port", port, *only, "--", sys.executable, str(CORRECT / "stdlib_socketserver.py"), port]
    elif how == "listen-fd":
        args = ["--listen-fd", *only, "--", sys.executable, "-m", "socket_harness.servers.selector", "--listen-fd"]
    elif how == "env":
        script = f'exec "{sys.executable}" "{CORRECT / "stdlib_socketserver.py"}" "$PORT"'
        args = [*only, "--", "sh", "-c", script + " # {port}"]
    else:
        if can_bind(("::1", 0)) is not None:
            pytest.skip("no IPv6 loopback here")
        args = ["--host", "::1", *only, "--", sys.executable, "-m", "socket_harness.servers.threaded", "--host",
                "{host}", "--port", "{port}"]  # fmt: skip
    report = tmp_path / "r.json"
    done = harness("check", "--json", str(report), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    verdicts = {c["id"]: c["verdict"] for c in json.loads(report.read_text())["servers"][0]["checks"]}
    assert verdicts == {"startup.ready": "pass", "echo.fidelity": "pass", "lifecycle.sigterm": "pass"}, verdicts


def test_an_interrupt_while_a_server_is_being_spawned_still_ends_it(tmp_path: Path) -> None:
    """SIGTERM raised inside subprocess.Popen (after the fork, before it returns) would lose the child's pid:
    the handler defers it until the server is registered, then the server is killed and the interrupt raised.
    Checked before the interpreter exits (its atexit hook would kill a leftover anyway)."""
    token = f"spawn-{os.getpid()}-{tmp_path.name}"
    code = f"""
import os, signal, sys
from socket_harness import process
from socket_harness.process import ServerProcess

process.interrupt_after_spawn()  # as if SIGTERM had arrived while Popen was running
try:
    ServerProcess([sys.executable, {str(BROKEN / "never_listens.py")!r}, "0", {token!r}])
except KeyboardInterrupt:
    left = [p for p in os.listdir("/proc") if p.isdigit() and p != str(os.getpid()) and {token!r}.encode() in
            open(f"/proc/{{p}}/cmdline", "rb").read() and open(f"/proc/{{p}}/stat").read().split(")")[1][1] != "Z"]
    print("interrupted; left", len(left), flush=True)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "interrupted; left 0", done.stdout + done.stderr
