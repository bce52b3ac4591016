/**
 * The stand-ins for wasmCloud's keyvalue-nats and keyvalue-redis providers: their 1.x link and
 * provider config read into the built-in's backends, and the providers run with that config against a
 * real redis-server and real nats-servers (plain, with JWT users, with TLS), where the data must land
 * where wasmCloud's providers would put it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import type { LatticeConnection, MemoryLattice } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import { resolveLimits } from '@cirrus/protocol';
import type { LogFields, Logger, StringMap } from '@cirrus/protocol';
import type { BuiltinProvider, CapabilityProvider, ImportSource, ResolvedLink } from '@cirrus/provider-core';
import type { HostResource, ImportCall } from '@cirrus/runtime';
import type { NatsOperator, NatsServer, RedisServer, TempDir, TlsFiles } from '@cirrus/testing';
import {
  createNatsOperator,
  generateTlsFiles,
  startNatsServer,
  startRedisServer,
  tempDir,
  waitFor,
} from '@cirrus/testing';
import { createClient } from '@redis/client';
import { DEFAULT_REDIS_URL } from '../src/backends/index.ts';
import { keyValueBinding } from '../src/wire.ts';
import {
  keyValueNatsProvider,
  keyValueNatsSettings,
  keyValueRedisProvider,
  keyValueRedisSettings,
} from '../src/wasmcloud.ts';

const limits = resolveLimits({ kvRedisConnectTimeoutMs: 2_000, natsConnectTimeoutMs: 2_000 });
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b);
/** Without the properties left undefined, as the backend cache key (JSON) sees a spec. */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));
const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;
const hasCode =
  (code: string) =>
  (err: unknown): boolean => {
    assert.equal(codeOf(err), code, `expected ${code}, got ${String(err)}`);
    return true;
  };

describe('keyvalue-nats link config', () => {
  it('takes bucket as the bucket of the link, on the lattice connection without cluster_uri', () => {
    assert.deepEqual(keyValueNatsSettings({ bucket: 'wasmcloud', enable_bucket_auto_create: 'true' }, {}), {
      backend: { kind: 'nats' },
      bucket: 'wasmcloud',
      ignored: [],
    });
  });

  it('leaves the identifier to name the bucket when no bucket is given', () => {
    assert.equal(keyValueNatsSettings({}, {}).bucket, undefined);
  });

  it('connects to cluster_uri with the JWT, seed, CA file and JetStream domain, keys in any case', () => {
    const settings = keyValueNatsSettings(
      {
        BUCKET: 'orders',
        CLUSTER_URI: 'nats://a:4222,nats://b:4222',
        client_jwt: 'eyJ0',
        client_seed: 'SUAM',
        tls_ca_file: '/etc/ca.pem',
        js_domain: 'hub',
      },
      {},
    );
    assert.deepEqual(plain(settings), {
      backend: {
        kind: 'nats',
        server: {
          servers: 'nats://a:4222,nats://b:4222',
          credentials: { jwt: 'eyJ0', seed: 'SUAM' },
          caFile: '/etc/ca.pem',
          jsDomain: 'hub',
        },
      },
      bucket: 'orders',
    });
  });

  it("overrides the provider's config key by key, as wasmCloud merges them", () => {
    const settings = keyValueNatsSettings(
      { bucket: 'mine' },
      { cluster_uri: 'nats://shared:4222', bucket: 'default_bucket' },
    );
    assert.equal(settings.bucket, 'mine');
    assert.deepEqual(plain(settings.backend), { kind: 'nats', server: { servers: 'nats://shared:4222' } });
  });

  it('names the connection keys it does not honour without cluster_uri', () => {
    const { backend, ignored } = keyValueNatsSettings(
      { bucket: 'b', js_domain: 'hub', client_jwt: 'j', client_seed: 's' },
      {},
    );
    assert.deepEqual(backend, { kind: 'nats' });
    assert.deepEqual(
      ignored?.map((entry) => entry.split(' ')[0]),
      ['js_domain', 'client_jwt', 'client_seed'],
    );
    assert.match(ignored?.[0] ?? '', /lattice connection/);
  });

  it('refuses a JWT without its seed, a seed without its JWT, and an inline tls_ca, with INVALID_ARGUMENT', () => {
    const uri = { cluster_uri: 'nats://127.0.0.1:4222' };
    assert.throws(() => keyValueNatsSettings({ ...uri, client_jwt: 'j' }, {}), hasCode('INVALID_ARGUMENT'));
    assert.throws(() => keyValueNatsSettings({ ...uri, client_seed: 's' }, {}), hasCode('INVALID_ARGUMENT'));
    assert.throws(
      () => keyValueNatsSettings({ ...uri, tls_ca: '-----BEGIN CERTIFICATE-----' }, {}),
      (err) => hasCode('INVALID_ARGUMENT')(err) && /tls_ca_file/.test((err as { hint?: string }).hint ?? ''),
    );
  });
});

describe('keyvalue-redis link config', () => {
  it("takes the link's URL in any case, and keeps keys without a bucket prefix", () => {
    for (const key of ['URL', 'url', 'Url']) {
      assert.deepEqual(keyValueRedisSettings({ [key]: 'redis://db:6380' }, { URL: 'redis://other' }), {
        backend: { kind: 'redis', url: 'redis://db:6380', prefixKeys: false },
        ignored: [],
      });
    }
  });

  it("falls back to the provider's URL, then to redis://127.0.0.1:6379", () => {
    assert.deepEqual(keyValueRedisSettings({}, { url: 'redis://default:6379' }).backend, {
      kind: 'redis',
      url: 'redis://default:6379',
      prefixKeys: false,
    });
    assert.deepEqual(keyValueRedisSettings({}, {}).backend, {
      kind: 'redis',
      url: DEFAULT_REDIS_URL,
      prefixKeys: false,
    });
  });

  it('refuses a link without a URL when DISABLE_DEFAULT_CONNECTION is set in either config', () => {
    for (const [link, provider] of [
      [{ DISABLE_DEFAULT_CONNECTION: 'true' }, { URL: 'redis://default:6379' }],
      [{}, { disable_default_connection: '' }],
    ] as [StringMap, StringMap][]) {
      assert.throws(() => keyValueRedisSettings(link, provider), hasCode('INVALID_ARGUMENT'));
    }
    const allowed = keyValueRedisSettings(
      { URL: 'redis://own:6379' },
      { DISABLE_DEFAULT_CONNECTION: 'true' },
    );
    assert.equal(allowed.backend.kind === 'redis' && allowed.backend.url, 'redis://own:6379');
  });

  it("names the connection timings it leaves to the host's limits", () => {
    const { ignored } = keyValueRedisSettings(
      {
        URL: 'redis://db:6379',
        BACKEND_RESPONSE_TIMEOUT_MS: '500',
        backend_reconnect_num_retries: '3',
        SHARE_CONNECTIONS_BY_URL: 'true',
      },
      {},
    );
    assert.deepEqual(ignored, [
      "BACKEND_RESPONSE_TIMEOUT_MS (the host's kvRedisCommandTimeoutMs applies)",
      'BACKEND_RECONNECT_NUM_RETRIES (a lost connection is retried for as long as it takes)',
    ]);
  });
});

// --- the providers, running ------------------------------------------------------------------------

interface Running {
  provider: CapabilityProvider;
  warnings: LogFields[];
}

function recordingLogger(warnings: LogFields[]): Logger {
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (message, fields) => warnings.push({ message, ...fields }),
    error: () => {},
    child: () => logger,
  };
  return logger;
}

async function start(
  builtin: BuiltinProvider,
  connection: LatticeConnection,
  config: StringMap = {},
): Promise<Running> {
  const warnings: LogFields[] = [];
  const provider = await builtin.start({
    providerId: 'kv',
    hostId: 'host',
    lattice: 'default',
    connection,
    config,
    logger: recordingLogger(warnings),
    limits,
    components: {
      handleHttp: () => Promise.reject(new Error('not used')),
      invoke: () => Promise.reject(new Error('not used')),
    },
  });
  return { provider, warnings };
}

function link(targetConfig: StringMap, name = 'default'): ResolvedLink {
  return {
    source_id: 'counter',
    target: 'kv',
    name,
    wit_namespace: 'wasi',
    wit_package: 'keyvalue',
    interfaces: ['store', 'atomics'],
    source_config: {},
    target_config: targetConfig,
  };
}

const SOURCE: ImportSource = {
  sourceId: 'counter',
  linkName: 'default',
  componentConfig: async () => ({}),
  invocation: 1,
};

type Result = { tag: 'ok'; val: unknown } | { tag: 'err'; val: unknown };

/** Calls an export of the provider the way the host does for a component's import. */
async function call(
  provider: CapabilityProvider,
  iface: string,
  fn: string,
  ...args: unknown[]
): Promise<unknown> {
  const handler = provider.exports?.[iface]?.[fn] as ((...a: unknown[]) => Promise<Result>) | undefined;
  assert.ok(handler !== undefined, `${iface} ${fn}`);
  const result = await handler(SOURCE, ...args);
  assert.equal(
    result.tag,
    'ok',
    JSON.stringify(result.val, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
  );
  return result.val;
}

async function open(provider: CapabilityProvider, identifier: string): Promise<unknown> {
  return ((await call(provider, 'wasi:keyvalue/store', 'open', identifier)) as HostResource).value;
}

describe('keyvalue-redis provider against a redis-server', () => {
  let server: RedisServer;
  let memory: MemoryLattice;
  let raw: ReturnType<typeof createClient>;

  before(async () => {
    server = await startRedisServer();
    memory = createMemoryLattice();
    raw = createClient({ url: server.url });
    await raw.connect();
  });

  after(async () => {
    raw?.destroy();
    await memory?.close();
    await server?.stop();
  });

  it("serves a link with wasmCloud's URL key, storing keys as they are whatever bucket is opened", async () => {
    const { provider, warnings } = await start(keyValueRedisProvider, memory.connect());
    try {
      await provider.receiveLinkAsTarget?.(link({ URL: server.url, BACKEND_CONNECTION_TIMEOUT_MS: '100' }));
      const bucket = await open(provider, 'default');
      assert.equal(await call(provider, 'wasi:keyvalue/atomics', 'increment', bucket, '/counter', 1n), 1n);
      assert.equal(await call(provider, 'wasi:keyvalue/atomics', 'increment', bucket, '/counter', 1n), 2n);
      assert.equal(await raw.get('/counter'), '2');
      // wasmCloud's provider ignores the identifier, and recommends "": the same keys either way.
      const unnamed = await open(provider, '');
      await raw.set('written-by-wasmcloud', 'hello');
      const value = await call(
        provider,
        'wasi:keyvalue/store',
        'bucket.get',
        unnamed,
        'written-by-wasmcloud',
      );
      assert.equal(str(value as Uint8Array), 'hello');
      const page = (await call(provider, 'wasi:keyvalue/store', 'bucket.list-keys', unnamed, undefined)) as {
        keys: string[];
      };
      assert.deepEqual(page.keys.sort(), ['/counter', 'written-by-wasmcloud']);
      assert.deepEqual(
        warnings.map((w) => [w['message'], w['ignored']]),
        [
          [
            'key-value link config not honoured',
            "BACKEND_CONNECTION_TIMEOUT_MS (the host's kvRedisConnectTimeoutMs applies)",
          ],
        ],
      );
    } finally {
      await provider.shutdown();
    }
  });

  it("uses the provider's URL for a link without one, unless the default connection is disabled", async () => {
    const { provider } = await start(keyValueRedisProvider, memory.connect(), { URL: server.url });
    try {
      await provider.receiveLinkAsTarget?.(link({}));
      await call(
        provider,
        'wasi:keyvalue/store',
        'bucket.set',
        await open(provider, 'x'),
        'from-default',
        text('1'),
      );
      assert.equal(await raw.get('from-default'), '1');
      await assert.rejects(
        provider.receiveLinkAsTarget?.(link({ DISABLE_DEFAULT_CONNECTION: 'true' }, 'strict')) ??
          Promise.resolve(),
        hasCode('INVALID_ARGUMENT'),
      );
    } finally {
      await provider.shutdown();
    }
  });
});

describe('keyvalue-nats provider', () => {
  it("keeps the data in the link's bucket, whatever identifier the component opens, also for calls from other hosts", async () => {
    const memory = createMemoryLattice();
    const connection = memory.connect();
    const { provider } = await start(keyValueNatsProvider, connection);
    try {
      await provider.receiveLinkAsTarget?.(link({ bucket: 'wasmcloud', enable_bucket_auto_create: 'true' }));
      const bucket = await open(provider, 'default');
      await call(provider, 'wasi:keyvalue/store', 'bucket.set', bucket, 'here', text('local'));
      const kv = await connection.kv('wasmcloud');
      assert.equal((await kv.get('here'))?.string(), 'local');

      // A component on another host sends the identifier it opened over wrpc:keyvalue.
      const remote = { connection: memory.connect(), lattice: 'default', limits };
      const fromAfar = (importCall: Omit<ImportCall, 'invocation'>): Promise<unknown> =>
        keyValueBinding.invoke(remote, 'kv', { ...importCall, invocation: 2 }, SOURCE);
      const opened = (await fromAfar({
        interface: 'wasi:keyvalue/store',
        fn: 'open',
        args: ['default'],
      })) as Result;
      assert.equal(opened.tag, 'ok');
      const set = await fromAfar({
        interface: 'wasi:keyvalue/store',
        resource: 'bucket',
        fn: 'set',
        self: (opened.val as HostResource).value,
        args: ['there', text('remote')],
      });
      assert.deepEqual(set, { tag: 'ok', val: undefined });
      assert.equal((await kv.get('there'))?.string(), 'remote');
      assert.equal((await (await connection.kv('default')).keys()).length, 0);
      await remote.connection.close();
    } finally {
      await provider.shutdown();
      await connection.close();
      await memory.close();
    }
  });

  it("fails a link whose bucket holds the lattice's own data with KV_ACCESS_DENIED", async () => {
    const memory = createMemoryLattice();
    const { provider } = await start(keyValueNatsProvider, memory.connect());
    try {
      await assert.rejects(
        provider.receiveLinkAsTarget?.(link({ bucket: 'LATTICEDATA_default' })) ?? Promise.resolve(),
        hasCode('KV_ACCESS_DENIED'),
      );
    } finally {
      await provider.shutdown();
      await memory.close();
    }
  });

  it('warns about connection keys without cluster_uri and keeps using the lattice connection', async () => {
    const memory = createMemoryLattice();
    const connection = memory.connect();
    const { provider, warnings } = await start(keyValueNatsProvider, connection);
    try {
      await provider.receiveLinkAsTarget?.(link({ bucket: 'b', js_domain: 'hub' }));
      await call(
        provider,
        'wasi:keyvalue/store',
        'bucket.set',
        await open(provider, 'default'),
        'k',
        text('v'),
      );
      assert.equal((await (await connection.kv('b')).get('k'))?.string(), 'v');
      assert.equal(warnings.length, 1);
      assert.match(String(warnings[0]?.['ignored']), /^js_domain \(/);
    } finally {
      await provider.shutdown();
      await memory.close();
    }
  });

  describe('with cluster_uri: a NATS connection of its own', () => {
    let dir: TempDir;
    let operator: NatsOperator;
    let secured: NatsServer;
    let files: TlsFiles;
    let tlsServer: NatsServer;

    before(async () => {
      dir = await tempDir();
      operator = createNatsOperator();
      secured = await startNatsServer({ operator: operator.config });
      files = await generateTlsFiles(dir.path);
      tlsServer = await startNatsServer({
        tls: { certFile: files.serverCertFile, keyFile: files.serverKeyFile },
      });
    });

    after(async () => {
      await secured?.stop();
      await tlsServer?.stop();
      await dir?.remove();
    });

    const connections = async (server: NatsServer): Promise<number> =>
      ((await (await fetch(`${server.monitorUrl}/connz`)).json()) as { num_connections: number })
        .num_connections;

    it('reaches the server as the JWT user, keeps the bucket there, and closes the connection on shutdown', async () => {
      const memory = createMemoryLattice();
      const user = operator.user('kv');
      const { provider } = await start(keyValueNatsProvider, memory.connect());
      try {
        await provider.receiveLinkAsTarget?.(
          link({ bucket: 'ORDERS', cluster_uri: secured.url, client_jwt: user.jwt, client_seed: user.seed }),
        );
        await call(provider, 'wasi:keyvalue/atomics', 'increment', await open(provider, 'default'), 'n', 5n);
        const reader = operator.user('reader');
        const check = await connectNats({
          servers: secured.url,
          credentials: { type: 'jwt', jwt: reader.jwt, seed: reader.seed },
        });
        try {
          assert.equal((await (await check.kv('ORDERS')).get('n'))?.string(), '5');
          assert.equal(await connections(secured), 2);
        } finally {
          await check.close();
        }
      } finally {
        await provider.shutdown();
        await memory.close();
      }
      await waitFor(
        async () => ((await connections(secured)) === 0 ? true : undefined),
        5_000,
        'no connections',
      );
    });

    it('fails the link when the server refuses the user, with LATTICE_AUTH_FAILED', async () => {
      const memory = createMemoryLattice();
      const stranger = operator.strangerCreds('intruder');
      const { provider } = await start(keyValueNatsProvider, memory.connect());
      try {
        await assert.rejects(
          provider.receiveLinkAsTarget?.(
            link({
              bucket: 'ORDERS',
              cluster_uri: secured.url,
              client_jwt: stranger.jwt,
              client_seed: stranger.seed,
            }),
          ) ?? Promise.resolve(),
          hasCode('LATTICE_AUTH_FAILED'),
        );
      } finally {
        await provider.shutdown();
        await memory.close();
      }
    });

    it('trusts the server certificate through tls_ca_file', async () => {
      const memory = createMemoryLattice();
      const { provider } = await start(keyValueNatsProvider, memory.connect());
      try {
        await provider.receiveLinkAsTarget?.(
          link({ bucket: 'secure', cluster_uri: tlsServer.url, tls_ca_file: files.caFile }),
        );
        await call(
          provider,
          'wasi:keyvalue/store',
          'bucket.set',
          await open(provider, 'default'),
          'k',
          text('tls'),
        );
        const check = await connectNats({ servers: tlsServer.url, tls: { caFile: files.caFile } });
        try {
          assert.equal((await (await check.kv('secure')).get('k'))?.string(), 'tls');
        } finally {
          await check.close();
        }
      } finally {
        await provider.shutdown();
        await memory.close();
      }
    });
  });
});
