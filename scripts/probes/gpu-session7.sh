#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 7, first lease: the whole CUDA suite on this build (the abort fixes of
# session 6 had not run on a GPU), then the CUDA vanishing-rank test 8 more times, each in a mocha of its own,
# then the 2 x 1 bucket stream of 64 KiB buckets as it stands. Output in $OUT (info.txt, gpu-tests.txt,
# vanish.txt, small.txt). Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session7.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
timeout 320 bash scripts/gpu-suite.sh tests
for i in 1 2 3 4 5 6 7 8; do
  timeout 90 node node_modules/mocha/bin/mocha.js --grep 'CUDA.*a rank that vanishes|a rank that vanishes.*CUDA|cuda.*a rank that vanishes' > /tmp/vanish-$i.txt 2>&1
  rc=$?
  echo "run $i rc=$rc $(grep -E 'passing|failing' /tmp/vanish-$i.txt | tr '\n' ' ')" >> "$out/vanish.txt"
  [[ $rc == 0 ]] || grep -B2 -A25 -E '^\s+[0-9]+\) ' /tmp/vanish-$i.txt | head -60 >> "$out/vanish.txt"
done
cat "$out/vanish.txt"
node dist/src/cli/main.js bench --backend cuda --machines 2 --devices 1 --pipelines fairring,nccl --bytes 64KiB --buckets 2000 --iters 3 --warmup 1 --repeat 3 2>&1 | tee "$out/small.txt"
