#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 8, second lease: nonblocking communicators, aborts all at once and never
# under the issuer's NCCL calls. The 2 x 1 stream of 2000 x 64 KiB, this build against bundle/base.tar.xz (the
# blocking communicators before), 2 interleaved rounds (small.txt); the CUDA suite (gpu-tests.txt); then the
# vanishing-rank job RUNS times (default 2) with ranks 0 and 1 under cuda-gdb (logs of failed runs into $OUT).
# Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session8b.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
compare_rounds 64KiB 2000 small.txt
since "small took"
run_suite 330
vanish_gdb "${RUNS:-2}" 150 "$out"
since "all took"
