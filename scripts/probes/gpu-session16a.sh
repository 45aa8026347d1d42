#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 16: the CUDA suite on main as session 15 left it (145d7ea and after
# have not run it: the CPU executor's inbox, the review fixes in queue.cc, the name tables in runtime.h,
# native.threadCpuMs). Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session16a.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 480
