#!/usr/bin/env bash
# On the GPU machine (through scripts/gpu-run.sh), with FR_SRC naming the folder of fr.cu: the performance table
# against NCCL, one process per GPU through `fairring-rx launch`, on the topologies the GPUs allow (1 x G; with
# 2 or more GPUs 2 x G/2 on one host id, every link NVLink, and 2 x G/2 emulated, machines over NCCL's socket
# transport on loopback). Each NCCL setting is a launch of its own (NCCL reads them once per process), and the
# settings alternate (A, B, A, B, ...) so that drift on a shared host hits all alike; every launch is capped.
#   table: 64 buckets of 25 MiB and one 256 MiB buffer, `rounds` rounds of every setting, and fr.cu's NCCL
#          all-reduce and five stages (1 and 4 slices per bucket) at each topology and setting.
#   sweep: every power of two from 4 KiB to 1 GiB (8 buckets each) at the default setting, with per-stage
#          timings, and fr.cu at a few sizes.
# Writes $OUT/table-<part>.json (every bench row of every launch, with its topology and setting) and
# $OUT/table-<part>.txt (the launches' tables and fr.cu's lines). `only` (a regular expression) keeps the
# topologies whose name matches, so that a part fits one device call. Usage:
#   FR_SRC=<dir> bash scripts/gpu-run.sh bash scripts/gpu-table.sh table|sweep [rounds] [only]
set -uo pipefail
part=${1:-table}
rounds=${2:-3}
only=${3:-.}
out=${OUT:-/tmp/fairring-out}
mkdir -p "$out"
work=$(mktemp -d)
gpus=$(nvidia-smi -L | wc -l)
source "$(dirname "$0")/fr-yardstick.sh"
fr=$(fr_build)
port=29700

# topology name, launch options, environment, pipelines, fr.cu M D and host mode
topologies=("1x$gpus|--nproc-per-node $gpus||local,nccl,auto|1 $gpus|one")
if ((gpus >= 2)); then
  half=$((gpus / 2))
  topologies+=("2x${half} nvlink|--nnodes 2 --nproc-per-node $half --emulate-machines|NCCL_HOSTID=one|fairring,nccl,auto|2 $half|one")
  topologies+=("2x${half} emulated|--nnodes 2 --nproc-per-node $half --emulate-machines||fairring,nccl,auto|2 $half|emulate")
fi
settings_for() {  # the NCCL settings compared at a topology
  echo "default|"
  echo "ring|NCCL_ALGO=Ring"
  [[ $1 == *emulated ]] && echo "sockets4x4|NCCL_SOCKET_NTHREADS=4 NCCL_NSOCKS_PERTHREAD=4"
}

n=0
bench() {  # bench <topology> <setting name> <setting env> <launch options> <topology env> <pipelines> <bench options...>
  local topo=$1 name=$2 senv=$3 lopts=$4 tenv=$5 pipes=$6
  shift 6
  n=$((n + 1))
  local json="$work/run-$n.json"
  echo "## $topo, NCCL $name: $*"
  port=$((port + 8))
  env $tenv $senv timeout 240 node dist/src/cli/main.js launch $lopts --master-port $port -- \
    node dist/src/cli/main.js bench --connect --backend cuda --pipelines "$pipes" --json "$json" "$@" 2>&1 |
    grep -E '^\[rank 0\] (\||CUDA|median)' | sed 's/^\[rank 0\] //'
  echo "launch rc=${PIPESTATUS[0]}"
  [[ -f $json ]] && node -e '
    const [file, topo, setting, round] = process.argv.slice(1);
    const j = require(file);
    require("fs").writeFileSync(file, JSON.stringify({ topology: topo, setting, round: +round, ranks: j.ranks, options: j.options, rows: j.rows }));
  ' "$json" "$topo" "$name" "${round:-0}"
}

frline() {  # frline <topology> <setting name> <setting env> <M D> <host mode> <mode> <bytes> <buckets> <slices>
  [[ -n $fr ]] || return 0
  local line
  line=$(env $3 FR_HOSTS=$5 bash "$fr" $4 $6 $7 $8 $9 3 2>&1 | tail -1)
  echo "fr.cu | $1 | $2 | $line"
}

{
  nvidia-smi -L
  echo "fr.cu: ${fr:-not built (FR_SRC unset or nvcc failed)}"
  for spec in "${topologies[@]}"; do
    IFS='|' read -r topo lopts tenv pipes frmd hosts <<<"$spec"
    [[ $topo =~ $only ]] || continue
    mapfile -t settings < <(settings_for "$topo")
    if [[ $part == table ]]; then
      for ((round = 1; round <= rounds; round++)); do
        for s in "${settings[@]}"; do
          IFS='|' read -r name senv <<<"$s"
          bench "$topo" "$name" "$senv" "$lopts" "$tenv" "$pipes" --bytes 25MiB --buckets 64 --iters 2 --warmup 1 --repeat 3
          bench "$topo" "$name" "$senv" "$lopts" "$tenv" "$pipes" --bytes 256MiB --buckets 1 --iters 3 --warmup 1 --repeat 3
        done
      done
      # NCCL's all-reduce under every setting; the five stages (point-to-point, not bound to an algorithm) under
      # every setting but Ring.
      for s in "${settings[@]}"; do
        IFS='|' read -r name senv <<<"$s"
        frline "$topo" "$name" "$senv" "$frmd" "$hosts" nccl 26214400 64 1
        frline "$topo" "$name" "$senv" "$frmd" "$hosts" nccl 268435456 1 1
        [[ $name == ring ]] && continue
        frline "$topo" "$name" "$senv" "$frmd" "$hosts" fairring 26214400 64 1
        frline "$topo" "$name" "$senv" "$frmd" "$hosts" fairring 26214400 64 4
        frline "$topo" "$name" "$senv" "$frmd" "$hosts" fairring 268435456 1 1
        frline "$topo" "$name" "$senv" "$frmd" "$hosts" fairring 268435456 1 8
      done
    else
      round=1
      bench "$topo" default "" "$lopts" "$tenv" "$pipes" --sizes 4KiB..1GiB --buckets 8 --iters 2 --warmup 1 --repeat 3 --timings
      for bytes in 65536 1048576 16777216 268435456; do
        frline "$topo" default "" "$frmd" "$hosts" nccl $bytes 8 1
        frline "$topo" default "" "$frmd" "$hosts" fairring $bytes 8 1
      done
    fi
  done
} 2>&1 | tee "$out/table-$part.txt"
node -e '
  const fs = require("fs");
  const dir = process.argv[1];
  const runs = fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort((a, b) => parseInt(a.slice(4)) - parseInt(b.slice(4))).map((f) => JSON.parse(fs.readFileSync(dir + "/" + f)));
  fs.writeFileSync(process.argv[2], JSON.stringify({ gpus: process.argv[3], launches: runs }, null, 1));
' "$work" "$out/table-$part.json" "$(nvidia-smi -L | head -1)"
rm -rf "$work"
