/**
 * The instance worker in a browser: a module Web Worker. Its first message carries the shared memory
 * blocking imports wait on (web-worker.ts); bindings load from blob URLs.
 */
import { serveInstances } from '../worker-core.ts';
import type { Instantiate } from '../worker-core.ts';
import type { FromWorker, ToWorker } from '../worker-protocol.ts';
import { takeReply } from './reply-slot.ts';
import type { WebWorkerInit } from './web-worker.ts';

/** The parts of a worker's global scope used here (the project's types are Node's). */
interface WorkerScope {
  postMessage(message: FromWorker, transfer: ArrayBuffer[]): void;
  addEventListener(type: 'message', listener: (event: { data: ToWorker | WebWorkerInit }) => void): void;
  removeEventListener(type: 'message', listener: (event: { data: ToWorker | WebWorkerInit }) => void): void;
}

const scope = globalThis as unknown as WorkerScope;

const onInit = (event: { data: ToWorker | WebWorkerInit }): void => {
  const init = event.data;
  if (init.t !== 'init') return;
  scope.removeEventListener('message', onInit);
  const replies = init.importReplies;
  serveInstances({
    post: (message, transfer) => scope.postMessage(message, transfer),
    onMessage: (listener) =>
      scope.addEventListener('message', (e) => {
        if (e.data.t !== 'init') listener(e.data);
      }),
    importSignal: new Int32Array(init.importSignal),
    readImportReply: () => takeReply(replies),
    async importBindings(_key, source) {
      if (source === undefined) throw new Error('the bindings were not sent to this worker');
      const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
      try {
        return (await import(url)) as { instantiate: Instantiate };
      } finally {
        URL.revokeObjectURL(url);
      }
    },
  });
};
scope.addEventListener('message', onInit);
