import { expect } from 'chai';
import { WARM_PATIENCE, WARM_WINDOW_MS, warm, type WarmClock } from '../../src/cli/bench/measure.js';

/**
 * A subject whose every iteration runs `perIteration` slices, on a clock of its own: each call takes `callMs`,
 * and the JS thread is busy `costOf(call)` ms per slice in it. Records the iterations asked per call.
 */
function subject(perIteration: number, callMs = 1, costOf: (call: number) => number = () => 0.01) {
  const calls: number[] = [];
  let now = 0;
  let busy = 0;
  const clock: WarmClock = { now: () => now, jsBusyMs: () => busy };
  return {
    calls,
    clock,
    run: (iters: number) => {
      const slices = iters * perIteration;
      busy += slices * costOf(calls.length);
      now += callMs;
      calls.push(iters);
      return Promise.resolve({ slices });
    },
  };
}

describe('bench warm-up', () => {
  // [what it checks, slices per iteration, --warmup, --warmup-slices, the iterations asked per call], --warmup-ms 0
  const cases: Array<[string, number, number, number, number[]]> = [
    ['runs --warmup iterations, then more until --warmup-slices slices ran', 1, 2, 256, Array<number>(128).fill(2)],
    ['stops after --warmup iterations where they ran enough slices', 300, 2, 256, [2]],
    ['runs nothing with --warmup 0', 1, 0, 256, []],
    ['stops where a batch ran no slice, rather than loop for ever', 0, 2, 256, [2]],
    ['rounds up to whole --warmup batches', 7, 3, 50, [3, 3, 3]],
  ];
  for (const [what, perIteration, warmup, warmupSlices, calls] of cases) {
    it(`${what} (--warmup-ms 0), without asking the other ranks (each stops at the same round)`, async () => {
      const s = subject(perIteration);
      let asked = 0;
      await warm(s, { warmup, warmupSlices, warmupMs: 0 }, (stop) => {
        asked++;
        return Promise.resolve(stop);
      }, s.clock);
      expect(s.calls).to.deep.equal(calls);
      expect(asked).to.equal(0);
    });
  }

  // Calls of half a window: a reading every two calls.
  const callMs = WARM_WINDOW_MS / 2;

  it(`goes on while the JS time per slice falls, and stops ${WARM_PATIENCE} readings after it stopped falling by 10%`, async () => {
    // Per slice, by reading: 100, 50, 25, 20, then 19 for ever (not 10% below 20).
    const perReading = [100, 50, 25, 20];
    const s = subject(8, callMs, (call) => perReading[Math.floor(call / 2)] ?? 19);
    await warm(s, { warmup: 2, warmupSlices: 1, warmupMs: 60_000 }, undefined, s.clock);
    expect(s.calls).to.have.length(2 * (perReading.length + WARM_PATIENCE));
  });

  it('stops after --warmup-ms while still getting faster', async () => {
    const s = subject(8, callMs, (call) => 1000 / 2 ** call);
    await warm(s, { warmup: 2, warmupSlices: 1, warmupMs: 10 * callMs }, undefined, s.clock);
    expect(s.calls).to.have.length(10);
  });

  it('--warmup-slices stays a minimum once steady', async () => {
    const s = subject(1, callMs, () => 5);
    await warm(s, { warmup: 1, warmupSlices: 40, warmupMs: 60_000 }, undefined, s.clock);
    expect(s.calls).to.have.length(40);
  });

  it('goes on while another rank would (the stop is agreed), and asks after every call', async () => {
    const s = subject(8, callMs, () => 5);
    const asked: boolean[] = [];
    // This rank is steady after 2 · (1 + patience) calls; another one only after 20.
    await warm(s, { warmup: 2, warmupSlices: 1, warmupMs: 60_000 }, (stop) => {
      asked.push(stop);
      return Promise.resolve(stop && asked.length >= 20);
    }, s.clock);
    expect(s.calls).to.have.length(20);
    expect(asked.indexOf(true)).to.equal(2 * (1 + WARM_PATIENCE) - 1);
  });
});
