"""A classic double-fork daemon: the launcher forks, the child calls ``setsid()`` and forks again, the child
exits, and the grandchild (re-parented, in a session of its own) binds the port and serves; the launcher
exits 0 at once. Apart from that it is a correct echo server, stopping at once on SIGTERM.

Contained: the harness follows the launcher to the daemon that holds the port (its readiness line says so)
and checks it; when the check ends, no process of it is left.
"""

from __future__ import annotations

import os
import signal
import sys

from _echo import listener, record, serve

if __name__ == "__main__":
    record("launcher")
    port = int(sys.argv[1])
    if os.fork() > 0:
        os._exit(0)  # the launcher is done: the daemon lives on by itself
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    record("daemon")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    sock = listener(port)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)  # a daemon detaches from its output
    serve(sock)
