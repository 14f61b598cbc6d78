"""Natural http-file servers: real nginx and lighttpd, configured as their Debian packages ship them (only the
port, address, root, state paths and foreground changed: tests/natural/*_static.sh), and webfsd (webfs) with
its built-in defaults, checked with the default options. A correct server written the way its ecosystem
writes it must exit 0: whatever it does that the protocol does not forbid is at most a warning, and each
expected warning is named here with its reason.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .test_zoo import run_cli

NATURAL = Path(__file__).parent / "natural"

#: warnings all of them get, by design of their defaults (issue 11's verdict policy)
SHARED_WARNINGS = {
    # the fixture tree's escape.txt is a symlink pointing outside the root; they follow symlinks by default
    # (nginx: disable_symlinks off; lighttpd: server.follow-symlink "enable"), as the administrator's choice
    "http.traversal",
    # an unfinished request is held 60 s (nginx client_header_timeout, lighttpd server.max-read-idle, webfsd -t), past
    # the harness' bound of --timeout + --idle (12 s by default)
    "http.request-timeout",
    # TERM is "stop now" (nginx's graceful stop is QUIT, lighttpd's INT, webfsd has none): the download is cut
    "lifecycle.drain",
}

#: program, command, the warnings expected beyond the shared ones
SERVERS = {
    "nginx": ("nginx", [str(NATURAL / "nginx_static.sh"), "{port}", "{root}"], set()),
    # mod_staticfile serves a static file to POST as to GET (RFC 1945 leaves POST to the server: SHOULD-level);
    # lighttpd 1.4.69 exits with status 1 when SIGTERM finds connections still open (server.c keeps rc = 1
    # unless srv->conns is empty): it stopped in time, so lifecycle.sigterm warns of the status only
    "lighttpd": (
        "lighttpd",
        [str(NATURAL / "lighttpd_static.sh"), "{port}", "{root}"],
        {"http.method", "lifecycle.sigterm"},
    ),
    # webfsd: 200 for "GET /f HTTP/1.0 extra" (RFC 9112: SHOULD be 400), 400 for PATCH and BREW (SHOULD be
    # 405/501), a 64 KiB request line reset without a status (SHOULD be 414)
    "webfsd": (
        "webfsd",
        ["webfsd", "-F", "-p", "{port}", "-i", "{host}", "-r", "{root}"],
        {"http.bad-request", "http.method", "http.oversized"},
    ),
}


def need(program: str) -> None:
    """Skip when a server is missing, except in CI, whose .ci/run installs it."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/sbin"
    if shutil.which(program, path=path) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is not installed: .ci/run must install it")
        pytest.skip(f"{program} is not installed (apt-get install nginx-light lighttpd webfs)")


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_natural_server_passes_with_default_options(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program, command, extra = SERVERS[name]
    need(program)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the wrapper's state directory (logs, pid, temp) goes there
    report = tmp_path / "report"
    report.mkdir()
    status, checks, stdout = run_cli(command, "--protocol", "http-file", tmp_path=report)
    alarms = {i: c["message"] for i, c in checks.items() if c["verdict"] in ("fail", "error")}
    assert not alarms, f"false alarms for {name}: {alarms}"
    warned = {i for i, c in checks.items() if c["verdict"] == "warn"}
    assert warned == SHARED_WARNINGS | extra, stdout
    assert "the symlink /escape.txt in the root points outside it" in checks["http.traversal"]["message"]
    assert "still connected after" in checks["http.request-timeout"]["message"]
    assert status == 0, stdout
