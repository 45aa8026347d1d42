#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 15: progress reports coalesced (a report not yet delivered to JS takes in
# the later ones) against the build before (bundle/base.tar.xz), interleaved. The CPU targets' rows (`bench`,
# `fairring`, 64 x 256 B, 40 iterations, medians of 5) with js-cpu.mjs's reports per bucket at 1 x 1, 2 x 2 and
# 2 x 4, 3 rounds; then the CUDA bench rows at 2 x 1 (2000 x 64 KiB and 64 x 25 MiB), 2 rounds.
# Usage: bash scripts/bundle.sh, base build packed into bundle/base.tar.xz, then
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session15b.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
cpu_ab 3 cpu-ab.txt "1 1" "2 2" "2 4"
since "cpu rounds took"
compare_rounds 64KiB 2000 ab-64k.txt
compare_rounds 25MiB 64 ab-25m.txt
since "all took"
