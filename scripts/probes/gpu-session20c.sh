#!/usr/bin/env bash
# Probe (GPU machine), for session 20: main's addon against the same addon with the JS thread's hot fields kept
# off the cache lines the executor and the watcher write (branch exp/cache-lines: QueueCore's streams and comms
# apart from its mutex and counters, QueueStream's JS fields apart from its lock, StreamImpl's `closed` apart
# from its step queue), the same JavaScript, interleaved over 5 rounds: the CPU targets' rows and the native
# submit's time per slice (submit-cost.mjs).
# Usage: bash scripts/bundle.sh; pack bundle/main.tar.xz and bundle/lines.tar.xz (dist and the addon each);
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session20c.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
addon_ab lines.txt main lines
since "done at"
