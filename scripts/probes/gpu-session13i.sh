#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 13: two host-latency knobs against this build, interleaved run by run, at
# 2 x 1 and 1 x 2: the issuer spinning 400 µs instead of 100 before it sleeps (var-spin), and the watcher's poll cap
# on device work at 40 µs instead of 100 (var-poll). Workloads: 64 x 25 MiB, 2000 x 64 KiB, and one 256 MiB bucket
# (30 awaited iterations); `fairring` and its native loop, medians of 3 runs; 2 rounds.
# Usage: bash scripts/bundle.sh, then pack each variant's dist/ and addon into bundle/var-<name>.tar.xz;
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session13i.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
for v in spin poll; do
  mkdir -p "var-$v" && tar -xJf "bundle/var-$v.tar.xz" -C "var-$v" && ln -sfn ../node_modules "var-$v/node_modules"
done
row() {  # folder label machines devices bytes buckets iters
  (cd "$1" && timeout 90 node dist/src/cli/main.js bench --backend cuda --machines "$3" --devices "$4" --pipelines fairring \
    --bytes "$5" --buckets "$6" --iters "$7" --warmup 1 --repeat 3) | grep -E '^\| [0-9]' | sed "s/^/$2 ${3}x$4 /"
}
{
  for round in 1 2; do
    for topo in "2 1" "1 2"; do
      read -r m d <<< "$topo"
      for work in "25MiB 64 3" "64KiB 2000 3" "256MiB 1 30"; do
        read -r bytes buckets iters <<< "$work"
        row . "r$round this" "$m" "$d" "$bytes" "$buckets" "$iters"
        row var-spin "r$round spin" "$m" "$d" "$bytes" "$buckets" "$iters"
        row var-poll "r$round poll" "$m" "$d" "$bytes" "$buckets" "$iters"
      done
    done
  done
} 2>&1 | tee "$out/knobs.txt"
since "all took"
