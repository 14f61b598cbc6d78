"""The framed protocol: the reference server passes every check, each broken server is caught by its check."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from socket_harness.checks import CheckOptions, catalogue
from socket_harness.checks.framed import frame, parse_frames
from socket_harness.runner import check_target
from socket_harness.servers.framed import FramedEchoServer, parse_header
from socket_harness.targets import reference_target

from .test_zoo import QUICK, assert_reproduces, broken, broken_scripts, broken_target, reproducer_of, run_cli

#: name -> (check id that must catch it, words its explanation must contain)
BROKEN = {
    "framed_header_one_recv": ("framed.split", "split"),
    "framed_one_per_recv": ("framed.back-to-back", "one write"),
    "framed_no_limit": ("framed.oversize", "did not end the connection"),
    "framed_dies_on_bad_header": ("framed.bad-header", "was not served"),
    "framed_unpickles": ("framed.no-unpickle", "unpickled"),
    "framed_answers_at_eof": ("framed.interactive", "answers only once the client half-closes"),
}


def test_every_framed_broken_server_is_in_the_zoo() -> None:
    assert broken_scripts("framed_") == set(BROKEN)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_framed_server_is_caught(name: str, tmp_path: Path) -> None:
    check_id, words = BROKEN[name]
    status, checks, stdout = run_cli(
        broken(name), "--protocol", "framed", "--only", check_id, *QUICK, tmp_path=tmp_path
    )
    result = checks[check_id]
    assert result["verdict"] == "fail", f"{name}: {check_id} said {result['verdict']}: {result['message']}"
    assert words in result["message"], result["message"]
    assert status == 1, stdout
    assert_reproduces(check_id, reproducer_of(result), broken_target(broken(name)), reference_target("framed"))


def test_reference_framed_server_passes_everything(tmp_path: Path) -> None:
    status, checks, stdout = run_cli(
        ["python3", "-m", "socket_harness.servers.framed", "--port", "{port}"],
        "--protocol",
        "framed",
        tmp_path=tmp_path,
    )
    assert {c["verdict"] for c in checks.values()} == {"pass"}, stdout
    assert set(checks) == {c.id for c in catalogue("framed")}
    assert json.loads((tmp_path / "report.json").read_text())["servers"][0]["protocol"] == "framed"
    assert status == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_framed_catalogue_in_process(host: str) -> None:
    """IPv4 and IPv6, with a small maximum frame the checks are told about."""
    target = reference_target("framed", "inprocess", host=host, server_options={"max_frame": 4096})
    report = check_target(target, CheckOptions(protocol="framed", max_frame=4096, examples=15))
    assert {r.id: r.verdict.value for r in report.results if r.verdict.value not in ("pass", "skip")} == {}


def test_a_smaller_maximum_than_the_checks_expect_is_a_failure() -> None:
    """The server refuses 1 MiB bodies, the checks were told it takes them: the fidelity property finds out."""
    target = reference_target("framed", "inprocess", server_options={"max_frame": 100})
    chosen = [c for c in catalogue("framed") if c.id == "framed.fidelity"]
    report = check_target(target, CheckOptions(protocol="framed", examples=50, shrink_seconds=2), chosen)
    assert report.results[0].verdict.value == "fail"


@given(st.lists(st.binary(max_size=300), max_size=6))
@settings(max_examples=50, deadline=None)
def test_frames_parse_back(bodies: list[bytes]) -> None:
    assert parse_frames(b"".join(frame(b) for b in bodies)) == (bodies, None)


@pytest.mark.parametrize(
    ("header", "length"),
    [(b"5         ", 5), (b"0000000012", 12), (b"        12", 12), (b"12 3      ", None), (b"-5        ", None),
     (b"1e3       ", None), (b"          ", None), (b"1048577   ", None), (b"1048576   ", 1048576)],
)  # fmt: skip
def test_parse_header(header: bytes, length: int | None) -> None:
    assert parse_header(header, 1024 * 1024) == length


def test_server_echoes_frames_split_anywhere() -> None:
    with FramedEchoServer() as server:
        import threading

        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        stream = frame(b"abc") + frame(b"") + frame(bytes(range(256)))
        with socket.create_connection(server.address, timeout=5) as sock:
            for byte in stream:
                sock.sendall(bytes([byte]))
            sock.shutdown(socket.SHUT_WR)
            got = b""
            while data := sock.recv(7):
                got += data
        server.shutdown()
        thread.join(5)
    assert got == stream


def test_a_server_that_exits_at_once_on_sigterm_loses_the_frames_in_flight(tmp_path: Path) -> None:
    """framed_no_limit stops at once on SIGTERM (the broken scripts' contract): a clean stop
    (lifecycle.sigterm passes), but the frames streaming through it are cut off, which lifecycle.drain warns
    of; the reference server drains them."""
    options = ["--protocol", "framed", "--only", "lifecycle.sigterm", "--only", "lifecycle.drain", *QUICK]
    status, checks, stdout = run_cli(broken("framed_no_limit"), *options, tmp_path=tmp_path)
    assert checks["lifecycle.sigterm"]["verdict"] == "pass", checks["lifecycle.sigterm"]["message"]
    result = checks["lifecycle.drain"]
    assert result["verdict"] == "warn" and "lost its frames" in result["message"], result["message"]
    status, checks, stdout = run_cli(
        ["python3", "-m", "socket_harness.servers.framed", "--port", "{port}"], *options, tmp_path=tmp_path
    )
    assert status == 0 and "got all its frames" in checks["lifecycle.drain"]["message"], stdout
