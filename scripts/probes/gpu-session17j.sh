#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 17: `fairring` against its native loop on the session's last engine
# (the loop timed from the program's hand-over to the issuer): 2 x 1 and 1 x 2, 64 x 25 MiB, one 256 MiB,
# 2000 x 64 KiB (lib.sh loop_table, medians of 3 runs). Usage: bash scripts/bundle.sh, then
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session17j.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
loop_table 2>&1 | tee "$out/loop-table.txt"
since "done at"
