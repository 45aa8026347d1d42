#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), for session 20's last call: the CUDA suite on main with the hot fields apart and the
# accessors' receiver checks, then the CPU targets' rows (3 rounds) with the machine's jsLoopNs.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session20d.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 330
timeout 60 node scripts/probes/machine-costs.mjs | grep -E "jsLoop" | tee "$out/machine.txt"
for round in 1 2 3; do cpu_rows . "round $round main" "1 1" "2 2" "2 4"; done 2>&1 | tee "$out/cpu-rows.txt"
for round in 1 2 3; do cpu_row --machines 2 --devices 2 --bytes 16KiB --buckets 1 --slice-bytes 256 | sed "s/^/round $round main 2x2 sliced /"; done 2>&1 | tee -a "$out/cpu-rows.txt"
since "done at"
