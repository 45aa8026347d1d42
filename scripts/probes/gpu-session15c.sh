#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 15: the CUDA suite on the build with coalesced progress reports, then
# the JS thread's V8 profile in µs per slice at 1 x 1, 2 x 2 and 2 x 4 (js-profile.sh), to hold row by row
# against the development machine's: whether the GPU host's slower JS is spread evenly over the functions (the
# machine) or gathers in a few (the native calls, the threads' shared state).
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session15c.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 400
for topo in "1 1" "2 2" "2 4"; do
  bash scripts/probes/js-profile.sh $topo 40 > "$out/profile-${topo/ /x}.txt" 2>&1
  head -30 "$out/profile-${topo/ /x}.txt"
done
node scripts/probes/machine-costs.mjs 2>&1 | tee "$out/machine.txt"
since "all took"
