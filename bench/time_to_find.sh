#!/usr/bin/env bash
# Time to find each broken server of issue 4 (interleavings, fragmentation/delay, adversarial clients): the
# check that targets it, run alone with the default profile (ci) and the zoo's example counts, 3 runs each,
# interleaved. Prints the check's own time (search + shrink) and its verdict line. Usage: bash bench/time_to_find.sh
cd "$(dirname "$0")/.."
PY=python3
declare -a RUNS=(
 "echoes_to_newest_client fuzz.stateful --examples 40"
 "closes_wrong_socket_on_reset fuzz.stateful --examples 40"
 "global_done_flag fuzz.stateful --examples 40"
 "drops_silent_clients fuzz.faults --examples 40"
 "max_clients conn.burst"
 "header_in_accept_loop conn.slowloris"
)
for run in 1 2 3; do
  for spec in "${RUNS[@]}"; do
    set -- $spec
    script=$1; check=$2; shift 2
    line=$($PY -m harness check --only "$check" "$@" -- $PY "tests/broken/$script.py" {port} 2>&1 | grep -E "^  $check ")
    echo "$script run$run: $line"
  done
done
