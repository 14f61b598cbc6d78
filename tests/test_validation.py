"""Issue 12, parts 3 and 4: every number from outside is validated before anything starts, and the exit status
says what happened (0 pass, 1 the server failed, 2 misuse, 3 a harness error, 130/143 on SIGINT/SIGTERM)."""

from __future__ import annotations

import ast
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from socket_harness import cli, payload_code, strategies, sysinfo, validate
from socket_harness.checks import CheckResult, Verdict
from socket_harness.payload_code import payload_of
from socket_harness.proxy import Faults
from socket_harness.runner import TargetReport
from socket_harness.strategies import KINDS, PayloadSpec, payload_specs
from socket_harness.waiting import poll_until

BROKEN = Path(__file__).parent / "broken"
SERVER = [sys.executable, "-m", "socket_harness.servers.selector", "--port", "{port}"]


def harness(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socket_harness", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def assert_one_line_misuse(done: subprocess.CompletedProcess[str], words: str, status: int = 2) -> None:
    """Exit ``status``, one non-empty line on stderr containing ``words``, no traceback, and nothing on stdout:
    no server was started (the first thing a run prints is the server's name, then its startup.ready line)."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == status, done.stdout + done.stderr
    assert len(lines) == 1 and words in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert "startup.ready" not in done.stdout and "Hypothesis profile" not in done.stdout, done.stdout


@pytest.fixture(scope="module")
def not_executable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    script = tmp_path_factory.mktemp("noexec") / "server.py"
    script.write_text("print('listening on 127.0.0.1:1')\n")
    script.chmod(0o644)
    return script


@pytest.fixture(scope="module")
def a_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "corpus"
    path.write_text("not a directory\n")
    return path


SECONDS_RULE = "must be a finite number of seconds > 0"
CHECK_MISUSE = [
    (["--timeout", "nan"], f"--timeout: {SECONDS_RULE} and at most 86400 (a day), got 'nan'"),
    (["--timeout", "inf"], "--timeout: must be a finite number"),
    (["--timeout", "1e999"], "--timeout: must be a finite number"),
    (["--timeout=-inf"], "--timeout: must be a finite number"),
    (["--timeout", "soon"], "--timeout: must be a finite number of seconds > 0 and at most 86400 (a day), got 'soon'"),
    (["--timeout", "86401"], "--timeout: must be a finite number"),
    (["--grace", "nan"], f"--grace: {SECONDS_RULE}"),
    (["--grace", "0"], f"--grace: {SECONDS_RULE}"),
    (["--startup-timeout", "nan"], f"--startup-timeout: {SECONDS_RULE}"),
    (["--idle", "-1"], f"--idle: {SECONDS_RULE}"),
    (["--shrink-seconds", "nan"], f"--shrink-seconds: {SECONDS_RULE}"),
    (["--examples", "0"], "--examples: must be a whole number from 1 to 1,000,000, got '0'"),
    (["--examples", "2.5"], "--examples: must be a whole number"),
    (["--port", "0", "--", "true"], "--port: must be a whole number from 1 to 65,535, got '0'"),
    (["--port", "65536", "--", "true"], "--port: must be a whole number from 1 to 65,535"),
    (["--protocol", "framed", "--max-frame", "99999999999"], "--max-frame: must be a whole number of bytes from 0 to"),
    (["--protocol", "framed", "--max-frame", "-1"], "--max-frame: must be a whole number of bytes from 0 to"),
    (["--faults", "gaps=nan,latency=inf"], "--faults: gaps: must be a finite number of seconds >= 0"),
    (["--faults", "latency=inf"], "--faults: latency: must be a finite number of seconds >= 0"),
    (["--faults", "gaps=0.1/nan"], "--faults: gaps: must be a finite number"),
    (["--faults", "rate=nan"], "--faults: rate: must be a whole number of bytes per second"),
    (["--faults", "segments=0"], "--faults: segments: must be a whole number of bytes from 1"),
    (["--faults", "latency=1.2"], "--faults: the longest gap plus twice the latency (2.4 s) must stay under --idle"),
    (["--faults", "gaps=3", "--idle", "5"], ""),  # placeholder replaced below: a fitting one is not refused
    (["--database", "FILE"], "--database: "),
    (["--database", ""], "--database: must be a directory or redis://HOST:PORT"),
    (["--listen-fd", "--", "NOEXEC"], "command is not executable: "),
    (["--", "NOEXEC", "{port}"], "command is not executable: "),
    (["--", "/", "{port}"], "command is not a file: /"),
]
CHECK_MISUSE = [case for case in CHECK_MISUSE if case[1]]


@pytest.mark.parametrize(("args", "words"), CHECK_MISUSE, ids=[" ".join(a) for a, _ in CHECK_MISUSE])
def test_check_refuses_a_bad_value_in_one_line_before_starting_anything(
    args: list[str], words: str, not_executable: Path, a_file: Path
) -> None:
    args = [str(not_executable) if a == "NOEXEC" else str(a_file) if a == "FILE" else a for a in args]
    done = harness("check", "--repro-dir", str(a_file.parent / "repro"), *args)
    assert_one_line_misuse(done, words)


def test_database_names_the_file(a_file: Path) -> None:
    done = harness("check", "--database", str(a_file))
    assert_one_line_misuse(done, f"--database: {a_file} is a file, not a directory (nor redis://HOST:PORT)")


def test_a_bare_name_is_not_looked_up_in_the_current_directory(tmp_path: Path) -> None:
    """``execvp`` looks a name without ``/`` up on PATH only: a file of that name here is not the command."""
    (tmp_path / "myserver").write_text("#!/bin/sh\n")
    (tmp_path / "myserver").chmod(0o755)
    done = harness("check", "--", "myserver", "{port}", cwd=tmp_path)
    assert_one_line_misuse(done, "command not found: myserver (a file in the current directory needs a path")


BENCH_MISUSE = [
    (["--duration", "nan"], f"--duration: {SECONDS_RULE}"),
    (["--duration", "inf"], f"--duration: {SECONDS_RULE}"),
    (["--duration", "0"], f"--duration: {SECONDS_RULE}"),
    (["--warmup", "nan"], "--warmup: must be a finite number of seconds >= 0"),
    (["--warmup", "-1"], "--warmup: must be a finite number of seconds >= 0"),
    (["--connections", "0"], "--connections: must be a whole number from 1 to 10,000"),
    (["--connections", "10001"], "--connections: must be a whole number from 1 to 10,000"),
    (["--size", "0"], "--size: must be a whole number of bytes from 1 to 16,777,216"),
    (["--size", "1e9"], "--size: must be a whole number of bytes"),
    (["--processes", "0"], "--processes: must be a whole number from 1 to 256"),
    (["--pairs", "nan"], "--pairs: must be a whole number from 1 to 1,000"),
    (["--", "NOEXEC"], "command is not executable: "),
]


@pytest.mark.parametrize(("args", "words"), BENCH_MISUSE, ids=[" ".join(a) for a, _ in BENCH_MISUSE])
def test_bench_refuses_a_bad_value_in_one_line(args: list[str], words: str, not_executable: Path) -> None:
    done = harness("bench", *[str(not_executable) if a == "NOEXEC" else a for a in args])
    assert_one_line_misuse(done, words)


# -- the pytest plugin: options, ini keys, environment variables ------------------------------------------------


def pytest_in(directory: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "--rootdir", str(directory),
         str(directory), *args],
        capture_output=True, text=True, timeout=120, cwd=directory, env={**os.environ, **(env or {})},
    )  # fmt: skip


PLUGIN_MISUSE = [
    ("option", "--harness-timeout", "nan", f"--harness-timeout: {SECONDS_RULE}"),
    ("ini", "harness_timeout", "inf", f"ini key harness_timeout: {SECONDS_RULE}"),
    ("env", "HARNESS_TIMEOUT", "nan", f"environment variable HARNESS_TIMEOUT: {SECONDS_RULE}"),
    ("option", "--harness-idle", "-1", f"--harness-idle: {SECONDS_RULE}"),
    ("env", "HARNESS_GRACE", "nan", f"environment variable HARNESS_GRACE: {SECONDS_RULE}"),
    ("ini", "harness_shrink_seconds", "soon", f"ini key harness_shrink_seconds: {SECONDS_RULE}"),
    ("env", "HARNESS_STORM", "0", "environment variable HARNESS_STORM: must be a whole number from 1 to 1,000,000"),
    ("option", "--server-max-frame", "99999999999", "--server-max-frame: must be a whole number of bytes from 0 to"),
    ("ini", "server_max_frame", "1.5", "ini key server_max_frame: must be a whole number of bytes"),
    ("option", "--harness-database", "FILE", "--harness-database: "),
    ("env", "HARNESS_DATABASE", "FILE", "environment variable HARNESS_DATABASE: "),
    ("option", "--server-host", "10.0.0.1", "--server-host: must be one of 127.0.0.1, ::1, got '10.0.0.1'"),
    ("option", "--server-faults", "gaps=nan", "--server-faults: gaps: must be a finite number of seconds >= 0"),
    ("env", "HARNESS_SERVER_FAULTS", "latency=1.5", "--server-faults: the longest gap plus twice the latency"),
    ("option", "--server-cmd", "./data {port}", "--server-cmd: command is not executable: ./data"),
    ("env", "HARNESS_SERVER_CMD", "'unclosed {port}", "environment variable HARNESS_SERVER_CMD: No closing quotation"),
]


@pytest.mark.parametrize(
    ("where", "name", "raw", "words"), PLUGIN_MISUSE, ids=[f"{w}-{n}={r}" for w, n, r, _ in PLUGIN_MISUSE]
)
def test_plugin_refuses_a_bad_value_with_where_it_came_from(
    where: str, name: str, raw: str, words: str, tmp_path: Path
) -> None:
    """A usage error (pytest's exit status 4), one line naming the option, ini key or environment variable; the
    server of --server-cmd never starts (it would write a marker file)."""
    marker = tmp_path / "started"
    server = tmp_path / "server.py"
    server.write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "data").write_text("a file\n")
    raw = "data" if raw == "FILE" else raw
    args, env = ["--server-cmd", f"{sys.executable} {server} {{port}}"], {}
    if name.endswith(("server-cmd", "SERVER_CMD")):
        args = []
    if where == "option":
        args += [name, raw]
    elif where == "ini":
        (tmp_path / "pytest.ini").write_text(f"[pytest]\n{name} = {raw}\n")
    else:
        env[name] = raw
    done = pytest_in(tmp_path, *args, env=env)
    assert_one_line_misuse(done, words.replace("FILE", "data"), status=4)
    assert not marker.exists(), "the server was started"


# -- the rules themselves, and the fault spec -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "raw", "ok"),
    [
        (validate.MAX_FRAME, "9999999999", True),  # the largest length a 10-digit header can say
        (validate.MAX_FRAME, "10000000000", False),
        (validate.MAX_FRAME, "0", True),
        (validate.SECONDS, "0.001", True),
        (validate.SECONDS, "0", False),
        (validate.SECONDS, float("nan"), False),
        (validate.SECONDS_OR_ZERO, "0", True),
        (validate.SECONDS_OR_ZERO, "-0.0", True),
        (validate.SECONDS_OR_ZERO, 86400.0, True),
        (validate.SECONDS_OR_ZERO, 86400.5, False),
        (validate.PORT, True, False),  # a bool is not a number here
        (validate.PORT, "  8080 ", True),
        (validate.PORT, 10**400, False),  # an int too big for a float is refused, not an OverflowError
    ],
)
def test_rules(rule: validate.Rule, raw: object, ok: bool) -> None:
    parse = validate.whole if rule.whole else validate.real
    if ok:
        parse("x", raw, rule)
    else:
        with pytest.raises(validate.BadValue, match=r"^x: must be "):
            parse("x", raw, rule)


@pytest.mark.parametrize(
    "text", ["gaps=nan", "latency=inf", "gaps=0.1/-1", "segments=0", "rate=0", "rate=inf", "cut=reset@nan", "x=1"]
)
def test_a_bad_fault_spec_is_a_one_line_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"^(gaps|latency|segments|rate|cut after): must be |^bad fault") as info:
        Faults.parse(text)
    assert "\n" not in str(info.value)


def test_faults_made_in_code_are_validated_too() -> None:
    with pytest.raises(ValueError, match="latency: must be a finite number"):
        Faults(latency=float("nan"))
    with pytest.raises(ValueError, match="gaps: must be a finite number"):
        Faults(gaps=(float("inf"),))


# -- payloads are built without eval ----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(payload_specs(max_size=5000))
def test_a_payload_is_what_its_code_says(spec: PayloadSpec) -> None:
    """build() makes the bytes directly; payload_of reads the code without evaluating it; both are what
    Python itself makes of the code (eval here, in the test only)."""
    code = spec.code()
    assert spec.build() == payload_of(code) == eval(code, {"random": random})


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_with_a_head_longer_than_the_size(kind: str) -> None:
    spec = PayloadSpec(3, kind, 5, b"head'\"\x00")
    assert spec.build() == payload_of(spec.code()) == b"hea"


@pytest.mark.parametrize(
    "code",
    [
        "__import__('os').system('true')",
        "open('/etc/passwd', 'rb').read()",
        "bytes(10**12)",
        "b'x' * (1 << 40)",
        "random.Random(1).randbytes(1 << 40)",
        "(lambda: b'')()",
        "b''.join([])",
        "[b'']",
        "x",
        "1 +",
    ],
)
def test_payload_of_refuses_anything_else(code: str) -> None:
    with pytest.raises(ValueError, match="not a payload expression"):
        payload_of(code)


def test_the_payload_path_has_no_eval() -> None:
    for module in (strategies, payload_code):
        tree = ast.parse(Path(module.__file__ or "").read_text())
        called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not called & {"eval", "exec", "compile", "__import__"}, module.__name__


# -- exit statuses ----------------------------------------------------------------------------------------------


def _report(*verdicts: Verdict) -> TargetReport:
    return TargetReport("s", [CheckResult(f"c{n}", v, 0.0, "") for n, v in enumerate(verdicts)])


@pytest.mark.parametrize(
    ("verdicts", "strict", "status"),
    [
        ((Verdict.PASS, Verdict.SKIP), False, 0),
        ((Verdict.PASS, Verdict.WARN), False, 0),
        ((Verdict.PASS, Verdict.WARN), True, 1),
        ((Verdict.PASS, Verdict.ERROR), False, 3),
        ((Verdict.ERROR, Verdict.FAIL), False, 1),  # a failure wins: that server is broken whatever else
        ((Verdict.WARN, Verdict.ERROR), True, 1),
    ],
)
def test_exit_status_of_verdicts(verdicts: tuple[Verdict, ...], strict: bool, status: int) -> None:
    assert cli.exit_status([_report(*verdicts)], strict) == status


def test_an_error_verdict_exits_3(tmp_path: Path) -> None:
    """A check the harness cannot run (here: one that raises a bug of ours) is an ``error``: exit status 3."""
    code = f"""
import dataclasses, sys
from socket_harness import cli
from socket_harness.checks import REGISTRY

def broken(target, options):
    raise RuntimeError("a harness bug")

REGISTRY["echo.fidelity"] = dataclasses.replace(REGISTRY["echo.fidelity"], func=broken)
sys.argv = ["harness", "check", "--only", "echo.fidelity", "--repro-dir", {str(tmp_path)!r}, "--", *{SERVER!r}]
sys.exit(cli.main())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "echo.fidelity            error" in done.stdout and "1 pass, 1 error" in done.stdout, done.stdout


def _wait_for(proc: subprocess.Popen[bytes], word: bytes, timeout: float) -> bytes:
    """What ``proc`` printed on stdout until ``word`` appeared in it (or it closed stdout, or ``timeout`` passed)."""
    assert proc.stdout is not None
    fd, seen = proc.stdout.fileno(), b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while word not in seen and (left := deadline - time.monotonic()) > 0:
            if sel.select(left):
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                seen += chunk
    return seen


def _interrupted_run(args: list[str], first: signal.Signals, then: signal.Signals | None = None) -> tuple[int, str]:
    """Start ``python -m harness check ARGS``, wait (bounded) until it prints its startup.ready line, send
    ``first`` (and at once ``then``, if given); its exit status and stderr. Its server must be gone too."""
    proc = subprocess.Popen([sys.executable, "-m", "socket_harness", "check", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    try:
        seen = _wait_for(proc, b"startup.ready", 60)
        assert b"startup.ready" in seen, seen
        servers = [pid for pid in sysinfo.descendants(proc.pid) if SILENT_SERVER in _cmdline(pid)]
        assert servers, "no server process while the check runs"
        proc.send_signal(first)
        if then is not None:
            proc.send_signal(then)
        _, err = proc.communicate(timeout=60)
        assert poll_until(lambda: not any(sysinfo.alive(p) for p in servers), 5), f"left running: {servers}"
        return proc.returncode, err.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


SILENT_SERVER = str(BROKEN / "accepts_never_answers.py")
#: a server that accepts and reads but never answers: with --idle/--timeout 60, echo.fidelity waits for a
#: minute, so the signal sent once startup.ready is printed lands in the middle of that check
SILENT = ["--only", "echo.fidelity", "--idle", "60", "--timeout", "60", "--", sys.executable, SILENT_SERVER, "{port}"]


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_mid_check_exits_128_plus_the_signal(sig: signal.Signals, status: int, tmp_path: Path) -> None:
    code, err = _interrupted_run(["--repro-dir", str(tmp_path), *SILENT], sig)
    assert code == status, err
    assert "Traceback" not in err and f"interrupted ({sig.name}): servers stopped" in err, err


def test_a_second_signal_does_not_break_the_teardown(tmp_path: Path) -> None:
    """SIGINT as the first check starts, then SIGTERM as the server is being stopped (both sent by the process
    itself from wrappers, so each lands where it is meant to): the first decides the status (130); the second
    is not raised, so the teardown completes."""
    code = f"""
import os, signal, sys
from socket_harness import cli, runner, targets

run_check, close = runner.run_check, targets.SubprocessTarget.close

def interrupted_check(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    return run_check(*args, **kwargs)

def interrupted_close(self):
    os.kill(os.getpid(), signal.SIGTERM)
    close(self)
    sys.stderr.write("teardown completed\\n")

runner.run_check, targets.SubprocessTarget.close = interrupted_check, interrupted_close
sys.argv = ["harness", "check", "--only", "echo.fidelity", "--repro-dir", {str(tmp_path)!r}, "--", *{SERVER!r}]
sys.exit(cli.main())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130, done.stdout + done.stderr
    assert "teardown completed" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_an_interrupt_while_a_payload_is_built_exits_130(tmp_path: Path) -> None:
    """The process sends itself SIGINT from inside PayloadSpec.build (wrapped), so the interrupt lands while a
    payload is being built every time (os.kill runs the handler before it returns); the wrapper sees it go by."""
    code = f"""
import os, signal, sys
from socket_harness import cli
from socket_harness.strategies import PayloadSpec

build = PayloadSpec.build

def interrupted_build(self):
    try:
        os.kill(os.getpid(), signal.SIGINT)
        return build(self)
    except KeyboardInterrupt:
        sys.stderr.write("the interrupt landed in payload building\\n")
        raise

PayloadSpec.build = interrupted_build
sys.argv = ["harness", "check", "--only", "echo.fidelity", "--repro-dir", {str(tmp_path)!r}, "--", *{SERVER!r}]
sys.exit(cli.main())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130, done.stdout + done.stderr
    assert "the interrupt landed in payload building" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_while_the_harness_is_imported_exits_128_plus_the_signal(sig: signal.Signals, status: int) -> None:
    """``python -m harness`` installs its first handlers before importing the checks (which takes a while): the
    signal is sent by an import hook the moment ``harness.cli`` is looked for, so it lands in that window."""
    code = f"""
import os, runpy, sys

class Trip:
    def find_spec(self, name, path=None, target=None):
        if name == "harness.cli":
            os.kill(os.getpid(), {int(sig)})
        return None

sys.meta_path.insert(0, Trip())
sys.argv = ["harness", "check", "--list"]
runpy.run_module("harness", run_name="__main__", alter_sys=True)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == status, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and f"interrupted ({sig.name})" in done.stderr, done.stderr
    assert "startup.ready" not in done.stdout  # --list never ran
