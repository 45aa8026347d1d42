#!/usr/bin/env bash
# Probe (GPU machine): the CUDA vanishing-rank job (3 emulated machines, rank 2 exits with all-reduces in flight),
# rank 2 run under cuda-gdb so that a crash at exit leaves a backtrace of every thread in $OUT/vanish-gdb.txt.
# Usage: bash scripts/gpu-run.sh bash scripts/probes/vanish-gdb.sh
set -uo pipefail
out=${OUT:-/tmp/fairring-out}
cat > /tmp/vanish-rank.sh <<'EOS'
#!/usr/bin/env bash
if [[ $RANK == 2 ]]; then
  exec cuda-gdb -batch -nx -ex 'set pagination off' -ex run -ex 'info threads' -ex 'thread apply all bt 25' --args "$@"
fi
exec "$@"
EOS
chmod +x /tmp/vanish-rank.sh
job='{"seed":7,"lengths":[200000,200000,200000,200000,200000,200000,200000,200000],"op":"sum","dtype":"float32","pipeline":"fairring","backend":"cuda","vanish":[2],"timeoutMs":5000,"options":{"0":{"sliceBytes":65536},"1":{"sliceBytes":65536},"2":{"sliceBytes":65536}}}'
FR_WORKER=$job timeout 120 node dist/src/cli/main.js launch --nnodes 3 --emulate-machines --master-port 29900 -- /tmp/vanish-rank.sh "$(command -v node)" dist/test/helpers/connect-worker.js > "$out/vanish-gdb.txt" 2>&1
echo "launch rc=$?"
grep -E 'RESULT|SIGSEGV|signal|exited' "$out/vanish-gdb.txt" | head -10
grep -n -B2 -A30 'received signal' "$out/vanish-gdb.txt" | head -80
