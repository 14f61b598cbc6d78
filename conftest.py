"""Repository-level pytest setup only. The Socket Harness plugin itself is loaded through its ``pytest11``
entry point (installing the package), never from here: pluggy refuses a plugin registered twice."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
from socket_harness import containment, profiles, sysinfo
from socket_harness.waiting import poll_until

collect_ignore = ["tests/broken", "tests/hostile"]

# this project's own property tests run on the harness' profiles (HYPOTHESIS_PROFILE, default ci); the plugin
# itself never loads a profile into a user's run
profiles.load()

#: how long a process may take to be gone at the end of the session (one being reaped right now)
ENDING = 5.0


def _left_running() -> list[int]:
    """Live descendants of this pytest process, but its watchdog (which outlives it by design)."""
    spare = containment.watchdog_pids()
    return [p for p in sysinfo.descendants(os.getpid()) if p not in spare and sysinfo.alive(p)]


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The whole suite leaves no process and no temporary file behind (issue 12).

    Every temporary file and directory made during the session, by the harness, its servers or the commands
    the tests run, goes to a directory of this session's own ($TMPDIR and ``tempfile.tempdir``), which must be
    empty at the end; and no process started by the session may still run.
    """
    tmp_path_factory.getbasetemp()  # pytest's own tmp_path stays where it was
    private = tempfile.mkdtemp(prefix="suite-tmp-")
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = private
    try:
        yield
    finally:
        if saved[0] is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = saved[0]
        tempfile.tempdir = saved[1]
    poll_until(lambda: not _left_running(), ENDING)
    running = _left_running()
    leftovers = sorted(os.listdir(private))
    if not leftovers:
        os.rmdir(private)
    assert not running, f"processes left running at the end of the session: {sysinfo.describe_holders(running)}"
    assert not leftovers, f"temporary files left at the end of the session, in {private}: {leftovers[:20]}"
