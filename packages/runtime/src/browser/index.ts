/**
 * `@cirrus/runtime` in a browser (the package's `browser` export condition): the same runtime, on
 * the browser's platform (runtime.ts).
 */
export { createComponentRuntime } from './runtime.ts';
export type { BrowserRuntimeOptions } from './runtime.ts';
export { servedTranspiler, TRANSPILED_MEDIA_TYPE } from './transpiler.ts';
export type { ServedTranspilerOptions } from './transpiler.ts';
export type {
  CallOptions,
  ComponentPool,
  ComponentRuntime,
  LoadComponentOptions,
  PoolConfig,
  PreparedComponent,
  ResourceCall,
  RuntimeOptions,
  WorkerStats,
} from '../runtime.ts';
export { callName, ExportedResource } from '../exported-resource.ts';
export type { PoolStats } from '../pool.ts';
export type {
  HttpBody,
  HttpClientRequest,
  HttpClientResponse,
  HttpClientResult,
  HttpErrorCode,
  HttpRequestHead,
  HttpResponseSink,
} from '../http-types.ts';
export { inspectWasm } from '../wasm-binary.ts';
export type { WasmKind } from '../wasm-binary.ts';
export { decodeComponentInterfaces } from '../component-types.ts';
export type { ComponentInterfaces, DecodedComponentInterfaces, SkippedFunction } from '../component-types.ts';
export { HostResource, STREAMS_INTERFACE } from '../import-calls.ts';
export type { HostInputStream, HostOutputStream, ImportCall, ImportHandler } from '../import-calls.ts';
