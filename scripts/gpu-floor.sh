#!/usr/bin/env bash
# On the GPU machine (through scripts/gpu-run.sh), with FR_SRC naming the folder of fr.cu: the 2 x 1 floor,
# the engine's `fairring` at its defaults against fr.cu's five stages, 64 buckets of 25 MiB, in interleaved
# pairs (fr.cu, engine, fr.cu, engine, ...): each pair's ratio, then the median and the range. Results in $OUT.
# Usage: FR_SRC=<dir> bash scripts/gpu-run.sh bash scripts/gpu-floor.sh [pairs] [extra bench options...]
set -uo pipefail
pairs=${1:-5}
shift || true
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
nvcc -O2 -arch=sm_90 -o /tmp/fr "$FR_SRC/fr.cu" -lnccl || exit 1
{
  nvidia-smi -L
  echo "extra bench options: ${*:-none}"
  for ((i = 1; i <= pairs; i++)); do
    line=$(bash "$FR_SRC/run-fr.sh" 2 1 fairring 26214400 64 1 5)
    fr=$(grep -oE 'busbw[^0-9]*[0-9.]+' <<<"$line" | grep -oE '[0-9.]+$')
    node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 --pipelines fairring --bytes 25MiB \
      --buckets 64 --iters 3 --warmup 1 --repeat 1 --json "$out/floor-$i.json" "$@" > "$out/floor-$i.md" 2>&1
    engine=$(node -e 'const j=require(process.argv[1]); console.log(j.rows.find(r=>r.kind==="pipeline").busbw.median.toFixed(1))' "$out/floor-$i.json")
    echo "pair $i: fr.cu five stages $fr GB/s, engine fairring $engine GB/s, ratio $(node -e "console.log(($engine/$fr).toFixed(3))")"
    echo "  fr.cu: $line"
  done
} 2>&1 | tee "$out/floor.txt"
grep -oE 'ratio [0-9.]+' "$out/floor.txt" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {printf "median ratio %s (range %s-%s) over %d pairs\n", a[int((NR+1)/2)], a[1], a[NR], NR}' | tee -a "$out/floor.txt"
