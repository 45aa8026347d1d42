// A child process as the tests meet one: its exit status, signal and output, killed (SIGKILL) and failed when it
// runs past its time; optionally sent SIGTERM once its output says it is ready (to test signal handling).
import { spawn } from 'node:child_process';

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from start to close. */
  ms: number;
}

export interface ChildOptions {
  /** Killed and rejected after this long. */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** Sends SIGTERM once, as soon as the output so far on stdout satisfies this. */
  sigtermWhen?: (stdout: string) => boolean;
}

/** Runs `file args`, resolving once it has exited and its output is read. */
export function runChild(file: string, args: readonly string[], options: ChildOptions): Promise<ChildResult> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let termed = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!termed && options.sigtermWhen?.(stdout) === true) {
        termed = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${[file, ...args].join(' ').slice(0, 200)} did not exit within ${options.timeoutMs} ms: ${stdout} ${stderr}`));
    }, options.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Runs a module given as source text with this Node.js. */
export function runNodeScript(source: string, timeoutMs: number): Promise<ChildResult> {
  return runChild(process.execPath, ['--input-type=module', '-e', source], { timeoutMs });
}
