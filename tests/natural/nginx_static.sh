#!/bin/sh
# nginx serving ROOT as Debian's nginx package configures it out of the box (/etc/nginx/nginx.conf and
# sites-available/default), changed only where a test run must: the port and bind address, the root, the
# pid file, logs and temp paths in a fresh temporary directory, the workers run as whoever started it (not
# www-data: the harness' fixture tree is private to its user; only root needs a `user` line for that), and
# `daemon off` (stay in the foreground, so the harness owns the process). Nothing is tuned for the harness:
# symlinks are followed (nginx's documented default), timeouts, methods and signals are nginx's own.
#
#   tests/natural/nginx_static.sh PORT ROOT        (the bind address is $HOST, default 127.0.0.1)
#
# The state directory is made under $TMPDIR (default /tmp) and left behind: it holds the logs to read after.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 PORT ROOT" >&2; exit 2; }
port=$1
root=$(cd "$2" && pwd -P)
host=${HOST:-127.0.0.1}
case $host in *:*) listen="[$host]:$port" ;; *) listen="$host:$port" ;; esac
state=$(mktemp -d "${TMPDIR:-/tmp}/nginx-static.XXXXXX")
user=""
[ "$(id -u)" -ne 0 ] || user="user $(id -un) $(id -gn);"
PATH=$PATH:/usr/sbin:/sbin
cat >"$state/nginx.conf" <<CONF
$user
worker_processes auto;
pid $state/nginx.pid;
error_log $state/error.log;
events {
	worker_connections 768;
}
http {
	sendfile on;
	tcp_nopush on;
	types_hash_max_size 2048;
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	access_log $state/access.log;
	gzip on;
	client_body_temp_path $state/client_body;
	proxy_temp_path $state/proxy;
	fastcgi_temp_path $state/fastcgi;
	uwsgi_temp_path $state/uwsgi;
	scgi_temp_path $state/scgi;
	server {
		listen $listen default_server;
		root $root;
		index index.html index.htm index.nginx-debian.html;
		server_name _;
		location / {
			try_files \$uri \$uri/ =404;
		}
	}
}
CONF
exec nginx -p "$state" -c "$state/nginx.conf" -e "$state/error.log" -g 'daemon off;'
