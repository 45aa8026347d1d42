#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), session 16: does merging p2p groups cost the native loop at 2 x 1? In
# gpu-session16c.sh the loop's single iteration of 64 x 25 MiB took 9.1 ms against the engine's 7.0 (and 7.3
# per iteration over 8), and more slots (merge cap 4 from parallelism 16) made both slower. A copy of the
# compiled world builder in alt/ takes its merge cap from MERGE (1: the issuer's direct path, no merging); the
# loop and the engine at merge caps 1, 2 (the default at parallelism 8) and 4, 64 x 25 MiB and 2000 x 64 KiB,
# between fr.cu runs. Usage: FR_SRC=.fr bash scripts/gpu-run.sh bash scripts/probes/gpu-session16d.sh
set -uo pipefail
source scripts/probes/lib.sh
source scripts/fr-yardstick.sh
probe_begin
fr=$(fr_build)
rm -rf alt && mkdir -p alt/scripts/probes && cp -r dist alt/ && ln -s ../node_modules alt/node_modules && ln -s ../native alt/native
cp scripts/probes/loop-slots.mjs scripts/probes/rounds.mjs alt/scripts/probes/
sed -i 's|return Math.min(4, Math.max(2, Math.floor(parallelism / 4)));|return Number(process.env.MERGE ?? Math.min(4, Math.max(2, Math.floor(parallelism / 4))));|' alt/dist/src/world/build.js
grep -c 'process.env.MERGE' alt/dist/src/world/build.js
{
  for i in 1 2; do bash "$fr" 2 1 fairring 26214400 64 1 5; done
  for m in 1 2 4; do echo "merge cap $m"; MERGE=$m P=8 timeout 60 node alt/scripts/probes/loop-slots.mjs 2 1 25 64 8 5; done
  for m in 1 2 4; do echo "merge cap $m"; MERGE=$m P=8 timeout 60 node alt/scripts/probes/loop-slots.mjs 2 1 0.0625 2000 2 3; done
  for i in 1 2; do bash "$fr" 2 1 fairring 26214400 64 1 5; done
  bash "$fr" 2 1 fairring 65536 2000 1 5
  since "done at"
} 2>&1 | tee "$out/merge-caps.txt"
