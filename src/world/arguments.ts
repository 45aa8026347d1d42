// The checks of an all-reduce call's arguments, made before anything is registered or enqueued.
import { reduceOps, type ReduceOp } from '../native.js';
import { Tensor, type Device } from '../runtime/device.js';
import { ArgumentError } from '../errors.js';
import { checkOptionsObject, show, type OptionsShape } from '../runtime/options.js';

export interface AllReduceOptions {
  /** The reduction: 'sum' (default), 'prod', 'max', 'min', 'avg' (reduceOps). */
  op?: ReduceOp;
}

/** The options an all-reduce call takes; anything else (e.g. `pipeline`, which is the world's) is refused. */
const allReduceOptionNames: readonly string[] = ['op'];

const allReduceShape: OptionsShape = {
  example: "{ op: 'sum' }",
  hint: (unknown) => (unknown.includes('pipeline') ? '; the pipeline belongs to the world: simulate({ pipeline })' : ''),
};

/** Checks an all-reduce call's options object and returns its op. */
export function checkOptions(options: unknown, call: string, extra: readonly string[] = []): ReduceOp {
  checkOptionsObject(call, options, extra.length === 0 ? allReduceOptionNames : [...allReduceOptionNames, ...extra], allReduceShape);
  const given = (options as AllReduceOptions).op;
  const op = given === undefined ? 'sum' : given;
  if (!reduceOps.includes(op)) throw new ArgumentError(`op must be one of ${reduceOps.map((o) => `'${o}'`).join(', ')}, got ${typeof op === 'string' ? `'${op}'` : show(op)}`);
  return op;
}

/** One open tensor per local device, in `devices` order (world.devices), all of one dtype and length. */
export function checkTensors(tensors: readonly Tensor[], devices: readonly Device[], call: string): void {
  if (!Array.isArray(tensors) || tensors.length !== devices.length) {
    throw new ArgumentError(
      `${call} takes one tensor per local device: ${devices.length} expected, got ${Array.isArray(tensors) ? tensors.length : typeof tensors} ` +
        `(upload one per device of world.devices, in that order)`,
    );
  }
  // Every index, holes of a sparse array included (forEach would skip them).
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    if (!(t instanceof Tensor)) throw new ArgumentError(`tensors[${i}] is not a Tensor: upload it with world.devices[${i}].upload(data)`);
    if (t.closed) throw new ArgumentError(`tensors[${i}] is closed: upload it again with world.devices[${i}].upload(data)`);
    if (t.buffer.closed) throw new ArgumentError(`tensors[${i}]'s memory was closed (tensor.buffer.close()): upload it again with world.devices[${i}].upload(data)`);
    if (t.device !== devices[i]) {
      if (!devices.includes(t.device)) {
        throw new ArgumentError(
          `tensors[${i}] belongs to another world (it was uploaded to a device of a different simulate() call): ` +
            `upload it with this world's world.devices[${i}].upload(data)`,
        );
      }
      throw new ArgumentError(`tensors[${i}] lives on rank ${t.device.rank}, expected rank ${devices[i]!.rank}: pass one tensor per device, in world.devices order`);
    }
    const first = tensors[0]!;
    if (t.dtype !== first.dtype || t.length !== first.length) {
      throw new ArgumentError(`tensors[${i}] is ${t.dtype} x ${t.length} but tensors[0] is ${first.dtype} x ${first.length}: every rank's tensor must have the same dtype and length`);
    }
  }
}
