#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 18's last minutes of device time: (1) main's CUDA all-reduce tests at
# 2 GPUs (every op on float32, the loop's check, many slices; cut at 70 s); (2) one 256 MiB bucket per awaited
# iteration at 2 x 1 and 1 x 2, `fairring` against its loop, bench's old warm-up (2 iterations) and the new one
# (256 slices); (3) branch exp/issuer-lanes (base/): the same tests; (4) its native loop and engine at 2 x 1 on
# 2000 x 64 KiB against main's (loop-merge.mjs, engine-groups.mjs).
# Usage: bash scripts/bundle.sh && bash scripts/probes/base-bundle.sh exp/issuer-lanes, then
# bash scripts/gpu-run.sh bash scripts/probes/gpu-session18k.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
unpack_base
for f in loop-merge.mjs engine-groups.mjs; do mkdir -p base/scripts/probes && cp scripts/probes/$f base/scripts/probes/; done
tests() {
  timeout 70 node node_modules/mocha/bin/mocha.js --no-config --timeout 60000 dist/test/gpu/allreduce.test.js \
    --grep "every op on float32|reference loop computes|many slices" 2>&1 | grep -E "passing|failing|pending|✔|[0-9]+\)" | head -30
}
tests | sed "s/^/main: /"
since "main tests done at"
for topo in "2 1" "1 2"; do
  for w in 0 256; do
    timeout 60 node dist/src/cli/main.js bench --backend cuda --machines ${topo% *} --devices ${topo#* } --pipelines fairring \
      --bytes 256MiB --buckets 1 --iters 3 --warmup 2 --warmup-slices $w --repeat 3 | grep -E '^\| [0-9]' | sed "s/^/${topo/ /x} warmup-slices $w /"
  done
done
since "256 MiB rows done at"
(cd base && tests) | sed "s/^/issuer-lanes: /"
since "issuer-lanes tests done at"
for who in . base; do
  (cd $who && timeout 30 node scripts/probes/loop-merge.mjs 2 1 65536 2000 3 2 2>&1 | sed "s|^|$who: |")
  (cd $who && FAIRRING_NCCL_PROFILE=1 timeout 30 node scripts/probes/engine-groups.mjs 16384 2000 3 2>&1 | sed "s|^|$who: |")
done
since "done at"
