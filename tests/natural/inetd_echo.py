"""inetutils-inetd's built-in RFC 862 echo (``echo stream tcp nowait root internal``): ``python inetd_echo.py PORT``.

Shape: the ``echo`` line of Debian's /etc/inetd.conf and of inetd(8) ("internal" services: echo, discard,
chargen, daytime, time), with the bind address in front (``HOST:echo``, inetutils' syntax; default 127.0.0.1).
inetd's defaults are left as they are: no ``-R`` (its rate limit of invocations per minute), no ``nowait.max``,
its own listen backlog. inetd runs in the foreground, as its man page offers: ``-d`` (debug mode, the only
foreground mode; it also logs each connection on stderr), with no pid file (``--pidfile`` with no name).

inetd finds the port of a built-in service by its name in /etc/services (``echo`` is 7, not ours to take), so
the daemon runs in a private mount namespace (``unshare --mount``, needs root) where /etc/services is a file
saying ``echo PORT/tcp``; the file is removed as soon as it is mounted, and the configuration is handed over
as a memory file, so nothing is left behind. Needs the Debian package ``inetutils-inetd`` (the binary
``inetutils-inetd``) and util-linux's ``unshare``.
"""

import os
import sys
import tempfile

port = int(sys.argv[1])
host = os.environ.get("HOST", "127.0.0.1")
proto = "tcp6" if ":" in host else "tcp"
config = os.memfd_create("inetd.conf", 0)  # inherited across exec (no MFD_CLOEXEC)
os.write(config, f"{host}:echo\tstream\t{proto}\tnowait\troot\tinternal\n".encode())
state = tempfile.mkdtemp(prefix="inetd-echo-")
with open(os.path.join(state, "services"), "w") as services:
    services.write(f"echo\t\t{port}/tcp\n")
script = 'mount --bind "$1/services" /etc/services && rm -r "$1" && exec inetutils-inetd -d --pidfile "$2"'
os.execvp("unshare", ["unshare", "--mount", "sh", "-c", script, "sh", state, f"/proc/self/fd/{config}"])
