/**
 * Instance workers as Node worker threads: V8 heap limits per thread, and a message port the worker
 * reads synchronously for the replies it blocks on.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { FromWorker } from './worker-protocol.ts';
import type { PlatformWorker, WorkerSpawn } from './worker-thread.ts';

const WORKER_URL = new URL('./worker-entry.ts', import.meta.url);
/** A small young generation makes guests' glue code scavenge constantly (measured: +30% per call). */
const YOUNG_GENERATION_MB = 32;

/** What a worker thread is started with. */
export interface NodeWorkerInit {
  /** V8's compile cache (see worker-entry.ts); undefined when the cache directory is unusable. */
  compileCacheDir: string | undefined;
  /** One Int32 slot the host sets when the reply to a linked import call waits on `importReplies`. */
  importSignal: SharedArrayBuffer;
  /** Where the host posts replies to linked import calls; the worker reads it synchronously. */
  importReplies: MessagePort;
}

export function spawnNodeWorker(spawn: WorkerSpawn): PlatformWorker {
  const { port1: importReplies, port2: replyPort } = new MessageChannel();
  // The worker reads this port synchronously; it must never keep the host's event loop alive.
  replyPort.unref();
  const worker = new Worker(WORKER_URL, {
    workerData: {
      compileCacheDir: spawn.compileCacheDir,
      importSignal: spawn.importSignal,
      importReplies,
    } satisfies NodeWorkerInit,
    transferList: [importReplies],
    resourceLimits: {
      maxOldGenerationSizeMb: spawn.oldGenerationMb,
      maxYoungGenerationSizeMb: YOUNG_GENERATION_MB,
    },
    stdout: false,
    stderr: false,
  });
  worker.on('message', (m: FromWorker) => spawn.onMessage(m));
  worker.on('error', (err: Error) => spawn.onError(err));
  worker.on('exit', (code) => {
    replyPort.close();
    spawn.onExit(code);
  });
  return {
    post: (message) => worker.postMessage(message),
    putBlockingReply: (reply) => replyPort.postMessage(reply),
    // Adding a 'message' listener refs the worker's port: unref comes after the listeners.
    ref: () => worker.ref(),
    unref: () => worker.unref(),
    async terminate() {
      replyPort.close();
      await worker.terminate();
    },
  };
}
