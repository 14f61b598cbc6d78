"""The udp-echo protocol: the reference server (IPv4 and IPv6), the judging of datagram exchanges, Hypothesis
properties against the in-process server, and the udp-echo zoo (every broken UDP server is caught by its check
with that check's verdict; the reference server passes the whole catalogue with no false alarm)."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from socket_harness import reproduce
from socket_harness.checks import REGISTRY, CheckOptions, Verdict, catalogue, run_check
from socket_harness.checks.udp import (
    MAX_PAYLOAD,
    ClientSockets,
    Send,
    burst_plans,
    exchange_datagrams,
    max_payload,
    tagged_datagram,
)
from socket_harness.net import family_of
from socket_harness.process import ServerProcess
from socket_harness.runner import check_target
from socket_harness.servers.udp_echo import UDPEchoServer
from socket_harness.strategies import PayloadSpec, payload_specs
from socket_harness.targets import InProcessTarget, SubprocessTarget, reference_target

from .test_zoo import assert_reproduces, broken, broken_target
from .test_zoo import run_cli as zoo_run_cli

HERE = Path(__file__).parent
PY = sys.executable
HOSTS = ["127.0.0.1", "::1"]
#: quick, bounded options: a datagram is judged lost after 4 tries over 1.9 s
QUICK = CheckOptions(protocol="udp-echo", examples=10, timeout=5.0, idle=1.0, grace=2.0, shrink_seconds=3.0)
TIMEOUTS = (0.25, 0.5, 1.0, 2.0)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
HOST_PARAMS = [pytest.param("127.0.0.1", id="ipv4"), pytest.param("::1", id="ipv6", marks=needs_ipv6)]


@pytest.fixture(scope="module", params=HOST_PARAMS)
def server(request: pytest.FixtureRequest) -> Iterator[UDPEchoServer]:
    """The reference server in-process on an ephemeral port of 127.0.0.1 and of ::1."""
    srv = UDPEchoServer(request.param, 0, grace=1.0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown(5.0)
    thread.join(5.0)
    assert not thread.is_alive()


def _echo(srv: UDPEchoServer, payloads: list[bytes], clients: int = 1) -> str | None:
    """Exchange ``payloads`` (round-robin over ``clients`` sockets) with ``srv``; the problem, or None."""
    host = srv.address[0]
    sends = [Send(n % clients, p, repr(p)) for n, p in enumerate(payloads)]
    with ClientSockets(host) as pool:
        socks = [pool.new() for _ in range(clients)]
        return exchange_datagrams((host, srv.address[1]), sends, socks, TIMEOUTS).problem()


# -- the reference server -------------------------------------------------------------------------------------


def test_echoes_every_size_from_empty_to_the_largest_datagram(server: UDPEchoServer) -> None:
    top = max_payload(server.address[0])
    assert top == (65527 if ":" in server.address[0] else 65507)
    for size in (0, 1, 1023, 1024, 1025, 1472, 8193, top - 1, top):
        payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
        assert _echo(server, [payload]) is None, size


def test_a_datagram_larger_than_the_maximum_cannot_even_be_sent(server: UDPEchoServer) -> None:
    """The maximum the checks use is the real one: one byte more is refused by the kernel (EMSGSIZE)."""
    with (
        socket.socket(family_of(server.address[0]), socket.SOCK_DGRAM) as sock,
        pytest.raises(OSError, match="too long"),
    ):
        sock.sendto(bytes(max_payload(server.address[0]) + 1), server.address[:2])


def test_each_client_gets_only_its_own_datagrams(server: UDPEchoServer) -> None:
    payloads = [f"client {n % 3} datagram {n}".encode() for n in range(60)]
    assert _echo(server, payloads, clients=3) is None


def test_invalid_utf8_and_control_bytes_come_back_unchanged(server: UDPEchoServer) -> None:
    assert _echo(server, [b"\xff\xfe\xc3\x28", "€".encode()[:2], bytes(range(32)), b"\x00"]) is None


@pytest.mark.parametrize("host", HOST_PARAMS)
def test_datagrams_queued_at_shutdown_are_still_echoed(host: str) -> None:
    """Shutdown requested before serving starts: the datagrams already queued are echoed, then it returns."""
    srv = UDPEchoServer(host, 0, grace=2.0)
    with ClientSockets(host) as pool:
        sock = pool.new()
        sock.setblocking(True)
        sock.settimeout(5.0)
        for n in range(20):
            sock.sendto(b"queued %d" % n, srv.address[:2])
        srv.request_shutdown()
        srv.serve_forever()  # returns once the queue is empty
        got = {sock.recvfrom(100)[0] for _ in range(20)}
    assert got == {b"queued %d" % n for n in range(20)}
    assert srv.listener.fileno() == -1 and srv._wake_r.fileno() == -1


@pytest.mark.parametrize("host", HOST_PARAMS)
def test_icmp_errors_from_a_vanished_client_do_not_stop_the_server(host: str) -> None:
    """With IP_RECVERR an ICMP 'port unreachable' for a reply to a closed socket makes the next call on the
    server's socket fail with ECONNREFUSED: the server drops that reply, and the next client is still served."""
    v6 = ":" in host
    srv = UDPEchoServer(host, 0, grace=1.0)
    srv.listener.setsockopt(socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP, 25 if v6 else 11, 1)  # *_RECVERR
    with ClientSockets(host) as pool:
        gone, alive = pool.new(), pool.new()
        for n in range(3):  # queued before the server runs: its replies go to a closed port
            gone.sendto(b"gone %d" % n, srv.address[:2])
        gone.close()
        alive.sendto(b"still served", srv.address[:2])
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        try:
            alive.setblocking(True)
            alive.settimeout(5.0)
            assert alive.recvfrom(100)[0] == b"still served"
        finally:
            srv.shutdown(5.0)
            thread.join(5.0)
    assert srv.echoed >= 1 and srv.errors >= 1  # the ICMP errors were reported, and survived


@pytest.mark.parametrize("host", HOST_PARAMS)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_command_line_announces_once_and_exits_0_on_signal(host: str, sig: int) -> None:
    with ServerProcess(
        [PY, "-m", "socket_harness.servers.udp_echo", "--host", host, "--port", "0", "--grace", "2"]
    ) as proc:
        announced = proc.wait_ready(10.0)
        assert announced is not None and announced.startswith(host + ":")
        port = int(announced.rpartition(":")[2])
        with ClientSockets(host) as pool:
            sends = [Send(0, b"over the command line", "")]
            assert exchange_datagrams((host, port), sends, [pool.new()], TIMEOUTS).problem() is None
        report = proc.terminate(2.0, sig)
        assert report.exited_in_grace and report.returncode == 0, report
        assert proc.stdout().count("listening on") == 1
        assert proc.stderr() == ""


def test_listen_fd_serves_the_inherited_udp_socket() -> None:
    target = SubprocessTarget(
        [PY, "-m", "socket_harness.servers.udp_echo", "--listen-fd"], listen_fd=True, transport="udp"
    )
    with target:
        assert run_check(REGISTRY["udp.garbage"], target, QUICK).verdict is Verdict.PASS


def test_socket_buffers_are_raised_within_the_kernel_limit() -> None:
    limit = Path("/proc/sys/net/core/rmem_max")
    if not limit.exists():
        pytest.skip("needs /proc/sys/net/core/rmem_max")
    with UDPEchoServer("127.0.0.1", 0) as srv:
        got = srv.listener.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    assert got >= min(4 << 20, int(limit.read_text())), got  # Linux reports twice what was granted


def test_bad_arguments_are_refused_without_a_traceback() -> None:
    done = subprocess.run(
        [PY, "-m", "socket_harness.servers.udp_echo", "--host", "192.0.2.1", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 1 and "cannot listen" in done.stderr and "Traceback" not in done.stderr


# -- judging an exchange (no network) ---------------------------------------------------------------------------


def _judge(sends: list[Send], **came_back: object) -> str | None:
    from socket_harness.checks.udp import Outcome

    outcome = Outcome(sends, ("127.0.0.1", 9), tries=4, seconds=1.9)
    outcome.sent = [1] * len(sends)
    for name, value in came_back.items():
        setattr(outcome, name, value)
    return outcome.problem()


def test_a_truncated_datagram_is_explained_by_the_buffer_size() -> None:
    problem = _judge([Send(0, bytes(1500), "")], received=[0], corrupted=[(0, bytes(1024), 0)])
    assert problem is not None
    assert "a 1500 B datagram came back as 1024 B" in problem and "recvfrom(1024)" in problem


def test_a_decoded_and_reencoded_datagram_is_explained() -> None:
    problem = _judge([Send(0, b"\xff" * 40, "")], received=[0], corrupted=[(0, b"\xef\xbf\xbd" * 40, 0)])
    assert problem is not None and "decodes the bytes as UTF-8" in problem


def test_a_misdirected_datagram_names_both_clients() -> None:
    sends = [Send(0, b"a", ""), Send(1, b"b", "")]
    problem = _judge(sends, received=[1, 0], misdirected=[(1, 0)])
    assert problem is not None and "client 0 received a datagram that client 1 sent" in problem


def test_a_lost_empty_datagram_is_explained() -> None:
    problem = _judge([Send(0, b"", "")], received=[0])
    assert problem is not None and "ignores empty datagrams" in problem and "4 tries" in problem


class LossyServer(UDPEchoServer):
    """The reference server dropping a seeded-random 10 % of its replies: correct, on a lossy network."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        super().__init__(host, port, **options)
        self.loss = random.Random(31)  # the first reply is among those lost
        self.lost = 0

    def _reply(self, data: memoryview, sender: tuple[str, int]) -> None:
        if self.loss.random() < 0.1:
            self.lost += 1
        else:
            super()._reply(data, sender)


@pytest.mark.parametrize("check_id", ["udp.fidelity", "udp.clients", "udp.garbage"])
def test_lost_datagrams_are_retried_so_a_lossy_network_is_no_false_alarm(check_id: str) -> None:
    target = InProcessTarget("udp_echo")
    target.server_cls = LossyServer
    with target:
        result = run_check(REGISTRY[check_id], target, QUICK)
        assert result.verdict is Verdict.PASS, f"{result.message}\n{result.reproducer}"
        assert isinstance(target.server, LossyServer) and target.server.lost > 0


def test_a_duplicate_is_a_fail_but_a_retried_datagram_may_come_back_twice() -> None:
    assert _judge([Send(0, b"x", "")], received=[2]) is not None
    assert _judge([Send(0, b"x", "")], received=[2], sent=[2]) is None


# -- Hypothesis properties against the in-process reference server ---------------------------------------------


@settings(deadline=None)
@given(spec=payload_specs(max_size=MAX_PAYLOAD[socket.AF_INET]))
def test_property_any_datagram_comes_back_identical(server: UDPEchoServer, spec: PayloadSpec) -> None:
    assert _echo(server, [spec.build()]) is None, spec


@settings(deadline=None)
@given(plan=burst_plans(max_clients=4))
def test_property_bursts_from_several_clients_reach_only_their_senders(
    server: UDPEchoServer, plan: list[tuple[int, int]]
) -> None:
    seqs: dict[int, int] = {}
    sends = []
    for client, size in plan:
        sends.append(tagged_datagram(client, seqs.setdefault(client, 0), size))
        seqs[client] += 1
    host = server.address[0]
    with ClientSockets(host) as pool:
        socks = [pool.new() for _ in range(max(seqs) + 1)]
        outcome = exchange_datagrams((host, server.address[1]), sends, socks, TIMEOUTS)
    assert outcome.problem() is None


@pytest.mark.parametrize("host", HOST_PARAMS)
@pytest.mark.parametrize("check_id", ["udp.fidelity", "udp.clients", "udp.garbage", "lifecycle.sigterm"])
def test_the_in_process_reference_server_passes(host: str, check_id: str) -> None:
    with InProcessTarget("udp_echo", host, grace=1.0) as target:
        result = run_check(REGISTRY[check_id], target, CheckOptions(protocol="udp-echo", grace=1.0))
        assert result.verdict is Verdict.PASS, f"{result.message}\n{result.reproducer}"
        assert target.alive()


# -- the zoo ---------------------------------------------------------------------------------------------------


#: script -> (check id, verdict, words the explanation must contain, examples)
BROKEN = {
    "udp_recvfrom_1024": ("udp.fidelity", Verdict.FAIL, "came back as 1024 B", 10),
    "udp_drops_empty": ("udp.fidelity", Verdict.FAIL, "ignores empty datagrams", 10),
    "udp_strips_whitespace": ("udp.fidelity", Verdict.FAIL, "came back as", 60),  # found by the property
    "udp_replies_from_new_socket": ("udp.fidelity", Verdict.FAIL, "not from the server's address", 10),
    "udp_replies_to_first_client": ("udp.clients", Verdict.FAIL, "received a datagram that client", 10),
    "udp_replies_to_last_client": ("udp.clients", Verdict.FAIL, "received a datagram that client", 10),
    "udp_decodes_text": ("udp.garbage", Verdict.FAIL, "decodes datagrams as text", 10),
    "udp_stop_flag_blocks": ("lifecycle.sigterm", Verdict.FAIL, "did not exit within", 10),
}  # fmt: skip


def test_every_broken_udp_script_is_in_the_zoo() -> None:
    scripts = {p.stem for p in (HERE / "broken").glob("udp_*.py")}
    assert scripts == set(BROKEN), scripts ^ set(BROKEN)


@pytest.mark.parametrize("host", HOST_PARAMS)
@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_udp_server_is_caught_by_its_check(name: str, host: str, tmp_path: Path) -> None:
    check_id, verdict, words, examples = BROKEN[name]
    target = SubprocessTarget(broken(name), host, transport="udp", grace=2.0, startup_timeout=5.0)
    options = CheckOptions(protocol="udp-echo", examples=examples, timeout=5.0, idle=1.0, grace=2.0, shrink_seconds=3.0)
    report = check_target(target, options, [REGISTRY[check_id]])
    assert not target.alive()
    (result,) = report.results
    assert result.verdict is verdict, f"{name}: {check_id} said {result.verdict}: {result.message}"
    assert words in result.message, result.message
    script = reproduce.write(tmp_path, check_id, result.reproducer) if result.reproducer else None
    again = broken_target(broken(name), host=host, transport="udp")
    assert_reproduces(check_id, script, again, reference_target("udp_echo", host=host, grace=2.0))


@pytest.mark.parametrize("host", HOST_PARAMS)
def test_the_reference_server_passes_the_whole_catalogue_as_a_subprocess(host: str) -> None:
    target = reference_target("udp_echo", "subprocess", host=host, grace=2.0)
    report = check_target(target, CheckOptions(protocol="udp-echo", grace=2.0), catalogue("udp-echo"))
    verdicts = {r.id: (r.verdict, r.message) for r in report.results}
    assert set(verdicts) == {c.id for c in catalogue("udp-echo")}
    alarms = {cid: v for cid, v in verdicts.items() if v[0] is not Verdict.PASS}
    assert not alarms, f"false alarms: {alarms}"
    assert not target.alive()


def test_lifecycle_restarts_a_udp_server_on_the_same_port() -> None:
    """observe_shutdown stops the server, then starts it again on the same port for the checks after it."""
    with reference_target("udp_echo", "subprocess", grace=2.0) as target:
        before = target.address
        result = run_check(REGISTRY["lifecycle.sigterm"], target, QUICK)
        assert result.verdict is Verdict.PASS, result.message
        assert target.alive() and target.address == before
        assert run_check(REGISTRY["udp.garbage"], target, QUICK).verdict is Verdict.PASS


def test_the_catalogue_holds_no_tcp_only_check() -> None:
    ids = [c.id for c in catalogue("udp-echo")]
    assert ids[:4] == ["startup.ready", "udp.fidelity", "udp.clients", "udp.garbage"], ids
    assert not [i for i in ids if i.startswith(("echo.", "conn.", "fuzz.", "latency."))], ids
    assert "lifecycle.port-refuses" not in ids and "lifecycle.restart" not in ids


# -- the command line ------------------------------------------------------------------------------------------


def run_cli(command: list[str], *options: str, tmp_path: Path) -> tuple[int, dict[str, dict[str, str]], str]:
    return zoo_run_cli(command, "--protocol", "udp-echo", *options, tmp_path=tmp_path)


def test_cli_checks_the_udp_reference_server_by_default(tmp_path: Path) -> None:
    status, checks, stdout = run_cli([], tmp_path=tmp_path)
    assert status == 0, stdout
    assert {"udp.fidelity", "udp.clients", "udp.garbage", "lifecycle.sigterm"} <= set(checks)
    assert all(c["verdict"] == "pass" for c in checks.values()), stdout


def test_cli_fails_a_truncating_server_with_a_reproducer(tmp_path: Path) -> None:
    status, checks, stdout = run_cli(
        broken("udp_recvfrom_1024"), "--host", "::1" if _ipv6_loopback() else "127.0.0.1", "--only",
        "udp.fidelity", "--idle", "1", tmp_path=tmp_path,
    )  # fmt: skip
    assert status == 1, stdout
    assert checks["udp.fidelity"]["verdict"] == "fail"
    assert "recvfrom(1024)" in checks["udp.fidelity"]["message"]
    script = checks["udp.fidelity"]["reproducer_path"]
    assert f"reproducer: python3 {script}" in stdout  # where the reproducer is, on the line after the failure
    assert "socket.SOCK_DGRAM" in Path(script).read_text()
