"""startup.ready: the server under test is the server that was started, and its readiness line is read whole.

The listening socket must belong to the server's process group (from /proc: socket inode -> pid), whether the
port comes from the readiness line, from ``--port N`` or from ``{port}``; otherwise start-up fails naming the
process that holds the port. A readiness line counts once its newline has arrived, stdout is read in bounded
memory whatever the server prints, and a server that never announces itself is told where it does listen.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from socket_harness import StartupFailure, SubprocessTarget, sysinfo
from socket_harness.net import Address, free_port, refused_address
from socket_harness.process import MAX_LINE, OutputScanner, ServerProcess
from socket_harness.waiting import poll_until

HERE = Path(__file__).parent
PY = sys.executable

#: the start-up timeout of a server the harness must wait out: long enough for it to be listening (and to have
#: printed what it prints) on a loaded machine, where a Python program can take a second to start
WAITED_OUT = 3.0

needs_proc = pytest.mark.skipif(not sysinfo.available(), reason="socket ownership is read from /proc")

#: a small echo server; each scenario below appends what it does before serving
SERVER = r"""
import os, signal, socket, sys, threading
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
host = os.environ.get("HOST", "127.0.0.1")

def listen(port):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(128)
    return s

def handle(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)

def serve(s):
    while True:
        conn, _ = s.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()

def line(s):
    return "listening on {}:{}\n".format(*s.getsockname()[:2]).encode()
"""

#: the readiness line in two writes, cut after the port's first digit; the rest follows SIGUSR1
TWO_PARTS = """
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
s = listen(int(sys.argv[1]))
text = line(s)
cut = text.rindex(b":") + 2
os.write(1, text[:cut])
signal.sigwait({signal.SIGUSR1})
os.write(1, text[cut:])
serve(s)
"""

#: 10 MiB of a readiness-looking line with no valid end (a port of ten million digits), then the real one
HUGE_LINE = """
s = listen(int(sys.argv[1]))
os.write(1, b"listening on 127.0.0.1:")
digits = b"1" * 65536
for _ in range(160):
    os.write(1, digits)
os.write(1, b"\\n" + line(s))
serve(s)
"""

#: 10 MiB on one line that never ends, and no readiness line
NEVER_ENDS = """
s = listen(int(sys.argv[1]))
chunk = b"x" * 65536
for _ in range(160):
    os.write(1, chunk)
serve(s)
"""

#: listens on its own port but announces OTHER_PORT
ANNOUNCES_OTHER = """
s = listen(int(sys.argv[1]))
os.write(1, "listening on {}:{}\\n".format(host, os.environ["OTHER_PORT"]).encode())
serve(s)
"""

#: when its port is taken, it silently listens on any other one (as development servers do)
FALLS_BACK = """
try:
    s = listen(int(sys.argv[1]))
except OSError:
    s = listen(0)
serve(s)
"""


def command(scenario: str, *args: str) -> list[str]:
    return [PY, "-c", SERVER + scenario, *args]


@pytest.fixture
def held_port() -> Iterator[socket.socket]:
    """A TCP port on 127.0.0.1 that this test process listens on (another process, to the server)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


def echo_works(address: Address) -> bool:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"ping")
        sock.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := sock.recv(100):
            got += chunk
    return got == b"ping"


def announced_in(stdout: str) -> int:
    return int(stdout.strip().rpartition(":")[2])


# -- the readiness line, read whole and in bounded memory --------------------------------------------------


def test_scanner_takes_a_line_only_once_its_newline_arrived() -> None:
    scanner = OutputScanner()
    scanner.feed(b"starting\nlistening on 127.0.0.1:4")
    assert scanner.scan() is None
    assert scanner.unfinished() == "listening on 127.0.0.1:4"
    scanner.feed(b"1234\r\n")
    assert scanner.scan() == "127.0.0.1:41234"
    assert scanner.head == ["starting", "listening on 127.0.0.1:41234"]


def test_scanner_skips_an_overlong_line_and_keeps_little_of_it() -> None:
    scanner = OutputScanner()
    scanner.feed(b"listening on 127.0.0.1:" + b"1" * (3 * MAX_LINE))
    assert scanner.scan() is None
    assert len(scanner._partial) <= MAX_LINE
    scanner.feed(b"\nlistening on 127.0.0.1:8080\n")
    assert scanner.scan() == "127.0.0.1:8080"
    assert scanner.head[0].endswith("[...]") and len(scanner.head[0]) < 300


def test_a_readiness_line_written_in_two_parts_gives_the_whole_port() -> None:
    """The server writes ``listening on 127.0.0.1:4`` and, only once the harness has read that, ``1234\\n``."""
    target = SubprocessTarget(command(TWO_PARTS, "{port}"), port=0, startup_timeout=10)
    outcome: dict[str, object] = {}

    def start() -> None:
        try:
            outcome["address"] = target.start()
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    starter = threading.Thread(target=start)
    starter.start()
    try:
        assert poll_until(lambda: target.process is not None and target.process.out.total > 0, 10)
        assert target.process is not None
        os.kill(target.process.pid, signal.SIGUSR1)
        starter.join(15)
        assert "error" not in outcome, outcome
        address = outcome["address"]
        assert isinstance(address, tuple)
        assert address[1] == announced_in(target.process.stdout()), (address, target.process.stdout())
        assert echo_works(address)
    finally:
        starter.join(15)
        target.close()


def test_a_10_mib_line_before_the_readiness_line_costs_bounded_memory() -> None:
    with ServerProcess([PY, "-c", "pass"]) as warm_up:  # the harness' own first-start costs: imports, pump, watchdog
        assert warm_up.wait(30)
    target = SubprocessTarget(command(HUGE_LINE, "{port}"), port=0, startup_timeout=30)
    tracemalloc.start()
    try:
        address = target.start()
        peak = tracemalloc.get_traced_memory()[1]
        assert target.process is not None
        last_line = target.process.stdout().splitlines()[-1]
        kept, total = target.process.stdout(), target.process.out.total
    finally:
        tracemalloc.stop()
        target.close()
    # starting a server peaks at about 0.5 MiB alone; in a full suite run other threads of the worker (servers
    # of module-scoped fixtures) allocate meanwhile too (5.6-6 MiB measured): far from the 10 MiB, and more in
    # copies, that a whole read of stdout costs. What is kept of it is bounded by construction:
    assert peak < 8 << 20, f"the harness held {peak} bytes at once while reading 10 MiB of stdout"
    assert len(kept) < 200_000 and total > 10 << 20, (len(kept), total)
    assert address[1] == announced_in(last_line)


def test_the_command_line_survives_a_10_mib_readiness_line(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [PY, "-m", "socket_harness", "check", "--only", "echo.fidelity", "--examples", "5", "--startup-timeout", "30",
         "--json", str(report), "--", *command(HUGE_LINE, "{port}")],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    checks = {c["id"]: c for c in json.loads(report.read_text())["servers"][0]["checks"]}
    assert checks["startup.ready"]["verdict"] == "pass", checks["startup.ready"]["message"]
    assert checks["echo.fidelity"]["verdict"] == "pass", checks["echo.fidelity"]["message"]
    assert done.returncode == 0, done.stdout


def test_a_line_that_never_ends_is_shown_cut() -> None:
    target = SubprocessTarget(command(NEVER_ENDS, "0"), port=0, startup_timeout=WAITED_OUT)
    with pytest.raises(StartupFailure) as failure:
        target.start()
    message = failure.value.message
    assert "did not print 'listening on HOST:PORT'" in message.splitlines()[0]
    assert "unfinished line" in message and "[...]" in message
    assert len(message) < 4000, len(message)


# -- the listening socket must be the server's -------------------------------------------------------------


@needs_proc
def test_a_readiness_line_naming_another_process_port_fails_naming_it(
    held_port: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTHER_PORT", str(held_port.getsockname()[1]))
    target = SubprocessTarget(command(ANNOUNCES_OTHER, "{port}"), port=None, startup_timeout=10)
    with pytest.raises(StartupFailure) as failure:
        target.start()
    first = failure.value.message.splitlines()[0]
    assert f"port {held_port.getsockname()[1]} is held by pid {os.getpid()} (" in first, first
    assert "not by the server (which listens on 127.0.0.1:" in first, first


@needs_proc
def test_a_readiness_line_naming_a_port_nothing_listens_on_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with refused_address() as refused:
        monkeypatch.setenv("OTHER_PORT", str(refused[1]))
        target = SubprocessTarget(command(ANNOUNCES_OTHER, "{port}"), port=None, startup_timeout=WAITED_OUT)
        with pytest.raises(StartupFailure) as failure:
            target.start()
    first = failure.value.message.splitlines()[0]
    assert f"nothing listens on 127.0.0.1:{refused[1]} after {WAITED_OUT:g}s" in first, first
    assert "it listens on 127.0.0.1:" in first, first


@needs_proc
def test_port_taken_by_another_process_and_the_server_cannot_bind(held_port: socket.socket, tmp_path: Path) -> None:
    """``--port P`` where this test process listens on P: the reference server exits (address in use)."""
    port = str(held_port.getsockname()[1])
    report = tmp_path / "report.json"
    done = subprocess.run(
        [PY, "-m", "socket_harness", "check", "--port", port, "--only", "startup.ready", "--startup-timeout", "10",
         "--json", str(report), "--", PY, "-m", "socket_harness.servers.sequential", "--port", port],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    result = json.loads(report.read_text())["servers"][0]["checks"][0]
    assert result["id"] == "startup.ready" and result["verdict"] == "fail", result
    first = result["message"].splitlines()[0]
    assert "exited with status" in first and f"port {port} is held by pid {os.getpid()} (" in first, first
    assert done.returncode == 1, done.stdout


@needs_proc
def test_port_taken_by_another_process_and_the_server_listens_elsewhere(held_port: socket.socket) -> None:
    port = held_port.getsockname()[1]
    target = SubprocessTarget(command(FALLS_BACK, str(port)), port=port, startup_timeout=WAITED_OUT)
    with pytest.raises(StartupFailure) as failure:
        target.start()
    first = failure.value.message.splitlines()[0]
    assert f"did not listen on tcp port {port}" in first, first
    assert f"port {port} is held by pid {os.getpid()} (" in first and "not by the server" in first, first
    assert "it listens on 127.0.0.1:" in first and "instead" in first, first


@needs_proc
def test_a_port_held_by_a_process_we_cannot_see_is_said_so(
    held_port: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder's descriptors cannot be read (another user's process): the harness waits out the start-up
    timeout (the socket may be on its way to the server) and then says who it cannot name."""
    monkeypatch.setattr(sysinfo, "holders", lambda inodes: [])
    port = held_port.getsockname()[1]
    monkeypatch.setenv("OTHER_PORT", str(port))
    target = SubprocessTarget(command(ANNOUNCES_OTHER, "{port}"), port=None, startup_timeout=WAITED_OUT)
    with pytest.raises(StartupFailure) as failure:
        target.start()
    first = failure.value.message.splitlines()[0]
    assert f"port {port} is held by a process of another user, not by the server" in first, first


@needs_proc
def test_a_udp_port_taken_by_another_process_is_named() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        cmd = [PY, "-m", "socket_harness.servers.udp_echo", "--port", str(port)]
        target = SubprocessTarget(cmd, port=port, transport="udp", startup_timeout=10)
        with pytest.raises(StartupFailure) as failure:
            target.start()
    assert f"port {port} is held by pid {os.getpid()} (" in failure.value.message.splitlines()[0]


@needs_proc
def test_a_server_that_prints_nothing_is_told_where_it_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    own = free_port()
    monkeypatch.setenv("ECHO_PORT", str(own))
    target = SubprocessTarget([PY, str(HERE / "broken" / "picks_own_port.py"), "0"], port=0, startup_timeout=WAITED_OUT)
    with pytest.raises(StartupFailure) as failure:
        target.start()
    lines = failure.value.message.splitlines()
    assert f"it listens on 127.0.0.1:{own}: give --port {own}, or put {{port}} in its command" in lines[0], lines
    assert "it printed nothing on stdout" in lines
    assert any(f"listening on port {own}" in line for line in lines), lines  # its stderr


@needs_proc
def test_a_server_that_never_listens_is_told_so() -> None:
    target = SubprocessTarget([PY, str(HERE / "broken" / "never_listens.py"), "0"], port=0, startup_timeout=1)
    with pytest.raises(StartupFailure) as failure:
        target.start()
    first = failure.value.message.splitlines()[0]
    assert first.endswith("(it is still running); it listens on no port"), first


@needs_proc
def test_a_socket_handed_over_with_listen_fd_is_the_server_s() -> None:
    with SubprocessTarget(
        [PY, "-m", "socket_harness.servers.threaded", "--listen-fd"], port=0, listen_fd=True
    ) as target:
        assert echo_works(target.address)


# -- what /proc says about sockets -------------------------------------------------------------------------


def test_serving_prefers_the_socket_bound_to_the_host() -> None:
    exact = sysinfo.Listener("127.0.0.1", 80, 1, False)
    any4 = sysinfo.Listener("0.0.0.0", 80, 2, False)
    any6 = sysinfo.Listener("::", 80, 3, True)
    loop6 = sysinfo.Listener("::1", 80, 4, True)
    assert sysinfo.serving([any6, any4, exact], "127.0.0.1") == [exact]
    assert sysinfo.serving([any6, any4], "127.0.0.1") == [any4]
    assert sysinfo.serving([any6, loop6], "127.0.0.1") == [any6]
    assert sysinfo.serving([any4, any6, loop6], "::1") == [loop6]
    assert sysinfo.serving([any4], "::1") == []


@needs_proc
def test_held_by_group_tells_the_server_s_socket_from_another_process_s(held_port: socket.socket) -> None:
    ours = sysinfo.serving_sockets("127.0.0.1", held_port.getsockname()[1])
    assert ours
    inodes = {s.inode for s in ours}
    assert sysinfo.held_by_group(inodes, os.getpid(), os.getpgid(0)) is True
    with ServerProcess([PY, "-m", "socket_harness.servers.sequential", "--port", "0"]) as other:
        other.wait_ready(10)
        assert sysinfo.held_by_group(inodes, other.pid, other.pgid) is False
        theirs = sysinfo.group_listeners(other.pgid, other.pid)
        assert theirs and all(s.inode not in inodes for s in theirs)
    assert os.getpid() in sysinfo.holders(inodes)


def test_holders_are_described_by_pid_and_command_line() -> None:
    assert sysinfo.describe_holders([]) == "a process of another user"
    if sysinfo.available():
        described = sysinfo.describe_holders([os.getpid()])
        assert described.startswith(f"pid {os.getpid()} (") and len(described) > len(f"pid {os.getpid()} ()")
