#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 7, fifth lease: aborts wait for the issuer to leave NCCL (never aborting
# a communicator under a call): the CUDA failure tests, the CUDA connect tests (the vanishing-rank test among
# them), then the vanishing-rank test 3 more times, each in a mocha of its own. Output in $OUT (failures.txt,
# connect.txt, vanish.txt). Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session7f.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
run() {  # run <file> <seconds> <grep>
  timeout "$2" node node_modules/mocha/bin/mocha.js --grep "$3" > "$out/$1" 2>&1
  echo "$1: rc=$? $(grep -E '^\s+[0-9]+ (passing|failing|pending)' "$out/$1" | tr -s ' \n' ' ')"
  grep -A14 -E '^\s+[0-9]+\) ' "$out/$1" | head -40
}
run failures.txt 90 'failures leave the devices usable \[cuda\]'
run connect.txt 240 'connect\(\) on CUDA across processes'
for i in 1 2 3; do run vanish.txt 60 'CUDA.*a rank that vanishes'; done
