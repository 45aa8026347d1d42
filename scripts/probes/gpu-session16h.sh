#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 16: the build with the merge cap at half the slices in flight (4 at the
# default parallelism) and stage timings with starts: the floor (5 pairs against fr.cu), then the CUDA suite.
# Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session16h.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
timeout 120 bash scripts/gpu-floor.sh 5 | grep -E '^pair|ratio'
since "floor done at"
run_suite 400
