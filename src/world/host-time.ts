// What the host spends over a stretch of time, as bench reports it and the native reference loop measures it.
import { native } from '../native.js';

export interface HostTime {
  /** Event-loop active time: what the JS thread was busy with. */
  jsBusyMs: number;
  /** The event loop's occupancy: active / (active + idle), 0 to 1. */
  loopBusy: number;
  /** The JS thread's own CPU time (user plus system): busy time less what it spent blocked. */
  jsCpuMs: number;
  /** User plus system CPU time of the whole process, every thread. */
  cpuMs: number;
}

/** Starts measuring; the function returned gives what the host spent since. */
export function hostMeter(): () => HostTime {
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const jsCpu = native.threadCpuMs();
  return () => {
    const jsCpuMs = native.threadCpuMs() - jsCpu;
    const cpuDelta = process.cpuUsage(cpu);
    const eluDelta = performance.eventLoopUtilization(elu);
    return { jsBusyMs: eluDelta.active, loopBusy: eluDelta.utilization, jsCpuMs, cpuMs: (cpuDelta.user + cpuDelta.system) / 1000 };
  };
}
