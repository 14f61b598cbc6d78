"""Every Hypothesis property, run against every reference server it applies to: the echo servers in-process
and as a subprocess (the ``reference_target`` fixture: 3 servers x 2 modes), the other protocols' servers as
a subprocess. ``tox -e fuzz`` runs the subprocess ones with the fuzz profile."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from socket_harness import CheckResult, Target, Verdict

PROPERTIES = [
    "echo.fidelity",
    "echo.partial",
    "echo.interactive",
    "echo.half-close",
    "echo.backpressure",
    "echo.large",
    "conn.concurrency",
    "conn.idle",
    "conn.reset",
    "conn.storm",
    "conn.fd-growth",
    "conn.burst",
    "conn.slowloris",
    "latency.nagle",
    "fuzz.stateful",
    "fuzz.faults",
]


@pytest.mark.parametrize("check_id", PROPERTIES)
def test_reference_server_passes(
    check_id: str, reference_target: Target, run_harness_check: Callable[..., CheckResult]
) -> None:
    result = run_harness_check(check_id, reference_target)
    if check_id in ("conn.idle", "conn.slowloris") and reference_target.sequential:
        assert result.verdict is Verdict.SKIP, result.message
        return
    assert result.verdict is Verdict.PASS, f"{result.message}\n{result.reproducer or ''}"
    assert reference_target.alive()


def test_backpressure_memory_is_bounded_for_the_selector_server(
    run_harness_check: Callable[..., CheckResult],
) -> None:
    """64 MiB offered to a stalled reader: the selector server's peak memory grows by a bounded amount
    (its high-water mark is 1 MiB), far less than the 16 MiB the issue asks to have in flight."""
    from socket_harness.plugin import make_reference_target

    with make_reference_target("selector", "subprocess") as target:
        result = run_harness_check("echo.backpressure", target)
        assert result.verdict is Verdict.PASS, result.message
        growth_kib = int(result.message.split("grew ")[1].split()[0])
        assert growth_kib < 4 * 1024, result.message


#: the property checks (Hypothesis) of the other protocols, each against its reference server as a subprocess
PROTOCOL_PROPERTIES = {
    "framed": ["framed.fidelity"],
    "greeting": ["greeting.banner"],
    "http-file": ["http.not-found", "http.bad-request", "http.split", "http.traversal"],
    "udp-echo": ["udp.fidelity", "udp.clients"],
}


@pytest.fixture(scope="module", params=sorted(PROTOCOL_PROPERTIES), ids=lambda p: f"{p}-subprocess")
def protocol_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Target, dict[str, object]]]:
    """Each other protocol's reference server as a subprocess (http-file: serving a fixture tree), with the
    check options that describe it."""
    from socket_harness.httproot import make_root
    from socket_harness.plugin import running_reference_target
    from socket_harness.protocols import protocol

    name = request.param
    options: dict[str, object] = {"protocol": name}
    server_options: dict[str, object] = {}
    if name == "http-file":
        root = str(make_root(tmp_path_factory.mktemp("served")))
        options["root"] = server_options["root"] = root
    with running_reference_target(protocol(name).servers[0], "subprocess", server_options=server_options) as target:
        yield name, target, options


def test_protocol_reference_server_passes_its_properties(
    protocol_server: tuple[str, Target, dict[str, object]], run_harness_check: Callable[..., CheckResult]
) -> None:
    name, target, options = protocol_server
    for check_id in PROTOCOL_PROPERTIES[name]:
        result = run_harness_check(check_id, target, **options)
        assert result.verdict is Verdict.PASS, f"{check_id}: {result.message}\n{result.reproducer or ''}"
    assert target.alive()
