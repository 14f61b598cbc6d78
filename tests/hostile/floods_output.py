"""An echo server that, once ready, writes without end to stdout and stderr (a debug print in a hot loop),
as fast as its pipes take it, in lines and in one endless line.

Contained: the harness keeps the first and last 64 KiB of each stream in memory and counts the rest;
nothing goes to disk, and its memory does not follow the flood.
"""

from __future__ import annotations

import os
import sys
import threading

from _echo import listener, record, serve


def flood(fd: int, block: bytes) -> None:
    try:
        while True:
            os.write(fd, block)
    except OSError:
        pass


if __name__ == "__main__":
    record("server")
    sock = listener(int(sys.argv[1]))
    print("listening on {}:{}".format(*sock.getsockname()[:2]), flush=True)
    threading.Thread(target=flood, args=(1, b"debug: a line of output\n" * 2730), daemon=True).start()
    threading.Thread(target=flood, args=(2, b"x" * 65536), daemon=True).start()
    serve(sock)
