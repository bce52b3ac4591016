export { DeadlineError, take, waitFor, withDeadline } from './deadline.ts';
export { shopManifest } from './app-manifests.ts';
export {
  assemble,
  BUSY_LOOP_WAT,
  CORE_MODULE_WAT,
  HUGE_MEMORY_WAT,
  MEMORY_GROWER_WAT,
  PAGE_GROWER_WAT,
  TOP_LEVEL_IMPORT_WAT,
  TRAP_WAT,
  UNKNOWN_IMPORT_WAT,
} from './components.ts';
export { killOnExit } from './daemons.ts';
export { tempDir } from './files.ts';
export type { TempDir } from './files.ts';
export { startNatsServer } from './nats-server.ts';
export type {
  NatsLeafLink,
  NatsOperatorConfig,
  NatsServer,
  NatsServerOptions,
  NatsUserEntry,
} from './nats-server.ts';
export { startNatsLeaf } from './nats-topology.ts';
export type { NatsLeaf, NatsLeafLinkControl } from './nats-topology.ts';
export { startTcpProxy } from './tcp-proxy.ts';
export type { TcpProxy, TcpProxyState } from './tcp-proxy.ts';
export { createNatsOperator } from './nats-jwt.ts';
export type { NatsOperator, NatsUserCreds } from './nats-jwt.ts';
export { generateTlsFiles } from './tls.ts';
export type { TlsFiles } from './tls.ts';
export { freePort } from './net.ts';
export { startRedisServer } from './redis-server.ts';
export type { RedisServer, RedisServerOptions } from './redis-server.ts';
export { fc, fuzz, fuzzAsync, fuzzRuns } from './fuzz.ts';
export { httpGet } from './http-get.ts';
export type { HttpAnswer, HttpGetOptions } from './http-get.ts';
export { runHttpLoad } from './http-load.ts';
export { Samples } from './samples.ts';
export type { HttpLoadReport, HttpLoadSettings } from './http-load.ts';
export { startOtlpReceiver } from './otlp-receiver.ts';
export type { OtlpReceiver, OtlpWaitOptions, ReceivedRequest } from './otlp-receiver.ts';
export type {
  AttributeValue,
  Attributes,
  InstrumentationScope,
  ReceivedHistogramPoint,
  ReceivedMetric,
  ReceivedNumberPoint,
  ReceivedSpan,
} from './otlp-decode.ts';
