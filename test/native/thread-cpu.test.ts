import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { native } from '../../src/native.js';

// bench's JS CPU column: the calling thread's own CPU time, which work adds to and waiting does not.
describe('native.threadCpuMs', () => {
  it('grows with the thread\'s work, not with the time it waits', async () => {
    const t0 = native.threadCpuMs();
    const wall0 = performance.now();
    let x = 0;
    while (performance.now() - wall0 < 60) x += Math.sqrt(x + 1);
    const busy = native.threadCpuMs() - t0;
    const busyWall = performance.now() - wall0;
    expect(x).to.be.greaterThan(0);
    expect(busy).to.be.greaterThan(10).and.at.most(busyWall + 1);
    const t1 = native.threadCpuMs();
    await sleep(80);
    expect(native.threadCpuMs() - t1).to.be.lessThan(20);
  });
});
