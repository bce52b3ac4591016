/**
 * A closed-loop HTTP load generator for overload tests and benches: many keep-alive connections,
 * each sending its next request as soon as the previous response is complete. The generator runs in
 * a child process (http-load-client.ts) so that it never shares an event loop with what it measures.
 */
import { spawn } from 'node:child_process';

export interface HttpLoadSettings {
  host: string;
  port: number;
  path: string;
  connections: number;
  /** Load applied before measuring, so connections are open and pools are warm. */
  warmupMs: number;
  durationMs: number;
}

export interface HttpLoadReport {
  connections: number;
  seconds: number;
  /** Complete responses of any status within the measured window. */
  responses: number;
  /** 2xx responses within the measured window. */
  successes: number;
  successPerSecond: number;
  responsesPerSecond: number;
  /** Responses by status code. */
  statuses: Record<string, number>;
  /** Socket errors by code (ECONNRESET, ECONNREFUSED, …). */
  errors: Record<string, number>;
  /** Connections opened over the whole run, warm-up included (reconnects after a close count). */
  connectionsOpened: number;
  successLatencyMs: { p50: number | null; p99: number | null; max: number | null };
  /** CPU the generator itself used while measuring. */
  generatorCpuSeconds: number;
}

const CLIENT = new URL('./http-load-client.ts', import.meta.url);

/** Runs the load and resolves with the report; rejects if the generator fails or overruns. */
export function runHttpLoad(
  options: Partial<HttpLoadSettings> & Pick<HttpLoadSettings, 'port' | 'connections' | 'durationMs'>,
): Promise<HttpLoadReport> {
  const settings: HttpLoadSettings = { host: '127.0.0.1', path: '/', warmupMs: 1000, ...options };
  const child = spawn(process.execPath, [CLIENT.pathname, JSON.stringify(settings)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const deadlineMs = settings.warmupMs + settings.durationMs + 30_000;
  return new Promise<HttpLoadReport>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the load generator did not finish within ${deadlineMs} ms`));
    }, deadlineMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`the load generator failed (exit ${code}): ${stderr.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as HttpLoadReport);
      } catch {
        reject(new Error(`the load generator printed no report: ${stdout.slice(0, 200)} ${stderr}`));
      }
    });
  });
}
