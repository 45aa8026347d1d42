// The auto pipeline routes each all-reduce by topology and size, and every route gives the reference result.
import { expect } from 'chai';
import { ArgumentError, autoPipeline, simulate, type AutoOptions, type StageTiming } from '../../src/index.js';
import { expectClose, randomArray, reference } from '../helpers/data.js';

async function stagesOf(machines: number, devicesPerMachine: number, sizes: number[]): Promise<string[][]> {
  const world = await simulate({ machines, devicesPerMachine, pipeline: autoPipeline({ fairringMinBytes: 4096 }) });
  try {
    const out: string[][] = [];
    for (const n of sizes) {
      const inputs = world.devices.map(() => randomArray('float32', n));
      const tensors = await Promise.all(world.devices.map((d, i) => d.upload(inputs[i]!)));
      const timings: StageTiming[] = [];
      const sub = world.timings$.subscribe((t) => timings.push(t));
      await world.allReduce(tensors);
      sub.unsubscribe();
      const expected = reference('float32', 'sum', inputs, n);
      for (const [r, t] of tensors.entries()) expectClose('float32', 'sum', world.devices.length, await t.download(), expected, `n=${n} rank ${r}`);
      out.push([...new Set(timings.map((t) => t.stage))]);
    }
    return out;
  } finally {
    await world.close();
  }
}

describe('the auto pipeline (CPU backend)', () => {
  it('at 2 x 2 sends buckets below fairringMinBytes to one allReduce and larger ones through the five stages', async () => {
    // 1023 float32 are 4092 bytes, one short of the threshold's 4096; 1024 are the threshold itself.
    const [small, below, at, large] = await stagesOf(2, 2, [1000, 1023, 1024, 2003]);
    const fiveStages = ['admit', 'reduceScatter', 'collect', 'add', 'diffuse', 'allGather', 'finish'];
    expect(small).to.deep.equal(['allReduce']);
    expect(below).to.deep.equal(['allReduce']);
    // No tail (1024 fill the grid): no admit or finish work.
    expect(at).to.deep.equal(fiveStages.filter((s) => s !== 'admit' && s !== 'finish'));
    expect(large).to.deep.equal(fiveStages);
  });

  for (const [M, D] of [
    [1, 4],
    [3, 1],
  ] as const) {
    it(`at ${M} x ${D} sends every bucket to one allReduce`, async () => {
      expect(await stagesOf(M, D, [1000, 5001])).to.deep.equal([['allReduce'], ['allReduce']]);
    });
  }

  it('carries a threshold of its own in its name, which ranks of a job compare', () => {
    expect(autoPipeline().name).to.equal('auto');
    expect(autoPipeline({ fairringMinBytes: 4096 }).name).to.equal('auto(fairringMinBytes=4096)');
  });

  it('is the default pipeline', async () => {
    const world = await simulate({ machines: 2, devicesPerMachine: 2 });
    try {
      expect(world.pipelineName).to.equal('auto');
    } finally {
      await world.close();
    }
  });

  it('refuses a threshold that is not a byte count, and options it does not take, with ArgumentErrors', () => {
    for (const bad of [-1, 1.5, Number.NaN, '4096' as unknown as number]) {
      expect(() => autoPipeline({ fairringMinBytes: bad }), String(bad)).to.throw(ArgumentError, /fairringMinBytes must be a non-negative safe integer/);
    }
    expect(() => autoPipeline({ threshold: 5 } as unknown as AutoOptions)).to.throw(ArgumentError, /autoPipeline takes no option 'threshold' \(its only option is fairringMinBytes\)/);
    expect(() => autoPipeline(null as unknown as AutoOptions)).to.throw(ArgumentError, /^autoPipeline takes an options object such as \{ fairringMinBytes: 1048576 \}, got null$/);
  });
});
