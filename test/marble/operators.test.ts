// Marble tests of the engine's own operators around a pipeline, on plain Observables: expandJobs (jobs into
// slices, in order) and settle (slices out as the host learns they completed).
import { expect } from 'chai';
import { Subject, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { Job, Slice } from '../../src/engine/context.js';
import { expandJobs } from '../../src/operators/expand-jobs.js';
import { settle } from '../../src/operators/settle.js';

/** A job standing for `slices` slices, named by `name`; its slices are named name + index. */
function job(name: string, slices: number): Job {
  return { id: name.charCodeAt(0), sliceCount: slices } as unknown as Job;
}

function slicesOf(j: Job): Slice[] {
  return Array.from({ length: j.sliceCount }, (_, index) => ({ job: j, index }) as unknown as Slice);
}

/** A slice's name: its job's letter and its index. */
function nameOf(s: Slice): string {
  return `${String.fromCharCode(s.job.id)}${s.index}`;
}

describe('engine operators (marbles)', () => {
  let scheduler: TestScheduler;
  beforeEach(() => {
    scheduler = new TestScheduler((actual, expected) => {
      expect(actual).to.deep.equal(expected);
    });
  });

  describe('expandJobs', () => {
    it('emits each job’s slices at once, job after job, and completes with its source', () => {
      scheduler.run(({ cold, expectObservable }) => {
        const jobs = cold('a----b-----(c|)', { a: job('a', 2), b: job('b', 1), c: job('c', 3) });
        const [a0, a1] = slicesOf(job('a', 2));
        const [c0, c1, c2] = slicesOf(job('c', 3));
        expectObservable(jobs.pipe(expandJobs(slicesOf))).toBe('(xy)-z-----(uvw|)', { x: a0, y: a1, z: slicesOf(job('b', 1))[0], u: c0, v: c1, w: c2 });
      });
    });

    it('a job submitted while an earlier one’s slices are emitted waits for the rest of them (concatMap’s order)', () => {
      const jobs = new Subject<Job>();
      const seen: string[] = [];
      jobs.pipe(expandJobs(slicesOf)).subscribe((s) => {
        seen.push(nameOf(s));
        if (nameOf(s) === 'a0') jobs.next(job('b', 2));
        if (nameOf(s) === 'b0') jobs.next(job('c', 1));
      });
      jobs.next(job('a', 3));
      jobs.next(job('d', 1));
      expect(seen).to.deep.equal(['a0', 'a1', 'a2', 'b0', 'b1', 'c0', 'd0']);
    });

    it('completing while a job’s slices are emitted completes after them', () => {
      const jobs = new Subject<Job>();
      const seen: string[] = [];
      jobs.pipe(expandJobs(slicesOf)).subscribe({
        next: (s) => {
          seen.push(nameOf(s));
          if (nameOf(s) === 'a0') jobs.complete();
        },
        complete: () => seen.push('|'),
      });
      jobs.next(job('a', 2));
      expect(seen).to.deep.equal(['a0', 'a1', '|']);
    });

    it('once unsubscribed, cuts no job queued behind the one being emitted', () => {
      const jobs = new Subject<Job>();
      const cut: string[] = [];
      const counting = (j: Job): Slice[] => {
        cut.push(String.fromCharCode(j.id));
        return slicesOf(j);
      };
      const seen: string[] = [];
      jobs.pipe(expandJobs(counting), take(2)).subscribe((s) => {
        seen.push(nameOf(s));
        if (nameOf(s) === 'a0') jobs.next(job('b', 1));
      });
      jobs.next(job('a', 3));
      expect(seen).to.deep.equal(['a0', 'a1']);
      expect(cut).to.deep.equal(['a']);
    });

    it('a throw while cutting a job goes down the chain as its error, as concatMap’s would', () => {
      const seen: string[] = [];
      const jobs = new Subject<Job>();
      jobs
        .pipe(
          expandJobs((j) => {
            if (j.id === 'b'.charCodeAt(0)) throw new Error('cannot cut b');
            return slicesOf(j);
          }),
        )
        .subscribe({ next: (s) => seen.push(nameOf(s)), error: (e: Error) => seen.push(`error: ${e.message}`) });
      jobs.next(job('a', 1));
      jobs.next(job('b', 1));
      expect(seen).to.deep.equal(['a0', 'error: cannot cut b']);
      expect(jobs.observed).to.equal(false);
    });

    it('stops in the middle of a job once unsubscribed, and passes errors on', () => {
      scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const jobs = cold('a-b', { a: job('a', 3), b: job('b', 1) });
        expectObservable(jobs.pipe(expandJobs(slicesOf), take(2))).toBe('(xy|)', { x: slicesOf(job('a', 3))[0], y: slicesOf(job('a', 3))[1] });
        expectSubscriptions(jobs.subscriptions).toBe('(^!)');
        const failing = cold('a-#', { a: job('a', 1) }, new Error('upstream'));
        expectObservable(failing.pipe(expandJobs(slicesOf))).toBe('x-#', { x: slicesOf(job('a', 1))[0] }, new Error('upstream'));
      });
    });
  });

  describe('settle', () => {
    /** Settles a slice `delay` frames after it arrives, per its index; 0 settles it at once, during the call. */
    const gate = (delays: number[]) => ({
      whenSettled: (slice: Slice, done: (s: string) => void) => {
        const delay = delays[slice.index]!;
        if (delay === 0) done(nameOf(slice));
        else scheduler.schedule(() => done(nameOf(slice)), delay);
      },
    });
    const slices = (n: number): Record<string, Slice> => Object.fromEntries(slicesOf(job('a', n)).map((s, i) => [String(i), s]));

    it('emits slices as they settle, not as they arrive, and completes once the last has settled', () => {
      scheduler.run(({ cold, expectObservable }) => {
        const source = cold('0-1-2|', slices(3));
        expectObservable(source.pipe(settle(gate([6, 1, 0])))).toBe('---yz-(x|)', { x: 'a0', y: 'a1', z: 'a2' });
      });
    });

    it('completes with its source when nothing is pending, also after a slice settled at once', () => {
      scheduler.run(({ cold, expectObservable }) => {
        expectObservable(cold('0|', slices(1)).pipe(settle(gate([0])))).toBe('x|', { x: 'a0' });
        expectObservable(cold<Slice>('|').pipe(settle(gate([])))).toBe('|');
      });
    });

    it('passes an error on at once, with slices still settling, and emits nothing once unsubscribed', () => {
      scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        expectObservable(cold('0-#', slices(1), new Error('stage')).pipe(settle(gate([5])))).toBe('--#', {}, new Error('stage'));
        const source = cold('01---|', slices(2));
        expectObservable(source.pipe(settle(gate([1, 5]))), '--!').toBe('-x', { x: 'a0' });
        expectSubscriptions(source.subscriptions).toBe('^-!');
      });
    });

    it('a throw while asking when a slice settles goes down the chain as its error, as mergeMap’s would', () => {
      scheduler.run(({ cold, expectObservable }) => {
        const failing = { whenSettled: () => { throw new Error('no report'); } };
        expectObservable(cold('0', slices(1)).pipe(settle(failing))).toBe('#', {}, new Error('no report'));
      });
    });
  });
});
