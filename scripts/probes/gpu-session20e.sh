#!/usr/bin/env bash
# Probe (GPU machine), for session 20: main's addon against the same addon whose want no longer waits for a
# watcher pass (branch exp/want-unblocked), the same JavaScript, interleaved over 5 rounds: the CPU targets' rows
# and the native submit's and want's time per slice (submit-cost.mjs); then the CUDA suite on the branch.
# Usage: bash scripts/bundle.sh (on the branch); pack bundle/main.tar.xz and bundle/want.tar.xz (dist and the
# addon each); bash scripts/gpu-run.sh bash scripts/probes/gpu-session20e.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_builds main want
for b in main want; do cp scripts/probes/submit-cost.mjs "builds/$b/scripts/probes/"; done
timeout 60 node scripts/probes/machine-costs.mjs | grep -E "jsLoop" | tee "$out/machine.txt"
for round in 1 2 3 4 5; do
  for b in main want; do
    for topo in "1 1" "2 2" "2 4"; do
      read -r m d <<< "$topo"
      (cd "builds/$b" && cpu_row --machines "$m" --devices "$d" --bytes 256 --buckets 64) | sed "s/^/round $round $b ${m}x$d /"
    done
    for topo in "2 2" "2 4"; do
      read -r m d <<< "$topo"
      (cd "builds/$b" && timeout 60 node scripts/probes/submit-cost.mjs "$m" "$d" 8) | sed "s/^/round $round $b /"
    done
  done
done 2>&1 | tee "$out/want.txt"
since "rows done at"
run_suite 330
