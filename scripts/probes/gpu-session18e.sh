#!/usr/bin/env bash
# Probe (GPU machine), for session 18: where the JS thread's time per slice goes on the GPU host now, CPU
# backend at 2 x 2 and 2 x 4 (the CPU targets that miss on its slower machines): the V8 profile in µs per slice
# (js-profile.sh) and the native submit's and want's share (submit-cost.mjs, 64 all-reduces at once), twice each;
# the host's plain-JS speed first.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session18e.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
timeout 60 node scripts/probes/machine-costs.mjs | grep -E "jsLoop|wakeRound|cacheLine"
for topo in "2 2" "2 4"; do
  for round in 1 2; do
    timeout 60 node scripts/probes/submit-cost.mjs $topo 64 | sed "s/^/round $round /"
  done
  bash scripts/probes/js-profile.sh $topo 30 | sed "s/^/${topo/ /x} /"
done 2>&1 | tee "$out/profile.txt"
since "done at"
