export type {
  KvBucket,
  KvEntry,
  KvOperation,
  KvWatch,
  KvWatchOptions,
  LatticeConnection,
  LatticeStatus,
  Msg,
  MsgHeaders,
  PublishOptions,
  RequestManyOptions,
  RequestOptions,
  SubscribeOptions,
  Subscription,
} from './port.ts';
export { createMemoryLattice } from './memory.ts';
export type { MemoryLattice, MemoryLatticeOptions } from './memory.ts';
export { subjectMatches } from './subject.ts';
export { decodeJson, decodeText, encodeJson, encodeText, EMPTY } from './codec.ts';
export type { MemoryConnectOptions } from './memory.ts';
export { KV_SERVICE_PREFIX, serveKv } from './kv-service.ts';
export type { KvService, ServeKvOptions } from './kv-service.ts';
export { withServedKv } from './kv-client.ts';
export type { ServedKvOptions } from './kv-client.ts';
export { wrpcInvoke, wrpcServe } from './wrpc.ts';
export { activeTraceIds, failed, inSpan, SpanKind, traceContextOf, withTraceHeaders } from './tracing.ts';
export type { Attributes, Context, Span } from './tracing.ts';
export type { ServeObserver, WrpcCaller, WrpcHandler, WrpcInvocation, WrpcServeOptions } from './wrpc.ts';
export { wrpcStreamLimits } from './wrpc-streams.ts';
export type { WrpcStream, WrpcStreamLimits } from './wrpc-streams.ts';
export { httpErrorCodeOf, httpRequestFailed, invokeHttpHandle, serveHttpHandle } from './wrpc-http.ts';
export type {
  HttpBodyInit,
  HttpErrorCode,
  HttpFields,
  HttpFieldsInit,
  HttpHandler,
  HttpHandlerContext,
  HttpHandlerInterface,
  HttpInvokeOptions,
  HttpRequest,
  HttpRequestOptions,
  HttpResponse,
  HttpServeOptions,
  ReceivedHttpRequest,
  ReceivedHttpResponse,
} from './wrpc-http.ts';
