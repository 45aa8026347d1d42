#!/usr/bin/env bash
# Probe (GPU machine, through scripts/gpu-run.sh): builds packed by base-bundle.sh <rev> <name> into
# bundle/<name>.tar.xz, interleaved over <rounds> rounds: the CPU targets' rows (cpu_row, 64 x 256 B at 1 x 1,
# 2 x 2, 2 x 4: wall, JS busy, process CPU per slice) and the process's CPU by thread at 2 x 2 (thread-cpu.py
# around js-cpu.mjs), each line prefixed with its round and build; into $out/builds.txt.
# Usage: bash scripts/gpu-run.sh bash scripts/probes/cpu-builds.sh <rounds> <name...>
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
rounds=$1
shift
unpack_builds "$@"
timeout 60 node scripts/probes/machine-costs.mjs | grep -E "jsLoop"
for ((round = 1; round <= rounds; round++)); do
  for b in "$@"; do
    for topo in "1 1" "2 2" "2 4"; do
      read -r m d <<< "$topo"
      (cd "builds/$b" && cpu_row --machines "$m" --devices "$d" --bytes 256 --buckets 64) | sed "s/^/round $round $b ${m}x$d /"
    done
    (cd "builds/$b" && python3 scripts/probes/thread-cpu.py node scripts/probes/js-cpu.mjs 2 2 64 64 400) | sed "s/^/round $round $b /"
  done
done 2>&1 | tee "$out/builds.txt"
since "builds done at"
