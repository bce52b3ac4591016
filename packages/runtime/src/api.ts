/** What both entries of the package export: the runtime's types and its platform-free helpers. */
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
} from './runtime.ts';
export { callName, ExportedResource } from './exported-resource.ts';
export type { PoolStats } from './pool.ts';
export type {
  HttpBody,
  HttpClientRequest,
  HttpClientResponse,
  HttpClientResult,
  HttpErrorCode,
  HttpRequestHead,
  HttpResponseSink,
} from './http-types.ts';
export { inspectWasm } from './wasm-binary.ts';
export type { WasmKind } from './wasm-binary.ts';
export { decodeComponentInterfaces } from './component-types.ts';
export type { ComponentInterfaces, DecodedComponentInterfaces, SkippedFunction } from './component-types.ts';
export { HostResource, STREAMS_INTERFACE } from './import-calls.ts';
export type { HostInputStream, HostOutputStream, ImportCall, ImportHandler } from './import-calls.ts';
