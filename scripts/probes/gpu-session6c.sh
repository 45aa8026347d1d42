#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 6, third lease: the CUDA failure test (the timeout of a rank left alone in a
# collective) with ncclCommAbort off the JS thread, followed in the same process by the CUDA semantics tests (is
# the device still usable?); threads dumped with cuda-gdb if it still runs after 100 s. Then the rest of the CUDA
# suite. Output in $OUT. Usage: bash scripts/gpu-run.sh bash scripts/probes/gpu-session6c.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
mocha=node_modules/mocha/bin/mocha.js
start=$(date +%s)
node $mocha --grep 'failures leave the devices usable \[cuda\]|reduction semantics \[cuda\]' > "$out/fail.txt" 2>&1 &
pid=$!
for ((i = 0; i < 100; i++)); do kill -0 $pid 2>/dev/null || break; sleep 1; done
if kill -0 $pid 2>/dev/null; then
  echo "still running after 100 s" >> "$out/fail.txt"
  { for th in /proc/$pid/task/*; do echo "$(cat $th/comm) $(awk '{print $3}' $th/stat) $(cat $th/wchan 2>/dev/null)"; done
    timeout 60 cuda-gdb -batch -nx -p "$pid" -ex 'set pagination off' -ex 'thread apply all bt 25' 2>&1 | grep -v '^\[New LWP\|^warning'
  } > "$out/fail-gdb.txt" 2>&1
  kill -9 $pid
else
  wait $pid; echo "rc=$? after $(( $(date +%s) - start )) s" >> "$out/fail.txt"
fi
timeout 400 bash scripts/gpu-suite.sh tests '^(?!.*(failures leave the devices usable \[cuda\]|reduction semantics \[cuda\])).*(cuda|CUDA)'
