// Packed programs (src/native.ts: OpCode): decoded and checked as a whole against a queue's registrations
// before anything is issued, with the rules and messages of the native parser (native/src/queue.cc). Errors
// are RangeError or TypeError whose message starts `ops[<ordinal of the op>] (<kind>): ` and names the field.
import {
  collectiveKinds,
  dtypes,
  OpCode,
  opWidth,
  RecordMode,
  reduceOps,
  type CollectiveKind,
  type DType,
  type ReduceOp,
} from '../../../src/native.js';
import { elementSize } from '../../../src/runtime/dtype.js';
import { deviceLabel, sameDevice, type VirtualDevice } from './device.js';
import { index, maxDivisor } from './validation.js';

export type RecordModeCode = (typeof RecordMode)[keyof typeof RecordMode];

/** What a program is checked against: the queue's registrations and the records issued so far. */
export interface ProgramScope {
  stream(index: number): { readonly device: VirtualDevice; readonly closed: boolean } | undefined;
  buffer(index: number): { readonly device: VirtualDevice; readonly bytes: number; readonly closed: boolean } | undefined;
  comm(index: number): { readonly device: VirtualDevice; readonly rank: number; readonly size: number; readonly closed: boolean } | undefined;
  /** How many streams are registered. */
  streams(): number;
  /** Records issued so far on a registered stream. */
  records(stream: number): number;
  /** Whether issued record `seq` of `stream` is a timing start no timing end has been paired with yet. */
  isOpenStart(stream: number, seq: number): boolean;
}

/** Bytes of a registered buffer from `offset` on. */
export interface Span {
  readonly buffer: number;
  readonly offset: number;
}

export interface ProgramItem {
  readonly kind: CollectiveKind;
  readonly stream: number;
  readonly comm: number;
  readonly dtype: DType;
  readonly count: number;
  /** Only for allReduce and reduceScatter. */
  readonly op: ReduceOp | null;
  /** Absent for recv. */
  readonly send: Span | null;
  /** Absent for send. */
  readonly recv: Span | null;
  /** Only for send and recv. */
  readonly peer: number | null;
}

export type ProgramOp =
  | { readonly kind: 'wait'; readonly stream: number; readonly onStream: number; readonly seq: number }
  | { readonly kind: 'record'; readonly stream: number; readonly mode: RecordModeCode; readonly startSeq: number }
  | { readonly kind: 'copy'; readonly stream: number; readonly dst: Span; readonly src: Span; readonly bytes: number }
  | {
      readonly kind: 'reduce';
      readonly stream: number;
      readonly dtype: DType;
      readonly op: ReduceOp;
      readonly count: number;
      readonly divisor: number;
      readonly dst: Span;
      readonly inputs: readonly Span[];
    }
  | { readonly kind: 'group'; readonly items: readonly ProgramItem[] };

export interface Program {
  readonly ops: readonly ProgramOp[];
  /** Records the program makes on each stream. */
  readonly records: ReadonlyMap<number, number>;
}

type OpKind = keyof typeof OpCode;
const opKinds = new Map<number, OpKind>(Object.entries(OpCode).map(([kind, code]) => [code, kind as OpKind]));
const recordModes: readonly RecordModeCode[] = Object.values(RecordMode);

/** The fields of one op and its errors, which start `ops[<ordinal>] (<kind>): ` (plus `items[j] (<kind>): `). */
class OpReader {
  readonly #ops: Float64Array;
  readonly #at: number;
  readonly #end: number;
  readonly #prefix: string;
  #item = '';
  #next: number;

  constructor(ops: Float64Array, at: number, end: number, ordinal: number, kind: OpKind) {
    this.#ops = ops;
    this.#at = at;
    this.#end = end;
    this.#prefix = `ops[${ordinal}] (${kind}): `;
    this.#next = at + 1;
  }

  /** Where the next op starts, once this one has been read. */
  get next(): number {
    return this.#next;
  }

  /** Names group item `j` (and its kind, once known) in the errors that follow. */
  item(j: number, kind?: CollectiveKind): void {
    this.#item = `items[${j}]${kind === undefined ? '' : ` (${kind})`}: `;
  }

  /** Requires `width` fields, the code included, before the end of the program. */
  need(width: number): void {
    if (this.#at + width > this.#end) {
      throw this.range(`truncated: needs ${width} fields, ${this.#end - this.#at} left before length ${this.#end}`);
    }
  }

  /** The next field, unchecked. */
  raw(): number {
    return this.#ops[this.#next++] ?? Number.NaN;
  }

  index(name: string, v: number = this.raw()): number {
    if (!Number.isSafeInteger(v) || v < 0) throw this.range(`${name} must be a non-negative integer, got ${v}`);
    return v;
  }

  /** A code: an index into `table`. */
  code<T>(name: string, table: readonly T[], v: number = this.raw()): T {
    const code = this.index(name, v);
    const found = table[code];
    if (found === undefined) throw this.range(`${name} ${code} is not below ${table.length}`);
    return found;
  }

  /** A field the item's kind does not use. */
  unused(name: string, kind: CollectiveKind, v: number): void {
    if (v !== -1) throw this.range(`${name} must be -1 (unused by ${kind}), got ${v}`);
  }

  range(message: string): RangeError {
    return new RangeError(this.#prefix + this.#item + message);
  }

  type(message: string): TypeError {
    return new TypeError(this.#prefix + this.#item + message);
  }
}

/** Where an op's stream is: its index and device. */
interface On {
  readonly index: number;
  readonly device: VirtualDevice;
}

class Checker {
  readonly #scope: ProgramScope;
  /** Records made so far by the program, per stream. */
  readonly #made = new Map<number, number>();
  /** Timing starts the program has made and paired so far, as `${stream}:${seq}`. */
  readonly #started = new Set<string>();
  readonly #paired = new Set<string>();

  constructor(scope: ProgramScope) {
    this.#scope = scope;
  }

  get made(): ReadonlyMap<number, number> {
    return this.#made;
  }

  decode(r: OpReader, kind: OpKind): ProgramOp {
    switch (kind) {
      case 'wait':
        return this.#wait(r);
      case 'record':
        return this.#record(r);
      case 'copy':
        return this.#copy(r);
      case 'reduce':
        return this.#reduce(r);
      case 'group':
        return this.#group(r);
    }
  }

  #records(stream: number): number {
    return this.#scope.records(stream) + (this.#made.get(stream) ?? 0);
  }

  #stream(r: OpReader, name: string, v: number = r.raw()): On {
    const index = r.index(name, v);
    const s = this.#scope.stream(index);
    if (s === undefined) throw r.range(`${name} ${index} is not a registered stream (${this.#scope.streams()} registered)`);
    if (s.closed) throw r.type(`${name} ${index} is closed`);
    return { index, device: s.device };
  }

  /** Bytes [offset, offset + bytes) of a registered buffer on the stream's device, `offset` aligned to `esz`. */
  #span(r: OpReader, on: On, names: readonly [string, string], fields: readonly [number, number], bytes: number, esz: number): Span {
    const [name, offsetName] = names;
    const index = r.index(name, fields[0]);
    const b = this.#scope.buffer(index);
    if (b === undefined) throw r.range(`${name} ${index} is not a registered buffer`);
    const offset = r.index(offsetName, fields[1]);
    if (b.closed) throw r.type(`${name} (buffer ${index}) is closed`);
    if (!sameDevice(b.device, on.device)) {
      throw r.type(`${name} (buffer ${index}) lives on ${deviceLabel(b.device)}, stream ${on.index} on ${deviceLabel(on.device)}`);
    }
    if (offset % esz !== 0) throw r.range(`${offsetName} ${offset} is not a multiple of the element size ${esz}`);
    if (offset > b.bytes || bytes > b.bytes - offset) {
      throw r.range(`bytes ${bytes} at ${offsetName} ${offset} exceed buffer ${index} (${b.bytes} bytes)`);
    }
    return { buffer: index, offset };
  }

  #wait(r: OpReader): ProgramOp {
    r.need(opWidth.wait);
    const stream = this.#stream(r, 'stream').index;
    const onStream = this.#stream(r, 'onStream').index;
    const seq = r.index('seq');
    const made = this.#records(onStream);
    if (seq === 0 || seq > made) throw r.range(`seq ${seq} is not a record of stream ${onStream} (${made} recorded by then)`);
    return { kind: 'wait', stream, onStream, seq };
  }

  #record(r: OpReader): ProgramOp {
    r.need(opWidth.record);
    const stream = this.#stream(r, 'stream').index;
    const mode = r.code('mode', recordModes);
    const startField = r.raw();
    const seq = this.#records(stream) + 1;
    this.#made.set(stream, (this.#made.get(stream) ?? 0) + 1);
    if (mode === RecordMode.timingStart) this.#started.add(`${stream}:${seq}`);
    let startSeq = 0;
    if (mode === RecordMode.timingEnd) {
      startSeq = r.index('startSeq', startField);
      const start = `${stream}:${startSeq}`;
      const open = this.#scope.isOpenStart(stream, startSeq) || this.#started.has(start);
      if (!open || this.#paired.has(start)) throw r.range(`startSeq ${startSeq} is not an unpaired timing start of stream ${stream}`);
      this.#paired.add(start);
    }
    return { kind: 'record', stream, mode, startSeq };
  }

  #copy(r: OpReader): ProgramOp {
    r.need(opWidth.copy);
    const on = this.#stream(r, 'stream');
    const [dst, dstOffset, src, srcOffset] = [r.raw(), r.raw(), r.raw(), r.raw()];
    const bytes = r.index('bytes');
    return {
      kind: 'copy',
      stream: on.index,
      dst: this.#span(r, on, ['dst', 'dstOffset'], [dst, dstOffset], bytes, 1),
      src: this.#span(r, on, ['src', 'srcOffset'], [src, srcOffset], bytes, 1),
      bytes,
    };
  }

  #reduce(r: OpReader): ProgramOp {
    r.need(opWidth.reduceBase);
    const on = this.#stream(r, 'stream');
    const dtype = r.code('dtype', dtypes);
    const op = r.code('redop', reduceOps);
    const count = r.index('count');
    const divisor = r.index('divisor');
    if (divisor === 0 || divisor > maxDivisor) throw r.range(`divisor ${divisor} is not between 1 and 2^32-1`);
    const esz = elementSize(dtype);
    const bytes = count * esz;
    const dst = this.#span(r, on, ['dst', 'dstOffset'], [r.raw(), r.raw()], bytes, esz);
    const k = r.index('k');
    if (k === 0) throw r.range('k must be at least 1');
    r.need(opWidth.reduceBase + 2 * k);
    const inputs = Array.from({ length: k }, () => this.#span(r, on, ['input buffer', 'input offset'], [r.raw(), r.raw()], bytes, esz));
    return { kind: 'reduce', stream: on.index, dtype, op, count, divisor, dst, inputs };
  }

  #group(r: OpReader): ProgramOp {
    r.need(opWidth.groupBase);
    const n = r.index('n');
    if (n === 0) throw r.range('n must be at least 1');
    r.need(opWidth.groupBase + n * opWidth.groupItem);
    return { kind: 'group', items: Array.from({ length: n }, (_, j) => this.#item(r, j)) };
  }

  #item(r: OpReader, j: number): ProgramItem {
    r.item(j);
    // Read in layout order (opWidth.groupItem fields), checked in the native order.
    const [kindField, streamField, commField, dtypeField, redop, countField] = [r.raw(), r.raw(), r.raw(), r.raw(), r.raw(), r.raw()];
    const [send, sendOffset, recv, recvOffset, peerField] = [r.raw(), r.raw(), r.raw(), r.raw(), r.raw()];
    const kind = r.code('kind', collectiveKinds, kindField);
    r.item(j, kind);
    const on = this.#stream(r, 'stream', streamField);
    const comm = r.index('comm', commField);
    const c = this.#scope.comm(comm);
    if (c === undefined) throw r.range(`comm ${comm} is not a registered comm`);
    if (c.closed) throw r.type(`comm ${comm} is closed`);
    if (!sameDevice(c.device, on.device)) {
      throw r.type(`comm ${comm} (rank ${c.rank}) lives on ${deviceLabel(c.device)}, stream ${on.index} on ${deviceLabel(on.device)}`);
    }
    const dtype = r.code('dtype', dtypes, dtypeField);
    const reduces = kind === 'allReduce' || kind === 'reduceScatter';
    const op = reduces ? r.code('redop', reduceOps, redop) : null;
    if (!reduces) r.unused('redop', kind, redop);
    const count = r.index('count', countField);
    const esz = elementSize(dtype);
    let sendSpan: Span | null = null;
    if (kind === 'recv') {
      r.unused('send', kind, send);
      r.unused('sendOffset', kind, sendOffset);
    } else {
      const bytes = count * esz * (kind === 'reduceScatter' ? c.size : 1);
      sendSpan = this.#span(r, on, ['send', 'sendOffset'], [send, sendOffset], bytes, esz);
    }
    let recvSpan: Span | null = null;
    if (kind === 'send') {
      r.unused('recv', kind, recv);
      r.unused('recvOffset', kind, recvOffset);
    } else {
      const bytes = count * esz * (kind === 'allGather' ? c.size : 1);
      recvSpan = this.#span(r, on, ['recv', 'recvOffset'], [recv, recvOffset], bytes, esz);
    }
    let peer: number | null = null;
    if (kind === 'send' || kind === 'recv') {
      peer = r.index('peer', peerField);
      if (peer >= c.size) throw r.range(`peer ${peer} is not below the comm size ${c.size}`);
    } else {
      r.unused('peer', kind, peerField);
    }
    return { kind, stream: on.index, comm, dtype, count, op, send: sendSpan, recv: recvSpan, peer };
  }
}

/** Decodes `ops[0, length)`, checking every op against `scope` and the records made before it. */
export function decodeProgram(ops: Float64Array, length: number, scope: ProgramScope): Program {
  if (!(ops instanceof Float64Array)) throw new TypeError('ops must be a Float64Array');
  index(length, 'length');
  if (length > ops.length) throw new RangeError(`length ${length} exceeds ops.length ${ops.length}`);
  const checker = new Checker(scope);
  const decoded: ProgramOp[] = [];
  for (let at = 0; at < length; ) {
    const code = ops[at] ?? Number.NaN;
    const kind = opKinds.get(code);
    if (kind === undefined) throw new RangeError(`ops[${decoded.length}]: unknown op code ${code} at index ${at}`);
    const r = new OpReader(ops, at, length, decoded.length, kind);
    decoded.push(checker.decode(r, kind));
    at = r.next;
  }
  return { ops: decoded, records: checker.made };
}
