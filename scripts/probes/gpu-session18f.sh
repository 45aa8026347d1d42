#!/usr/bin/env bash
# Probe (GPU machine), for session 18: how many of the JS thread's asks (want) find their record complete
# already on the GPU host (submit-cost.mjs, CPU backend, 64 all-reduces at once, 2 x 2 and 2 x 4, 3 rounds).
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session18f.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
timeout 60 node scripts/probes/machine-costs.mjs | grep -E "jsLoop"
for round in 1 2 3; do
  for topo in "2 2" "2 4"; do timeout 60 node scripts/probes/submit-cost.mjs $topo 64 | sed "s/^/round $round /"; done
done 2>&1 | tee "$out/wants.txt"
since "done at"
