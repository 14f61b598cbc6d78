"""The greeting protocol: the reference server passes every check, each broken server is caught by its check."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from socket_harness.checks import CheckOptions, catalogue
from socket_harness.runner import check_target
from socket_harness.targets import reference_target

from .test_zoo import QUICK, assert_reproduces, broken, broken_scripts, broken_target, reproducer_of, run_cli

#: name -> (check id that must catch it, words its explanation must contain)
BROKEN = {
    "greeting_never_closes": ("greeting.banner", "must close after its banner"),
    "greeting_close_unread": ("greeting.client-talks", "closes with unread input sends RST"),
    "greeting_partial_send": ("greeting.banner", "of the banner's 1048576 B arrived"),
    "greeting_one_at_a_time": ("greeting.concurrent", "a new client was not served"),
    "greeting_never_reads": ("greeting.client-talks", "descriptor leak"),
}


def test_every_greeting_broken_server_is_in_the_zoo() -> None:
    assert broken_scripts("greeting_") == set(BROKEN)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_greeting_server_is_caught(name: str, tmp_path: Path) -> None:
    check_id, words = BROKEN[name]
    # the banner it means to send (the reference server sends it too); a truncating server cannot teach it
    (tmp_path / "banner").write_bytes(importlib.import_module(f"tests.broken.{name}").BANNER)
    banner = ["--banner-file", str(tmp_path / "banner")] if name == "greeting_partial_send" else []
    status, checks, stdout = run_cli(
        broken(name), "--protocol", "greeting", *banner, "--only", check_id, *QUICK, tmp_path=tmp_path
    )
    result = checks[check_id]
    assert result["verdict"] == "fail", f"{name}: {check_id} said {result['verdict']}: {result['message']}"
    assert words in result["message"], result["message"]
    assert status == 1, stdout
    reference = reference_target("greeting", server_options={"banner_file": str(tmp_path / "banner")})
    assert_reproduces(check_id, reproducer_of(result), broken_target(broken(name)), reference)


def test_reference_greeting_server_passes_everything(tmp_path: Path) -> None:
    status, checks, stdout = run_cli(
        ["python3", "-m", "socket_harness.servers.greeting", "--port", "{port}", "--banner", "Hi there"],
        "--protocol", "greeting", "--banner", "Hi there", tmp_path=tmp_path,
    )  # fmt: skip
    assert {c["verdict"] for c in checks.values()} == {"pass"}, stdout
    assert set(checks) == {c.id for c in catalogue("greeting")}
    assert status == 0


def test_the_wrong_banner_is_a_failure(tmp_path: Path) -> None:
    status, checks, _ = run_cli(
        ["python3", "-m", "socket_harness.servers.greeting", "--port", "{port}"],
        "--protocol", "greeting", "--banner", "Bye!", "--only", "greeting.banner", *QUICK, tmp_path=tmp_path,
    )  # fmt: skip
    assert (
        checks["greeting.banner"]["verdict"] == "fail" and "differs at byte 0" in checks["greeting.banner"]["message"]
    )
    assert status == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_greeting_catalogue_in_process_with_a_large_banner(host: str) -> None:
    banner = bytes(range(256)) * 4096  # 1 MiB: many sends, many reads
    target = reference_target("greeting", "inprocess", host=host, server_options={"banner": banner})
    report = check_target(target, CheckOptions(protocol="greeting", banner=banner, examples=10))
    assert {r.id: r.message for r in report.results if r.verdict.value not in ("pass", "skip")} == {}
