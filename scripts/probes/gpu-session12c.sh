#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), next-lease with the exit fix (the 'exit' listener records the code, the shutdown
# ends the process when an NCCL call is in progress): the CUDA suite, the vanishing-rank job twice under
# cuda-gdb, then `fairring` against the native loop at 2 x 1 and 1 x 2 (64 x 25 MiB, one 256 MiB, 2000 x 64 KiB).
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session12c.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 330
vanish_gdb 2 120 "$out"
since "vanish done at"
loop_table 2>&1 | tee "$out/bench.txt"
since "all took"
