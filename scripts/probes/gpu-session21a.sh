#!/usr/bin/env bash
# Probe (GPU machine, 1 GPU), session 21: the CUDA suite on main, then the session's start (82d806c) against main
# with one warm-up for both (--warmup-slices 50000; main with --warmup-ms 0), interleaved over 3 rounds: the CPU
# targets' rows (64 x 256 B at 1 x 1, 2 x 2, 2 x 4, and 2 x 2 cut into 64 slices) and `fairring` with its native
# loop at 1 x 1 on CUDA, 2000 x 64 KiB; then main's rows once more with bench's own warm-up (until steady).
# Usage: bash scripts/bundle.sh; bash scripts/probes/base-bundle.sh 82d806c start; bash scripts/probes/base-bundle.sh
# HEAD main; bash scripts/gpu-run.sh bash scripts/probes/gpu-session21a.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
timeout 60 node scripts/probes/machine-costs.mjs | tee "$out/machine.txt"
run_suite 260
unpack_builds start main
cpu_work=("1 1 --bytes 256 --buckets 64" "2 2 --bytes 256 --buckets 64" "2 4 --bytes 256 --buckets 64" "2 2 --bytes 16KiB --buckets 1 --slice-bytes 256")
row() {
  local b=$1
  shift
  local extra=()
  [[ $b == main ]] && extra=(--warmup-ms 0)
  (cd "builds/$b" && timeout 60 node dist/src/cli/main.js bench --pipelines fairring --repeat 5 --warmup-slices 50000 "${extra[@]}" "$@") |
    grep -E '^\| [0-9]'
}
for round in 1 2 3; do
  for b in start main; do
    for w in "${cpu_work[@]}"; do
      set -- $w
      row "$b" --backend cpu --machines "$1" --devices "$2" --iters 40 --warmup 5 "${@:3}" | sed "s/^/round $round $b ${1}x$2 /"
    done
    row "$b" --backend cuda --machines 1 --devices 1 --bytes 64KiB --buckets 2000 --iters 3 --warmup 2 | sed "s/^/round $round $b cuda 1x1 /"
  done
  since "round $round done at"
done 2>&1 | tee "$out/ab.txt"
for w in "${cpu_work[@]}"; do
  set -- $w
  timeout 60 node dist/src/cli/main.js bench --pipelines fairring --repeat 5 --backend cpu --machines "$1" --devices "$2" --iters 40 --warmup 5 "${@:3}" |
    grep -E '^\| [0-9]' | sed "s/^/steady-warm ${1}x$2 /"
done 2>&1 | tee "$out/steady.txt"
since "done at"
