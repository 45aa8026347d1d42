#!/usr/bin/env bash
# Probe (any machine; on the GPU machine through scripts/gpu-run.sh): the machine's own costs
# (machine-costs.mjs) and the CPU backend's JS busy per slice at 1 x 1, 2 x 2 and 2 x 4 (`fairring`, 64 x 256 B,
# 40 iterations, medians of 5), interleaved over <rounds> rounds, so that the two machines' ratios come from
# paired runs. Usage: bash scripts/probes/machine-vs-bench.sh [rounds] (into $OUT/machine-vs-bench.txt or stdout)
set -uo pipefail
source scripts/probes/lib.sh
rounds=${1:-3}
out=${OUT:-}
for ((round = 1; round <= rounds; round++)); do
  node scripts/probes/machine-costs.mjs | sed "s/^/round $round /"
  for topo in "1 1" "2 2" "2 4"; do
    read -r m d <<< "$topo"
    cpu_row --machines "$m" --devices "$d" --bytes 256 --buckets 64 | sed "s/^/round $round ${m}x$d /"
  done
done 2>&1 | if [[ -n $out ]]; then tee "$out/machine-vs-bench.txt"; else cat; fi
