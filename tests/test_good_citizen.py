"""Installing socket-harness changes nothing in a user's unrelated test suite (issue 12, part 6).

The user's project below has packages of its own named ``harness`` and ``servers`` (which a plugin importing
top-level packages of those names would shadow, or be shadowed by) and a Hypothesis profile of its own named
``ci``, as many projects have (which a plugin registering or loading ``ci`` would replace). Its suite must pass
unchanged with the plugin installed, and ``pytest --server-cmd`` must still check a server of that project.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ECHO = """\
import socket, sys, threading

def handle(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)

listener = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=128)
print("listening on 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
"""

CONFTEST = """\
from hypothesis import settings

settings.register_profile("ci", max_examples=7)
settings.load_profile("ci")
"""

TESTS = """\
from hypothesis import given, settings, strategies as st

import harness
import servers

ran = []


def test_the_projects_own_packages_are_imported():
    assert harness.WHOSE == "the user's" and servers.WHOSE == "the user's"


@given(st.integers())
def test_property(x):
    ran.append(x)


def test_the_projects_own_profile_is_in_force():
    assert settings.default.max_examples == 7 and len(ran) == 7, (settings.default, len(ran))
"""


def user_project(root: Path) -> Path:
    for package in ("harness", "servers"):
        (root / package).mkdir()
        (root / package / "__init__.py").write_text('WHOSE = "the user\'s"\n')
    (root / "servers" / "echo.py").write_text(ECHO)
    (root / "conftest.py").write_text(CONFTEST)
    (root / "test_mine.py").write_text(TESTS)
    return root


def pytest_in(root: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS_", "HARNESS_", "PYTEST_"))}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", *args],
        capture_output=True, text=True, timeout=300, cwd=root, env=env,
    )  # fmt: skip


def test_a_users_suite_passes_unchanged_with_the_plugin_installed(tmp_path: Path) -> None:
    root = user_project(tmp_path)
    done = pytest_in(root, "test_mine.py")
    assert done.returncode == 0 and "3 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    assert "socket_harness" in pytest_in(root, "--trace-config", "--co").stdout  # the plugin was loaded


def test_server_cmd_still_checks_a_server_of_that_project(tmp_path: Path) -> None:
    root = user_project(tmp_path)
    done = pytest_in(root, "-vv", "-k", "fidelity", "--server-cmd", f"{sys.executable} servers/echo.py {{port}}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "socket-harness::echo.fidelity PASSED" in done.stdout, done.stdout[-3000:]


def test_a_stray_harness_variable_fails_only_the_tests_that_use_the_harness(tmp_path: Path) -> None:
    """``HARNESS_TIMEOUT`` is a name anyone may use for something else: it stops no unrelated suite."""
    root = user_project(tmp_path)
    (root / "test_uses_harness.py").write_text("def test_it(harness_options):\n    pass\n")
    done = pytest_in(root, HARNESS_TIMEOUT="nan")
    assert done.returncode == 1 and "3 passed, 1 error" in done.stdout, done.stdout[-3000:]
    assert "environment variable HARNESS_TIMEOUT: must be a finite number" in done.stdout, done.stdout[-3000:]
