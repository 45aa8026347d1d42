#!/usr/bin/env bash
# Probe (GPU machine, 2 GPUs), for session 18: do the engine's NCCL groups take longer than the loop's
# (30-32 against 22-26 µs, session 17) because the JS thread shares the issuer's core? The engine alone
# (engine-groups.mjs, 2 x 1, 2000 x 64 KiB, 20 rounds, FAIRRING_NCCL_PROFILE) unpinned, with the issuer
# thread (fr-issuer) and the JS thread pinned to CPUs of two different physical cores, and pinned to two CPUs
# of one core (SMT siblings where the VM has them, else one CPU), 3 rounds. Prints the CPU topology first.
# Usage: bash scripts/bundle.sh, then bash scripts/gpu-run.sh bash scripts/probes/gpu-session18a.sh
set -uo pipefail
source scripts/probes/lib.sh
probe_begin
lscpu | grep -E "^CPU\(s\)|Thread|Core|Socket|NUMA node\(s\)"
topo=$(lscpu -p=CPU,CORE | grep -v '^#')
# Two CPUs of different cores (the first CPU of cores 2 and 4), and two CPUs of one core (or one CPU for both,
# where no two share a core).
apart=$(awk -F, '!seen[$2]++ {c[n++]=$1} END {print c[2], c[4]}' <<<"$topo")
together=$(awk -F, '{k[$2]=k[$2] " " $1; m[$2]++} END {for (x in m) if (m[x] > 1) {print k[x]; exit}}' <<<"$topo" | awk '{print $1, $2}')
[[ -n $together ]] || together=$(awk -F, 'NR==3 {print $1, $1}' <<<"$topo")
echo "apart: $apart; together: $together"
run() {  # run <label> [cpuIssuer cpuJs]
  FAIRRING_NCCL_PROFILE=1 node scripts/probes/engine-groups.mjs 16384 2000 20 > /tmp/eg.txt 2>&1 &
  local pid=$! tid=""
  if [[ $# -eq 3 ]]; then
    for _ in $(seq 400); do
      tid=$(grep -l '^fr-issuer$' /proc/$pid/task/*/comm 2>/dev/null | head -1 | cut -d/ -f5)
      [[ -n $tid ]] && break
      sleep 0.005
    done
    [[ -n $tid ]] && taskset -pc "$2" "$tid" > /dev/null && taskset -pc "$3" "$pid" > /dev/null
  fi
  wait $pid
  grep -E "per bucket|NCCL groups" /tmp/eg.txt | sed "s/^/$1 /"
}
for round in 1 2 3; do
  run "round $round unpinned:"
  run "round $round apart ($apart):" $apart
  run "round $round together ($together):" $together
done 2>&1 | tee "$out/pinning.txt"
since "done at"
