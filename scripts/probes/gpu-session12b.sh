#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), branch exit-paths: the CUDA suite (its exit tests: a closed world returning, an
# uncaught error and process.exit(3) with all-reduces in flight) and the vanishing-rank job twice under cuda-gdb.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session12b.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 360
vanish_gdb 2 120 "$out"
since "all took"
