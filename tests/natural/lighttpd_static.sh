#!/bin/sh
# lighttpd serving ROOT as Debian's lighttpd package configures it out of the box (/etc/lighttpd/lighttpd.conf,
# its modules, request-parsing options, index files and MIME types), changed only where a test run must: the
# port and bind address, the document root, the error log and upload directory in a fresh temporary
# directory, no pid file, server.username or conf-enabled/ snippets (we run it in the foreground with -D, as
# whoever started it: the harness' fixture tree is private to its user). Nothing is tuned for the harness:
# symlinks are followed (lighttpd's documented default), timeouts, methods and signals are lighttpd's own.
#
#   tests/natural/lighttpd_static.sh PORT ROOT        (the bind address is $HOST, default 127.0.0.1)
#
# The state directory is made under $TMPDIR (default /tmp) and left behind: it holds the error log to read after.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 PORT ROOT" >&2; exit 2; }
port=$1
root=$(cd "$2" && pwd -P)
host=${HOST:-127.0.0.1}
case $host in *:*) bind="[$host]" ;; *) bind=$host ;; esac
state=$(mktemp -d "${TMPDIR:-/tmp}/lighttpd-static.XXXXXX")
PATH=$PATH:/usr/sbin:/sbin
cat >"$state/lighttpd.conf" <<CONF
server.modules = (
	"mod_indexfile",
	"mod_access",
	"mod_alias",
	"mod_redirect",
)
server.document-root        = "$root"
server.upload-dirs          = ( "$state" )
server.errorlog             = "$state/error.log"
server.bind                 = "$bind"
server.port                 = $port
server.feature-flags       += ("server.h2proto" => "enable")
server.feature-flags       += ("server.h2c"     => "enable")
server.feature-flags       += ("server.graceful-shutdown-timeout" => 5)
server.http-parseopts = (
  "header-strict"           => "enable",
  "host-strict"             => "enable",
  "host-normalize"          => "enable",
  "url-normalize-unreserved"=> "enable",
  "url-normalize-required"  => "enable",
  "url-ctrls-reject"        => "enable",
  "url-path-2f-decode"      => "enable",
  "url-path-dotseg-remove"  => "enable",
)
index-file.names            = ( "index.php", "index.html" )
url.access-deny             = ( "~", ".inc" )
static-file.exclude-extensions = ( ".php", ".pl", ".fcgi" )
include_shell "/usr/share/lighttpd/create-mime.conf.pl"
server.modules += (
	"mod_dirlisting",
	"mod_staticfile",
)
CONF
exec lighttpd -D -f "$state/lighttpd.conf"
