#!/usr/bin/env bash
# Wall time of `python -m harness check` with default settings (profile ci), per correct server, 3 runs each,
# interleaved so that machine noise spreads over all servers. Needs socat, tcpserver (ucspi-tcp) and node.
cd "$(dirname "$0")/.."
PY=python3
declare -a NAMES=("servers.sequential" "servers.threaded" "servers.selector" "socat" "tcpserver" "node" "socketserver")
declare -a CMDS=(
 "--sequential -- $PY -m servers.sequential --port {port}"
 "-- $PY -m servers.threaded --port {port}"
 "-- $PY -m servers.selector --port {port}"
 "-- socat TCP-LISTEN:{port},bind={host},reuseaddr,fork,backlog=1024 EXEC:cat"
 "-- tcpserver -R -H -l 0 -c 1000 -b 1024 {host} {port} cat"
 "-- node tests/correct/echo_server.js {port}"
 "-- $PY tests/correct/stdlib_socketserver.py {port}"
)
for run in 1 2 3; do
  for i in "${!NAMES[@]}"; do
    start=$(date +%s.%N)
    out=$(mktemp)
    $PY -m harness check ${CMDS[$i]} > "$out" 2>&1
    rc=$?
    end=$(date +%s.%N)
    echo "${NAMES[$i]} run$run rc=$rc $(echo "$end - $start" | bc) $(tail -1 "$out")"
    rm -f "$out"
  done
done
