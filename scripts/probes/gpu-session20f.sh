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
unpack_builds main pool
for b in main pool; do cp scripts/probes/submit-cost.mjs "builds/$b/scripts/probes/"; done
timeout 60 node scripts/probes/machine-costs.mjs | grep -E "jsLoop" | tee "$out/machine.txt"
for round in 1 2 3 4 5; do
  for b in main pool; do
    for topo in "1 1" "2 2" "2 4"; do
      read -r m d <<< "$topo"
      (cd "builds/$b" && cpu_row --machines "$m" --devices "$d" --bytes 256 --buckets 64) | sed "s/^/round $round $b ${m}x$d /"
    done
    for topo in "2 2" "2 4"; do
      read -r m d <<< "$topo"
      (cd "builds/$b" && timeout 60 node scripts/probes/submit-cost.mjs "$m" "$d" 8) | sed "s/^/round $round $b /"
    done
  done
done 2>&1 | tee "$out/pool.txt"
since "rows done at"

