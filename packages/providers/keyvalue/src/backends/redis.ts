/**
 * Buckets in one Redis database (node-redis, `@redis/client`). Bucket `b`'s key `k` is the Redis key
 * `b:k`, so one server serves many buckets and a bucket is listed with `SCAN MATCH b:*`. A bucket
 * identifier therefore must not contain `:` — `a` + `b:c` and `a:b` + `c` would be the same Redis key.
 * Without the prefix (`prefixKeys: false`) keys are stored as they are and every identifier stands
 * for the whole database, as with wasmCloud's keyvalue-redis provider, so both see the same data.
 * Values are stored as they are (binary-safe), counters as the decimal text INCRBY keeps.
 *
 * The connection is made once, within `kvRedisConnectTimeoutMs`, and a lost one is re-established in
 * the background for as long as it takes (pauses doubling up to `kvRedisReconnectWaitMs`). While it is
 * down, commands are not queued: they fail at once with KV_UNAVAILABLE, and a command that was sent
 * fails after `kvRedisCommandTimeoutMs` at the latest, so a component never hangs on a dead server.
 */
import type { Logger } from '@cirrus/protocol';
import {
  InvalidArgumentError,
  KvAccessDeniedError,
  KvNoSuchStoreError,
  KvUnavailableError,
  silentLogger,
} from '@cirrus/protocol';
import { createClient, ErrorReply, RESP_TYPES } from '@redis/client';
import type { KeyPage, KeyValueBackend } from './backend.ts';
import type { KeyValueLimits } from './rules.ts';
import {
  assertBatch,
  assertBucketId,
  assertDelta,
  assertKey,
  assertValue,
  closedError,
  notAnInteger,
  overflow,
  parseCursor,
  shown,
} from './rules.ts';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface RedisBackendOptions {
  /** `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. */
  url: string;
  limits: KeyValueLimits;
  logger?: Logger;
  /** Whether a key is stored under its bucket's prefix `<bucket>:`; default true. */
  prefixKeys?: boolean;
}

/**
 * `giveUp` is asked before each retry; it stops retrying only the first connection, when the server
 * refused the credentials: waiting would not fix them. Once connected, retries never stop, like the
 * lattice connection's — a Redis restart or a password fixed on the server must not need a host restart.
 */
function newClient(url: URL, limits: KeyValueLimits, giveUp: (cause: unknown) => boolean) {
  return createClient({
    url: url.href,
    socket: {
      connectTimeout: limits.kvRedisConnectTimeoutMs,
      reconnectStrategy: (retries: number, cause: unknown) =>
        giveUp(cause) ? false : Math.min(50 * 2 ** Math.min(retries, 20), limits.kvRedisReconnectWaitMs),
    },
    // RESP2 is what every Redis-compatible server speaks (RESP3 needs Redis 6 and HELLO).
    RESP: 2,
    disableOfflineQueue: true,
    commandOptions: { timeout: limits.kvRedisCommandTimeoutMs },
  });
}

type Client = ReturnType<typeof newClient>;
type SendOptions = Parameters<Client['sendCommand']>[1];

const AS_BYTES = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } as const;
/** INCRBY answers a 64-bit integer; as a JS number it would lose digits above 2^53. */
const AS_TEXT = { typeMapping: { [RESP_TYPES.NUMBER]: String } } as const;
/** SCAN MATCH is a glob: these characters in a bucket identifier must match only themselves. */
const GLOB_SPECIAL = /[*?[\]\\]/g;

/** The URL for messages and logs: a password must not end up in either. */
function redact(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password !== '') copy.password = '***';
  return copy.href;
}

function parseUrl(text: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // reported below
  }
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
    throw new InvalidArgumentError(`key-value link config url is not a Redis URL`, {
      hint: `use redis://host:port (or rediss:// for TLS), e.g. ${DEFAULT_REDIS_URL}`,
    });
  }
  return url;
}

const bytes = (value: Uint8Array): Buffer => Buffer.from(value.buffer, value.byteOffset, value.byteLength);

/** Redis replies are untyped here; anything but bytes or nil means the key is not a plain string. */
function asValue(reply: unknown): Uint8Array | undefined {
  if (reply === null || reply === undefined) return undefined;
  if (reply instanceof Uint8Array) return new Uint8Array(reply);
  throw new KvUnavailableError(`Redis answered an unexpected reply`);
}

class RedisBackend implements KeyValueBackend {
  readonly kind = 'redis';
  readonly #client: Client;
  readonly #url: string;
  readonly #limits: KeyValueLimits;
  readonly #logger: Logger;
  readonly #prefixKeys: boolean;
  #lastError: unknown;
  #closed = false;

  constructor(client: Client, url: string, limits: KeyValueLimits, logger: Logger, prefixKeys: boolean) {
    this.#client = client;
    this.#url = url;
    this.#limits = limits;
    this.#logger = logger;
    this.#prefixKeys = prefixKeys;
    // node-redis emits 'error' on every failed (re)connect; without a listener Node would crash.
    client.on('error', (err: unknown) => {
      const first = this.#lastError === undefined;
      this.#lastError = err;
      if (first) this.#logger.warn('cannot reach the Redis server; retrying', { url, error: reasonOf(err) });
    });
    client.on('ready', () => {
      if (this.#lastError !== undefined) this.#logger.info('connected to the Redis server again', { url });
      this.#lastError = undefined;
    });
  }

  async connect(deadlineMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const connecting = this.#client.connect();
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deadlineMs);
    });
    try {
      const outcome = await Promise.race([connecting.then(() => 'ready' as const), timedOut]);
      if (outcome === 'ready') return;
    } catch (err) {
      this.#lastError = err;
    } finally {
      clearTimeout(timer);
    }
    // node-redis keeps retrying the first connection; it ends only by being destroyed.
    connecting.catch(() => {});
    this.#client.destroy();
    const last = this.#lastError;
    const what = `cannot connect to Redis at ${this.#url} within ${deadlineMs} ms`;
    if (isAuthRefusal(last)) {
      throw new KvAccessDeniedError(`${what}: ${reasonOf(last)}`, {
        hint: 'put the right user and password in the url (redis://user:password@host:port)',
        cause: last,
      });
    }
    throw new KvUnavailableError(`${what}${last === undefined ? '' : `: ${reasonOf(last)}`}`, {
      hint: 'start the Redis server or correct the url in the key-value link config; raise kvRedisConnectTimeoutMs for a slow network',
      cause: last,
    });
  }

  #key(bucket: string, key: string): string {
    assertKey(bucket, key, this.#limits);
    return this.#prefixKeys ? `${bucket}:${key}` : key;
  }

  #open(bucket: string): void {
    if (this.#closed) throw closedError(this.kind);
    // Unprefixed, the identifier is not used, so any is accepted: wasmCloud's provider takes "" too.
    if (!this.#prefixKeys) return;
    assertBucketId(bucket, this.#limits);
    if (bucket.includes(':')) {
      throw new KvNoSuchStoreError(`bucket identifier ${shown(bucket)} contains ':'`, {
        hint: 'on the redis backend a bucket is the key prefix "<bucket>:"; use an identifier without ":"',
      });
    }
  }

  /** Sends one command and turns any failure into the provider's errors. */
  async #send(what: string, args: (string | Buffer)[], options?: SendOptions): Promise<unknown> {
    try {
      return await this.#client.sendCommand(args, options);
    } catch (err) {
      throw this.#translate(err, what);
    }
  }

  #translate(err: unknown, what: string): Error {
    if (this.#closed) return closedError(this.kind);
    if (err instanceof ErrorReply) {
      if (isAuthRefusal(err)) {
        return new KvAccessDeniedError(`${what}: the Redis server refused it: ${err.message}`, {
          hint: "grant the url's user the command and key pattern (Redis ACL)",
          cause: err,
        });
      }
      return new KvUnavailableError(`${what} failed: Redis answered ${err.message}`, { cause: err });
    }
    const last = this.#lastError === undefined ? '' : ` (${reasonOf(this.#lastError)})`;
    return new KvUnavailableError(`${what} failed: ${reasonOf(err)}; Redis at ${this.#url}${last}`, {
      hint: 'the Redis server is down or slow; the connection is re-established by itself, retry',
      cause: err,
    });
  }

  async open(bucket: string): Promise<void> {
    this.#open(bucket);
  }

  async get(bucket: string, key: string): Promise<Uint8Array | undefined> {
    this.#open(bucket);
    const reply = await this.#send(
      `get of ${shown(bucket)}/${shown(key)}`,
      ['GET', this.#key(bucket, key)],
      AS_BYTES,
    );
    return asValue(reply);
  }

  async set(bucket: string, key: string, value: Uint8Array): Promise<void> {
    this.#open(bucket);
    const stored = this.#key(bucket, key);
    assertValue(bucket, key, value, this.#limits);
    await this.#send(`set of ${shown(bucket)}/${shown(key)}`, ['SET', stored, bytes(value)]);
  }

  async delete(bucket: string, key: string): Promise<void> {
    await this.deleteMany(bucket, [key]);
  }

  async exists(bucket: string, key: string): Promise<boolean> {
    this.#open(bucket);
    const reply = await this.#send(`exists of ${shown(bucket)}/${shown(key)}`, [
      'EXISTS',
      this.#key(bucket, key),
    ]);
    return reply === 1;
  }

  /**
   * SCAN visits the whole database and filters afterwards, so for a small bucket among many keys most
   * rounds find nothing. Rounds continue until one finds keys, the scan ends, or a command timeout's
   * worth of time has passed — then the page goes out as it is, possibly empty, with its cursor.
   */
  async listKeys(bucket: string, cursor?: string): Promise<KeyPage> {
    this.#open(bucket);
    let position = (parseCursor(bucket, cursor) ?? 0n).toString();
    const prefix = this.#prefixKeys ? `${bucket}:` : '';
    const pattern = `${prefix.replace(GLOB_SPECIAL, (c) => `\\${c}`)}*`;
    const count = String(this.#limits.kvListPageSize);
    const until = Date.now() + this.#limits.kvRedisCommandTimeoutMs;
    const keys: string[] = [];
    do {
      const reply = await this.#send(`listing the keys of ${shown(bucket)}`, [
        'SCAN',
        position,
        'MATCH',
        pattern,
        'COUNT',
        count,
      ]);
      const [next, found] = parseScan(reply);
      position = next;
      for (const key of found) if (key.startsWith(prefix)) keys.push(key.slice(prefix.length));
    } while (keys.length === 0 && position !== '0' && Date.now() < until);
    return position === '0' ? { keys } : { keys, cursor: position };
  }

  async increment(bucket: string, key: string, delta: bigint): Promise<bigint> {
    this.#open(bucket);
    const stored = this.#key(bucket, key);
    assertDelta(bucket, key, delta);
    try {
      const reply = await this.#client.sendCommand(['INCRBY', stored, delta.toString()], AS_TEXT);
      if (typeof reply !== 'string' && typeof reply !== 'number') throw new TypeError('INCRBY reply');
      return BigInt(reply);
    } catch (err) {
      if (err instanceof ErrorReply && /not an integer/i.test(err.message))
        throw notAnInteger(bucket, key, err);
      if (err instanceof ErrorReply && /overflow/i.test(err.message)) throw overflow(bucket, key, delta, err);
      throw this.#translate(err, `increment of ${shown(bucket)}/${shown(key)}`);
    }
  }

  async getMany(bucket: string, keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    this.#open(bucket);
    assertBatch(bucket, keys.length, this.#limits);
    const stored = keys.map((key) => this.#key(bucket, key));
    if (stored.length === 0) return [];
    const reply = await this.#send(`get-many of ${shown(bucket)}`, ['MGET', ...stored], AS_BYTES);
    if (!Array.isArray(reply) || reply.length !== keys.length) {
      throw new KvUnavailableError(`get-many of ${shown(bucket)}: Redis answered an unexpected reply`);
    }
    return reply.map(asValue);
  }

  async setMany(bucket: string, entries: readonly (readonly [string, Uint8Array])[]): Promise<void> {
    this.#open(bucket);
    assertBatch(bucket, entries.length, this.#limits);
    const args: (string | Buffer)[] = ['MSET'];
    for (const [key, value] of entries) {
      args.push(this.#key(bucket, key));
      assertValue(bucket, key, value, this.#limits);
      args.push(bytes(value));
    }
    if (entries.length === 0) return;
    // MSET is atomic, and like the other backends a later entry for the same key wins.
    await this.#send(`set-many of ${shown(bucket)}`, args);
  }

  async deleteMany(bucket: string, keys: readonly string[]): Promise<void> {
    this.#open(bucket);
    assertBatch(bucket, keys.length, this.#limits);
    const stored = keys.map((key) => this.#key(bucket, key));
    if (stored.length === 0) return;
    await this.#send(`delete of ${shown(bucket)}`, ['DEL', ...stored]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // destroy, not quit: a dead server would never answer QUIT. Commands still waiting fail at once.
    this.#client.destroy();
  }
}

function parseScan(reply: unknown): [string, string[]] {
  if (Array.isArray(reply) && reply.length === 2) {
    const [next, keys] = reply as unknown[];
    if (typeof next === 'string' && Array.isArray(keys) && keys.every((k) => typeof k === 'string')) {
      return [next, keys];
    }
  }
  throw new KvUnavailableError('Redis answered SCAN with an unexpected reply');
}

function reasonOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return reasonOf(err.errors[0]);
  if (err instanceof Error) return err.message === '' ? err.name : err.message;
  return String(err);
}

function isAuthRefusal(err: unknown): boolean {
  return err instanceof ErrorReply && /^(NOAUTH|WRONGPASS|NOPERM)\b/.test(err.message);
}

/**
 * Connects to the Redis server at `options.url` and returns the backend; fails with KV_UNAVAILABLE
 * (or KV_ACCESS_DENIED for refused credentials) when no connection is ready within
 * `kvRedisConnectTimeoutMs`.
 */
export async function createRedisBackend(options: RedisBackendOptions): Promise<KeyValueBackend> {
  const url = parseUrl(options.url);
  const { limits } = options;
  const shownUrl = redact(url);
  let connected = false;
  const client = newClient(url, limits, (cause) => !connected && isAuthRefusal(cause));
  const backend = new RedisBackend(
    client,
    shownUrl,
    limits,
    options.logger ?? silentLogger,
    options.prefixKeys ?? true,
  );
  await backend.connect(limits.kvRedisConnectTimeoutMs);
  connected = true;
  return backend;
}
