#!/usr/bin/env bash
# A helper of the probes (GPU machine): the floor's workload (2 x 1, 64 x 25 MiB) in 5 interleaved
# triples: fr.cu's five stages (FR_SRC), this build's engine as it is, and again with the environment given as
# the first argument (VAR=value ...) and the bench options given as the second. One line per triple with busbw
# (best, median or mean) and the ratios to fr.cu (best to best, median to mean).
# Usage (through scripts/gpu-run.sh): FR_SRC=.fr bash scripts/probes/floor-pairs.sh "VAR=value ..." ["--option value ..."]
set -uo pipefail
source scripts/fr-yardstick.sh
fr=$(fr_build)
[[ -n $fr ]] || { echo "fr.cu did not build (FR_SRC=${FR_SRC:-unset})" >&2; exit 1; }
engine() {  # engine <env> [bench options] -> "best median" GB/s
  env $1 node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 --pipelines fairring --bytes 25MiB \
    --buckets 64 --iters 1 --warmup 2 --repeat 5 --json /tmp/floor.json ${2:-} > /tmp/floor.md 2>&1
  node -e 'const r=require(process.argv[1]).rows.find(r=>r.kind==="pipeline").busbw; console.log(r.max.toFixed(1), r.median.toFixed(1))' /tmp/floor.json
}
ratios() { node -e "console.log(($1/$3).toFixed(3), ($2/$4).toFixed(3))"; }
for i in 1 2 3 4 5; do
  line=$(bash "$fr" 2 1 fairring 26214400 64 1 5)
  frBest=$(grep -oE 'busbw [0-9.]+' <<<"$line" | grep -oE '[0-9.]+$')
  frMean=$(node -e 'const [,best,mean]=process.argv[1].match(/best ([0-9.]+) ms mean ([0-9.]+) ms/); console.log((process.argv[2]*best/mean).toFixed(1))' "$line" "$frBest")
  read -r ab am < <(engine NCCL_NVLS_ENABLE=0)
  read -r bb bm < <(engine "$1" "${2:-}")
  echo "triple $i: fr.cu best $frBest mean $frMean; as is best $ab median $am (ratios $(ratios "$ab" "$am" "$frBest" "$frMean")); with $1 ${2:-} best $bb median $bm (ratios $(ratios "$bb" "$bm" "$frBest" "$frMean"))"
done
