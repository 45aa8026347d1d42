#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 15: the CUDA suite on the build whose CPU submit moves fewer cache lines
# between the JS thread and the executor (program steps held in place, no allocation per stream; the executor's
# pass list without reference counts), then that build against the one before it (bundle/base.tar.xz), the CPU
# targets' rows at 2 x 2 and 2 x 4 (`bench` and js-cpu.mjs), 3 interleaved rounds.
# Usage: bash scripts/bundle.sh, base build packed into bundle/base.tar.xz, then
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session15e.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 390
unpack_base
cpu_ab 3 cpu-ab.txt "2 2" "2 4"
since "all took"
