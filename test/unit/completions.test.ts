// Completions turns the Queue's bulk reports ("stream s done up to record n, failed from f") into per-record
// answers, callbacks and Observables.
import { expect } from 'chai';
import { firstValueFrom, toArray } from 'rxjs';
import { Completions } from '../../src/index.js';

function report(c: Completions, triples: number[], errors: string[] = [], timings: number[] = []): void {
  c.onProgress(Float64Array.from(triples), errors, Float64Array.from(timings));
}

describe('Completions', () => {
  it('answers pending, done and failed per record from bulk reports', () => {
    const c = new Completions(() => 0);
    expect(c.status({ stream: 0, seq: 1 })).to.equal(null);
    report(c, [0, 3, 0, 1, 5, 4], ['', 'boom']);
    expect(c.status({ stream: 0, seq: 3 })).to.equal('');
    expect(c.status({ stream: 0, seq: 4 })).to.equal(null);
    expect(c.status({ stream: 1, seq: 3 })).to.equal('');
    expect(c.status({ stream: 1, seq: 4 })).to.equal('boom');
    expect(c.status({ stream: 1, seq: 5 })).to.equal('boom');
  });

  it('records abandoned (never issued) fail at once: waiters from that record on, and later questions about them', () => {
    const c = new Completions(() => 0);
    const heard: string[] = [];
    for (const seq of [2, 3, 4]) c.whenDone({ stream: 1, seq }, (e) => heard.push(`${seq}:${e}`));
    c.abandon(1, 3, 'refused');
    expect(heard).to.deep.equal(['3:never issued: refused', '4:never issued: refused']);
    expect(c.status({ stream: 1, seq: 2 })).to.equal(null);
    expect(c.status({ stream: 1, seq: 5 })).to.equal('never issued: refused');
    c.whenDone({ stream: 1, seq: 6 }, (e) => heard.push(`6:${e}`));
    expect(heard.at(-1)).to.equal('6:never issued: refused');
    report(c, [1, 2, 0]);
    expect(heard).to.have.length(4);
    expect(heard).to.include('2:null');
  });

  it('calls back in record order once a report covers the record, at once when it already did', () => {
    const c = new Completions(() => 0);
    const order: string[] = [];
    c.whenDone({ stream: 2, seq: 5 }, (e) => order.push(`5:${e}`));
    c.whenDone({ stream: 2, seq: 2 }, (e) => order.push(`2:${e}`));
    c.whenDone({ stream: 2, seq: 9 }, (e) => order.push(`9:${e}`));
    report(c, [2, 5, 0]);
    expect(order).to.deep.equal(['2:null', '5:null']);
    report(c, [2, 9, 7], ['bad']);
    expect(order).to.deep.equal(['2:null', '5:null', '9:bad']);
    c.whenDone({ stream: 2, seq: 1 }, (e) => order.push(`1:${e}`));
    expect(order.at(-1)).to.equal('1:null');
  });

  it('a callback that throws is told to onCallbackError; the report still reaches every other waiter', () => {
    const c = new Completions(() => 0);
    const thrown: unknown[] = [];
    c.onCallbackError = (e) => thrown.push(e);
    const heard: string[] = [];
    const bug = new Error('bug in a callback');
    c.whenDone({ stream: 0, seq: 1 }, () => heard.push('0:1'));
    c.whenDone({ stream: 0, seq: 2 }, () => {
      throw bug;
    });
    c.whenDone({ stream: 0, seq: 3 }, () => heard.push('0:3'));
    c.whenDone({ stream: 1, seq: 1 }, () => heard.push('1:1'));
    report(c, [0, 3, 0, 1, 1, 0]);
    expect(heard).to.deep.equal(['0:1', '0:3', '1:1']);
    expect(thrown).to.deep.equal([bug]);
    c.whenDone({ stream: 2, seq: 4 }, () => {
      throw bug;
    });
    c.whenDone({ stream: 2, seq: 5 }, (e) => heard.push(`2:5 ${e}`));
    c.abandon(2, 4, 'refused');
    expect(heard.at(-1)).to.equal('2:5 never issued: refused');
    expect(thrown).to.deep.equal([bug, bug]);
  });

  it('asks the Queue (want) to report the first record waited for on each stream, then the next one', () => {
    const asked: number[][] = [];
    const c = new Completions((stream, seq) => {
      asked.push([stream, seq]);
      return 0;
    });
    const order: number[] = [];
    c.whenDone({ stream: 0, seq: 3 }, () => order.push(3));
    c.whenDone({ stream: 0, seq: 5 }, () => order.push(5));
    c.whenDone({ stream: 1, seq: 7 }, () => order.push(7));
    c.whenDone({ stream: 0, seq: 2 }, () => order.push(2));
    expect(asked).to.deep.equal([[0, 3], [1, 7], [0, 2]]);
    report(c, [0, 3, 0]);
    expect(order).to.deep.equal([2, 3]);
    expect(asked.at(-1), 'the next waiter of the stream').to.deep.equal([0, 5]);
    report(c, [0, 5, 0, 1, 7, 0], ['', '']);
    expect(order).to.deep.equal([2, 3, 5, 7]);
    expect(asked).to.have.length(4);
  });

  it('statusNow asks the Queue about a record no report covered', () => {
    const c = new Completions(() => 4);
    expect(c.status({ stream: 0, seq: 3 })).to.equal(null);
    expect(c.statusNow({ stream: 0, seq: 3 })).to.equal('');
    expect(c.statusNow({ stream: 0, seq: 5 })).to.equal(null);
  });

  it('reached$ emits once and completes, or errors with the record\'s failure', async () => {
    const c = new Completions(() => 0);
    const ok = firstValueFrom(c.reached$({ stream: 0, seq: 1 }).pipe(toArray()));
    const bad = firstValueFrom(c.reached$({ stream: 1, seq: 1 })).then(() => null, (e: Error) => e.message);
    report(c, [0, 1, 0, 1, 1, 1], ['', 'nccl error']);
    expect(await ok).to.deep.equal([undefined]);
    expect(await bad).to.equal('nccl error');
  });

  it('keeps reported timings until read once', () => {
    const c = new Completions(() => 0);
    report(c, [0, 2, 0], [''], [0, 2, 1.25, 1000.5]);
    expect(c.takeTiming({ stream: 0, seq: 2 })).to.deep.equal({ ms: 1.25, startMs: 1000.5 });
    expect(c.takeTiming({ stream: 0, seq: 2 })).to.equal(undefined);
  });
});
