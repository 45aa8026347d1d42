#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 12: the watcher's poll cap at 100 µs and the merge cap at a quarter of the
# slices in flight (2 at parallelism 8), against main before them (base, 7f86a8e). The engine alone at the new
# default and with the old merge cap (MG=4), three passes; the floor, 5 pairs with base in each; `fairring`
# against its native loop at 2 x 1 and 1 x 2; then the CUDA suite.
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh 7f86a8e, then
#        FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session12e.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
mkdir -p base/scripts/probes && cp scripts/probes/engine-groups.mjs base/scripts/probes/
run() {  # folder, label, floats buckets rounds, env...
  local dir=$1 label=$2 floats=$3 buckets=$4 rounds=$5
  shift 5
  (cd "$dir" && env "$@" timeout 60 node scripts/probes/engine-groups.mjs "$floats" "$buckets" "$rounds" 2>&1 | grep -E "^engine" | sed "s/^/$label: /")
}
{
  for pass in 1 2 3; do
    run . "25MiB new" 6553600 64 40 P=8
    run . "25MiB new MG4" 6553600 64 40 P=8 MG=4
    run base "25MiB base" 6553600 64 40 P=8
    run . "64KiB new" 16384 2000 3 P=8
    run . "64KiB new MG4" 16384 2000 3 P=8 MG=4
    run base "64KiB base" 16384 2000 3 P=8
  done
  since "matrix done at"
} 2>&1 | tee "$out/matrix.txt"
BASE=base timeout 200 bash scripts/gpu-floor.sh 5 | grep -E "^pair|ratio"
rm -f "$out"/floor-*.json "$out"/floor-*.md
since "floor done at"
loop_table 2>&1 | tee "$out/bench.txt"
since "bench done at"
run_suite 270
since "all took"
