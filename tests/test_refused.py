"""Refused connections are a result, not an error: a port with no listener refuses at once, a client started
before its server gets a clear refusal, and a server's port refuses once it has shut down."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from socket_harness import InProcessTarget, Schedule, exchange
from socket_harness.net import Address, connect


def test_a_port_with_no_listener_refuses_at_once(refused_address: Address) -> None:
    start = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        connect(refused_address, timeout=5)
    # "at once" as opposed to waiting out the 5 s timeout; half of it leaves room for an overloaded machine
    assert time.monotonic() - start < 2.5


def test_a_client_started_before_the_server_gets_a_clear_refusal(refused_address: Address) -> None:
    with pytest.raises(ConnectionRefusedError):
        exchange(refused_address, Schedule(b"too early"), timeout=5)


def test_the_checker_explains_a_refused_address(refused_address: Address) -> None:
    host, port = refused_address
    done = subprocess.run(
        [sys.executable, "-m", "socket_harness", "check", "--connect", f"{host}:{port}", "--only", "echo.fidelity"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refused" in done.stdout.lower()
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("name", ["sequential", "threaded", "selector"])
def test_after_shutdown_the_port_refuses(name: str) -> None:
    target = InProcessTarget(name, grace=1)
    address = target.start()
    ex = exchange(address, Schedule(b"before"), 5)
    assert bytes(ex.received) == b"before"
    target.stop()
    with pytest.raises(ConnectionRefusedError):
        connect(address, timeout=5)
