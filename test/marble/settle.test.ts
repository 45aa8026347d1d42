// Marble tests of the settle operator alone: slices leave in the order their completions call back, the output
// completes only once its input has and every slice has settled, errors pass through, and a completion that
// calls back after teardown is dropped.
import { expect } from 'chai';
import { TestScheduler } from 'rxjs/testing';
import { map, type Observable } from 'rxjs';
import type { Slice } from '../../src/engine/context.js';
import { settle } from '../../src/operators/settle.js';

/** A stand-in slice: settle reads nothing of it but hands it to the completion callback. */
const sliceOf = (index: number): Slice => ({ index }) as unknown as Slice;

describe('settle operator (marbles)', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = new TestScheduler((actual, expected) => {
      expect(actual).to.deep.equal(expected);
    });
  });

  /** Slice i completes `after[i]` frames after it arrives (0: at once, inside the arrival). */
  const settling = (after: Record<number, number>, calls: number[] = []) =>
    settle<number>((slice, done) => {
      calls.push(slice.index);
      const frames = after[slice.index] ?? 0;
      if (frames === 0) done(slice.index);
      else scheduler.schedule(() => done(slice.index), frames);
    });

  const slices = (marbles: string, cold: (m: string, v: Record<string, number>) => Observable<number>): Observable<Slice> =>
    cold(marbles, { a: 0, b: 1, c: 2 }).pipe(map(sliceOf));

  it('emits in completion order, a slice already complete at once, and completes after the last settles', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const out = slices('ab-c|', cold).pipe(settling({ 0: 5, 1: 1, 2: 0 }));
      expectObservable(out).toBe('--bc-(a|)', { a: 0, b: 1, c: 2 });
    });
  });

  it('completes with its input when nothing is settling', () => {
    scheduler.run(({ cold, expectObservable }) => {
      expectObservable(slices('ab|', cold).pipe(settling({}))).toBe('ab|', { a: 0, b: 1 });
      expectObservable(slices('|', cold).pipe(settling({}))).toBe('|');
    });
  });

  it('passes an error of its input on, and drops completions that call back after it', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const out = cold('a-#', { a: 0 }, new Error('stage failed')).pipe(map(sliceOf), settling({ 0: 4 }));
      expectObservable(out).toBe('--#', undefined, new Error('stage failed'));
    });
  });

  it('unsubscribed, takes no more slices and drops completions still to come', () => {
    const calls: number[] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const out = slices('a-b--c|', cold).pipe(settling({ 0: 5, 1: 1, 2: 0 }, calls));
      expectObservable(out, '^---!').toBe('---b', { b: 1 });
    });
    expect(calls).to.deep.equal([0, 1]);
  });
});
