/**
 * P2's baselines: what crossing the thread boundary costs on this machine, measured beside the
 * linked call. A worker thread answers the host thread:
 *   bare ping-pong   one `postMessage` each way, both threads in their event loops
 *   shared memory    the host wakes the worker, blocked in `Atomics.wait`, by `Atomics.notify`; the
 *                    worker answers the same way, and the host waits with `Atomics.waitAsync`
 * A linked import is the second shape with a message each way: the worker blocks while the host
 * thread answers from its event loop.
 */
import { Worker } from 'node:worker_threads';
import type { Call } from './sequential.ts';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const slots = new Int32Array(workerData.slots);
parentPort.on('message', (m) => {
  if (m === 'ping') { parentPort.postMessage('pong'); return; }
  // Shared memory: answer every wake on slot 0 through slot 1, until told to stop.
  for (;;) {
    Atomics.wait(slots, 0, 0);
    if (Atomics.exchange(slots, 0, 0) === 2) return;
    Atomics.store(slots, 1, 1);
    Atomics.notify(slots, 1);
  }
});`;

export interface ThreadHops {
  pingPong: Call;
  sharedMemory: Call;
  close(): Promise<void>;
}

export async function startThreadHops(): Promise<ThreadHops> {
  const buffer = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
  const slots = new Int32Array(buffer);
  const pinger = new Worker(WORKER, { eval: true, workerData: { slots: buffer } });
  const waiter = new Worker(WORKER, { eval: true, workerData: { slots: buffer } });
  let pong: (() => void) | undefined;
  pinger.on('message', () => pong?.());
  await new Promise<void>((resolve) => {
    pong = resolve;
    pinger.postMessage('ping');
  });
  waiter.postMessage('serve');
  return {
    pingPong: () =>
      new Promise<void>((resolve) => {
        pong = resolve;
        pinger.postMessage('ping');
      }),
    async sharedMemory() {
      Atomics.store(slots, 1, 0);
      Atomics.store(slots, 0, 1);
      Atomics.notify(slots, 0);
      const wait = Atomics.waitAsync(slots, 1, 0);
      if (wait.async) await wait.value;
    },
    async close() {
      Atomics.store(slots, 0, 2);
      Atomics.notify(slots, 0);
      await Promise.all([pinger.terminate(), waiter.terminate()]);
    },
  };
}
