"""``python -m harness``: see :mod:`harness.cli`.

Until :func:`harness.cli.main` installs its handlers, SIGINT or SIGTERM ends the process at once with status
130 or 143 (no server has been started yet, nothing needs stopping): an interrupt while the harness is still
being imported must not end as a traceback or as death by the signal.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


def _exit_now(signum: int, frame: FrameType | None) -> None:
    os.write(2, f"interrupted ({signal.Signals(signum).name})\n".encode())
    os._exit(128 + signum)


for _signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_signum, _exit_now)

from .cli import main  # noqa: E402  (after the handlers: importing the checks takes a while)

if __name__ == "__main__":
    sys.exit(main())
