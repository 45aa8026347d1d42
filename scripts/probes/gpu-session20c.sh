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
unpack_builds main lines
for b in main lines; do cp scripts/probes/submit-cost.mjs "builds/$b/scripts/probes/"; done
timeout 60 node scripts/probes/machine-costs.mjs | grep -E "jsLoop"
for round in 1 2 3 4 5; do
  for b in main lines; do
    for topo in "1 1" "2 2" "2 4"; do
      read -r m d <<< "$topo"
      (cd "builds/$b" && cpu_row --machines "$m" --devices "$d" --bytes 256 --buckets 64) | sed "s/^/round $round $b ${m}x$d /"
    done
    for topo in "2 2" "2 4"; do
      read -r m d <<< "$topo"
      (cd "builds/$b" && timeout 60 node scripts/probes/submit-cost.mjs "$m" "$d" 8) | sed "s/^/round $round $b /"
    done
  done
done 2>&1 | tee "$out/lines.txt"
since "done at"
