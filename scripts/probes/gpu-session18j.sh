#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), for session 18: the CUDA suite on main's last code, then gpu-session18h.sh's
# emulated rows again without the 64 KiB streams (calls 7 and 8 of the session had run a stale build of the
# JavaScript: the half of want-answers.patch that lives there).
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session18j.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 240
emulated_rows 90 "25MiB 64 2" "256MiB 1 3" 2>&1 | tee "$out/emulated.txt"
