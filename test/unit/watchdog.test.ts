// The watchdog the engine and the call check share: one timer for the oldest open deadline, on the clock given.
import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import { VirtualTimeScheduler } from 'rxjs';
import { Watchdog, unrefClock } from '../../src/engine/watchdog.js';

describe('Watchdog', () => {
  /** Deadlines in flight, oldest first, on virtual time; `fired` logs the virtual time of each firing. */
  function setup(): { clock: VirtualTimeScheduler; deadlines: number[]; fired: number[]; dog: Watchdog } {
    const clock = new VirtualTimeScheduler();
    const deadlines: number[] = [];
    const fired: number[] = [];
    const dog: Watchdog = new Watchdog(
      clock,
      () => deadlines[0] ?? null,
      () => {
        fired.push(clock.now());
        while (deadlines.length > 0 && deadlines[0]! <= clock.now()) deadlines.shift();
        dog.arm();
      },
    );
    return { clock, deadlines, fired, dog };
  }

  it('fires at each oldest deadline in turn, one timer at a time', () => {
    const { clock, deadlines, fired, dog } = setup();
    deadlines.push(30, 50, 50, 90);
    dog.arm();
    dog.arm();
    clock.flush();
    expect(fired).to.deep.equal([30, 50, 90]);
  });

  it('arms for nothing when nothing is open, and fires at once for a deadline already past', () => {
    const { clock, deadlines, fired, dog } = setup();
    dog.arm();
    clock.flush();
    expect(fired).to.deep.equal([]);
    clock.schedule(() => {
      deadlines.push(10);
      dog.arm();
    }, 40);
    clock.flush();
    expect(fired).to.deep.equal([40]);
  });

  it('disarmed, fires no more; armed again, fires for what is open then', () => {
    const { clock, deadlines, fired, dog } = setup();
    deadlines.push(20, 60);
    dog.arm();
    clock.schedule(() => dog.disarm(), 25);
    clock.schedule(() => dog.arm(), 70);
    clock.flush();
    expect(fired).to.deep.equal([20, 70]);
  });

  it('on wall time, a pending timer does not keep the process alive, and unsubscribing cancels it', async () => {
    const url = new URL('../../src/engine/watchdog.js', import.meta.url).href;
    const script = `import(${JSON.stringify(url)}).then((m) => { m.unrefClock.schedule(() => process.exit(3), 60000); });`;
    const t0 = Date.now();
    const child = spawnSync(process.execPath, ['-e', script], { timeout: 20_000 });
    expect(child.status, String(child.stderr)).to.equal(0);
    expect(Date.now() - t0).to.be.below(15_000);
    let ran = false;
    unrefClock.schedule(() => (ran = true), 1).unsubscribe();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ran).to.equal(false);
  });
});
