import { expect } from 'chai';
import { warm } from '../../src/cli/bench/measure.js';

/** A subject whose every iteration runs `perIteration` slices; records the iterations asked per call. */
function subject(perIteration: number): { calls: number[]; run(iters: number): Promise<{ slices: number }> } {
  const calls: number[] = [];
  return {
    calls,
    run: (iters) => {
      calls.push(iters);
      return Promise.resolve({ slices: iters * perIteration });
    },
  };
}

describe('bench warm-up', () => {
  // [what it checks, slices per iteration, --warmup, --warmup-slices, the iterations asked per call]
  const cases: Array<[string, number, number, number, number[]]> = [
    ['runs --warmup iterations, then more until --warmup-slices slices ran', 1, 2, 256, Array<number>(128).fill(2)],
    ['stops after --warmup iterations where they ran enough slices', 300, 2, 256, [2]],
    ['runs nothing with --warmup 0', 1, 0, 256, []],
    ['stops where a batch ran no slice, rather than loop for ever', 0, 2, 256, [2]],
    ['rounds up to whole --warmup batches', 7, 3, 50, [3, 3, 3]],
  ];
  for (const [what, perIteration, warmup, warmupSlices, calls] of cases) {
    it(what, async () => {
      const s = subject(perIteration);
      await warm(s, { warmup, warmupSlices });
      expect(s.calls).to.deep.equal(calls);
    });
  }
});
