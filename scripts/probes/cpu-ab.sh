#!/usr/bin/env bash
# Probe (development machine): the CPU backend's host cost per slice, this tree's build against another tree's
# (BASE, built: `git worktree add /tmp/base <rev>`, node_modules linked in, `npm run build`), alternated run by
# run; prints each `fairring` row of `bench` with its round, workload and build.
# Usage: BASE=/tmp/base bash scripts/probes/cpu-ab.sh [rounds]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
base=${BASE:?BASE must name the tree of the build to compare with}
args=(--pipelines fairring --iters 20 --warmup 5 --repeat 5)
workloads=(
  "1 1 --bytes 256 --buckets 64"
  "2 2 --bytes 256 --buckets 64"
  "2 4 --bytes 256 --buckets 64"
  "2 2 --bytes 16KiB --buckets 1 --slice-bytes 256"
)
for round in $(seq 1 "${1:-3}"); do
  for w in "${workloads[@]}"; do
    set -- $w
    m=$1 d=$2
    shift 2
    for build in base new; do
      dir=$here
      [[ $build == base ]] && dir=$base
      row=$(cd "$dir" && node dist/src/cli/main.js bench --backend cpu --machines "$m" --devices "$d" "${args[@]}" "$@" 2>&1 | grep '| fairring |')
      echo "$round ${m}x$d $* | $build $row"
    done
  done
done
