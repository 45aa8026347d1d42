#!/usr/bin/env bash
# Packs the npm tarball, checks what it holds (no compiled tests), installs it into a fresh project (which
# builds the addon from source, offline) and runs the README's example there.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tarball=$(npm pack --pack-destination "$tmp" --silent | tail -1)
if tar -tzf "$tmp/$tarball" | grep -qE '^package/(dist/)?test/'; then
  echo "pack-check: the tarball holds tests" >&2
  exit 1
fi
cd "$tmp"
npm init -y > /dev/null
npm install --no-audit --no-fund "./$tarball" > install.log 2>&1 || { tail -30 install.log >&2; exit 1; }
cat > example.mjs <<'JS'
import { simulate } from 'fairring-rx';

const world = await simulate({ machines: 2, devicesPerMachine: 2 });
const tensors = await Promise.all(world.devices.map((d) => d.upload(new Float32Array(1 << 20).fill(d.rank))));
await world.allReduce(tensors, { op: 'sum' });
console.log((await tensors[0].download())[0]);
await world.close();
JS
got=$(node example.mjs)
[[ $got == 6 ]] || { echo "pack-check: the README example printed '$got', expected 6" >&2; exit 1; }
echo "pack-check: $tarball installs, builds and runs the README example"
