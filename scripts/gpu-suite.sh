#!/usr/bin/env bash
# On the GPU machine (through scripts/gpu-run.sh): machine facts, the CUDA test suites, and the benchmarks,
# each into $OUT. Usage: bash scripts/gpu-run.sh bash scripts/gpu-suite.sh [tests|bench|all] [test title regex]
set -uo pipefail
what=${1:-all}
pattern=${2:-cuda|CUDA}
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
{ nvidia-smi -L; node dist/src/cli/main.js info; } > "$out/info.txt" 2>&1
cat "$out/info.txt"
if [[ $what == tests || $what == all ]]; then
  # Failures are printed as they happen (mocha-inline-reporter.cjs): a run cut by a time limit still says why.
  node node_modules/mocha/bin/mocha.js --reporter scripts/mocha-inline-reporter.cjs --grep "$pattern" > "$out/gpu-tests.txt" 2>&1
  echo "tests rc=$?"
  grep -E 'passing|failing|pending' "$out/gpu-tests.txt"
  grep -A12 -E '^      failed: ' "$out/gpu-tests.txt" | head -80
fi
if [[ $what == bench || $what == all ]]; then
  gpus=$(nvidia-smi -L | wc -l)
  {
    for topo in $(printf '%s\n' "1:$gpus" "2:$((gpus / 2))" "$gpus:1" | sort -u); do
      set -- ${topo/:/ }
      [[ $2 -ge 1 ]] || continue
      node dist/src/cli/main.js bench --backend cuda --machines "$1" --devices "$2" --pipelines fairring,nccl --bytes 25M --buckets 64 --iters 5 --warmup 2
      echo
      node dist/src/cli/main.js bench --backend cuda --machines "$1" --devices "$2" --pipelines fairring,nccl --bytes 256M --buckets 1 --iters 5 --warmup 2
      echo
      node dist/src/cli/main.js bench --backend cuda --machines "$1" --devices "$2" --pipelines fairring,nccl --bytes 256M --buckets 1 --iters 5 --warmup 2 --slice-bytes 32M
      echo
      node dist/src/cli/main.js bench --backend cuda --machines "$1" --devices "$2" --pipelines fairring,nccl --bytes 25M --buckets 64 --iters 3 --warmup 1 --timings
      echo
    done
  } > "$out/bench.md" 2>&1
  cat "$out/bench.md"
fi
