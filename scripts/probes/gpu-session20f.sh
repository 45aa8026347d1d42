#!/usr/bin/env bash
# Probe (GPU machine), for session 20: main's addon (hot fields apart, want unblocked) against the same with the
# CPU backend's programs reused instead of allocated per submit and freed on the executor thread (branch
# exp/program-pool: session 19's patch, whose effect bench's JS busy could not resolve), the same JavaScript,
# interleaved over 5 rounds: the CPU targets' rows and the native submit's and want's time per slice.
# Usage: pack bundle/main.tar.xz and bundle/pool.tar.xz (dist and the addon each) after scripts/bundle.sh;
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session20f.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
addon_ab pool.txt main pool
since "rows done at"
