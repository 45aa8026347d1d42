#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 6, third lease: the CUDA failure test (the timeout of a rank left alone in a
# collective) with ncclCommAbort off the JS thread, followed in the same process by the CUDA semantics tests (is
# the device still usable?); threads dumped with cuda-gdb if it still runs after 100 s. Then the rest of the CUDA
# suite. Output in $OUT. Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session6c.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
mocha=node_modules/mocha/bin/mocha.js
source "$(dirname "$0")/dump-if-hung.sh"
node $mocha --grep 'failures leave the devices usable \[cuda\]|reduction semantics \[cuda\]' > "$out/fail.txt" 2>&1 &
pid=$!
dump_if_hung $pid 100 "$out/fail.txt" "$out/fail-gdb.txt"
timeout 400 bash scripts/gpu-suite.sh tests '^(?!.*(failures leave the devices usable \[cuda\]|reduction semantics \[cuda\])).*(cuda|CUDA)'
