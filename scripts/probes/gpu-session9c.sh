#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 9's third lease: merged groups for large slices. Build 52578e8 with
# scripts/probes/patches/merge-cap.patch, whose FAIRRING_MERGE_MAX_ITEM_BYTES lifts the plan's 1 MiB cap on merged items. 1. `fairring` at 2 x 1,
# 25 MiB x 64 and 64 KiB x 2000, the cap as it is and lifted, 2 interleaved rounds, with the NCCL group profile
# (merge.txt); 2. the floor's pairs: fr.cu's five stages, then the engine with the cap, then without, 5 times
# (floor.txt). Needs FR_SRC (fr.cu's folder).
# Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session9c.sh
set -uo pipefail
source scripts/probes/lib.sh
source scripts/fr-yardstick.sh
probe_begin
lift=FAIRRING_MERGE_MAX_ITEM_BYTES=1099511627776
for round in 1 2; do
  profile_row "r$round capped 25MiB" 25MiB 64 3
  profile_row "r$round lifted 25MiB" 25MiB 64 3 $lift
  profile_row "r$round capped 64KiB" 64KiB 2000 1
  profile_row "r$round lifted 64KiB" 64KiB 2000 1 $lift
done 2>&1 | tee "$out/merge.txt"
fr=$(fr_build)
[[ -n $fr ]] || { echo "fr.cu did not build" >&2; exit 1; }
engine() {  # engine <label> [env...] -> "best median" GB/s
  local label=$1
  shift
  env "$@" node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 --pipelines fairring --bytes 25MiB \
    --buckets 64 --iters 1 --warmup 2 --repeat 5 --json "$out/floor-$label.json" > "$out/floor-$label.md" 2>&1
  node -e 'const r=require(process.argv[1]).rows.find(r=>r.kind==="pipeline").busbw; console.log(r.max.toFixed(1), r.median.toFixed(1))' "$out/floor-$label.json"
}
for i in 1 2 3 4 5; do
  line=$(bash "$fr" 2 1 fairring 26214400 64 1 5)
  frBest=$(grep -oE 'busbw [0-9.]+' <<<"$line" | grep -oE '[0-9.]+$')
  frMean=$(node -e 'const [,best,mean]=process.argv[1].match(/best ([0-9.]+) ms mean ([0-9.]+) ms/); console.log((process.argv[2]*best/mean).toFixed(1))' "$line" "$frBest")
  read -r cb cm < <(engine "capped-$i" NCCL_NVLS_ENABLE=0)
  read -r lb lm < <(engine "lifted-$i" $lift)
  echo "pair $i: fr.cu best $frBest mean $frMean; capped best $cb median $cm; lifted best $lb median $lm; ratios capped $(node -e "console.log(($cb/$frBest).toFixed(3), ($cm/$frMean).toFixed(3))") lifted $(node -e "console.log(($lb/$frBest).toFixed(3), ($lm/$frMean).toFixed(3))")"
done 2>&1 | tee "$out/floor.txt"
since "all took"
