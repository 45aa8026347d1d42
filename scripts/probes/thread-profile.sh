#!/usr/bin/env bash
# Probe (any machine with perf): where the JS thread's time goes in a CPU-backend `bench` row, native code and
# kernel included (what a V8 profile shows only as the time of the JS function that called into the addon): the
# row under `perf record`, then the main thread's samples by shared object and its top symbols in the addon, libc
# and the kernel. Usage: bash scripts/probes/thread-profile.sh <machines> <devices> (prints to stdout)
set -uo pipefail
m=${1:-2} d=${2:-2}
command -v perf > /dev/null || { echo "perf not installed here"; exit 0; }
data=$(mktemp)
timeout 120 perf record -F 4000 -o "$data" -- node dist/src/cli/main.js bench --backend cpu --machines "$m" --devices "$d" \
  --pipelines fairring --bytes 256 --buckets 64 --iters 300 --warmup 5 --repeat 3 2>&1 | grep -E '^\| 256 B \| fairring'
# The main thread is the process's first thread: its tid is the pid.
main=$(perf report -i "$data" --sort pid -g none 2>/dev/null | grep -oE '[0-9]+:node' | cut -d: -f1 | sort -n | head -1)
report() { perf report -i "$data" --tid "$main" --percentage relative -g none "$@" 2>/dev/null | grep -vE '^#|^$' | sed 's/  */ /g'; }
echo "main thread $main: samples by shared object"
report --sort dso | head -8
for dso in fairring.node libc.so.6 '[kernel.kallsyms]'; do
  echo "main thread: top symbols in $dso (shares of its samples there)"
  report --dso "$dso" --sort symbol | head -8
done
rm -f "$data"
