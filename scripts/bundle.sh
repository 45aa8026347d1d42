#!/usr/bin/env bash
# Packs what the GPU machine (no Node.js, no network) needs besides the git working tree into bundle/:
# the Node.js binary, the compiled JavaScript, the built addon and the runtime + test dependencies.
# Carry `bundle` with the device tool, then run scripts/gpu-run.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."
test -f native/build/Release/fairring.node || { echo "build first: npm run build" >&2; exit 1; }
test -d dist || { echo "build first: npm run build" >&2; exit 1; }
rm -rf bundle && mkdir -p bundle
xz -T0 -6 -c "$(command -v node)" > bundle/node.xz
deps=$(node -e '
  const lock = require("./package-lock.json");
  const keep = new Set();
  const want = ["rxjs", "eventemitter3", "commander", "cli-progress", "mocha", "chai", "fast-check"];
  const visit = (name) => {
    const key = "node_modules/" + name;
    if (keep.has(key) || !lock.packages[key]) return;
    keep.add(key);
    for (const d of Object.keys(lock.packages[key].dependencies || {})) visit(d);
  };
  want.forEach(visit);
  console.log([...keep].join("\n"));
')
tar -cJf bundle/app.tar.xz dist native/build/Release/fairring.node $deps node_modules/.bin/mocha
ls -la bundle
du -sh bundle
