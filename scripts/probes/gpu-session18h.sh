#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), for session 18: `fairring` against its native loop across processes on one GPU,
# 2 x 1 and 3 x 1 emulated (`launch --emulate-machines`: a machine id and NCCL host id per process, NCCL over
# loopback sockets, NCCL_SOCKET_NTHREADS=4 NCCL_NSOCKS_PERTHREAD=4 as in session 5), `bench --connect` at its
# defaults (the call check on), 64 x 25 MiB, one 256 MiB, 2000 x 64 KiB; rank 0 reports the slowest rank.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session18h.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
emulated_rows 140 "25MiB 64 2" "256MiB 1 3" "64KiB 2000 1" 2>&1 | tee "$out/emulated.txt"
