/**
 * Entry point of an instance worker. V8's compile cache has to be on before the worker's own modules
 * load to cover them (they are TypeScript, type-stripped at every load). Measured on the hello
 * component, per instance start: 107–126 ms (140–157 ms of CPU) with it, 126–157 ms (170–189 ms)
 * without; the bindings, handed over as source, are not cached either way.
 */
import { enableCompileCache } from 'node:module';
import { workerData } from 'node:worker_threads';
import type { NodeWorkerInit } from './node-worker.ts';

const { compileCacheDir } = workerData as NodeWorkerInit;
if (compileCacheDir !== undefined) enableCompileCache(compileCacheDir);
await import('./worker.ts');
