#!/usr/bin/env bash
# Probe (GPU machine), for session 20: main's addon against the same addon whose want no longer waits for a
# watcher pass (branch exp/want-unblocked), the same JavaScript, interleaved over 5 rounds: the CPU targets' rows
# and the native submit's and want's time per slice (submit-cost.mjs); then the CUDA suite on the branch.
# Usage: bash scripts/bundle.sh (on the branch); pack bundle/main.tar.xz and bundle/want.tar.xz (dist and the
# addon each); bash scripts/gpu-run.sh bash scripts/probes/gpu-session20e.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
addon_ab want.txt main want
since "rows done at"
run_suite 330
