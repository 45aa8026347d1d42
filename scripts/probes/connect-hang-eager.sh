#!/usr/bin/env bash
# Probe (GPU machine): the connect-hang.sh case three times with NCCL connecting every peer at communicator
# creation (NCCL_RUNTIME_CONNECT=0) instead of at first use; counts hangs; prints the JS stack of a rank that
# answered the report signal.
out=${OUT:-/tmp/fairring-out}
hangs=0
for i in 1 2 3; do
  rm -f "$out/stacks.txt" "$out"/report*.json
  NCCL_RUNTIME_CONNECT=0 timeout 45 bash scripts/probes/connect-hang.sh 30 > /dev/null 2>&1
  if [[ -f $out/stacks.txt ]]; then
    hangs=$((hangs + 1))
    for f in "$out"/report*.json; do [[ -f $f ]] && node -e 'const r=require(process.argv[1]); console.log(r.javascriptStack.message, (r.javascriptStack.stack||[]).slice(0,8).join("\n"))' "$f"; done
  else
    grep -h "^\[rank 0\] | 64 KiB | local |" "$out/hang.txt"
  fi
done
echo "NCCL_RUNTIME_CONNECT=0: $hangs hangs in 3 attempts"
