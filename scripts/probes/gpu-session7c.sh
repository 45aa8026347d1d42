#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 7, second lease, part 2: merged p2p groups, this build against
# bundle/base.tar.xz (the same tree before them: every program issued in program order). 2 x 1 in one process,
# 2000 buckets of 64 KiB, 3 interleaved rounds of (this, base); then the 2 x 1 floor (64 x 25 MiB against fr.cu,
# whose 8 MiB slices do not merge) in 3 interleaved pairs with the base build in each. Output in $OUT (small.txt,
# floor.txt). Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session7c.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out" base && tar -xJf bundle/base.tar.xz -C base && ln -sfn ../node_modules base/node_modules
small() {  # small <folder> <label>
  (cd "$1" && node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 --pipelines fairring --bytes 64KiB \
    --buckets 2000 --iters 3 --warmup 1 --repeat 3) | grep -E '^\| 64 KiB' | sed "s/^/$2 /"
}
{
  for round in 1 2 3; do
    small . "round $round this:"
    small base "round $round base:"
  done
} 2>&1 | tee "$out/small.txt"
BASE=base bash scripts/gpu-floor.sh 3 | grep -E 'ratio|pair'
rm -f "$out"/floor-*
