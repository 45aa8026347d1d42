#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 6, second lease: the CUDA failure test that hung in the first lease, alone,
# with every host thread dumped (cuda-gdb) if it is still running after 45 s; the vanishing-rank test alone; the
# CUDA tests the first lease never reached; the 2 x 1 floor, this build against the previous one
# (bundle/base.tar.xz: its dist/) in 3 interleaved pairs. Output in $OUT.
# Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session6b.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out" base && tar -xJf bundle/base.tar.xz -C base && ln -sfn ../node_modules base/node_modules && mkdir -p base/native && ln -sfn ../../native/build base/native/build
mocha=node_modules/mocha/bin/mocha.js
source "$(dirname "$0")/dump-if-hung.sh"
node $mocha --grep 'failures leave the devices usable \[cuda\]' > "$out/fail-test.txt" 2>&1 &
pid=$!
dump_if_hung $pid 45 "$out/fail-test.txt" "$out/fail-gdb.txt"
timeout 120 node $mocha --grep 'a rank that vanishes' > "$out/vanish.txt" 2>&1; echo "vanish rc=$?" >> "$out/vanish.txt"
timeout 120 node $mocha --grep '^(?!.*(all-reduce on CUDA|connect\(\) on CUDA|failures leave|a rank that vanishes)).*(cuda|CUDA)' > "$out/rest.txt" 2>&1; echo "rest rc=$?" >> "$out/rest.txt"
BASE=base bash scripts/gpu-floor.sh 3 | grep -E 'ratio|pair'
rm -f "$out"/floor-*
