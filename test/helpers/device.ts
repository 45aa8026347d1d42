// Small conveniences over the raw native handles for tests: upload, download, run-and-wait.
import { native, type DType, type NativeBuffer, type NativeDevice, type NativeStream } from '../../src/native.js';
import { hostArray, type HostArray } from '../../src/runtime/dtype.js';

export function upload(stream: NativeStream, device: NativeDevice, data: ArrayBufferView): NativeBuffer {
  const b = new native.Buffer(device, data.byteLength);
  stream.copyFromHost(b, 0, data);
  return b;
}

/** Waits for everything enqueued on the stream so far. */
export async function sync(stream: NativeStream, device: NativeDevice): Promise<void> {
  const e = new native.Event(device);
  stream.record(e);
  try {
    await e.completion();
  } finally {
    e.close();
  }
}

export async function download(
  stream: NativeStream,
  device: NativeDevice,
  buffer: NativeBuffer,
  dtype: DType,
  offset = 0,
  bytes = buffer.bytes - offset,
): Promise<HostArray> {
  const host = stream.copyToHost(buffer, offset, bytes);
  await sync(stream, device);
  return hostArray(dtype, host.read());
}
