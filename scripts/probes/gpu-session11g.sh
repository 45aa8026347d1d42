#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 11's suite run: the CUDA suite (with the exit test of a closed world at
# parallelism 32), the vanishing-rank job twice with both survivors under cuda-gdb, and whether Nsight Systems
# (nsys) is on the host.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session11g.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 400
vanish_gdb 2 120 "$out"
since "vanish done at"
echo "nsys: $(command -v nsys || ls /usr/local/cuda*/bin/nsys /opt/nvidia/nsight-systems*/bin/nsys 2>/dev/null | head -1 || echo none)"
