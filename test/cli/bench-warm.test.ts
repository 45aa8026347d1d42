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
  it('runs --warmup iterations, then more until --warmup-slices slices ran', async () => {
    const big = subject(1);
    await warm(big, { warmup: 2, warmupSlices: 256 });
    expect(big.calls.every((n) => n === 2)).to.equal(true);
    expect(big.calls.length).to.equal(128);
  });

  it('stops after --warmup iterations where they ran enough slices', async () => {
    const many = subject(300);
    await warm(many, { warmup: 2, warmupSlices: 256 });
    expect(many.calls).to.deep.equal([2]);
  });

  it('runs nothing with --warmup 0', async () => {
    const none = subject(1);
    await warm(none, { warmup: 0, warmupSlices: 256 });
    expect(none.calls).to.deep.equal([]);
  });

  it('stops where a batch ran no slice, rather than loop for ever', async () => {
    const empty = subject(0);
    await warm(empty, { warmup: 2, warmupSlices: 256 });
    expect(empty.calls).to.deep.equal([2]);
  });

  it('rounds up to whole --warmup batches', async () => {
    const odd = subject(7);
    await warm(odd, { warmup: 3, warmupSlices: 50 });
    expect(odd.calls).to.deep.equal([3, 3, 3]);
  });
});
