"""``python -m harness.fdexec FD COMMAND...``: hand listening socket FD to COMMAND as fd 3, then exec it.

Sets ``LISTEN_FDS=1`` and ``LISTEN_PID`` (this pid, which exec keeps), as systemd socket activation does.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    """Exec the command (never returns) or print why it cannot and return 2 (bad arguments), 126 (the program
    cannot be executed) or 127 (no such program). The harness' shells refuse such a command before starting
    anything (exit 2); these statuses are for a command that changed in between."""
    if len(argv) < 2 or not argv[0].isdigit():
        print("usage: python -m harness.fdexec FD COMMAND [ARG...]", file=sys.stderr)
        return 2
    fd = int(argv[0])
    if fd != 3:
        os.dup2(fd, 3, inheritable=True)
        os.close(fd)
    else:
        os.set_inheritable(3, True)
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid())
    try:
        os.execvp(argv[1], argv[1:])
    except OSError as exc:
        print(f"error: cannot run {argv[1]!r}: {exc.strerror}", file=sys.stderr)
        # as a shell does: 127 when there is no such program, 126 when it is there but cannot be executed
        return 127 if isinstance(exc, FileNotFoundError) else 126


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
