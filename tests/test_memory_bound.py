"""The harness' own memory stays under a stated bound whatever a server sends (issue 12, part 2).

The wire client keeps at most what its oracle needs: an echo longer than what was sent ends the exchange at its
first excess byte (a ``fail``), an HTTP body longer than the file plus a margin is a ``fail``. Each test runs
``python -m harness check`` as a subprocess against a server that sends without end, and reads the harness
process' peak resident memory (``VmHWM`` in ``/proc/PID/status``) while it runs; a harness that goes past the
bound is stopped there (SIGTERM, then SIGKILL), so a regression fails fast instead of filling the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from socket_harness.httproot import make_root
from socket_harness.net import connect
from socket_harness.wire import EXCESS_SAMPLE, Schedule, converse, drive, echo_mismatch, exchange

from .test_zoo import QUICK, broken

PY = sys.executable
#: the harness' peak resident memory, in MiB, against any server (issue 12: "for instance 300 MB RSS")
RSS_BOUND_MIB = 300
#: seconds a whole run may take before the test gives up on it
RUN_TIMEOUT = 240.0


@dataclass
class Run:
    """One ``python -m harness check`` run: its exit status (None: stopped for going past the bound), the
    harness' peak resident memory in KiB, its output, and its checks by id from the JSON report."""

    status: int | None
    peak_kib: int
    stdout: str
    stderr: str
    checks: dict[str, dict[str, str]]


def _peak_kib(pid: int) -> int | None:
    """``VmHWM`` (peak resident set) of process ``pid`` in KiB, None once it is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), None)
    except (OSError, ValueError):
        return None


def run_measured(args: list[str], tmp_path: Path) -> Run:
    """Run ``python -m harness check ARGS`` (with a JSON report), polling its peak memory every 20 ms (bounded
    by :data:`RUN_TIMEOUT`); once the peak passes :data:`RSS_BOUND_MIB` the run is stopped and reported so."""
    report = tmp_path / "report.json"
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    command = [
        PY,
        "-m",
        "socket_harness",
        "check",
        "--repro-dir",
        str(tmp_path / "repro"),
        "--json",
        str(report),
        *args,
    ]
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr)
    peak, over = 0, False
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            peak = max(peak, _peak_kib(proc.pid) or 0)
            if peak > RSS_BOUND_MIB * 1024:
                over = True
                break
            try:
                proc.wait(0.02)  # the poll's tick: returns at once when the run ends
            except subprocess.TimeoutExpired:
                pass
        timed_out = proc.poll() is None and not over
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the harness tears its servers down on SIGTERM
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    assert not timed_out, f"the run took over {RUN_TIMEOUT:g}s"
    checks = {}
    if report.exists() and report.stat().st_size:
        checks = {c["id"]: c for c in json.loads(report.read_text())["servers"][0]["checks"]}
    return Run(None if over else proc.returncode, peak, out.read_text(), err.read_text(), checks)


def assert_bounded(run: Run) -> None:
    """The run ended by itself, with no traceback, and the harness' peak memory stayed under the bound."""
    assert run.status is not None, (
        f"the harness passed {RSS_BOUND_MIB} MiB of resident memory (peak {run.peak_kib >> 10} MiB when stopped)"
    )
    assert "Traceback" not in run.stderr and "MemoryError" not in run.stdout + run.stderr, run.stdout + run.stderr
    assert run.peak_kib < RSS_BOUND_MIB * 1024, f"peak {run.peak_kib >> 10} MiB"
    print(f"harness peak RSS: {run.peak_kib >> 10} MiB")  # the figure, with pytest -s


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the harness' memory from /proc")
def test_an_endless_echo_fails_at_its_first_excess_byte_in_bounded_memory(tmp_path: Path) -> None:
    run = run_measured(["--only", "echo.half-close", *QUICK, "--", *broken("endless_echo")], tmp_path)
    assert_bounded(run)
    result = run.checks["echo.half-close"]
    assert result["verdict"] == "fail", result
    assert "more than it was sent, from byte" in result["message"], result["message"]
    assert run.status == 1, run.stdout


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the harness' memory from /proc")
def test_an_endless_echo_is_bounded_in_every_echo_and_connection_check(tmp_path: Path) -> None:
    """Every check that reads an echo meets the endless stream: each ends at the first excess byte."""
    only = [arg for pattern in ("echo.*", "conn.*", "fuzz.*", "latency.*") for arg in ("--only", pattern)]
    run = run_measured([*only, *QUICK, "--", *broken("endless_echo")], tmp_path)
    assert_bounded(run)
    errors = {cid: c["message"] for cid, c in run.checks.items() if c["verdict"] == "error"}
    assert not errors, errors
    assert run.checks["echo.half-close"]["verdict"] == "fail"


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the harness' memory from /proc")
def test_an_endless_http_body_is_a_failure_in_bounded_memory(tmp_path: Path) -> None:
    root = make_root(tmp_path / "http")
    command = [*broken("http_endless_body"), "{root}"]
    args = ["--protocol", "http-file", "--root", str(root), "--only", "http.get", *QUICK, "--", *command]
    run = run_measured(args, tmp_path)
    assert_bounded(run)
    result = run.checks["http.get"]
    assert result["verdict"] == "fail", result
    assert "more bytes than expected" in result["message"], result["message"]


# -- the wire client against an in-process endless server ------------------------------------------------


@contextlib.contextmanager
def serving(extra: bytes) -> Iterator[tuple[str, int]]:
    """A loopback server that echoes each chunk with ``extra`` behind it, and streams ``b"more"`` once its client
    half-closes (64 MiB: a client bounded as it should be stops after 64 B); its address."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data + extra)
                for _ in range(1024):  # 64 MiB: "without end" to a client that stops at 64 B, bounded if it does not
                    conn.sendall(b"more" * 16384)
            except OSError:
                pass

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed, or no client for 10 s
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[:2]
    finally:
        listener.close()


@pytest.fixture
def endless() -> Iterator[tuple[str, int]]:
    """:func:`serving` with an exact echo: the stream begins only at the client's half-close."""
    with serving(b"") as address:
        yield address


def test_an_endless_stream_ends_the_exchange_at_its_first_excess_byte(endless: tuple[str, int]) -> None:
    payload = bytes(range(256)) * 1000
    start = time.monotonic()
    ex = exchange(endless, Schedule(payload, half_close=True), timeout=10, idle=2)
    assert time.monotonic() - start < 5, "the exchange went on past the excess"
    assert ex.excess_at == len(payload) and not ex.timed_out
    assert len(payload) < len(ex.received) <= len(payload) + EXCESS_SAMPLE
    problem = echo_mismatch(payload, ex) or ""
    assert f"more than it was sent, from byte {len(payload)}: b'moremore" in problem, problem


def test_a_reader_of_an_echo_sent_earlier_expects_that_much(endless: tuple[str, int]) -> None:
    """``expect``: a connection that only reads (its bytes were sent before) ends past what it was told."""
    sock = connect(endless, 10)
    try:
        sock.sendall(b"sent before")
        ex = drive([sock], [Schedule(b"", half_close=True, expect=11)], timeout=10, idle=2)[0]
    finally:
        sock.close()
    assert ex.excess_at == 11 and ex.received.startswith(b"sent beforemore")
    assert len(ex.received) <= 11 + EXCESS_SAMPLE
    assert "more than the 11 B expected" in ex.outcome()


def test_an_interactive_client_stops_at_an_echo_longer_than_its_message() -> None:
    with serving(b"!") as address:
        sock = connect(address, 10)
        try:
            results = converse(sock, [b"abc"] * 5, 65536, timeout=10, idle=2)
        finally:
            sock.close()
    assert len(results) < 5 and echo_mismatch(b"abc", results[-1]), results


def test_expect_is_a_number_of_bytes() -> None:
    with pytest.raises(ValueError, match="expect"):
        Schedule(b"x", expect=-1)
    assert Schedule(b"abc").expected == 3 and Schedule(b"", expect=7).expected == 7


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the harness' memory from /proc")
def test_a_server_flooding_stdout_and_stderr_costs_bounded_memory(tmp_path: Path) -> None:
    """tests/hostile/floods_output.py writes to both streams as fast as its pipes take it, the whole run long."""
    flood = [PY, str(Path(__file__).parent / "hostile" / "floods_output.py"), "{port}"]
    run = run_measured(["--only", "echo.fidelity", "--only", "echo.half-close", "--", *flood], tmp_path)
    assert_bounded(run)
    assert run.status == 0, run.stdout
