// The store's server: one per job, on rank 0 (see ./protocol.ts for the wire format).
import net from 'node:net';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { ArgumentError, ClosedError } from '../../errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameReader, Op, decodeKey, digest, frame, isLoopback, tokenFromEnv } from './protocol.js';

export interface StoreServerOptions {
  /** The job's shared secret; default FAIRRING_TOKEN, else a random one (loopback binds only), readable as `token`. */
  token?: string;
  /** Largest frame accepted (default 16 MiB). */
  maxFrameBytes?: number;
  /** A connection that has not presented its token, or leaves a frame unfinished, this long is closed (default 10000). */
  idleFrameTimeoutMs?: number;
}

interface Waiter {
  conn: Conn;
  reqId: number;
  keys: string[];
  missing: number;
  reply: () => void;
}

interface Conn {
  socket: net.Socket;
  authed: boolean;
  waiters: Map<number, Waiter>;
}

/** The store: one per job, on rank 0. */
export class StoreServer {
  /** The token clients must present. */
  readonly token: string;
  private readonly tokenDigest: Buffer;
  private readonly explicitToken: boolean;
  private readonly maxFrameBytes: number;
  private readonly idleMs: number;
  private server: net.Server | null = null;
  private closed = false;
  private readonly conns = new Set<Conn>();
  private readonly data = new Map<string, Buffer>();
  private readonly waitersByKey = new Map<string, Set<Waiter>>();

  constructor(options: StoreServerOptions = {}) {
    const token = options.token ?? tokenFromEnv();
    if (token !== undefined && token === '') throw new ArgumentError('StoreServer token must not be empty');
    this.explicitToken = token !== undefined;
    this.token = token ?? randomBytes(24).toString('hex');
    this.tokenDigest = digest(this.token);
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isSafeInteger(this.maxFrameBytes) || this.maxFrameBytes < 64 || this.maxFrameBytes > 0xffffffff)
      throw new ArgumentError(`StoreServer maxFrameBytes=${String(options.maxFrameBytes)} must be an integer in [64, 2^32-1]`);
    this.idleMs = options.idleFrameTimeoutMs ?? 10000;
    if (!(this.idleMs > 0)) throw new ArgumentError(`StoreServer idleFrameTimeoutMs=${String(options.idleFrameTimeoutMs)} must be > 0`);
  }

  /** Binds and listens; resolves to the bound port (pass 0 for any free one). */
  listen(host: string, port: number): Promise<number> {
    if (this.closed) return Promise.reject(new ClosedError('StoreServer was closed'));
    if (this.server !== null) return Promise.reject(new ArgumentError('StoreServer is already listening'));
    if (!Number.isInteger(port) || port < 0 || port > 65535) return Promise.reject(new ArgumentError(`store port ${String(port)} is not a port (0..65535)`));
    if (!isLoopback(host) && !this.explicitToken)
      return Promise.reject(
        new ArgumentError(
          `refusing to bind the store to ${host}, which is not a loopback address, without a token: ` +
            `set FAIRRING_TOKEN to the same secret on every rank (e.g. export FAIRRING_TOKEN=$(openssl rand -hex 24)), or pass { token }`,
        ),
      );
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', () => {}); // accept errors (EMFILE…) must not crash the process
        const addr = server.address();
        resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
      });
    });
  }

  /**
   * Resolves once no client is connected, or after timeoutMs: a rank 0 that gives up lets the others reach their
   * own timeouts (and name what they waited for) before its store goes away.
   */
  async drained(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.conns.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /** Stops listening and closes every connection; waiting requests are dropped (their clients see ClosedError). */
  close(): Promise<void> {
    this.closed = true;
    for (const c of this.conns) c.socket.destroy();
    this.conns.clear();
    this.waitersByKey.clear();
    const server = this.server;
    if (server === null || !server.listening) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn: Conn = { socket, authed: false, waiters: new Map() };
    this.conns.add(conn);
    const reader = new FrameReader(this.maxFrameBytes);
    let timer: NodeJS.Timeout | null = null;
    const arm = (): void => {
      const needed = !conn.authed || reader.pending > 0;
      if (needed && timer === null) {
        timer = setTimeout(() => socket.destroy(), this.idleMs);
        timer.unref();
      } else if (!needed && timer !== null) {
        clearTimeout(timer);
        timer = null;
      }
    };
    arm();
    socket.on('data', (chunk: Buffer) => {
      const ok = reader.push(chunk, (op, reqId, payload) => this.handle(conn, op, reqId, payload));
      if (!ok) socket.destroy();
      else arm();
    });
    socket.on('end', () => socket.destroy()); // a half-sent frame at end is a truncated frame: drop the connection
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (timer !== null) clearTimeout(timer);
      this.conns.delete(conn);
      for (const w of conn.waiters.values()) this.dropWaiter(w);
      conn.waiters.clear();
    });
  }

  private send(conn: Conn, op: number, reqId: number, ...parts: Uint8Array[]): void {
    if (!conn.socket.destroyed) conn.socket.write(frame(op, reqId, ...parts));
  }

  private handle(conn: Conn, op: number, reqId: number, p: Buffer): boolean {
    if (!conn.authed) {
      if (op !== Op.hello) return false;
      if (!timingSafeEqual(digest(p), this.tokenDigest)) {
        this.send(conn, Op.error, reqId, Buffer.from('wrong token: set the same FAIRRING_TOKEN on every rank'));
        conn.socket.end();
        return false;
      }
      conn.authed = true;
      this.send(conn, Op.ok, reqId);
      return true;
    }
    switch (op) {
      case Op.set: {
        const k = decodeKey(p, 0);
        if (k === null) return false;
        this.data.set(k.key, Buffer.from(p.subarray(k.next)));
        this.send(conn, Op.ok, reqId);
        this.wake(k.key);
        return true;
      }
      case Op.get: {
        const k = decodeKey(p, 0);
        if (k === null || k.next !== p.length) return false;
        this.await(conn, reqId, [k.key], () => this.send(conn, Op.ok, reqId, this.data.get(k.key)!));
        return true;
      }
      case Op.wait: {
        if (p.length < 4) return false;
        const n = p.readUInt32BE(0);
        const keys: string[] = [];
        let at = 4;
        for (let i = 0; i < n; i++) {
          const k = decodeKey(p, at);
          if (k === null) return false;
          keys.push(k.key);
          at = k.next;
        }
        if (at !== p.length) return false;
        this.await(conn, reqId, keys, () => this.send(conn, Op.ok, reqId));
        return true;
      }
      case Op.add: {
        const k = decodeKey(p, 0);
        if (k === null || k.next + 8 !== p.length) return false;
        const delta = p.readBigInt64BE(k.next);
        const old = this.data.get(k.key);
        const text = old === undefined ? '0' : old.toString('utf8');
        if (!/^-?\d+$/.test(text)) {
          this.send(conn, Op.error, reqId, Buffer.from(`store key ${JSON.stringify(k.key)} does not hold an integer; add() cannot apply`));
          return true;
        }
        const value = Buffer.from((BigInt(text) + delta).toString(), 'utf8');
        this.data.set(k.key, value);
        this.send(conn, Op.ok, reqId, value);
        this.wake(k.key);
        return true;
      }
      case Op.cancel: {
        if (p.length !== 0) return false;
        const w = conn.waiters.get(reqId);
        if (w !== undefined) {
          conn.waiters.delete(reqId);
          this.dropWaiter(w);
        }
        return true;
      }
      default:
        return false;
    }
  }

  private await(conn: Conn, reqId: number, keys: string[], reply: () => void): void {
    const missing = [...new Set(keys)].filter((k) => !this.data.has(k));
    if (missing.length === 0) {
      reply();
      return;
    }
    const w: Waiter = { conn, reqId, keys: missing, missing: missing.length, reply };
    conn.waiters.set(reqId, w);
    for (const k of missing) {
      let set = this.waitersByKey.get(k);
      if (set === undefined) this.waitersByKey.set(k, (set = new Set()));
      set.add(w);
    }
  }

  private dropWaiter(w: Waiter): void {
    for (const k of w.keys) {
      const set = this.waitersByKey.get(k);
      set?.delete(w);
      if (set?.size === 0) this.waitersByKey.delete(k);
    }
  }

  private wake(key: string): void {
    const set = this.waitersByKey.get(key);
    if (set === undefined) return;
    this.waitersByKey.delete(key);
    for (const w of set) {
      if (--w.missing === 0) {
        w.conn.waiters.delete(w.reqId);
        w.reply();
      }
    }
  }
}
