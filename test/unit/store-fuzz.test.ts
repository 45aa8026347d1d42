// The rendezvous store against random input (fast-check, 10,000 connections over real sockets): whatever bytes
// a connection sends (before or after presenting the right token, in frames or not, truncated or oversized),
// the server neither crashes nor stalls: a well-behaved client keeps getting answers throughout.
import { expect } from 'chai';
import fc from 'fast-check';
import net from 'node:net';
import { StoreClient, StoreServer } from '../../src/world/store.js';

const host = '127.0.0.1';
const token = 'fuzz-secret';

function frame(op: number, reqId: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUInt32BE(5 + payload.length, 0);
  b.writeUInt8(op, 4);
  b.writeUInt32BE(reqId >>> 0, 5);
  Buffer.from(payload).copy(b, 9);
  return b;
}

/** Writes the chunks on a fresh connection, then ends it; resolves once the socket is closed (by either side). */
function send(port: number, chunks: Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('close', () => resolve());
    s.on('connect', () => {
      for (const c of chunks) s.write(c);
      s.end();
    });
  });
}

const op = fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 6, 0x80, 0x81), fc.integer({ min: 0, max: 255 }));
const anyFrame = fc.record({ op, reqId: fc.integer({ min: 0, max: 0xffffffff }), payload: fc.uint8Array({ maxLength: 64 }) }).map((f) => frame(f.op, f.reqId, f.payload));
/** A header announcing more (or less) than follows, or a frame cut short. */
const brokenFrame = fc.oneof(
  fc.record({ length: fc.integer({ min: 0, max: 0xffffffff }), rest: fc.uint8Array({ maxLength: 32 }) }).map(({ length, rest }) => {
    const b = Buffer.alloc(4 + rest.length);
    b.writeUInt32BE(length, 0);
    Buffer.from(rest).copy(b, 4);
    return b;
  }),
  anyFrame.chain((f) => fc.integer({ min: 0, max: f.length }).map((cut) => f.subarray(0, cut))),
);
const garbage = fc.uint8Array({ minLength: 1, maxLength: 96 }).map((a) => Buffer.from(a));
const hello = frame(1, 1, new TextEncoder().encode(token));
const connection = fc.record({
  authed: fc.boolean(),
  chunks: fc.array(fc.oneof(anyFrame, brokenFrame, garbage), { minLength: 1, maxLength: 4 }),
});

describe('rendezvous store under random input', function () {
  this.timeout(120_000);

  it('10,000 connections of random frames, broken frames and garbage: no crash, no stall, a good client served throughout', async () => {
    const server = new StoreServer({ token, idleFrameTimeoutMs: 200, maxFrameBytes: 4096 });
    const port = await server.listen(host, 0);
    const good = await StoreClient.connect(host, port, token, { timeoutMs: 5000 });
    let cases = 0;
    try {
      await fc.assert(
        fc.asyncProperty(connection, async ({ authed, chunks }) => {
          await send(port, authed ? [hello, ...chunks] : chunks);
          if (++cases % 500 === 0) {
            await good.set(`k${cases}`, new TextEncoder().encode(String(cases)), { timeoutMs: 2000 });
            expect(new TextDecoder().decode(await good.get(`k${cases}`, { timeoutMs: 2000 }))).to.equal(String(cases));
          }
        }),
        { numRuns: 10_000 },
      );
      expect(cases).to.equal(10_000);
      // The server is still whole: a fresh client connects and counts atomically.
      const late = await StoreClient.connect(host, port, token, { timeoutMs: 5000 });
      expect(await late.add('n', 2)).to.equal(2);
      late.close();
    } finally {
      good.close();
      await server.close();
    }
  });
});
