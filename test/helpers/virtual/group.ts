// Groups of collectives across streams: every participant waits at the rendezvous for the last one to reach
// the group in its queue, and the group ends on all of them at once.
import { collectiveKinds, type GroupItem, type NativeBuffer } from '../../../src/native.js';
import { elementSize } from '../../../src/runtime/dtype.js';
import { view } from './buffers.js';
import type { CommState } from './comms.js';
import type { VirtualContext } from './context.js';
import { deviceLabel, sameDevice } from './device.js';
import type { VirtualOp } from './model.js';
import { readyAt, type StreamState } from './streams.js';
import { dtypeOf, index, reduceOpOf } from './validation.js';

interface CheckedItem {
  stream: StreamState;
  comm: CommState;
  /** The item's largest per-rank message. */
  bytes: number;
}

/** Validates one item like the native group(). */
function checkItem(ctx: VirtualContext, item: GroupItem, name: string): CheckedItem {
  if (typeof item !== 'object' || item === null) throw new TypeError(`${name} must be an object`);
  if (!collectiveKinds.includes(item.kind)) throw new TypeError(`${name}.kind must be one of ${collectiveKinds.join(', ')}`);
  const stream = ctx.streams.get(item.stream, `${name}.stream`);
  const comm = ctx.comms.get(item.comm, `${name}.comm`);
  const count = index(item.count, `${name}.count`);
  const dtype = dtypeOf(item.dtype, `${name}.dtype`);
  if (!sameDevice(comm.device, stream.device)) {
    throw new TypeError(`${name}: comm rank lives on ${deviceLabel(comm.device)}, stream on ${deviceLabel(stream.device)}`);
  }
  const esz = elementSize(dtype);
  const sendBytes = count * esz * (item.kind === 'reduceScatter' ? comm.size : 1);
  const recvBytes = count * esz * (item.kind === 'allGather' ? comm.size : 1);
  if (item.kind === 'allReduce' || item.kind === 'reduceScatter') reduceOpOf(item.op, `${name}.op`);
  if (item.kind === 'send' || item.kind === 'recv') {
    const peer = index(item.peer, `${name}.peer`);
    if (peer >= comm.size) throw new RangeError(`${name}.peer ${peer} is not below the comm size ${comm.size}`);
  }
  const side = (buffer: NativeBuffer | undefined, offset: number | undefined, bytes: number, field: string): void => {
    const off = offset === undefined ? 0 : index(offset, `${name}.${field}Offset`);
    if (off % esz !== 0) throw new RangeError(`${name}.${field} offset is not a multiple of the element size`);
    view(ctx, buffer, stream.device, off, bytes, `${name}.${field}`);
  };
  if (item.kind !== 'recv') side(item.send, item.sendOffset, sendBytes, 'send');
  if (item.kind !== 'send') side(item.recv, item.recvOffset, recvBytes, 'recv');
  const bytes = item.kind === 'send' ? sendBytes : item.kind === 'recv' ? recvBytes : Math.max(sendBytes, recvBytes);
  return { stream, comm, bytes };
}

export function group(ctx: VirtualContext, items: readonly GroupItem[]): void {
  if (!Array.isArray(items)) throw new TypeError('items must be an array');
  const checked = items.map((item, i) => checkItem(ctx, item, `items[${i}]`));
  const first = checked[0];
  if (first === undefined) return;
  if (checked.some((c) => c.stream.device.backend !== first.stream.device.backend)) {
    throw new TypeError('a group cannot mix cpu and cuda items');
  }
  const participants = [...new Set(checked.map((c) => c.stream))];
  const kinds = [...new Set(items.map((item) => item.kind))];
  const op: VirtualOp = {
    kind: 'group',
    device: first.stream.device.ordinal,
    stream: first.stream.id,
    items,
    bytes: Math.max(...checked.map((c) => c.bytes)),
    label: kinds.join('+'),
  };
  const start = Math.max(...participants.map((s) => readyAt(ctx, s)));
  const failed = participants.find((s) => s.error !== null);
  if (failed !== undefined && failed.error !== null) {
    // As on CUDA: once one participant has failed, the collective is skipped for everyone.
    const refusal = `group: skipped: a stream on ${deviceLabel(failed.device)} had already failed (${failed.error})`;
    for (const s of participants) {
      s.busyUntil = start;
      s.error ??= refusal;
    }
    ctx.model.append(op, start, start, refusal);
    return;
  }
  const end = start + ctx.model.duration(op);
  const aborted = checked.find((c) => c.comm.group.error !== null)?.comm.group.error ?? null;
  const failure = aborted ?? ctx.model.failure(op);
  const error = failure === null ? null : `group: ${failure}`;
  for (const s of participants) {
    s.busyUntil = end;
    s.error = error;
  }
  ctx.model.append(op, start, end, error);
}
