"""``python -m harness bench`` runs and reports correctly (benchmarks are not timed tests: no speed is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BROKEN = Path(__file__).parent / "broken"
QUICK = ["--connections", "4", "--size", "64", "--duration", "0.3", "--warmup", "0.1"]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socket_harness", "bench", *args], capture_output=True, text=True, timeout=120
    )


def test_bench_reports_every_figure_for_a_server_and_its_ratio_to_a_baseline(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    done = bench(*QUICK, "--baseline", "asyncio-protocol", "--pairs", "2", "--json", str(report),
                 "--", sys.executable, "-m", "socket_harness.servers.selector", "--port", "{port}")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(report.read_text())
    runs = data["measurements"]
    assert [m["server"] for m in runs] == [sys.executable, "asyncio-protocol"] * 2
    for m in runs:
        assert m["round_trips_per_s"] > 0 and not m["errors"], m
        assert 0 < m["p50_us"] <= m["p99_us"] <= m["p999_us"], m
        assert m["server_cpu_us_per_rt"] is not None and m["server_peak_rss_kib"] > 0, m
        assert m["mb_per_s"] == pytest.approx(m["round_trips_per_s"] * 64 / 1e6)
    (ratio,) = data["ratios"]
    assert ratio["baseline"] == "asyncio-protocol" and len(ratio["ratios"]) == 2
    assert ratio["ratios"][0] == pytest.approx(runs[0]["round_trips_per_s"] / runs[1]["round_trips_per_s"])
    assert "median" in done.stdout and "rt/s" in done.stdout


@pytest.mark.parametrize("client", ["c", "python"])
def test_bench_defaults_to_the_reference_servers_with_either_load_client(client: str, tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    done = bench(*QUICK, "--client", client, "--json", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    runs = json.loads(report.read_text())["measurements"]
    assert [(m["server"], m["client"]) for m in runs] == [("selector", client), ("threaded", client)]
    assert all(m["round_trips_per_s"] > 0 and m["p50_us"] > 0 for m in runs), runs


def test_one_connection_against_the_c_floor(tmp_path: Path) -> None:
    """The C epoll baseline (built with cc) measured beside the server: the floor of a ping-pong round trip."""
    report = tmp_path / "bench.json"
    done = bench(*QUICK, "--connections", "1", "--baseline", "c-epoll", "--pairs", "1", "--json", str(report),
                 "--", sys.executable, "-m", "socket_harness.servers.selector", "--port", "{port}")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    floor = json.loads(report.read_text())["measurements"][1]
    assert floor["server"] == "c-epoll" and floor["p50_us"] > 0 and floor["round_trips_per_s"] > 0, floor


def test_cycles_mode_measures_connect_echo_close_cycles(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    done = bench(*QUICK, "--cycles", "--json", str(report), "--", sys.executable, "-m",
                 "socket_harness.servers.selector", "--port", "{port}")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (m,) = json.loads(report.read_text())["measurements"]
    assert m["cycles"] and m["round_trips_per_s"] > 0 and m["connections_per_s"] == m["round_trips_per_s"], m
    assert m["stalls_over_1s"] == 0 and not m["errors"], m
    assert "cycles/s" in done.stdout


def test_a_server_that_drops_connections_is_reported_not_hidden() -> None:
    done = bench(*QUICK, "--size", "4096", "--", sys.executable, str(BROKEN / "recv_once.py"), "{port}")
    assert done.returncode == 1, done.stdout
    assert "closed the connection" in done.stdout or "reset" in done.stdout.lower(), done.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--connections", "0"], "--connections: must be a whole number from 1 to 10,000"),
        (["--baseline", "nginx"], "unknown baseline 'nginx'"),
        (["--duration", "0"], "--duration: must be a finite number of seconds > 0"),
        (["--cycles", "--client", "python"], "--cycles needs the C load client"),
        (["--", "no-such-server-anywhere"], "command not found"),
    ],
)
def test_bench_misuse_exits_2(args: list[str], words: str) -> None:
    done = bench(*args)
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
