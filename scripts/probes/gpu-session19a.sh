#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 19: (1) `fairring` against its native loop at 2 x 1 and 1 x 2 with
# bench's warm-up counted in slices (session 18: the one-bucket rows had been taken with the engine's JavaScript
# still cold), loop_table, twice; (2) gpu-session18a.sh (the issuer and the JS thread pinned apart and together).
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session19a.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
for round in 1 2; do loop_table | sed "s/^/round $round /"; done 2>&1 | tee "$out/loop-table.txt"
since "loop table done at"
bash scripts/probes/gpu-session18a.sh
