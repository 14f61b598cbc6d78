"""The fault-injecting proxy does what each fault says, and ``fuzz.faults`` catches a bug that only a
delaying network shows, which no check talking to the server directly can see."""

from __future__ import annotations

import dataclasses
import os
import select as io_select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from socket_harness import CheckOptions, InProcessTarget, SubprocessTarget, Verdict, check_target
from socket_harness.checks.faults import judge
from socket_harness.net import connect, make_listener
from socket_harness.proxy import FaultProxy, Faults
from socket_harness.runner import select
from socket_harness.wire import Exchange, Schedule, echo_mismatch, exchange

BROKEN = Path(__file__).parent / "broken"
PAYLOAD = os.urandom(50_000)


@pytest.fixture(scope="module")
def selector() -> Iterator[InProcessTarget]:
    with InProcessTarget("selector") as target:
        yield target


def through(target: InProcessTarget, faults: Faults, payload: bytes = PAYLOAD) -> Exchange:
    with FaultProxy(target.address, faults, timeout=5) as proxy:
        ex = exchange(proxy.address, Schedule(payload, half_close=True), 10, 3)
        assert not proxy.errors, proxy.errors
    return ex


@pytest.mark.parametrize(
    "faults",
    [
        Faults(),
        Faults(segments=(1,)),
        Faults(segments=(3, 1460), gaps=(0.001, 0.02)),
        Faults(latency=0.02),
        Faults(rate=1_000_000),
        Faults(cut="close", cut_after=len(PAYLOAD) + 1),  # never reached: no cut
    ],
    ids=lambda f: f.describe(),
)
def test_lossless_faults_deliver_every_byte(selector: InProcessTarget, faults: Faults) -> None:
    ex = through(selector, faults)
    assert echo_mismatch(PAYLOAD, ex) is None and ex.eof, ex.outcome()
    assert judge(PAYLOAD, faults, ex) is None


def test_a_close_cut_lets_exactly_n_bytes_through_then_fin(selector: InProcessTarget) -> None:
    ex = through(selector, Faults(segments=(100,), cut="close", cut_after=1234))
    assert bytes(ex.received) == PAYLOAD[:1234] and ex.eof, ex.outcome()


@pytest.fixture
def upstream() -> Iterator[socket.socket]:
    """A bare listener standing in for the server, to see exactly what the proxy does to it."""
    listener = make_listener("127.0.0.1")
    listener.settimeout(5)
    yield listener
    listener.close()


@pytest.mark.parametrize(("cut", "server_sees"), [("reset", "RST"), ("vanish", "FIN"), ("close", "FIN")])
def test_cuts_reach_both_sides(upstream: socket.socket, cut: str, server_sees: str) -> None:
    with FaultProxy(upstream.getsockname()[:2], Faults(cut=cut, cut_after=10), timeout=5) as proxy:
        client = connect(proxy.address, 5)
        server, _ = upstream.accept()
        server.settimeout(5)
        with client, server:
            client.sendall(b"0123456789 and more")
            got = bytearray()
            end = ""
            while not end:
                try:
                    data = server.recv(100)
                except ConnectionResetError:
                    end = "RST"
                else:
                    got += data
                    end = "" if data else "FIN"
            assert (bytes(got), end) == (b"0123456789", server_sees) or (cut == "reset" and end == "RST")
            client.settimeout(5)
            if cut == "close":
                server.sendall(b"echo")
                server.close()
                assert client.recv(100) == b"echo" and client.recv(100) == b""
            else:
                with pytest.raises(ConnectionResetError):
                    while client.recv(100):
                        pass


def test_gaps_and_latency_delay_the_stream(upstream: socket.socket) -> None:
    """A lower bound only (the machine may be slower, never faster): the first byte waits out gap + latency."""
    with (
        FaultProxy(upstream.getsockname()[:2], Faults(gaps=(0.2,), latency=0.1), timeout=5) as proxy,
        connect(proxy.address, 5) as client,
        upstream.accept()[0] as server,
    ):
        server.settimeout(5)
        start = time.monotonic()
        client.sendall(b"x")
        assert server.recv(10) == b"x"
        assert time.monotonic() - start >= 0.29


def test_backpressure_passes_through(upstream: socket.socket) -> None:
    """A server that stops reading makes the client's writes block: the proxy buffers a bounded amount."""
    with (
        FaultProxy(upstream.getsockname()[:2], Faults(segments=(1460,)), timeout=5) as proxy,
        connect(proxy.address, 5) as client,
        upstream.accept()[0],
    ):
        client.setblocking(False)
        accepted = 0
        while accepted < 64 * 1024 * 1024:
            _, writable, _ = io_select.select([], [client], [], 0.5)
            if not writable:
                break  # blocked for 0.5 s: the stalled server's backpressure reached the client
            try:
                accepted += client.send(b"\0" * 65536)
            except BlockingIOError:
                pass
        assert accepted < 64 * 1024 * 1024, "the writer never blocked"


def test_closing_the_proxy_ends_its_thread_and_connections(selector: InProcessTarget) -> None:
    proxy = FaultProxy(selector.address, Faults(gaps=(5.0,)), timeout=5)
    client = connect(proxy.address, 5)
    client.sendall(b"held back by a 5 s gap")
    proxy.close()
    client.settimeout(5)
    with client, pytest.raises(ConnectionResetError):
        client.recv(100)
    assert not any(t.name.startswith("fault-proxy") and t.is_alive() for t in threading.enumerate())


@pytest.mark.parametrize(
    ("text", "faults"),
    [
        ("segments=1/7,gaps=0.3", Faults(segments=(1, 7), gaps=(0.3,))),
        ("latency=0.05, rate=65536", Faults(latency=0.05, rate=65536)),
        ("cut=reset@100", Faults(cut="reset", cut_after=100)),
        ("", Faults()),
    ],
)
def test_faults_parse(text: str, faults: Faults) -> None:
    assert Faults.parse(text) == faults


@pytest.mark.parametrize("text", ["segments=0", "gaps=-1", "cut=explode@3", "speed=9", "latency", "rate=x"])
def test_bad_faults_are_refused_with_a_readable_message(text: str) -> None:
    with pytest.raises(ValueError, match=r"bad fault|must be"):
        Faults.parse(text)


OPTIONS = CheckOptions(idle=1.0, grace=2.0, shrink_seconds=8.0)


def test_the_fault_proxy_catches_a_server_that_drops_silent_clients() -> None:
    """The server takes 0.25 s of silence for the end of the stream: a network gap (fuzz.faults) shows it, and
    shrinks to that fault. (Whether a direct check happens to catch it too depends on the harness' own pauses,
    so no test asserts that one does not.)"""

    def target() -> SubprocessTarget:
        command = [sys.executable, str(BROKEN / "drops_silent_clients.py"), "{port}"]
        return SubprocessTarget(command, port=0, grace=2, name="drops_silent_clients")

    searching = dataclasses.replace(OPTIONS, examples=40)
    result = check_target(target(), searching, select(["fuzz.faults"])).results[-1]
    assert result.verdict is Verdict.FAIL, result.message
    assert "gaps 300 ms" in result.message, f"shrinks to the fault that triggers it: {result.message}"
    assert result.reproducer is not None and "import harness" not in result.reproducer  # it carries its own proxy
    with target() as running:
        host, port = running.address
        done = subprocess.run([sys.executable, "-c", result.reproducer, host, str(port)], capture_output=True,
                              text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "lost" in done.stdout, done.stdout
