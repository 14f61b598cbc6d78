"""An echo server whose accept loop runs in a child that called ``setsid()``: the parent (the process the
harness started) only waits; on SIGTERM the parent dies and the child keeps the listening socket and serves.

Contained: the child carries the server's token, so ``lifecycle.port-refuses`` and ``lifecycle.group`` fail
naming it, and it is killed when the server is.
"""

from __future__ import annotations

import os
import signal
import sys

from _echo import listener, record, serve

if __name__ == "__main__":
    record("server")
    sock = listener(int(sys.argv[1]))
    if os.fork() == 0:
        os.setsid()
        record("child")
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        serve(sock)
    print("listening on {}:{}".format(*sock.getsockname()[:2]), flush=True)
    while True:
        signal.pause()
