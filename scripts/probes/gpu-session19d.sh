#!/usr/bin/env bash
# Probe (GPU machine), session 19: the session's host-cost changes one on another, each build in
# bundle/<name>.tar.xz (scripts/probes/base-bundle.sh <rev> <name>): base (the session's start), settle (the
# settle operator), wa (+ want answering records it knows complete), pool (+ CpuPrograms reused). The CPU
# targets' rows (cpu_row, 64 x 256 B) and js-cpu.mjs at 1 x 1, 2 x 2, 2 x 4, the builds interleaved over 5 rounds;
# then `fairring` at 1 x 1 on CUDA, 2000 x 64 KiB, 3 rounds; then the CUDA suite on this build (the bundle's).
# Usage: bash scripts/bundle.sh, the four base-bundle.sh calls, then bash scripts/gpu-run.sh bash
# scripts/probes/gpu-session19d.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
builds=(base settle wa pool)
unpack_builds "${builds[@]}"
timeout 60 node scripts/probes/machine-costs.mjs | grep -E "jsLoop"
for round in 1 2 3 4 5; do
  for b in "${builds[@]}"; do
    cpu_rows "builds/$b" "round $round $b" "1 1" "2 2" "2 4"
  done
done 2>&1 | tee "$out/targets.txt"
since "cpu rows done at"
cuda_1x1_rows 3 1 cuda-1x1.txt "${builds[@]}"
since "cuda rows done at"
run_suite 240
