#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 11: (1) the run that crashed at exit (parallelism 32, 64 KiB x 2000)
# four times with the reaper stopped at shutdown; (2) the engine alone at 2 x 1 over parallelism (P) and the
# issuer's merge cap (MG), 25 MiB x 64 in two interleaved passes and 64 KiB x 2000, µs per bucket and when the
# buckets resolved; (3) the same with the watcher's poll cap at 200 µs instead of 1 ms (bundle/variants/cap200.node).
# Usage: bash scripts/bundle.sh, the variant copied into bundle/variants, then
#        bash scripts/gpu-run.sh bash scripts/probes/gpu-session11c.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
for i in 1 2 3 4; do
  P=32 timeout 60 node scripts/probes/engine-groups.mjs 16384 2000 3 > /tmp/plain.txt 2>&1
  echo "exit run $i: rc=$?"
done
since "exit runs done at"
row() { env "$@" timeout 60 node scripts/probes/engine-groups.mjs $size | sed "s/^/$* /"; }
{
  for pass in 1 2; do
    size="6553600 64 10"
    for pm in "P=8 MG=8" "P=8 MG=4" "P=8 MG=2" "P=8 MG=1" "P=16 MG=8" "P=16 MG=4" "P=16 MG=2"; do row $pm; done
  done
  size="16384 2000 3"
  for pm in "P=8 MG=8" "P=8 MG=4" "P=8 MG=2" "P=16 MG=4" "P=16 MG=8"; do row $pm; done
  cp native/build/Release/fairring.node /tmp/main.node
  cp bundle/variants/cap200.node native/build/Release/fairring.node
  echo "cap 200 us:"
  size="6553600 64 10"
  for pm in "P=8 MG=8" "P=8 MG=4" "P=16 MG=4"; do row $pm; done
  size="16384 2000 3"
  row P=8 MG=8
  cp /tmp/main.node native/build/Release/fairring.node
} 2>&1 | grep -E "engine:|rounds:|cap" | tee "$out/matrix.txt"
since "all took"
