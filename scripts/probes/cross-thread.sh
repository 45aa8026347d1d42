#!/usr/bin/env bash
# Probe (any machine; on the GPU machine through scripts/gpu-run.sh): whether the JS thread's extra time per
# slice at 2 x 2 and 2 x 4 on the CPU backend comes from the threads' shared state (cache lines and locks moving
# between cores, allocations freed on another thread) rather than from its own work. js-cpu.mjs's JS thread CPU
# (/proc utime + stime: time preempted does not count) with the process on all cores, on one core (no line
# moves between cores), on two, and with one malloc arena; then submit-cost.mjs (µs inside the native submit
# and want calls per slice). <rounds> interleaved rounds (default 2).
# Usage: bash scripts/probes/cross-thread.sh [rounds]
set -uo pipefail
rounds=${1:-2}
for ((round = 1; round <= rounds; round++)); do
  for topo in "2 2" "2 4"; do
    for how in all one two arena; do
      case $how in
        all) run=() ;;
        one) run=(taskset -c 0) ;;
        two) run=(taskset -c 0,1) ;;
        arena) run=(env MALLOC_ARENA_MAX=1) ;;
      esac
      timeout 60 "${run[@]}" node scripts/probes/js-cpu.mjs $topo 64 64 200 | sed "s/^/round $round $how /"
    done
    timeout 60 node scripts/probes/submit-cost.mjs $topo 64 | sed "s/^/round $round submit-cost /"
  done
done
