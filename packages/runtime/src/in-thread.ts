/**
 * `@cirrus/runtime/in-thread`: what a worker uses to run a component, for running one on the calling
 * thread instead (no worker, no pool, no deadline): the benchmarks' "bare jco call" baseline
 * (bench/direct.ts) measures the cost of the rest against it. Hosts use the main entry.
 */
export { HTTP_HANDLE_EXPORT, optimiseBindings } from './transpile.ts';
export { ASYNC_IMPORTS } from './wasi/supported.ts';
export { createWasiImports } from './wasi/imports.ts';
export { IncomingRequest, ResponseOutparam } from './wasi/http.ts';
export type { ResponseChannel } from './wasi/http.ts';
export { LineSink } from './wasi/buffers.ts';
export { EMPTY_SOURCE, ImmediateSink, OutputStream } from './wasi/io.ts';
export type { ByteSink } from './wasi/io.ts';
