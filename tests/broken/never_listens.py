"""Never listens: it waits for a "config loaded" event that nothing ever sets, so it prints nothing.

Caught by: startup.ready

Realistic: the thread meant to load the configuration and set the event was never started; the process
looks alive and healthy but never binds. It has no SIGTERM handler, so SIGTERM kills it (status -15).
"""

from __future__ import annotations

import os
import socket
import sys
import threading

config_loaded = threading.Event()  # BUG: the loader thread that should set() this is never started


def main() -> None:
    config_loaded.wait()
    host = os.environ.get("HOST", "127.0.0.1")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(sys.argv[1])))
    listener.listen(128)
    print("listening on {}:{}".format(*listener.getsockname()[:2]), flush=True)


if __name__ == "__main__":
    main()
