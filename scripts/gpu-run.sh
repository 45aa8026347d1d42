#!/usr/bin/env bash
# On the GPU machine: unpack the bundle (scripts/bundle.sh), then run the given command with node on the PATH
# and NVLink multicast off. Usage: bash scripts/gpu-run.sh <command...>
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p /tmp/fairring-node
xz -dc bundle/node.xz > /tmp/fairring-node/node
chmod +x /tmp/fairring-node/node
tar -xJf bundle/app.tar.xz
export PATH="/tmp/fairring-node:$PATH"
export NCCL_NVLS_ENABLE=0
"$@"
