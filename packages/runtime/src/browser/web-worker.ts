/**
 * Instance workers as a browser's Web Workers. A page has no heap limits to give a worker, so only
 * an instance's linear memory is capped (by its module's declared maximum, as on Node); a deadline
 * still ends a runaway call by terminating its worker.
 */
import type { FromWorker, ToWorker } from '../worker-protocol.ts';
import type { SpawnWorker } from '../worker-thread.ts';
import { createReplySlot, putReply } from './reply-slot.ts';

/** What a Web Worker is first told: the shared memory its blocking imports wait on. */
export interface WebWorkerInit {
  t: 'init';
  importSignal: SharedArrayBuffer;
  importReplies: SharedArrayBuffer;
}

/** The parts of the DOM's Worker used here (the project's types are Node's). */
interface WebWorker {
  postMessage(message: ToWorker | WebWorkerInit): void;
  terminate(): void;
  onmessage: ((event: { data: FromWorker }) => void) | null;
  onerror: ((event: { message: string; preventDefault(): void }) => void) | null;
  onmessageerror: (() => void) | null;
}

type WebWorkerConstructor = new (url: string | URL, options: { type: 'module'; name: string }) => WebWorker;

export function webWorkerSpawner(options: { workerUrl: string | URL; replyMaxBytes: number }): SpawnWorker {
  const WorkerClass = (globalThis as unknown as { Worker?: WebWorkerConstructor }).Worker;
  return (spawn) => {
    if (WorkerClass === undefined) throw new Error('this platform has no Web Workers');
    const worker = new WorkerClass(options.workerUrl, { type: 'module', name: 'cirrus-instance' });
    const replies = createReplySlot(options.replyMaxBytes);
    worker.onmessage = (event) => spawn.onMessage(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      spawn.onError(new Error(event.message || 'the worker failed to load'));
    };
    worker.onmessageerror = () => spawn.onError(new Error('a message from the worker could not be read'));
    worker.postMessage({ t: 'init', importSignal: spawn.importSignal, importReplies: replies });
    return {
      post: (message) => worker.postMessage(message),
      putBlockingReply: (reply) => putReply(replies, reply),
      ref: () => undefined,
      unref: () => undefined,
      terminate() {
        worker.terminate();
        return Promise.resolve();
      },
    };
  };
}
