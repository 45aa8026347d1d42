#!/usr/bin/env bash
# On the GPU machine (through scripts/gpu-run.sh), with FR_SRC naming the folder of fr.cu: the 2 x 1 floor,
# the engine's `fairring` at its defaults against fr.cu's five stages, 64 buckets of 25 MiB, in interleaved
# pairs (fr.cu, engine, fr.cu, engine, ...). Both sides are measured alike: fr.cu times 5 repetitions (after 2
# untimed) and prints the best and the mean; the engine runs 5 single-iteration runs (after 2 untimed
# iterations), whose best and median `fairring-rx bench` reports. Each pair's ratios (best to best, median to
# mean), then their medians and ranges; the same for the engine's native loop (bench's loop row), the yardstick
# that `bench` holds the engine against. With BASE naming another build's folder (dist/ and the addon), its
# engine runs in every pair too, after this one. Results in $OUT.
# Usage: FR_SRC=<dir> [BASE=<dir>] bash scripts/gpu-run.sh bash scripts/gpu-floor.sh [pairs] [extra bench options...]
set -uo pipefail
pairs=${1:-5}
shift || true
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
source "$(dirname "$0")/fr-yardstick.sh"
fr=$(fr_build)
[[ -n $fr ]] || { echo "fr.cu did not build (FR_SRC=${FR_SRC:-unset})" >&2; exit 1; }
engine() {  # engine <label> <folder> -> "best median loopBest loopMedian" GB/s (the engine's row, its native loop's)
  (cd "$2" && node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 --pipelines fairring --bytes 25MiB \
    --buckets 64 --iters 1 --warmup 2 --repeat 5 --json "$out/floor-$1.json" "${@:3}" > "$out/floor-$1.md" 2>&1)
  node -e 'const rows=require(process.argv[1]).rows; const [e,l]=["pipeline","reference"].map(k=>rows.find(r=>r.kind===k).busbw);
    console.log(e.max.toFixed(1), e.median.toFixed(1), l.max.toFixed(1), l.median.toFixed(1))' "$out/floor-$1.json"
}
ratio() { node -e "console.log(($1/$2).toFixed(3))"; }
{
  nvidia-smi -L
  echo "extra bench options: ${*:-none}"
  for ((i = 1; i <= pairs; i++)); do
    line=$(bash "$fr" 2 1 fairring 26214400 64 1 5)
    frBest=$(grep -oE 'busbw [0-9.]+' <<<"$line" | grep -oE '[0-9.]+$')
    frMean=$(node -e 'const [,best,mean]=process.argv[1].match(/best ([0-9.]+) ms mean ([0-9.]+) ms/); console.log((process.argv[2]*best/mean).toFixed(1))' "$line" "$frBest")
    read -r best median loopBest loopMedian < <(engine "$i" . "$@")
    echo "pair $i: fr.cu best $frBest mean $frMean GB/s; engine best $best median $median GB/s; ratio best $(ratio "$best" "$frBest") median $(ratio "$median" "$frMean")"
    echo "pair $i: loop against fr.cu: loop best $loopBest median $loopMedian GB/s; ratio best $(ratio "$loopBest" "$frBest") median $(ratio "$loopMedian" "$frMean")"
    if [[ -n ${BASE:-} ]]; then
      read -r best median _ _ < <(engine "base-$i" "$BASE" "$@")
      echo "pair $i: base engine best $best median $median GB/s; ratio best $(ratio "$best" "$frBest") median $(ratio "$median" "$frMean")"
    fi
    echo "  fr.cu: $line"
  done
} 2>&1 | tee "$out/floor.txt"
# The pairs' lines: "pair N: fr.cu ..." for this build's engine, "pair N: base engine ..." for BASE's.
for who in "engine:fr.cu" "native loop:loop against fr.cu" "base engine:base engine"; do
  for kind in best median; do
    grep -E "^pair [0-9]+: ${who#*:}" "$out/floor.txt" | grep -oE "ratio best [0-9.]+ median [0-9.]+" | awk -v k=$kind '{print (k=="best") ? $3 : $5}' | sort -n |
      awk -v w="${who%%:*}" -v k=$kind '{a[NR]=$1} END {if (NR) printf "%s, %s ratio: median %s (range %s-%s) over %d pairs\n", w, k, a[int((NR+1)/2)], a[1], a[NR], NR}'
  done
done | tee -a "$out/floor.txt"
