#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 11: (1) the engine alone at 25 MiB x 64, parallelism 8, under
# node --cpu-prof (engine.cpuprofile, for where the JS thread's time goes and when it idles); (2) the run that
# crashed at exit in session 11's first probe (parallelism 32, 64 KiB x 2000, 3 rounds) twice under cuda-gdb, a
# backtrace of every thread if it receives a signal (crash-<n>.txt).
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session11b.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
P=8 timeout 60 node --cpu-prof --cpu-prof-dir=/tmp/prof scripts/probes/engine-groups.mjs 6553600 64 10
mv /tmp/prof/*.cpuprofile "$out/engine.cpuprofile"
since "profile done at"
for i in 1 2; do
  P=32 timeout 120 cuda-gdb -batch -nx -ex 'set pagination off' -ex 'handle SIGPIPE nostop noprint' -ex run -ex 'info threads' \
    -ex 'thread apply all bt 25' --args "$(command -v node)" scripts/probes/engine-groups.mjs 16384 2000 3 > /tmp/crash.txt 2>&1
  echo "run $i: rc=$?, $(grep -c 'received signal' /tmp/crash.txt) signals"
  grep -E "^engine|^P=" /tmp/crash.txt
  if grep -q 'received signal' /tmp/crash.txt; then cp /tmp/crash.txt "$out/crash-$i.txt"; grep -A30 'received signal' /tmp/crash.txt | head -40; fi
done
for i in 3 4 5; do
  P=32 timeout 60 node scripts/probes/engine-groups.mjs 16384 2000 3 > /tmp/plain.txt 2>&1
  echo "plain run $i: rc=$?"
done
since "all took"
