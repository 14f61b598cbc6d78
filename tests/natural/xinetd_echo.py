"""xinetd's built-in RFC 862 echo (``type = INTERNAL``, ``id = echo-stream``): ``python xinetd_echo.py PORT``.

Shape: the ``service echo`` entry of xinetd.conf(5)'s EXAMPLE section and of Debian's /etc/xinetd.d/echo
(``type = INTERNAL``, ``id = echo-stream``, ``socket_type = stream``, ``user = root``, ``wait = no``), changed only
where a test run must: ``UNLISTED`` with ``port = PORT`` (the man page's way to serve a port that /etc/services
does not list for it) and ``bind = $HOST`` (default 127.0.0.1). Every other setting is xinetd's compiled-in
default (``cps = 50 10``, ``instances`` unlimited, no ``per_source``), as Debian's /etc/xinetd.conf leaves its
``defaults`` section empty. xinetd runs in the foreground (``-dontfork``, as for daemontools/init) with its log on
stderr (``-filelog /dev/stderr``). Its configuration file is written to a new directory under $TMPDIR (default
/tmp) and left there (xinetd reads it again on SIGHUP; it closes every inherited descriptor, so a memory file
cannot stand in for it): tests point TMPDIR at their own temporary directory.
Needs the Debian package ``xinetd`` (and root, as xinetd's internal services run as ``user = root``).
"""

import os
import sys
import tempfile

port = int(sys.argv[1])
host = os.environ.get("HOST", "127.0.0.1")
config = f"""\
service echo
{{
	type		= INTERNAL UNLISTED
	id		= echo-stream
	socket_type	= stream
	protocol	= tcp
	user		= root
	wait		= no
	bind		= {host}
	port		= {port}
	flags		= {"IPv6" if ":" in host else "IPv4"}
}}
"""
path = os.path.join(tempfile.mkdtemp(prefix="xinetd-echo-"), "xinetd.conf")
with open(path, "w") as file:
    file.write(config)
os.execvp("xinetd", ["xinetd", "-dontfork", "-filelog", "/dev/stderr", "-f", path])
