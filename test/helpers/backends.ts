// Runs a suite once per backend. The CPU suite always runs; the CUDA suite runs where CUDA devices and NCCL
// are present and is otherwise skipped with the reason printed.
import { native, type BackendName } from '../../src/native.js';

export interface BackendContext {
  backend: BackendName;
  /** Devices usable at once: CPU devices are virtual, CUDA ones are the cards present. */
  deviceCount: number;
}

export function cudaUnavailableReason(): string | null {
  const info = native.info();
  if (!info.cuda.built) return 'the addon was built without the CUDA toolkit';
  if (info.cuda.deviceCount === 0) return info.cuda.error ?? 'no CUDA devices';
  if (!info.nccl.loaded) return `NCCL not loaded: ${info.nccl.error ?? 'unknown'}`;
  return null;
}

/**
 * For a suite's before(): skips it, saying why, unless CUDA and NCCL are there with at least `gpus` GPUs.
 * `what` names the suite in the message.
 */
export function skipUnlessGpus(ctx: Mocha.Context, gpus: number, what: string): void {
  const reason = cudaUnavailableReason();
  const have = reason === null ? native.info().cuda.deviceCount : 0;
  if (reason === null && have >= gpus) return;
  console.log(`      skipping ${what}: ${reason ?? `${have} GPU(s), ${gpus} needed`}`);
  ctx.skip();
}

export function describeBackends(title: string, body: (ctx: BackendContext) => void): void {
  describe(`${title} [cpu]`, () => body({ backend: 'cpu', deviceCount: 16 }));
  const reason = cudaUnavailableReason();
  describe(`${title} [cuda]`, function () {
    if (reason !== null) {
      before(function () {
        console.log(`      skipping the CUDA suite: ${reason}`);
        this.skip();
      });
    }
    body({ backend: 'cuda', deviceCount: reason === null ? native.info().cuda.deviceCount : 0 });
  });
}
