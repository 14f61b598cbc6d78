"""Crashes before listening: it reads a settings key that does not exist (KeyError, traceback, status 1).

Caught by: startup.ready

Realistic: a settings key was renamed ("host" became "bind_host") in one place only; the server dies at
startup with a traceback on stderr and never prints its "listening on" line.
"""

from __future__ import annotations

import os
import socket
import sys

SETTINGS: dict[str, str] = {"bind_host": "127.0.0.1"}


def main() -> None:
    host = os.environ.get("HOST", SETTINGS["host"])  # BUG: the key is "bind_host" now: KeyError
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(sys.argv[1])))
    listener.listen(128)
    print("listening on {}:{}".format(*listener.getsockname()[:2]), flush=True)


if __name__ == "__main__":
    main()
