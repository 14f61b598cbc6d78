"""An echo server that starts a helper in a session of its own (``start_new_session=True``, as a log shipper
is started) and never ends it: the helper outlives the server, outside its process group.

Contained: the helper carries the server's token and is a descendant of the harness (child subreaper), so
``lifecycle.group`` fails naming it, and it is killed when the server is.
"""

from __future__ import annotations

import subprocess
import sys

from _echo import listener, record, serve

if __name__ == "__main__":
    record("server")
    helper = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import _echo; _echo.record('helper'); _echo.linger_forever()",
            sys.path[0],
        ],
        start_new_session=True,
    )
    sock = listener(int(sys.argv[1]))
    print("listening on {}:{}".format(*sock.getsockname()[:2]), flush=True)
    serve(sock)
