#!/usr/bin/env node
// Plots busbw against bucket size per pipeline, one panel per topology, from the JSON scripts/gpu-table.sh writes
// for its size sweep (vega-lite compiled to vega, rendered to SVG without a browser).
// Usage: node scripts/plot-table.mjs <table-sweep.json> <out.svg> [title]
import { readFileSync, writeFileSync } from 'node:fs';
import * as vega from 'vega';
import { compile } from 'vega-lite';

const [input, output, title = 'busbw against bucket size'] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/plot-table.mjs <table-sweep.json> <out.svg> [title]');
  process.exit(2);
}
const { gpus, launches } = JSON.parse(readFileSync(input, 'utf8'));
const values = launches.flatMap((launch) =>
  launch.rows.map((row) => ({
    topology: launch.topology,
    pipeline: row.kind === 'reference' ? `native loop (${row.pipeline})` : row.pipeline,
    bytes: row.bytes,
    busbw: row.busbw.median,
  })),
);
const spec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: { text: title, subtitle: `${gpus}; median of 3 runs; NCCL defaults, NCCL_NVLS_ENABLE=0` },
  data: { values },
  facet: { column: { field: 'topology', type: 'nominal', title: null } },
  spec: {
    width: 320,
    height: 240,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'bytes', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'bucket bytes per rank', axis: { format: '~s' } },
      y: { field: 'busbw', type: 'quantitative', title: 'busbw GB/s' },
      color: { field: 'pipeline', type: 'nominal' },
      strokeDash: { condition: { test: "indexof(datum.pipeline, 'native loop') >= 0", value: [4, 3] }, value: [1, 0] },
    },
  },
};
const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
writeFileSync(output, await view.toSVG());
console.log(`${output}: ${values.length} points`);
