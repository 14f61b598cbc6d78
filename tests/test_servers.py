"""The reference-server contract (DESIGN.md): readiness line, --port 0, --listen-fd, SIGTERM/SIGINT drain,
loopback by default, clear start-up errors, survival of EMFILE, and the importable classes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading

import pytest
from socket_harness import (
    InProcessTarget,
    Schedule,
    SubprocessTarget,
    echo_mismatch,
    exchange,
    reference_command,
    sysinfo,
)
from socket_harness.net import can_bind, connect
from socket_harness.process import ServerProcess
from socket_harness.servers import ECHO_SERVERS, server_class
from socket_harness.waiting import poll_until

NAMES = sorted(ECHO_SERVERS)


def run_server(name: str, *args: str) -> ServerProcess:
    return ServerProcess([sys.executable, "-m", f"socket_harness.servers.{name}", *args])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_readiness_line_echo_and_signal_exit(name: str, sig: signal.Signals) -> None:
    with run_server(name, "--port", "0") as proc:
        announced = proc.wait_ready(10)
        assert announced is not None
        host, _, port = announced.rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0
        assert proc.stdout() == f"listening on {announced}\n"
        ex = exchange((host, int(port)), Schedule(b"hello\r\n\x00\xff" * 1000), 5)
        assert echo_mismatch(b"hello\r\n\x00\xff" * 1000, ex) is None and ex.eof
        report = proc.stop(grace=5, sig=sig)
        assert report.clean and report.returncode == 0, report
        assert proc.stderr() == ""
        assert can_bind((host, int(port))) is None


@pytest.mark.parametrize("name", NAMES)
def test_sigterm_lets_the_connection_in_flight_finish(name: str) -> None:
    """SIGTERM arrives mid-stream: the rest of the payload is still echoed, then FIN, then exit 0."""
    target = SubprocessTarget(reference_command(name), port=0, grace=5)
    with target:
        sock = connect(target.address, 5)
        try:
            first = exchange_on(sock, b"a" * 100_000, half_close=False)
            assert first is None
            assert target.process is not None
            target.process.popen.send_signal(signal.SIGTERM)
            assert exchange_on(sock, b"b" * 2_000_000, half_close=True) is None
        finally:
            sock.close()
        report = target.stop()
        assert report is not None and report.clean and report.returncode == 0


def exchange_on(sock: socket.socket, payload: bytes, half_close: bool) -> str | None:
    from socket_harness.wire import drive

    ex = drive([sock], [Schedule(payload, chunk_sizes=(8192,), pauses=(0.001,), half_close=half_close)], 10, 3)[0]
    problem = echo_mismatch(payload, ex)
    if problem is None and half_close and not ex.eof:
        problem = ex.outcome()
    return problem


@pytest.mark.parametrize("name", NAMES)
def test_grace_bounds_the_drain_of_an_idle_connection(name: str) -> None:
    """A client that never closes cannot hold the server past --grace."""
    with run_server(name, "--port", "0", "--grace", "0.3") as proc:
        host, _, port = (proc.wait_ready(10) or "").rpartition(":")
        idle = connect((host, int(port)), 5)
        try:
            assert exchange_on(idle, b"x" * 10, half_close=False) is None
            report = proc.stop(grace=5)
            assert report.clean and report.returncode == 0
            assert 0.25 < report.seconds < 3, report
        finally:
            idle.close()


@pytest.mark.parametrize("name", NAMES)
def test_listen_fd_serves_the_inherited_socket(name: str) -> None:
    target = SubprocessTarget([*reference_command(name), "--listen-fd"], port=0, listen_fd=True)
    with target:
        ex = exchange(target.address, Schedule(b"socket activation" * 100), 5)
        assert echo_mismatch(b"socket activation" * 100, ex) is None
        report = target.stop()
        assert report is not None and report.returncode == 0


@pytest.mark.parametrize("name", NAMES)
def test_ipv6_loopback(name: str) -> None:
    if not socket.has_ipv6 or can_bind(("::1", 0)) is not None:
        pytest.skip("no IPv6 loopback on this machine")
    target = SubprocessTarget(reference_command(name), host="::1", port=0)
    with target:
        assert target.address[0] == "::1"
        ex = exchange(target.address, Schedule(b"six" * 1000), 5)
        assert echo_mismatch(b"six" * 1000, ex) is None


def test_port_in_use_is_a_clear_error_without_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        for name in NAMES:
            done = subprocess.run(
                [sys.executable, "-m", f"socket_harness.servers.{name}", "--port", str(port)],
                capture_output=True,
                text=True,
                timeout=20,
            )
            assert done.returncode == 1
            assert done.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
            assert done.stdout == ""


@pytest.mark.parametrize(
    "args, status, words",
    [
        (["--port", "nope"], 2, "invalid int value"),
        (["--port", "70000"], 2, "between 0 and 65535"),
        (["--grace", "-1"], 2, "--grace must be >= 0"),
        (["--bogus"], 2, "unrecognized arguments"),
        (["--listen-fd"], 1, "LISTEN_FDS is not set"),
        (["--host", "no-such-host.invalid"], 1, "cannot resolve host"),
    ],
)
def test_bad_command_lines_exit_nonzero_with_one_clear_line(args: list[str], status: int, words: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "socket_harness.servers.selector", *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == status
    assert words in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["threaded", "selector", "sequential"])
def test_running_out_of_descriptors_does_not_kill_the_server(name: str) -> None:
    """With RLIMIT_NOFILE at 24, 40 clients overflow the descriptor table: the server backs off on EMFILE,
    serves the clients it could accept, and serves everyone once descriptors are free again."""
    command = [sys.executable, "-m", f"socket_harness.servers.{name}", "--port", "0"]
    proc = ServerProcess(["sh", "-c", 'ulimit -n 24 && exec "$@"', "sh", *command])
    with proc:
        host, _, port = (proc.wait_ready(10) or "").rpartition(":")
        address = (host, int(port))
        crowd = [connect(address, 5) for _ in range(40)]
        for sock in crowd:
            sock.close()
        assert proc.poll() is None, proc.stderr()
        ex = exchange(address, Schedule(b"after the crowd" * 10), 10)
        assert echo_mismatch(b"after the crowd" * 10, ex) is None
        assert proc.poll() is None and "Traceback" not in proc.stderr()
        assert proc.stop(5).returncode == 0


@pytest.mark.parametrize("name", NAMES)
def test_importable_class_as_context_manager(name: str) -> None:
    cls = server_class(name)
    with cls(port=0, grace=1) as server:
        assert server.address[0] == "127.0.0.1" and server.address[1] > 0
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        ex = exchange(server.address, Schedule(b"in-process"), 5)
        assert echo_mismatch(b"in-process", ex) is None
    thread.join(5)
    assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        connect(server.address, 2)


def test_unknown_server_name_lists_the_valid_ones() -> None:
    with pytest.raises(KeyError, match="sequential, threaded, selector"):
        server_class("forking")


def test_threads_end_after_an_in_process_shutdown() -> None:
    before = {t.ident for t in threading.enumerate()}
    target = InProcessTarget("threaded", grace=1)
    with target:
        socks = [connect(target.address, 5) for _ in range(5)]
        assert poll_until(lambda: len(threading.enumerate()) >= len(before) + 6, 5)
        for sock in socks:
            sock.close()
    assert poll_until(lambda: {t.ident for t in threading.enumerate()} <= before, 5)


def test_a_dropped_server_is_still_killed_when_the_harness_exits() -> None:
    """The atexit safety net holds strong references: a ServerProcess dropped without cleanup still dies."""
    marker = f"harness-dropped-probe-{os.getpid()}"
    code = (
        "import gc, sys\n"
        "from socket_harness.process import ServerProcess\n"
        f"p = ServerProcess([sys.executable, '-c', 'import time; time.sleep(60)', {marker!r}])\n"
        "del p\n"
        "gc.collect()\n"
    )
    subprocess.run([sys.executable, "-c", code], timeout=30, check=True)
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    assert left == "", f"left behind: {left}"


@pytest.mark.skipif(not sysinfo.available(), reason="needs /proc")
@pytest.mark.parametrize("name", NAMES)
def test_an_idle_server_is_seen_asleep_and_a_busy_one_is_not(name: str) -> None:
    """What lifecycle.sigterm waits for before it signals a server with no client in flight: every thread
    blocked in a system call. A reference server waiting for clients is; a process that computes is not."""
    with run_server(name, "--port", "0") as idle:
        idle.wait_ready(10)
        assert idle.wait_asleep(5)
    spin = "print('listening on 127.0.0.1:1', flush=True)\nwhile True: pass"
    with ServerProcess([sys.executable, "-c", spin]) as busy:
        busy.wait_ready(10)
        assert not busy.wait_asleep(0.3)


@pytest.mark.skipif(not sysinfo.available(), reason="needs /proc")
def test_a_frozen_server_queues_what_clients_send_and_runs_again_after() -> None:
    """What udp.clients does while it sends a burst: the group is stopped inside the block (a client's data
    waits unanswered) and runs again when the block ends, also when it ends by an exception."""
    with run_server("selector", "--port", "0") as proc:
        host, _, port = (proc.wait_ready(10) or "").rpartition(":")
        sock = connect((host, int(port)), 5)
        with pytest.raises(RuntimeError), proc.frozen() as stopped:
            assert stopped and sysinfo.group_states(proc.pid) == {"T"}
            sock.sendall(b"queued while stopped")
            sock.settimeout(0.2)
            with pytest.raises(TimeoutError):
                sock.recv(100)
            raise RuntimeError("the block ends by an exception")
        sock.settimeout(5)
        got = b""
        while len(got) < len(b"queued while stopped") and (data := sock.recv(100)):
            got += data
        assert got == b"queued while stopped"
        sock.close()
        assert proc.stop(5).returncode == 0
