#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 16: the floor (2 x 1, 64 x 25 MiB, 5 pairs against fr.cu's five
# stages) with the engine's native loop beside fr.cu in the same pairs (the ordered loop of session 13 was
# never paired with fr.cu; on the figures on record it is 0.78-0.84x of it at 2 x 1), then the comparison at
# 1 x 2 and 2 x 1 (gpu-compare.sh, 3 runs). Usage: mkdir -p .fr && cp <fr.cu and run-fr.sh> .fr/, bash
# scripts/bundle.sh, then FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session16b.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
timeout 300 bash scripts/gpu-floor.sh 5
since "floor done at"
timeout 240 bash scripts/gpu-compare.sh 3 > /dev/null
since "all took"
