#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), for session 20's second call: the CUDA suite on main after the day's changes,
# then the session's start (600d601's JavaScript) against main, both over main's addon (the day's native
# changes are off the hot path), interleaved over 3 rounds with the machine's jsLoopNs (cpu-builds.sh): does a
# completion callback in a try/catch of its own, or anything else of the day, cost the JS thread on this host?
# Usage: bash scripts/bundle.sh, then pack bundle/start.tar.xz and bundle/main.tar.xz (dist and
# native/build/Release/fairring.node each), then bash scripts/gpu-run.sh bash scripts/probes/gpu-session20b.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
run_suite 330
bash scripts/probes/cpu-builds.sh 3 start main
since "done at"
