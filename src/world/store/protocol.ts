// The store's wire format and shared pieces: every frame is `u32 length (big-endian, bytes after the length) | u8 op |
// u32 request id | payload`, at most maxFrameBytes; a longer length is refused before its body is read.
import { createHash } from 'node:crypto';

/** Default limit of one frame (op, request id and payload), both directions. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
const HEADER = 4;
export const MIN_BODY = 5; // op + request id

export const Op = { hello: 1, set: 2, get: 3, wait: 4, add: 5, cancel: 6, ok: 0x80, error: 0x81 } as const;

export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase();
  return h === 'localhost' || h === '::1' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

export function tokenFromEnv(): string | undefined {
  const t = process.env['FAIRRING_TOKEN'];
  return t === undefined || t === '' ? undefined : t;
}

export function digest(s: string | Buffer): Buffer {
  return createHash('sha256').update(s).digest();
}

export function frame(op: number, reqId: number, ...parts: Uint8Array[]): Buffer {
  const len = MIN_BODY + parts.reduce((n, p) => n + p.byteLength, 0);
  const head = Buffer.alloc(HEADER + MIN_BODY);
  head.writeUInt32BE(len, 0);
  head.writeUInt8(op, 4);
  head.writeUInt32BE(reqId >>> 0, 5);
  return Buffer.concat([head, ...parts]);
}

export function encodeKey(key: string): Buffer {
  const k = Buffer.from(key, 'utf8');
  const b = Buffer.alloc(4 + k.length);
  b.writeUInt32BE(k.length, 0);
  k.copy(b, 4);
  return b;
}

/** Reads `u32 length | utf8` at `at`; null when malformed. */
export function decodeKey(buf: Buffer, at: number): { key: string; next: number } | null {
  if (at + 4 > buf.length) return null;
  const n = buf.readUInt32BE(at);
  if (n === 0 || at + 4 + n > buf.length) return null;
  return { key: buf.toString('utf8', at + 4, at + 4 + n), next: at + 4 + n };
}

/**
 * Splits a byte stream into frames. `onFrame` gets (op, reqId, payload); returns false on a protocol error (the
 * caller closes the connection).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly maxFrameBytes: number) {}

  get pending(): number {
    return this.size;
  }

  push(chunk: Buffer, onFrame: (op: number, reqId: number, payload: Buffer) => boolean): boolean {
    this.chunks.push(chunk);
    this.size += chunk.length;
    for (;;) {
      if (this.size < HEADER) return true;
      if (this.chunks[0]!.length < HEADER) this.chunks = [Buffer.concat(this.chunks)];
      const len = this.chunks[0]!.readUInt32BE(0);
      if (len < MIN_BODY || len > this.maxFrameBytes) return false;
      if (this.size < HEADER + len) return true; // concatenate only once the frame is whole
      const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const op = buf.readUInt8(HEADER);
      const reqId = buf.readUInt32BE(HEADER + 1);
      const payload = buf.subarray(HEADER + MIN_BODY, HEADER + len);
      const rest = buf.subarray(HEADER + len);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.size = rest.length;
      if (!onFrame(op, reqId, payload)) return false;
    }
  }
}
