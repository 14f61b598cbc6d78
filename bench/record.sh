#!/usr/bin/env bash
# The benchmark runs of record (BENCHMARKS.md), one after the other on a quiet machine (run nothing else).
# Needs uvloop (pip install uvloop, or: tox -e bench -- ...) and a C compiler for the load workers and c-epoll.
# Usage: bash bench/record.sh [OUTDIR]   (JSON of every run in OUTDIR, default bench-results/)
cd "$(dirname "$0")/.."
out=${1:-bench-results}
mkdir -p "$out"
PY=python3
SEL="$PY -m servers.selector --port {port}"
for size in 64 1024 65536; do
  echo "== selector, 50 connections, $size B, against every baseline"
  $PY -m harness bench --size $size --pairs 5 --duration 2 --warmup 1 --json "$out/selector-$size.json" \
    --baseline asyncio-streams,asyncio-protocol,uvloop,socketserver,c-epoll -- $SEL
done
echo "== threaded against socketserver's ThreadingTCPServer, 50 connections, 1 KiB"
$PY -m harness bench --pairs 5 --duration 2 --warmup 1 --json "$out/threaded-1024.json" --baseline socketserver \
  -- $PY -m servers.threaded --port {port}
echo "== one connection: selector against the C ping-pong floor (c-epoll server, C client)"
$PY -m harness bench --connections 1 --pairs 5 --duration 2 --warmup 1 --json "$out/one-connection.json" \
  --baseline c-epoll -- $SEL
echo "== freshly started (no warm-up) against warmed (5 s warm-up): 3 runs each"
for run in 1 2 3; do
  $PY -m harness bench --warmup 0 --duration 2 --json "$out/fresh-$run.json" -- $SEL | tail -1
  $PY -m harness bench --warmup 5 --duration 2 --json "$out/warm-$run.json" -- $SEL | tail -1
done
echo "== 10,000 concurrent connections, 64 B"
$PY -m harness bench --connections 10000 --size 64 --duration 3 --warmup 1 --json "$out/scale-10000.json" -- $SEL
echo "== connect+echo+close cycles: 100 slots, 64 B, 3 runs"
for run in 1 2 3; do
  $PY -m harness bench --cycles --connections 100 --size 64 --duration 2 --warmup 0.5 --json "$out/cycles-$run.json" \
    -- $SEL | tail -1
done
