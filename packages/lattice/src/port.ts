/**
 * The lattice port: everything a host, provider or client needs from the message bus. NATS is one
 * adapter; the in-memory lattice is another with the same subjects and semantics.
 */
import type { LatticeTraffic } from '@cirrus/protocol';

export type MsgHeaders = Readonly<Record<string, string>>;

export interface Msg {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reply: string | undefined;
  readonly headers: MsgHeaders | undefined;
  /** Publishes `data` to this message's reply subject; returns false when there is none. */
  respond(data?: Uint8Array, options?: { headers?: MsgHeaders }): boolean;
  json<T = unknown>(): T;
  string(): string;
}

export interface PublishOptions {
  headers?: MsgHeaders;
  reply?: string;
}

export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
  /** Delivers messages to a callback instead of the async iterator (lower latency on hot paths). */
  callback?: (msg: Msg) => void;
  /** Unsubscribes automatically after this many messages. */
  max?: number;
  /**
   * With `callback` and `queue`: `unsubscribe` still hands the callback the messages the server routed
   * here before it took the unsubscribe (NATS's drain), instead of dropping them. A queue group gives
   * each message to one member only, so a member that leaves while under load would otherwise lose
   * those messages for good (a wRPC server: invocations that are never answered). The in-memory
   * lattice delivers what it routed in any case.
   */
  drainOnUnsubscribe?: boolean;
}

export interface Subscription extends AsyncIterable<Msg> {
  readonly subject: string;
  readonly queue: string | undefined;
  unsubscribe(): void;
  /** Resolves once the subscription has ended (unsubscribed, reached `max`, or lattice closed). */
  readonly closed: Promise<void>;
}

export interface RequestOptions {
  /** Deadline in milliseconds; REQUEST_TIMEOUT after it. */
  timeoutMs?: number;
  headers?: MsgHeaders;
}

export interface RequestManyOptions {
  /** Collect replies for this long. */
  maxWaitMs: number;
  /** Stop after this many replies. */
  maxMessages?: number;
  headers?: MsgHeaders;
}

export type KvOperation = 'PUT' | 'DEL';

export interface KvEntry {
  readonly bucket: string;
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: number;
  readonly operation: KvOperation;
  json<T = unknown>(): T;
  string(): string;
}

export interface KvWatchOptions {
  /** Key filter with NATS wildcards (`COMPONENT_*` is not a wildcard; use `>` or an exact key). */
  key?: string;
  /** Deliver the current value of every matching key first (default true). */
  replay?: boolean;
}

export interface KvWatch extends AsyncIterable<KvEntry> {
  /** Resolves when every existing value has been delivered; live updates follow. */
  readonly replayed: Promise<void>;
  stop(): void;
}

export interface KvBucket {
  readonly name: string;
  get(key: string): Promise<KvEntry | null>;
  /** Stores a value and returns its revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /**
   * Compare-and-swap: stores `value` only when the key's current revision is `revision` (0: the key
   * has no value now). Returns the new revision, or null when another write came first — the caller
   * reads again and retries. This is what makes read-modify-write (counters) safe across hosts.
   */
  update(key: string, value: Uint8Array, revision: number): Promise<number | null>;
  delete(key: string): Promise<void>;
  keys(filter?: string): Promise<string[]>;
  watch(options?: KvWatchOptions): Promise<KvWatch>;
}

/**
 * A change in a connection's link to its server, in the order it happened. Only connections over a
 * network (NATS) have them; `server` is `host:port`, never with credentials.
 */
export type LatticeStatus =
  /** The connection dropped; reconnect attempts follow, for as long as it takes. */
  | { readonly type: 'disconnected'; readonly server: string }
  /** Attempt number `attempt` since the drop begins; from the second on, the one before failed. */
  | { readonly type: 'reconnecting'; readonly attempt: number; readonly downMs: number }
  | {
      readonly type: 'reconnected';
      readonly server: string;
      readonly downMs: number;
      readonly attempts: number;
    }
  /** Pings went unanswered: the connection is dropped and re-established. */
  | { readonly type: 'stale'; readonly server: string }
  /** The server is shutting down gracefully (lame-duck mode): clients are moved off it soon. */
  | { readonly type: 'lameDuck'; readonly server: string }
  /** The server reported an error (`-ERR`), e.g. credentials refused on a reconnect. */
  | { readonly type: 'error'; readonly error: Error };

export interface LatticeConnection {
  publish(subject: string, data?: Uint8Array, options?: PublishOptions): void;
  subscribe(subject: string, options?: SubscribeOptions): Subscription;
  request(subject: string, data?: Uint8Array, options?: RequestOptions): Promise<Msg>;
  /** Scatter/gather: publishes once and yields every reply until the deadline or the count. */
  requestMany(subject: string, data: Uint8Array | undefined, options: RequestManyOptions): AsyncIterable<Msg>;
  /** Resolves once everything published and subscribed so far is known to the server. */
  flush(): Promise<void>;
  /** Opens a key-value bucket, creating it when it does not exist. */
  kv(bucket: string): Promise<KvBucket>;
  newInbox(): string;
  /** Messages and bytes this connection has sent and received since it opened. */
  traffic(): LatticeTraffic;
  readonly maxPayload: number;
  close(): Promise<void>;
  readonly isClosed: boolean;
  /**
   * Status changes from now on, on connections over a network (absent on the in-memory lattice). The
   * iteration ends when the connection closes or the reader stops.
   */
  status?(): AsyncIterable<LatticeStatus>;
}
