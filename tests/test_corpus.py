"""Campaigns and memory: a failure found by a campaign is kept, and every ordinary run replays it first.

The ordinary run uses the derandomized ``ci`` profile with one example, which misses the bug of
``recv_once`` (it echoes only the first 1024 bytes): only the replay can catch it there. The database is a
directory (committed with the project) or Hypothesis' own Redis backend, shared by fuzz workers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from socket_harness.errors import StartupFailure
from socket_harness.net import free_port
from socket_harness.process import ServerProcess

BROKEN = Path(__file__).parent / "broken"
BUGGY = [sys.executable, str(BROKEN / "recv_once.py"), "{port}"]
FIXED = [sys.executable, "-m", "socket_harness.servers.selector", "--port", "{port}"]
CAMPAIGN = ["--profile", "dev", "--examples", "40"]  # random, and writes to the database
ORDINARY = ["--profile", "ci", "--examples", "1"]  # derandomized: replays the database read-only first


def check(database: str | None, mode: list[str], server: list[str]) -> subprocess.CompletedProcess[str]:
    kept = ["--database", database] if database else []
    argv = [sys.executable, "-m", "socket_harness", "check", "--only", "echo.fidelity", *mode, *kept, "--", *server]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_an_ordinary_run_alone_misses_the_bug() -> None:
    done = check(None, ORDINARY, BUGGY)
    assert done.returncode == 0, done.stdout


def test_a_campaign_keeps_its_failure_and_every_ordinary_run_replays_it(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    found = check(str(corpus), CAMPAIGN, BUGGY)
    assert found.returncode == 1 and "of 1025 B came back" in found.stdout, found.stdout  # shrunk to 1024 + 1
    kept = files(corpus)
    assert kept, "the campaign saved its failure"

    replayed = check(str(corpus), ORDINARY, BUGGY)
    assert replayed.returncode == 1 and "of 1025 B came back" in replayed.stdout, replayed.stdout
    assert files(corpus) == kept, "an ordinary run only reads the database"

    # once the bug is fixed the entry passes, and a campaign against the fixed server does not drop it
    assert check(str(corpus), ORDINARY, FIXED).returncode == 0
    assert check(str(corpus), CAMPAIGN, FIXED).returncode == 0
    assert kept <= files(corpus), "committed entries are never deleted: a fixed bug stays tested"
    assert check(str(corpus), ORDINARY, BUGGY).returncode == 1, "a regression is still caught"


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A redis-server of our own on a loopback ephemeral port, ended as a process group on teardown."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed: .ci/run must install it")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    pytest.importorskip("redis")
    for _ in range(3):  # the free port may be taken between choosing and binding it: try another
        port = free_port()
        server = ServerProcess(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        )
        try:
            server.wait_ready(10, port=port)
        except StartupFailure:
            server.kill_group()
            server.cleanup()
            continue
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.kill_group()
            server.cleanup()
        return
    pytest.fail("redis-server did not start on three ephemeral ports")


def test_fuzz_workers_share_one_redis_database(redis_url: str) -> None:
    """Worker A's campaign finds the bug; worker B (another process, as on another machine) replays it."""
    worker_a = check(redis_url, CAMPAIGN, BUGGY)
    assert worker_a.returncode == 1, worker_a.stdout
    worker_b = check(redis_url, ORDINARY, BUGGY)
    assert worker_b.returncode == 1 and "of 1025 B came back" in worker_b.stdout, worker_b.stdout


def test_an_unreachable_redis_is_a_usage_error() -> None:
    done = check(f"redis://127.0.0.1:{free_port()}", ORDINARY, FIXED)
    assert done.returncode == 2 and "cannot reach Redis" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_campaign_profiles_stay_random_with_a_database_on_ci_machines() -> None:
    """On a CI machine Hypothesis loads its own derandomized, database-less profile; ours must not inherit it."""
    code = (
        "import socket_harness.profiles as p; from hypothesis import settings\n"
        "for name in p.PROFILES:\n"
        "    p.load(name); s = settings(); print(name, s.derandomize, s.database is not None)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CI": "true"})  # fmt: skip
    assert done.stdout.split("\n")[:3] == ["dev False True", "ci True False", "fuzz False True"], done.stdout
