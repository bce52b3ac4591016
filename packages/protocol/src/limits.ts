import { InvalidLimitError } from './errors.ts';

/**
 * Every timeout, size and count limit in Cirrus, declared once with a secure default. Each can be
 * overridden by an environment variable (`CIRRUS_LIMIT_<NAME>`) or programmatically; a bad value is
 * rejected with INVALID_LIMIT instead of silently falling back. `docs/configuration.md` renders this
 * table and a test keeps the two in sync.
 */
export interface LimitSpec {
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly unit: 'ms' | 'bytes' | 'count';
  readonly description: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const LIMIT_SPECS = {
  componentMaxBytes: {
    default: 64 * MiB,
    min: 8,
    max: 1024 * MiB,
    unit: 'bytes',
    description: 'Largest component binary a host loads (file or URL).',
  },
  componentFetchTimeoutMs: {
    default: 30_000,
    min: 100,
    max: 600_000,
    unit: 'ms',
    description: 'Time allowed to download a component from an http(s) URL.',
  },
  maxInstances: {
    default: 256,
    min: 1,
    max: 10_000,
    unit: 'count',
    description: 'Upper bound for the instance count a component can be scaled to.',
  },
  invocationTimeoutMs: {
    default: 30_000,
    min: 10,
    max: 3_600_000,
    unit: 'ms',
    description: 'Deadline of one call into a component; past it the call fails with DEADLINE_EXCEEDED.',
  },
  poolAcquireTimeoutMs: {
    default: 1_000,
    min: 0,
    max: 60_000,
    unit: 'ms',
    description: 'How long a call waits for a free instance when all are busy before AT_CAPACITY.',
  },
  poolMaxWaiters: {
    default: 1_024,
    min: 0,
    max: 1_000_000,
    unit: 'count',
    description: 'Calls that may queue for a busy component before further ones get AT_CAPACITY at once.',
  },
  instanceStartTimeoutMs: {
    default: 30_000,
    min: 100,
    max: 600_000,
    unit: 'ms',
    description: 'Time allowed to start a worker and instantiate a component in it.',
  },
  instanceMaxCalls: {
    default: 20_000,
    min: 0,
    max: 1_000_000_000,
    unit: 'count',
    description:
      'Calls an instance serves before a fresh one replaces it (0: never); bounds what a guest or its bindings keep per call.',
  },
  instanceMemoryMaxBytes: {
    default: 256 * MiB,
    min: 64 * KiB,
    max: 4096 * MiB,
    unit: 'bytes',
    description: 'Cap on each linear memory of an instance (written into the module as its maximum).',
  },
  instanceHeapMaxBytes: {
    default: 256 * MiB,
    min: 16 * MiB,
    max: 8192 * MiB,
    unit: 'bytes',
    description:
      'JavaScript heap of an instance worker thread, for each instance it may hold (a shared worker gets this times workerInstancesMax).',
  },
  runtimeWorkers: {
    default: 0,
    min: 0,
    max: 1_024,
    unit: 'count',
    description:
      'Worker threads a component without linked imports spreads its instances over (0: one per core); more start only when these are full.',
  },
  runtimeSpareWorkers: {
    default: 1,
    min: 0,
    max: 64,
    unit: 'count',
    description:
      'Empty worker threads a running host keeps started, so a component scaled up from zero skips a thread start.',
  },
  workerInstancesMax: {
    default: 16,
    min: 1,
    max: 1_024,
    unit: 'count',
    description:
      'Most instances of a component one shared worker thread holds; a runaway instance stops every instance on its worker.',
  },
  guestLogLineMaxBytes: {
    default: 8 * KiB,
    min: 64,
    max: 1 * MiB,
    unit: 'bytes',
    description: 'Longest stdout/stderr line of a component kept in the host log; longer lines are cut.',
  },
  httpHeadersTimeoutMs: {
    default: 10_000,
    min: 100,
    max: 600_000,
    unit: 'ms',
    description: 'Time a client has to send the request line and headers (408 after it).',
  },
  httpRequestTimeoutMs: {
    default: 60_000,
    min: 100,
    max: 3_600_000,
    unit: 'ms',
    description: 'Time a client has to send the whole request, body included (408 after it).',
  },
  httpKeepAliveTimeoutMs: {
    default: 5_000,
    min: 0,
    max: 600_000,
    unit: 'ms',
    description: 'Idle time before a kept-alive connection is closed.',
  },
  httpMaxHeaderBytes: {
    default: 16 * KiB,
    min: 1 * KiB,
    max: 1 * MiB,
    unit: 'bytes',
    description: 'Largest request line plus headers (431 above it).',
  },
  httpMaxBodyBytes: {
    default: 16 * MiB,
    min: 0,
    max: 4096 * MiB,
    unit: 'bytes',
    description: 'Largest request body (413 above it).',
  },
  httpDrainTimeoutMs: {
    default: 10_000,
    min: 0,
    max: 600_000,
    unit: 'ms',
    description: 'On shutdown, how long in-flight requests may finish before connections are closed.',
  },
  httpOverloadPauseMs: {
    default: 1_000,
    min: 0,
    max: 60_000,
    unit: 'ms',
    description:
      'After a 503 for capacity, how long the HTTP server waits before reading the next request of that connection, doubled for each refusal in a row up to httpOverloadPauseMaxMs (0: at once).',
  },
  httpOverloadPauseMaxMs: {
    default: 8_000,
    min: 0,
    max: 600_000,
    unit: 'ms',
    description:
      'The longest pause of a connection refused for capacity again and again (httpOverloadPauseMs).',
  },
  httpLingerMs: {
    default: 2_000,
    min: 0,
    max: 60_000,
    unit: 'ms',
    description:
      'How long the HTTP server reads and drops what a client still sends after a response that closes the connection (a 413 during an upload), so the client reads the response instead of a reset.',
  },
  httpResponseWindowBytes: {
    default: 1 * MiB,
    min: 4 * KiB,
    max: 256 * MiB,
    unit: 'bytes',
    description: 'Response bytes a component may write ahead of a slow client before its writes block.',
  },
  httpClientConnectTimeoutMs: {
    default: 10_000,
    min: 10,
    max: 600_000,
    unit: 'ms',
    description: 'Time an outgoing request of the http-client provider may take to connect (TCP and TLS).',
  },
  httpClientFirstByteTimeoutMs: {
    default: 30_000,
    min: 10,
    max: 3_600_000,
    unit: 'ms',
    description: 'Longest wait of the http-client provider for a response head once connected.',
  },
  httpClientBetweenBytesTimeoutMs: {
    default: 30_000,
    min: 10,
    max: 3_600_000,
    unit: 'ms',
    description: 'Longest pause of the http-client provider between two chunks of a response body.',
  },
  httpClientMaxRequestBodyBytes: {
    default: 16 * MiB,
    min: 0,
    max: 256 * MiB,
    unit: 'bytes',
    description: 'Largest request body a component may send through the http-client provider.',
  },
  httpClientMaxResponseBodyBytes: {
    default: 16 * MiB,
    min: 0,
    max: 256 * MiB,
    unit: 'bytes',
    description: 'Largest response body the http-client provider hands to a component.',
  },
  latticeRequestTimeoutMs: {
    default: 2_000,
    min: 1,
    max: 600_000,
    unit: 'ms',
    description: 'Default deadline of a lattice request/reply.',
  },
  latticeMaxPayloadBytes: {
    default: 1 * MiB,
    min: 1 * KiB,
    max: 64 * MiB,
    unit: 'bytes',
    description: 'Largest message on the embedded lattice (the NATS default max_payload).',
  },
  kvServiceMaxWatches: {
    default: 1_024,
    min: 1,
    max: 1_000_000,
    unit: 'count',
    description:
      'Key-value watches the embedded lattice serves at once to clients without JetStream (`$CIRRUS.KV`); more are refused with KV_UNAVAILABLE.',
  },
  wrpcMaxValueBytes: {
    default: 16 * MiB,
    min: 1 * KiB,
    max: 1024 * MiB,
    unit: 'bytes',
    description:
      'Largest wRPC byte stream (the parameters or results of one call, or one nested value) reassembled and decoded.',
  },
  wrpcMaxListLength: {
    default: 1_048_576,
    min: 1,
    max: 4_294_967_295,
    unit: 'count',
    description:
      'Most elements of one decoded wRPC list or stream chunk (lists of numbers are bounded by wrpcMaxValueBytes).',
  },
  wrpcStreamWindowBytes: {
    default: 1 * MiB,
    min: 1 * KiB,
    max: 256 * MiB,
    unit: 'bytes',
    description:
      'Flow-control window of one wRPC stream or future between Cirrus peers: bytes the sender may have sent beyond what the reader has taken; against a 1.x peer, bytes published between two flushes.',
  },
  wrpcStreamBufferMaxBytes: {
    default: 8 * MiB,
    min: 1 * KiB,
    max: 1024 * MiB,
    unit: 'bytes',
    description:
      'Bytes of one incoming wRPC stream held for a slow reader when the sender takes no credit (a 1.x peer); past it the stream fails with WRPC_STREAM_OVERFLOW.',
  },
  wrpcStreamIdleTimeoutMs: {
    default: 30_000,
    min: 10,
    max: 3_600_000,
    unit: 'ms',
    description:
      'How long a wRPC stream may make no progress (no bytes in while its reader waits, nothing read, no credit for a waiting sender) before WRPC_STREAM_STALLED.',
  },
  wrpcStreamProbeIntervalMs: {
    default: 1_000,
    min: 10,
    max: 600_000,
    unit: 'ms',
    description:
      'Silence on an incomplete incoming wRPC stream or future after which the reader checks that the sender is still on the lattice (a vanished one fails it with WRPC_STREAM_FAILED).',
  },
  wrpcHandshakeDelayMs: {
    default: 2,
    min: 0,
    max: 1_000,
    unit: 'ms',
    description:
      'How long a host serving a wRPC call from another Cirrus host holds back its handshake while it needs nothing more from the caller; a call answered sooner costs three messages instead of eight. 0 sends it at once, as 1.x does.',
  },
  wrpcMaxAsyncValues: {
    default: 1_024,
    min: 1,
    max: 1_000_000,
    unit: 'count',
    description:
      'Most pending streams and futures one wRPC call carries in each direction, nested ones included.',
  },
  natsConnectTimeoutMs: {
    default: 5_000,
    min: 100,
    max: 600_000,
    unit: 'ms',
    description: 'Time allowed to reach a NATS server and finish its handshake when connecting.',
  },
  natsReconnectWaitMs: {
    default: 1_000,
    min: 10,
    max: 600_000,
    unit: 'ms',
    description:
      "Pause between attempts to reconnect to NATS, or to replace a key-value watch's lost consumer (never stop).",
  },
  natsPingIntervalMs: {
    default: 10_000,
    min: 100,
    max: 600_000,
    unit: 'ms',
    description: 'Interval of client pings to the NATS server, so that a dead server is noticed.',
  },
  natsMaxPingsOut: {
    default: 2,
    min: 1,
    max: 100,
    unit: 'count',
    description: 'Unanswered pings after which the NATS connection counts as dead and is re-established.',
  },
  natsStatusLogIntervalMs: {
    default: 5_000,
    min: 10,
    max: 600_000,
    unit: 'ms',
    description: 'Least time between two host log lines about a NATS connection that stays down.',
  },
  natsKvTimeoutMs: {
    default: 5_000,
    min: 100,
    max: 600_000,
    unit: 'ms',
    description: 'Deadline of one key-value operation on NATS (a JetStream API request).',
  },
  controlRequestTimeoutMs: {
    default: 2_000,
    min: 1,
    max: 600_000,
    unit: 'ms',
    description: 'Deadline of one control request (scale, link, config, …) sent by a control client.',
  },
  controlScatterWindowMs: {
    default: 2_000,
    min: 1,
    max: 600_000,
    unit: 'ms',
    description: 'How long a control client collects replies to host.ping and auctions.',
  },
  controlWaitTimeoutMs: {
    default: 60_000,
    min: 1,
    max: 3_600_000,
    unit: 'ms',
    description: 'How long `scale --wait` waits for the outcome event of the component.',
  },
  policyTimeoutMs: {
    default: 1_000,
    min: 1,
    max: 600_000,
    unit: 'ms',
    description:
      'Deadline of one request to the policy service (the 1.x default); past it the operation fails closed with POLICY_UNAVAILABLE.',
  },
  policyMaxCachedDecisions: {
    default: 10_000,
    min: 1,
    max: 1_000_000,
    unit: 'count',
    description:
      'Policy decisions a host keeps; past it the least recently used one is forgotten and asked for again.',
  },
  invocationSignatureWindowMs: {
    default: 30_000,
    min: 1_000,
    max: 600_000,
    unit: 'ms',
    description:
      'How far the signing time of a signed invocation may be from the serving host’s clock, either way, before INVOCATION_STALE; also how long its nonce is remembered.',
  },
  invocationReplayCacheSize: {
    default: 100_000,
    min: 100,
    max: 10_000_000,
    unit: 'count',
    description:
      'Nonces of signed invocations a host remembers to refuse replays; when full, invocations signed before the oldest forgotten one are refused as stale.',
  },
  hostCredentialCacheSize: {
    default: 1_000,
    min: 1,
    max: 1_000_000,
    unit: 'count',
    description:
      'Host credentials a host keeps verified, so that their signature is checked once rather than per invocation.',
  },
  hostCredentialLifetimeMs: {
    default: 3_600_000,
    min: 60_000,
    max: 31_536_000_000,
    unit: 'ms',
    description:
      'Lifetime of the credential a host issues itself with --cluster-seed; it issues a new one when half of it has passed.',
  },
  kvMaxValueBytes: {
    default: 1 * MiB,
    min: 1,
    max: 64 * MiB,
    unit: 'bytes',
    description:
      'Largest value in a key-value bucket: the lattice’s own, and those of the key-value provider.',
  },
  kvMaxKeyBytes: {
    default: 1 * KiB,
    min: 1,
    max: 64 * KiB,
    unit: 'bytes',
    description: 'Longest key (and bucket identifier) of the key-value provider, in UTF-8 bytes.',
  },
  kvListPageSize: {
    default: 1_000,
    min: 1,
    max: 100_000,
    unit: 'count',
    description: 'Keys one list-keys call of the key-value provider returns before handing out a cursor.',
  },
  kvBatchMaxKeys: {
    default: 1_000,
    min: 1,
    max: 100_000,
    unit: 'count',
    description: 'Keys one get-many, set-many or delete-many call of the key-value provider may name.',
  },
  kvMemoryMaxKeysPerBucket: {
    default: 100_000,
    min: 1,
    max: 10_000_000,
    unit: 'count',
    description: 'Keys one bucket of the in-memory key-value backend may hold.',
  },
  kvMemoryMaxBytes: {
    default: 64 * MiB,
    min: 1 * KiB,
    max: 8192 * MiB,
    unit: 'bytes',
    description: 'Keys plus values the in-memory key-value backend may hold, across all its buckets.',
  },
  kvIncrementMaxAttempts: {
    default: 100,
    min: 1,
    max: 10_000,
    unit: 'count',
    description:
      'Compare-and-swap attempts of one increment on the NATS key-value backend before KV_CONFLICT.',
  },
  kvRedisConnectTimeoutMs: {
    default: 5_000,
    min: 100,
    max: 600_000,
    unit: 'ms',
    description:
      'Time allowed to connect to the Redis server of a key-value link (first and every reconnect).',
  },
  kvRedisCommandTimeoutMs: {
    default: 5_000,
    min: 100,
    max: 600_000,
    unit: 'ms',
    description: 'Deadline of one command to the Redis server of a key-value link.',
  },
  kvRedisReconnectWaitMs: {
    default: 1_000,
    min: 10,
    max: 600_000,
    unit: 'ms',
    description: 'Longest pause between reconnect attempts to a lost Redis server (attempts never stop).',
  },
  blobstoreMaxObjectBytes: {
    default: 64 * MiB,
    min: 0,
    max: 8192 * MiB,
    unit: 'bytes',
    description: 'Largest object the blobstore provider writes (through an outgoing value, or by copying).',
  },
  blobstoreMaxSyncReadBytes: {
    default: 16 * MiB,
    min: 0,
    max: 1024 * MiB,
    unit: 'bytes',
    description: 'Most bytes one incoming-value-consume-sync of the blobstore provider returns at once.',
  },
  blobstoreListMaxNames: {
    default: 1_000,
    min: 1,
    max: 100_000,
    unit: 'count',
    description: 'Most object names one read-stream-object-names call of the blobstore provider returns.',
  },
  localEndpointMaxConnections: {
    default: 128,
    min: 1,
    max: 10_000,
    unit: 'count',
    description: 'Authenticated clients the local endpoint of `cirrus up` serves at once; more are refused.',
  },
  localEndpointMaxUnauthenticated: {
    default: 64,
    min: 1,
    max: 10_000,
    unit: 'count',
    description: 'Local endpoint connections not yet authenticated; past it the oldest one is dropped.',
  },
  localEndpointMaxSubscriptions: {
    default: 10_000,
    min: 1,
    max: 1_000_000,
    unit: 'count',
    description: 'Subscriptions one client of the local lattice endpoint may hold.',
  },
  localEndpointMaxControlLineBytes: {
    default: 4 * KiB,
    min: 256,
    max: 1 * MiB,
    unit: 'bytes',
    description:
      'Longest protocol line (op and arguments) a local endpoint client may send (the NATS default).',
  },
  localEndpointMaxPendingBytes: {
    default: 64 * MiB,
    min: 64 * KiB,
    max: 1024 * MiB,
    unit: 'bytes',
    description: 'Output the local endpoint buffers for a client that reads too slowly before dropping it.',
  },
  localEndpointPingIntervalMs: {
    default: 30_000,
    min: 10,
    max: 600_000,
    unit: 'ms',
    description: 'Idle time after which the local endpoint pings a client to check that it is alive.',
  },
  localEndpointMaxPingsOut: {
    default: 2,
    min: 1,
    max: 100,
    unit: 'count',
    description: 'Unanswered pings after which the local endpoint drops a client as stale.',
  },
  localEndpointAuthTimeoutMs: {
    default: 2_000,
    min: 10,
    max: 60_000,
    unit: 'ms',
    description: 'Time a local endpoint client has to send its CONNECT with the token.',
  },
  localEndpointMaxWebSocketFrameBytes: {
    default: 16 * MiB,
    min: 64 * KiB,
    max: 1024 * MiB,
    unit: 'bytes',
    description:
      'Largest websocket frame a browser client of the local endpoint may send; a larger one closes the connection (1009).',
  },
  providerStartTimeoutMs: {
    default: 30_000,
    min: 100,
    max: 600_000,
    unit: 'ms',
    description:
      'Time a provider process has to answer its first health check; past it the process is killed and the attempt failed.',
  },
  providerStartAttempts: {
    default: 3,
    min: 1,
    max: 100,
    unit: 'count',
    description:
      'Provider processes spawned for one start that fail to come up before the start fails with provider_start_failed.',
  },
  providerHealthCheckDelayMs: {
    default: 5_000,
    min: 10,
    max: 600_000,
    unit: 'ms',
    description: 'Time from a provider process coming up to the first periodic health check (the 1.x value).',
  },
  providerHealthCheckIntervalMs: {
    default: 30_000,
    min: 10,
    max: 3_600_000,
    unit: 'ms',
    description: 'Interval of the health checks of a provider process (the 1.x value).',
  },
  providerShutdownTimeoutMs: {
    default: 300,
    min: 1,
    max: 600_000,
    unit: 'ms',
    description:
      'Time a provider process has to acknowledge the shutdown request before SIGTERM (the 1.x shutdown delay).',
  },
  providerStopGraceMs: {
    default: 5_000,
    min: 0,
    max: 600_000,
    unit: 'ms',
    description:
      'Time a stopping provider process gets to exit after the shutdown request, and again after SIGTERM, before SIGKILL.',
  },
  providerRestartMinDelayMs: {
    default: 250,
    min: 0,
    max: 600_000,
    unit: 'ms',
    description:
      'First pause before a crashed provider process is restarted; it doubles with each crash in a row.',
  },
  providerRestartMaxDelayMs: {
    default: 5_000,
    min: 0,
    max: 3_600_000,
    unit: 'ms',
    description:
      'Longest pause between restarts of a provider process that keeps crashing (restarts never stop).',
  },
  providerRestartResetMs: {
    default: 30_000,
    min: 0,
    max: 86_400_000,
    unit: 'ms',
    description:
      'Uptime after which a provider process counts as stable: its next crash restarts it after the first pause.',
  },
  providerLogLineMaxBytes: {
    default: 8 * KiB,
    min: 64,
    max: 1 * MiB,
    unit: 'bytes',
    description:
      'Longest stdout/stderr line of a provider process kept in the host log; longer lines are cut.',
  },
  logRepeatLines: {
    default: 20,
    min: 1,
    max: 1_000_000,
    unit: 'count',
    description:
      'Host log lines of one kind (same level, message, code and component) written per window; the rest are counted and reported in one line when the window ends.',
  },
  logRepeatWindowMs: {
    default: 10_000,
    min: 10,
    max: 3_600_000,
    unit: 'ms',
    description: 'The window of logRepeatLines.',
  },
  appResyncIntervalMs: {
    default: 30_000,
    min: 100,
    max: 3_600_000,
    unit: 'ms',
    description:
      'How often the application manager reads the whole lattice again and corrects what differs from the applications, whatever events it saw or missed.',
  },
  appBackoffMs: {
    default: 1_000,
    min: 10,
    max: 600_000,
    unit: 'ms',
    description:
      'After a host refuses a command for a workload, how long the application manager waits before it sends that host the same command again (another one, such as a new version, goes at once); doubled for each refusal in a row.',
  },
  appBackoffMaxMs: {
    default: 60_000,
    min: 10,
    max: 3_600_000,
    unit: 'ms',
    description: 'The longest of those waits.',
  },
  manifestMaxBytes: {
    default: 1 * MiB,
    min: 1 * KiB,
    max: 64 * MiB,
    unit: 'bytes',
    description: 'Largest application manifest accepted.',
  },
  manifestMaxDepth: {
    default: 64,
    // The deepest valid manifest nests 11 collections (a link target's config properties).
    min: 16,
    // wadm's serde_yaml refuses deeper documents; yaml's composer recurses per level and needs about
    // a third of Node's default stack at 256.
    max: 128,
    unit: 'count',
    description: 'Deepest nesting of mappings and lists in an application manifest.',
  },
  manifestMaxNodes: {
    default: 100_000,
    min: 1_000,
    max: 10_000_000,
    unit: 'count',
    description: 'Values (keys, scalars, mappings, lists) in a manifest once its aliases are expanded.',
  },
  secretFileMaxBytes: {
    default: 64 * KiB,
    min: 1 * KiB,
    max: 16 * MiB,
    unit: 'bytes',
    description: 'Largest seed, host credential or NATS secret file the CLI reads.',
  },
  dashboardSessionTtlMs: {
    default: 12 * 3_600_000,
    min: 60_000,
    max: 7 * 24 * 3_600_000,
    unit: 'ms',
    description: 'How long a dashboard session (the cookie its token URL sets) stays valid.',
  },
  dashboardSessionsMax: {
    default: 64,
    min: 1,
    max: 10_000,
    unit: 'count',
    description: 'Dashboard sessions kept at once; opening one more ends the oldest.',
  },
  dashboardEventStreamsMax: {
    default: 32,
    min: 1,
    max: 10_000,
    unit: 'count',
    description: 'Live event streams the dashboard serves at once; more are refused with DASHBOARD_BUSY.',
  },
  dashboardRequestMaxBytes: {
    default: 1 * MiB,
    min: 1 * KiB,
    max: 64 * MiB,
    unit: 'bytes',
    description: 'Largest body of a dashboard action (an application manifest included).',
  },
  metricsExportIntervalMs: {
    default: 60_000,
    min: 100,
    max: 3_600_000,
    unit: 'ms',
    description: 'Time between two OTLP metric exports; OTEL_METRIC_EXPORT_INTERVAL sets it too.',
  },
  traceExportDelayMs: {
    default: 5_000,
    min: 10,
    max: 600_000,
    unit: 'ms',
    description:
      'How long finished spans wait to be exported in one batch; OTEL_BSP_SCHEDULE_DELAY sets it too.',
  },
  traceQueueMaxSpans: {
    default: 2_048,
    min: 1,
    max: 1_000_000,
    unit: 'count',
    description:
      'Finished spans kept for export at most; more are dropped while the collector lags. OTEL_BSP_MAX_QUEUE_SIZE sets it too.',
  },
  otlpExportTimeoutMs: {
    default: 10_000,
    min: 100,
    max: 600_000,
    unit: 'ms',
    description:
      'Time one OTLP export may take before it is given up (the next export carries the data); OTEL_EXPORTER_OTLP_TIMEOUT sets it too.',
  },
} as const satisfies Record<string, LimitSpec>;

export type LimitName = keyof typeof LIMIT_SPECS;
export type Limits = { readonly [K in LimitName]: number };

export const LIMIT_NAMES = Object.keys(LIMIT_SPECS) as LimitName[];

export const DEFAULT_LIMITS: Limits = Object.fromEntries(
  LIMIT_NAMES.map((name) => [name, LIMIT_SPECS[name].default]),
) as Limits;

/** `httpMaxBodyBytes` → `CIRRUS_LIMIT_HTTP_MAX_BODY_BYTES`. */
export function limitEnvName(name: LimitName): string {
  return `CIRRUS_LIMIT_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

function checkLimit(name: LimitName, value: number, origin: string, shown = String(value)): number {
  const spec: LimitSpec = LIMIT_SPECS[name];
  if (!Number.isSafeInteger(value) || value < spec.min || value > spec.max) {
    const problem = Number.isInteger(value) ? 'is out of range' : 'is not a whole number';
    throw new InvalidLimitError(`${origin}: limit ${name} = ${shown} ${problem}`, {
      hint: `use a whole number of ${spec.unit} between ${spec.min} and ${spec.max} (default ${spec.default})`,
    });
  }
  return value;
}

const DECIMAL = /^[0-9]+$/;

/**
 * Resolves the effective limits: defaults, then environment variables, then explicit overrides.
 * Throws INVALID_LIMIT naming the variable when a value is not a whole number in range.
 */
export function resolveLimits(
  overrides: Partial<Record<LimitName, number>> = {},
  env: Readonly<Record<string, string | undefined>> = {},
): Limits {
  const out: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    let value: number = LIMIT_SPECS[name].default;
    const envName = limitEnvName(name);
    const raw = env[envName];
    if (raw !== undefined && raw.trim() !== '') {
      const text = raw.trim();
      // Number() would also take "0x10", "1e3" or "-0"; a limit is written in plain decimal digits.
      const parsed = DECIMAL.test(text) ? Number(text) : Number.NaN;
      value = checkLimit(name, parsed, `environment variable ${envName}`, JSON.stringify(text));
    }
    const explicit = overrides[name];
    if (explicit !== undefined) value = checkLimit(name, explicit, 'configuration');
    out[name] = value;
  }
  const envNames = new Set(LIMIT_NAMES.map(limitEnvName));
  for (const key of Object.keys(env)) {
    // A misspelt variable would otherwise leave the default in force without a word.
    if (key.startsWith('CIRRUS_LIMIT_') && !envNames.has(key)) {
      throw new InvalidLimitError(`environment variable ${key} names no limit`, {
        hint: `known variables: ${[...envNames].join(', ')}`,
      });
    }
  }
  for (const key of Object.keys(overrides)) {
    if (!(key in LIMIT_SPECS)) {
      throw new InvalidLimitError(`unknown limit "${key}"`, {
        hint: `known limits: ${LIMIT_NAMES.join(', ')}`,
      });
    }
  }
  return out as Limits;
}
