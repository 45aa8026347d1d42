// The rendezvous store over real sockets on 127.0.0.1: values, waiting, atomic add, timeouts, and a server that
// survives hostile or broken connections.
import { expect } from 'chai';
import net from 'node:net';
import { runNodeScript } from '../helpers/child.js';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { ArgumentError, ClosedError } from '../../src/errors.js';
import { StoreClient, StoreServer, RendezvousTimeoutError } from '../../src/world/store.js';

const host = '127.0.0.1';
const storeModule = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'world', 'store.js');

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

function rawFrame(op: number, reqId: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUInt32BE(5 + payload.length, 0);
  b.writeUInt8(op, 4);
  b.writeUInt32BE(reqId, 5);
  Buffer.from(payload).copy(b, 9);
  return b;
}

/** Opens a raw socket, writes `bytes` (optionally ending), resolves true when the server closes it within `ms`. */
function closedByServer(port: number, bytes: Buffer[], end: boolean, ms = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, ms);
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.on('connect', () => {
      for (const b of bytes) s.write(b);
      if (end) s.end();
    });
  });
}

describe('rendezvous store', () => {
  let server: StoreServer;
  let port: number;
  const clients: StoreClient[] = [];
  const connect = async (token = server.token): Promise<StoreClient> => {
    const c = await StoreClient.connect(host, port, token, { timeoutMs: 3000 });
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    server = new StoreServer({ token: 'job-secret', idleFrameTimeoutMs: 300, maxFrameBytes: 1024 * 1024 });
    port = await server.listen(host, 0);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
  });

  it('a value set by one client is read by another', async () => {
    const [a, b] = [await connect(), await connect()];
    await a.set('addr/0', text('10.0.0.1:1234'));
    expect(str(await b.get('addr/0'))).to.equal('10.0.0.1:1234');
    await b.set('addr/0', new Uint8Array([0, 255, 7]));
    expect([...(await a.get('addr/0'))]).to.deep.equal([0, 255, 7]);
  });

  it('get waits for a later set', async () => {
    const [a, b] = [await connect(), await connect()];
    const got = b.get('late', { timeoutMs: 3000 });
    await new Promise((r) => setTimeout(r, 100));
    await a.set('late', text('here'));
    expect(str(await got)).to.equal('here');
  });

  it('wait resolves once every key exists', async () => {
    const [a, b] = [await connect(), await connect()];
    await a.set('k0', text('x'));
    let done = false;
    const waited = b.wait(['k0', 'k1', 'k2'], { timeoutMs: 3000 }).then(() => (done = true));
    await a.set('k1', text('y'));
    await new Promise((r) => setTimeout(r, 50));
    expect(done).to.equal(false);
    await a.set('k2', text('z'));
    await waited;
    expect(done).to.equal(true);
    await b.wait(['k0', 'k2']); // all present: immediate
  });

  it('add is atomic under 50 concurrent adds from 5 clients', async () => {
    const cs = await Promise.all([0, 1, 2, 3, 4].map(() => connect()));
    const results = await Promise.all(cs.flatMap((c) => Array.from({ length: 10 }, () => c.add('counter', 1))));
    expect([...results].sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await cs[0]!.add('counter', -8)).to.equal(42);
    expect(str(await cs[1]!.get('counter'))).to.equal('42');
  });

  it('add on a non-integer value rejects with ArgumentError and the connection keeps working', async () => {
    const a = await connect();
    await a.set('word', text('hello'));
    const err = await a.add('word', 1).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ArgumentError);
    expect(await a.add('n', 3)).to.equal(3);
  });

  it('get times out with a typed error naming the key and the timeout', async () => {
    const a = await connect();
    const t0 = Date.now();
    const err = await a.get('never', { timeoutMs: 200 }).catch((e: unknown) => e);
    const elapsed = Date.now() - t0;
    expect(err).to.be.instanceOf(RendezvousTimeoutError).and.include({ code: 'ERR_FAIRRING_RENDEZVOUS_TIMEOUT' });
    const e = err as RendezvousTimeoutError;
    expect([e.op, e.code]).to.deep.equal(['get', 'ERR_FAIRRING_RENDEZVOUS_TIMEOUT']);
    expect(e.keys).to.deep.equal(['never']);
    expect(e.timeoutMs).to.equal(200);
    expect(e.message).to.contain('"never"').and.contain('200 ms');
    expect(elapsed).to.be.within(180, 1500);
    // The cancelled wait does not fire later, and the client still works.
    await a.set('never', text('now'));
    expect(str(await a.get('never'))).to.equal('now');
  });

  it('wait times out naming every key', async () => {
    const a = await connect();
    await a.set('have', text('1'));
    const err = await a.wait(['have', 'missing'], { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RendezvousTimeoutError);
    expect((err as Error).message).to.contain('"missing"');
  });

  it('a wrong token is refused on that connection while another client keeps working', async () => {
    const good = await connect();
    const err = await StoreClient.connect(host, port, 'wrong', { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ArgumentError);
    expect((err as Error).message).to.contain('FAIRRING_TOKEN').and.not.contain('job-secret');
    expect(await closedByServer(port, [rawFrame(1, 1, text('nope'))], false)).to.equal(true);
    await good.set('still', text('ok'));
    expect(str(await good.get('still'))).to.equal('ok');
  });

  it('an op before the token closes the connection', async () => {
    expect(await closedByServer(port, [rawFrame(3, 1, Buffer.from([0, 0, 0, 1, 65]))], false)).to.equal(true);
  });

  const hostile: Array<[string, () => Buffer[], boolean]> = [
    ['garbage bytes', () => [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], false],
    ['an oversized length', () => [Buffer.from([0xff, 0xff, 0xff, 0xf0, 1, 2, 3])], false],
    ['a length below the minimum', () => [Buffer.from([0, 0, 0, 1, 1])], false],
    ['a truncated frame, then end', () => [rawFrame(1, 1, text('job-secret')).subarray(0, 8)], true],
    ['a truncated frame, then silence', () => [rawFrame(1, 1, text('job-secret')).subarray(0, 8)], false],
    ['a valid token, then an unknown op', () => [rawFrame(1, 1, text('job-secret')), rawFrame(99, 2)], false],
    ['a valid token, then a malformed key', () => [rawFrame(1, 1, text('job-secret')), rawFrame(3, 2, Buffer.from([0, 0, 1, 0, 65]))], false],
    ['a valid token, then a truncated frame', () => [rawFrame(1, 1, text('job-secret')), rawFrame(2, 2, Buffer.alloc(64)).subarray(0, 20)], false],
  ];
  for (const [what, bytes, end] of hostile) {
    it(`${what} closes that connection; the server still serves`, async () => {
      const before = await connect();
      const waiting = before.get('after', { timeoutMs: 3000 });
      expect(await closedByServer(port, bytes(), end)).to.equal(true);
      const after = await connect();
      await after.set('after', text(what));
      expect(str(await waiting)).to.equal(what);
      expect(await before.add('c', 1)).to.equal(1);
    });
  }

  it('a frame over the client limit is refused before it is sent', async () => {
    const a = await StoreClient.connect(host, port, 'job-secret', { timeoutMs: 2000, maxFrameBytes: 1024 });
    clients.push(a);
    const err = await a.set('big', new Uint8Array(2048)).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ArgumentError);
    await a.set('small', new Uint8Array(10));
  });

  it('a value over the server limit closes the connection; the client sees ClosedError', async () => {
    const a = await StoreClient.connect(host, port, 'job-secret', { timeoutMs: 2000, maxFrameBytes: 4 * 1024 * 1024 });
    clients.push(a);
    const err = await a.set('big', new Uint8Array(2 * 1024 * 1024)).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ClosedError);
    const b = await connect();
    await b.set('fine', text('yes'));
  });

  it('close() rejects requests in flight with ClosedError, on either side', async () => {
    const a = await connect();
    const p = a.get('x');
    a.close();
    expect(await p.catch((e: unknown) => e)).to.be.instanceOf(ClosedError);
    expect(await a.get('x').catch((e: unknown) => e)).to.be.instanceOf(ClosedError);
    const b = await connect();
    const q = b.get('y');
    await server.close();
    expect(await q.catch((e: unknown) => e)).to.be.instanceOf(ClosedError);
  });

  it('connect retries until the store is up', async () => {
    const later = new StoreServer({ token: 't' });
    const probe = net.createServer();
    const freePort = await new Promise<number>((r) => probe.listen(0, host, () => r((probe.address() as net.AddressInfo).port)));
    await new Promise((r) => probe.close(r));
    const connecting = StoreClient.connect(host, freePort, 't', { timeoutMs: 3000 });
    await new Promise((r) => setTimeout(r, 150));
    await later.listen(host, freePort);
    const c = await connecting;
    await c.set('a', text('b'));
    c.close();
    await later.close();
  });

  it('binding to a non-loopback address without a token is refused, saying how to set one', async () => {
    const saved = process.env['FAIRRING_TOKEN'];
    delete process.env['FAIRRING_TOKEN'];
    try {
      const s = new StoreServer();
      const err = await s.listen('0.0.0.0', 0).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(ArgumentError);
      expect((err as ArgumentError).code).to.equal('ERR_FAIRRING_ARGUMENT');
      expect((err as Error).message).to.contain('FAIRRING_TOKEN');
      await s.close();
      // Loopback without a token: a random token is made.
      const local = new StoreServer();
      const p = await local.listen(host, 0);
      expect(local.token).to.have.length.greaterThan(16);
      const c = await StoreClient.connect(host, p, local.token, { timeoutMs: 2000 });
      c.close();
      await local.close();
    } finally {
      if (saved !== undefined) process.env['FAIRRING_TOKEN'] = saved;
    }
  });

  it('close() lets the process exit', async () => {
    const script = `
      import { StoreServer, StoreClient } from ${JSON.stringify(pathToFileURL(storeModule).href)};
      const server = new StoreServer({ token: 'x' });
      const port = await server.listen('127.0.0.1', 0);
      const a = await StoreClient.connect('127.0.0.1', port, 'x', { timeoutMs: 2000 });
      const b = await StoreClient.connect('127.0.0.1', port, 'x', { timeoutMs: 2000 });
      await a.set('k', new Uint8Array([1]));
      await b.get('k');
      await b.add('n', 2);
      await b.get('never', { timeoutMs: 50 }).catch(() => {});
      const pending = a.get('never2');
      pending.catch(() => {});
      a.close(); b.close();
      await server.close();
      console.log('done');
    `;
    const r = await runNodeScript(script, 5000);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('done');
  });
});
