#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 9's first lease: the build of session 8's end (nonblocking
# communicators with the reviews' fixes: releases through ncclCommFinalize, asyncError under the NCCL lock),
# none of which has run on a GPU. The CUDA suite (gpu-tests.txt); the vanishing-rank job twice with both
# survivors under cuda-gdb (logs of failed runs into $OUT); the 2 x 1 stream of 2000 x 64 KiB and the floor's
# workload (64 x 25 MiB) against bundle/base.tar.xz (scripts/probes/base-bundle.sh: blocking communicators),
# 2 interleaved rounds each (small.txt, big.txt).
# Usage: bash scripts/probes/base-bundle.sh (after scripts/bundle.sh), then
#        bash scripts/gpu-run.sh bash scripts/probes/gpu-session9.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
run_suite 300
vanish_gdb 2 120 "$out"
compare_rounds 64KiB 2000 small.txt
compare_rounds 25MiB 64 big.txt
since "all took"
