/**
 * The instance worker on Node: a worker thread, whose blocked imports read their reply synchronously
 * from a message port, and whose module loader is handed bindings sources by a load hook.
 */
import { registerHooks } from 'node:module';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { serveInstances } from './worker-core.ts';
import type { Instantiate } from './worker-core.ts';
import type { FromWorker, ImportReply, ToWorker } from './worker-protocol.ts';
import type { NodeWorkerInit } from './node-worker.ts';

if (parentPort === null) throw new Error('worker.ts must run in a worker thread');
const port = parentPort;
const init = workerData as NodeWorkerInit;
const replies: MessagePort = init.importReplies;

/** Where the worker's module loader finds the bindings sources it was handed, by key. */
const BINDINGS_SCHEME = 'cirrus-bindings:';
const bindingSources = new Map<string, string>();

/**
 * A data: URL would work too, but Node parses the whole URL on import (measured: +35 ms of CPU per
 * instance start for 1 MB of bindings); a load hook hands the source over as it is.
 */
registerHooks({
  resolve: (specifier, context, next) =>
    specifier.startsWith(BINDINGS_SCHEME) ? { url: specifier, shortCircuit: true } : next(specifier, context),
  load: (url, context, next) => {
    const source = url.startsWith(BINDINGS_SCHEME) ? bindingSources.get(url) : undefined;
    return source === undefined ? next(url, context) : { format: 'module', source, shortCircuit: true };
  },
});

serveInstances({
  post: (message: FromWorker, transfer: ArrayBuffer[]) => port.postMessage(message, transfer),
  onMessage: (listener: (message: ToWorker) => void) => port.on('message', listener),
  importSignal: new Int32Array(init.importSignal),
  readImportReply: () => receiveMessageOnPort(replies)?.message as ImportReply | undefined,
  async importBindings(key: string, source: string | undefined) {
    const url = `${BINDINGS_SCHEME}${key}`;
    if (source !== undefined) bindingSources.set(url, source);
    try {
      return (await import(url)) as { instantiate: Instantiate };
    } finally {
      // The module keeps what it needs.
      bindingSources.delete(url);
    }
  },
});
