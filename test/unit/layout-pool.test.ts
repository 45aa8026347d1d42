import { expect } from 'chai';
import { firstValueFrom, Subject, toArray, take } from 'rxjs';
import { ALIGNMENT, ArgumentError, LayoutError, SlotPool, SlotRing, completion, computeLayout, native, type Mark } from '../../src/index.js';

describe('layout', () => {
  it('follows Fairring at one device per machine: staging slots out of the memory budget', () => {
    const l = computeLayout({ memoryBytes: 1 << 20, paddingBytes: 0, parallelism: 4 }, 4, 1);
    const pad = 4 * ALIGNMENT;
    expect(l.paddingSlotBytes).to.equal(pad);
    const share = Math.floor(((1 << 20) - 2 * 4 * pad) / 4 / pad) * pad;
    expect(l.sliceBytes).to.equal(share);
    // A staging slot holds the rows of the 3 other machines: 3/4 of a slice.
    expect(l.slotBytes).to.equal((share / 4) * 3);
    expect(l.allocatedBytes).to.equal(4 * pad + 4 * l.slotBytes + 4 * pad);
    expect([l.stagingSlots, l.paddingSlots, l.parallelism]).to.deep.equal([4, 4, 4]);
    expect(l.allocatedBytes).to.be.at.most(1 << 20);
  });

  it('does not slice at several devices per machine unless asked, then in multiples of D·M·8', () => {
    const l = computeLayout({ memoryBytes: 0, paddingBytes: 4096, parallelism: 8 }, 2, 4);
    expect(l.sliceBytes).to.equal(Infinity);
    expect([l.paddingSlots, l.parallelism]).to.deep.equal([8, 8]);
    const s = computeLayout({ memoryBytes: 0, paddingBytes: 4096, parallelism: 8, sliceBytes: 1000 }, 2, 4);
    expect(s.sliceBytes).to.equal(960);
  });

  it('names the budget that is too small', () => {
    expect(() => computeLayout({ memoryBytes: 0, paddingBytes: 100, parallelism: 8 }, 2, 2)).to.throw(LayoutError, /parallelism 8 needs at least 256/);
    expect(() => computeLayout({ memoryBytes: 64, paddingBytes: 0, parallelism: 2 }, 2, 1)).to.throw(LayoutError, /cannot hold 2 staging slots/);
    expect(() => computeLayout({ memoryBytes: 0, paddingBytes: 4096, parallelism: 1, sliceBytes: 8 }, 2, 2)).to.throw(LayoutError, /sliceBytes/);
  });

  it('refuses what is not a layout question with an ArgumentError', () => {
    expect(() => computeLayout(null as unknown as { memoryBytes: number; paddingBytes: number; parallelism: number }, 2, 2)).to.throw(ArgumentError, /^computeLayout takes \{ memoryBytes/);
    expect(() => computeLayout({ memoryBytes: 1 << 20, paddingBytes: 4096, parallelism: 8 }, 0, 2)).to.throw(ArgumentError, /^machines must be a positive integer, got 0$/);
    expect(() => computeLayout({ memoryBytes: 1 << 20, paddingBytes: 4096, parallelism: 8 }, 2, 1.5)).to.throw(ArgumentError, /^devicesPerMachine must be a positive integer, got 1.5$/);
  });
});

describe('SlotPool', () => {
  it('serves first come first served and returns a slot only when its release signal fires', () => {
    const pool = new SlotPool('test', 2);
    const got: number[] = [];
    pool.acquire().subscribe((s) => got.push(s));
    pool.acquire().subscribe((s) => got.push(s));
    pool.acquire().subscribe((s) => got.push(10 + s));
    pool.acquire().subscribe((s) => got.push(20 + s));
    expect(got).to.deep.equal([0, 1]);
    expect(pool.stats).to.deep.equal({ size: 2, inUse: 2, highWater: 2, waiting: 2 });
    const done = new Subject<void>();
    pool.release(1, done);
    expect(got).to.deep.equal([0, 1]);
    done.next();
    expect(got).to.deep.equal([0, 1, 11]);
    pool.release(0, done);
    done.complete();
    expect(got).to.deep.equal([0, 1, 11, 20]);
    expect(pool.stats.highWater).to.equal(2);
  });

  it('gives up the place in line when unsubscribed before delivery', async () => {
    const pool = new SlotPool('test', 1);
    const first = await firstValueFrom(pool.acquire());
    const waiting = pool.acquire().subscribe();
    const next = firstValueFrom(pool.acquire().pipe(take(1), toArray()));
    waiting.unsubscribe();
    pool.release(first, new Subject<void>().asObservable().pipe(take(0)));
    expect(await next).to.deep.equal([0]);
  });
});

describe('completion(event)', () => {
  it('emits once and completes when the event completes', async () => {
    const d = new native.Device('cpu', 0);
    const s = new native.Stream(d);
    const e = new native.Event(d);
    const b = new native.Buffer(d, 1 << 22);
    s.fill(b, 0, 1 << 20, 'float32', 1);
    s.record(e);
    expect(await firstValueFrom(completion(e).pipe(toArray()))).to.deep.equal([undefined]);
    expect(e.isComplete()).to.equal(true);
    s.close();
  });
});

describe('SlotRing', () => {
  const mark = (seq: number): Mark[] => [{ stream: 3, seq }];

  it('hands slots out round-robin, each with the records of its previous use to wait on', () => {
    const ring = new SlotRing('test', 3);
    const a = ring.take();
    const b = ring.take();
    expect([a.slot, a.after, b.slot, b.after]).to.deep.equal([0, null, 1, null]);
    ring.give(a.slot, mark(7));
    ring.give(b.slot, mark(9));
    const c = ring.take();
    const d = ring.take();
    expect([c.slot, c.after, d.slot, d.after]).to.deep.equal([2, null, 0, mark(7)]);
    expect(ring.stats).to.deep.equal({ size: 3, inUse: 2, highWater: 2, waiting: 0 });
  });

  it('hands a slot given back unused by its last taker out next again, and refuses a slot still held', () => {
    const ring = new SlotRing('test', 2);
    const a = ring.take();
    const b = ring.take();
    ring.give(b.slot, null);
    expect(ring.take()).to.deep.equal({ slot: b.slot, after: null });
    expect(() => ring.take()).to.throw(/handed out twice/);
    ring.give(a.slot, mark(1));
  });
});
