// The store's client: one per process (see ./protocol.ts for the wire format).
import net from 'node:net';
import { ArgumentError, ClosedError } from '../../errors.js';
import { RendezvousTimeoutError } from '../../errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameReader, MIN_BODY, Op, encodeKey, frame } from './protocol.js';

export interface StoreClientOptions {
  /** How long connect() retries an unreachable store and waits for the token to be accepted (default 30000). */
  timeoutMs?: number;
  /** Largest frame sent or accepted (default 16 MiB); must match the server's. */
  maxFrameBytes?: number;
}

interface Pending {
  resolve: (payload: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
  /** Does not keep the process alive. */
  background: boolean;
}

/** A pause between connection attempts; it keeps the process alive, as the connect() waiting on it is. */
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function checkTimeout(timeoutMs: number | undefined, what: string): number | undefined {
  if (timeoutMs === undefined) return undefined;
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs))
    throw new ArgumentError(`${what} timeoutMs=${String(timeoutMs)} must be a positive finite number`);
  return timeoutMs;
}

/** One process's connection to the store. Idle, it does not keep the process alive. */
export class StoreClient {
  private readonly pending = new Map<number, Pending>();
  /** Requests in flight that keep the process alive. */
  private foreground = 0;
  private nextId = 1;
  private closedError: Error | null = null;

  private constructor(
    private readonly socket: net.Socket,
    private readonly maxFrameBytes: number,
  ) {
    const reader = new FrameReader(maxFrameBytes);
    socket.on('data', (chunk: Buffer) => {
      const ok = reader.push(chunk, (op, reqId, payload) => this.onReply(op, reqId, payload));
      if (!ok) this.fail(new ClosedError('store sent a malformed frame; connection closed'));
    });
    socket.on('error', (e) => this.fail(new ClosedError(`store connection failed: ${e.message}`, { cause: e })));
    socket.on('close', () => this.fail(new ClosedError('store connection closed')));
    socket.unref();
    if (socket.destroyed) this.fail(new ClosedError('store connection closed'));
  }

  /** Connects (retrying while the store is not up yet) and presents the token. */
  static async connect(host: string, port: number, token: string, options: StoreClientOptions = {}): Promise<StoreClient> {
    if (typeof token !== 'string' || token === '') throw new ArgumentError('StoreClient.connect needs the job token (FAIRRING_TOKEN, or StoreServer.token)');
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new ArgumentError(`store port ${String(port)} is not a port (1..65535)`);
    const timeoutMs = checkTimeout(options.timeoutMs, 'StoreClient.connect') ?? 30000;
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown = null;
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      let socket: net.Socket;
      try {
        socket = await openSocket(host, port, left);
      } catch (e) {
        lastError = e;
        await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
        continue;
      }
      const client = new StoreClient(socket, maxFrameBytes);
      try {
        await client.request(Op.hello, [Buffer.from(token, 'utf8')], Math.max(1, deadline - Date.now()), 'connect', [], `to ${host}:${port}`);
        return client;
      } catch (e) {
        client.close();
        throw e;
      }
    }
    const err = new RendezvousTimeoutError('connect', [], timeoutMs, `to ${host}:${port}`);
    if (lastError instanceof Error) err.message += ` (last error: ${lastError.message})`;
    throw err;
  }

  /** The local address of the connection: the interface this host reaches the store through. */
  get localAddress(): string {
    const a = this.socket.localAddress ?? '127.0.0.1';
    return a.startsWith('::ffff:') ? a.slice(7) : a;
  }

  /** Stores `value` under `key` (replacing any), waking every get/wait on it. */
  async set(key: string, value: Uint8Array, options: { timeoutMs?: number } = {}): Promise<void> {
    checkKey(key);
    if (!(value instanceof Uint8Array)) throw new ArgumentError('store set() value must be a Uint8Array');
    await this.request(Op.set, [encodeKey(key), value], checkTimeout(options.timeoutMs, 'set'), 'set', [key], `of ${JSON.stringify(key)}`);
  }

  /** The value of `key`, waiting until some client sets it. */
  async get(key: string, options: { timeoutMs?: number } = {}): Promise<Uint8Array> {
    checkKey(key);
    const p = await this.request(Op.get, [encodeKey(key)], checkTimeout(options.timeoutMs, 'get'), 'get', [key], `of ${JSON.stringify(key)}`);
    return new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
  }

  /**
   * Resolves once every key exists. With `background`, the wait does not keep the process alive (a standing
   * wait for something that may never happen).
   */
  async wait(keys: readonly string[], options: { timeoutMs?: number; background?: boolean } = {}): Promise<void> {
    if (!Array.isArray(keys)) throw new ArgumentError('store wait() needs an array of keys');
    keys.forEach(checkKey);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(keys.length, 0);
    const what = `of ${keys.map((k) => JSON.stringify(k)).join(', ')}`;
    await this.request(Op.wait, [head, ...keys.map(encodeKey)], checkTimeout(options.timeoutMs, 'wait'), 'wait', [...keys], what, options.background === true);
  }

  /** Atomically adds `delta` to the integer at `key` (missing: 0) and returns the new value; stored as decimal text. */
  async add(key: string, delta: number, options: { timeoutMs?: number } = {}): Promise<number> {
    checkKey(key);
    if (!Number.isSafeInteger(delta)) throw new ArgumentError(`store add() delta=${String(delta)} must be a safe integer`);
    const d = Buffer.alloc(8);
    d.writeBigInt64BE(BigInt(delta), 0);
    const p = await this.request(Op.add, [encodeKey(key), d], checkTimeout(options.timeoutMs, 'add'), 'add', [key], `of ${JSON.stringify(key)}`);
    return Number(p.toString('utf8'));
  }

  /** Closes the connection; requests in flight reject with ClosedError. */
  close(): void {
    this.fail(new ClosedError('store client was closed'));
  }

  private request(op: number, parts: Uint8Array[], timeoutMs: number | undefined, name: RendezvousTimeoutError['op'], keys: string[], what: string, background = false): Promise<Buffer> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    const size = MIN_BODY + parts.reduce((n, p) => n + p.byteLength, 0);
    if (size > this.maxFrameBytes) return Promise.reject(new ArgumentError(`store ${name} ${what}: ${size} bytes exceed maxFrameBytes=${this.maxFrameBytes}`));
    const reqId = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    return new Promise<Buffer>((resolve, reject) => {
      const entry: Pending = { resolve, reject, timer: null, background };
      if (timeoutMs !== undefined) {
        entry.timer = setTimeout(() => {
          this.settle(reqId);
          if (!this.socket.destroyed) this.socket.write(frame(Op.cancel, reqId));
          reject(new RendezvousTimeoutError(name, keys, timeoutMs, what));
        }, timeoutMs);
        if (background) entry.timer.unref();
      }
      this.pending.set(reqId, entry);
      // A request in flight keeps the process alive, unless it waits in the background.
      if (!background) {
        this.foreground++;
        this.socket.ref();
      }
      this.socket.write(frame(op, reqId, ...parts));
    });
  }

  private settle(reqId: number): Pending | undefined {
    const p = this.pending.get(reqId);
    if (p === undefined) return undefined;
    this.pending.delete(reqId);
    if (p.timer !== null) clearTimeout(p.timer);
    if (!p.background && --this.foreground === 0) this.socket.unref();
    return p;
  }

  private onReply(op: number, reqId: number, payload: Buffer): boolean {
    if (op !== Op.ok && op !== Op.error) return false;
    const p = this.settle(reqId);
    if (p === undefined) return true; // a reply to a request that timed out
    if (op === Op.ok) p.resolve(Buffer.from(payload));
    else {
      const msg = payload.toString('utf8');
      p.reject(msg.startsWith('wrong token') ? new ArgumentError(`store refused the token: ${msg}`) : new ArgumentError(msg));
    }
    return true;
  }

  private fail(err: Error): void {
    if (this.closedError === null) this.closedError = err;
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(this.closedError);
    this.socket.destroy();
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new ArgumentError(`store key ${JSON.stringify(key)} must be a non-empty string`);
}

function openSocket(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${host}:${port} timed out`));
    }, timeoutMs);
    timer.unref();
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.on('error', () => {}); // until the client's own handlers are attached
      resolve(socket);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    });
  });
}
