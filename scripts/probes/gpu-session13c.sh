#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 13, second call of the first lease: this build against base/ (the build
# before the group check, scripts/probes/base-bundle.sh e3ae42a) at 2 x 1, 2 interleaved rounds of 2000 x 64 KiB
# (where the issuer's host time per group counts most) and 64 x 25 MiB; then where the JS thread's time goes with
# one large bucket at a time (gpu-session13a.sh).
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh e3ae42a, then
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session13c.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
compare_rounds 64KiB 2000 ab-64k.txt
compare_rounds 25MiB 64 ab-25m.txt
bash scripts/probes/gpu-session13a.sh
since "all took"
