#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 8, first lease: the clique-ordered aborter's first run on a GPU. The CUDA
# suite (gpu-tests.txt), then the vanishing-rank job RUNS times (default 4) with ranks 0 and 1 under cuda-gdb
# (summary on stdout; logs of failed runs copied to $OUT). Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session8.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 330
vanish_gdb "${RUNS:-4}" 240 "$out"
since "all took"
