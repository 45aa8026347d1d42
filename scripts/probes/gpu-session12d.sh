#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 12: with blocking communicators in one process, where the engine's time
# goes at 2 x 1 now. The engine alone (engine-groups.mjs), three interleaved passes over: parallelism 8 and 16,
# the issuer's merge cap 2, 4 and 8, and the watcher's poll cap (variant build bundle/variants/watchcap.node,
# scripts/probes/patches/watch-cap.patch: FAIRRING_WATCH_CAP_US) at 1000 (the default) and 100 µs; 25 MiB x 64
# (40 rounds) and 64 KiB x 2000 (3 rounds). Writes $OUT/matrix.txt.
# Usage: bash scripts/bundle.sh, the variant copied into bundle/variants/, then
#        bash scripts/gpu-run.sh bash scripts/probes/gpu-session12d.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
cp bundle/variants/watchcap.node native/build/Release/fairring.node
run() {  # label, floats buckets rounds, env...
  local label=$1 floats=$2 buckets=$3 rounds=$4
  shift 4
  env "$@" timeout 60 node scripts/probes/engine-groups.mjs "$floats" "$buckets" "$rounds" 2>&1 | grep -E "^engine" | sed "s/^/$label: /"
}
{
  for pass in 1 2 3; do
    echo "pass $pass"
    run "25MiB P8 MG4 cap1000" 6553600 64 40 P=8
    run "25MiB P8 MG4 cap100" 6553600 64 40 P=8 FAIRRING_WATCH_CAP_US=100
    run "25MiB P8 MG2" 6553600 64 40 P=8 MG=2
    run "25MiB P8 MG8" 6553600 64 40 P=8 MG=8
    run "25MiB P16 MG4" 6553600 64 40 P=16 MEM=536870912
    run "25MiB P16 MG8" 6553600 64 40 P=16 MEM=536870912 MG=8
    run "25MiB P16 MG4 cap100" 6553600 64 40 P=16 MEM=536870912 FAIRRING_WATCH_CAP_US=100
    run "64KiB P8 MG4" 16384 2000 3 P=8
    run "64KiB P8 MG4 cap100" 16384 2000 3 P=8 FAIRRING_WATCH_CAP_US=100
    run "64KiB P16 MG4" 16384 2000 3 P=16
    run "64KiB P32 MG4" 16384 2000 3 P=32
    since "pass $pass done at"
  done
} 2>&1 | tee "$out/matrix.txt"
