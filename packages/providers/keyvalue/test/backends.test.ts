/**
 * The key-value provider's storage backends against one contract: in-memory, Redis (a real
 * redis-server started by the test), and NATS (on a real nats-server with JetStream, and on the
 * embedded in-memory lattice). What a component sees through wasi:keyvalue must not depend on which
 * backend its link chose; a test that passes for one backend and fails for another is a bug in that
 * backend. After the shared suite come the failure modes only one backend has: a full memory store,
 * a Redis server that goes away or refuses credentials, NATS bucket naming.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import type { LatticeConnection } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { LimitName, Limits } from '@cirrus/protocol';
import { resolveLimits } from '@cirrus/protocol';
import type { NatsServer, RedisServer } from '@cirrus/testing';
import { freePort, startNatsServer, startRedisServer, waitFor, withDeadline } from '@cirrus/testing';
import { createClient } from '@redis/client';
import type { KeyValueBackend } from '../src/backends/index.ts';
import {
  backendSpec,
  createKeyValueBackend,
  createMemoryBackend,
  createNatsBackend,
  createRedisBackend,
} from '../src/backends/index.ts';

/** Small limits, so that paging, size and batch limits are reached with little data. */
const TEST_LIMITS: Partial<Record<LimitName, number>> = {
  kvListPageSize: 10,
  kvMaxValueBytes: 4096,
  kvMaxKeyBytes: 64,
  kvBatchMaxKeys: 50,
  kvRedisConnectTimeoutMs: 2_000,
  kvRedisCommandTimeoutMs: 1_000,
  kvRedisReconnectWaitMs: 100,
  natsKvTimeoutMs: 1_000,
  natsReconnectWaitMs: 50,
};
const limits: Limits = resolveLimits(TEST_LIMITS);
/** A failure must arrive well within this, never as a hang. */
const FAIL_FAST_MS = 3_000;

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined): string | undefined =>
  b === undefined ? undefined : new TextDecoder().decode(b);
const unique = (): string => `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;
const hasCode =
  (code: string) =>
  (err: unknown): boolean => {
    assert.equal(codeOf(err), code, `expected ${code}, got ${String(err)}`);
    return true;
  };

interface Target {
  /** A fresh backend on the shared store (each test uses its own buckets). */
  open(): Promise<KeyValueBackend>;
  teardown(): Promise<void>;
  /** Redis SCAN treats the page size as a hint: a page may hold a few keys more. */
  exactPages: boolean;
}

function keyValueContract(name: string, setup: () => Promise<Target>): void {
  describe(`key-value contract: ${name}`, () => {
    let target: Target;
    let kv: KeyValueBackend;

    before(async () => {
      target = await setup();
      kv = await target.open();
    });

    after(async () => {
      await kv?.close();
      await target?.teardown();
    });

    it('stores, reads, overwrites and deletes a value, and exists follows it', async () => {
      const b = unique();
      assert.equal(await kv.get(b, 'greeting'), undefined);
      assert.equal(await kv.exists(b, 'greeting'), false);
      await kv.set(b, 'greeting', text('hello'));
      assert.equal(str(await kv.get(b, 'greeting')), 'hello');
      assert.equal(await kv.exists(b, 'greeting'), true);
      await kv.set(b, 'greeting', text('bye'));
      assert.equal(str(await kv.get(b, 'greeting')), 'bye');
      await kv.delete(b, 'greeting');
      assert.equal(await kv.get(b, 'greeting'), undefined);
      assert.equal(await kv.exists(b, 'greeting'), false);
      await kv.delete(b, 'greeting');
    });

    it('keeps binary values byte for byte, and an empty value is a value that exists', async () => {
      const b = unique();
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      await kv.set(b, 'bytes', all);
      assert.deepEqual(await kv.get(b, 'bytes'), all);
      await kv.set(b, 'empty', new Uint8Array(0));
      assert.deepEqual(await kv.get(b, 'empty'), new Uint8Array(0));
      assert.equal(await kv.exists(b, 'empty'), true);
    });

    it('stores a copy: changing the caller’s buffer afterwards changes nothing stored', async () => {
      const b = unique();
      const buffer = text('abc');
      await kv.set(b, 'k', buffer);
      buffer[0] = 0x7a;
      const got = await kv.get(b, 'k');
      assert.equal(str(got), 'abc');
      if (got !== undefined) got[1] = 0x7a;
      assert.equal(str(await kv.get(b, 'k')), 'abc');
    });

    it('takes any non-empty Unicode key: spaces, colons, dots, equals signs, non-ASCII', async () => {
      const b = unique();
      const keys = ['a b', 'user:42', 'x.y', '.lead', 'trail.', 'a..b', 'k=v', '=41', 'ключ', '🔑', '*', '>'];
      for (const key of keys) await kv.set(b, key, text(`v-${key}`));
      for (const key of keys) assert.equal(str(await kv.get(b, key)), `v-${key}`, key);
      assert.deepEqual((await listAll(kv, b)).sort(), [...keys].sort());
    });

    it('lists every key exactly once across pages, following the cursor to the end', async () => {
      const b = unique();
      const keys = Array.from({ length: 25 }, (_, i) => `key-${i}`);
      await kv.setMany(
        b,
        keys.map((k) => [k, text(k)] as const),
      );
      const pages: string[][] = [];
      let cursor: string | undefined;
      do {
        const page = await kv.listKeys(b, cursor);
        pages.push(page.keys);
        if (target.exactPages)
          assert.ok(page.keys.length <= limits.kvListPageSize, 'page within the page size');
        if (page.cursor !== undefined) assert.match(page.cursor, /^[0-9]+$/, 'cursor is a u64 in decimal');
        cursor = page.cursor;
        assert.ok(pages.length <= 100, 'the listing ends');
      } while (cursor !== undefined);
      const seen = pages.flat();
      assert.ok(pages.length >= 2, `more keys than a page take more than one page (got ${pages.length})`);
      assert.deepEqual([...new Set(seen)].sort(), [...keys].sort());
      if (target.exactPages) assert.equal(seen.length, keys.length, 'no key repeated');
    });

    it('lists an empty or never used bucket as no keys and no cursor', async () => {
      assert.deepEqual(await kv.listKeys(unique()), { keys: [] });
    });

    it('rejects a cursor that is not an unsigned 64-bit decimal with INVALID_ARGUMENT', async () => {
      for (const bad of ['-1', 'abc', '1.5', '18446744073709551616', '']) {
        await assert.rejects(kv.listKeys(unique(), bad), hasCode('INVALID_ARGUMENT'), bad);
      }
    });

    it('increments a missing key from 0, then an existing counter, also by negative deltas', async () => {
      const b = unique();
      assert.equal(await kv.increment(b, 'n', 5n), 5n);
      assert.equal(await kv.increment(b, 'n', 3n), 8n);
      assert.equal(await kv.increment(b, 'n', -10n), -2n);
      assert.equal(str(await kv.get(b, 'n')), '-2', 'counters are stored as decimal text');
      await kv.set(b, 'm', text('41'));
      assert.equal(await kv.increment(b, 'm', 1n), 42n);
      assert.equal(await kv.increment(b, 'big', 9007199254740993n), 9007199254740993n, 'no loss above 2^53');
    });

    it('refuses to increment a value that is not a decimal integer with KV_NOT_AN_INTEGER, changing nothing', async () => {
      const b = unique();
      for (const bad of ['abc', '1.5', ' 1', '01', '+1', '', '99999999999999999999']) {
        await kv.set(b, 'n', text(bad));
        await assert.rejects(kv.increment(b, 'n', 1n), hasCode('KV_NOT_AN_INTEGER'), JSON.stringify(bad));
        assert.equal(str(await kv.get(b, 'n')), bad);
      }
      await kv.set(b, 'bin', Uint8Array.of(0xff, 0x00));
      await assert.rejects(kv.increment(b, 'bin', 1n), hasCode('KV_NOT_AN_INTEGER'));
    });

    it('refuses an increment that would leave the signed 64-bit range with KV_NOT_AN_INTEGER', async () => {
      const b = unique();
      await kv.set(b, 'max', text('9223372036854775807'));
      await assert.rejects(kv.increment(b, 'max', 1n), hasCode('KV_NOT_AN_INTEGER'));
      assert.equal(str(await kv.get(b, 'max')), '9223372036854775807');
      await assert.rejects(kv.increment(b, 'n', 1n << 63n), hasCode('INVALID_ARGUMENT'));
    });

    it('ends at the exact total when 20 callers increment one key at the same time', async () => {
      const b = unique();
      const results = await withDeadline(
        Promise.all(Array.from({ length: 20 }, (_, i) => kv.increment(b, 'hits', BigInt(i + 1)))),
        15_000,
        '20 concurrent increments',
      );
      assert.equal(await kv.increment(b, 'hits', 0n), 210n);
      // Each caller saw a distinct intermediate total: no two increments were applied to the same value.
      assert.equal(new Set(results).size, 20);
    });

    it('gets, sets and deletes many keys at once, in the order asked, a later duplicate winning', async () => {
      const b = unique();
      await kv.setMany(b, [
        ['a', text('1')],
        ['b', text('2')],
        ['a', text('3')],
      ]);
      const got = await kv.getMany(b, ['b', 'missing', 'a']);
      assert.deepEqual(got.map(str), ['2', undefined, '3']);
      await kv.deleteMany(b, ['a', 'missing']);
      assert.deepEqual((await kv.getMany(b, ['a', 'b'])).map(str), [undefined, '2']);
      assert.deepEqual(await kv.getMany(b, []), []);
      await kv.setMany(b, []);
      await kv.deleteMany(b, []);
    });

    it('keeps buckets apart, also when one identifier is a prefix of the other', async () => {
      const one = unique();
      const two = `${one}x`;
      await kv.set(one, 'k', text('one'));
      await kv.set(two, 'k', text('two'));
      assert.equal(str(await kv.get(one, 'k')), 'one');
      assert.equal(str(await kv.get(two, 'k')), 'two');
      await kv.set(two, 'only-two', text('x'));
      assert.deepEqual(await listAll(kv, one), ['k']);
      assert.equal(await kv.increment(one, 'c', 1n), 1n);
      assert.equal(await kv.exists(two, 'c'), false);
      await kv.delete(one, 'k');
      assert.equal(str(await kv.get(two, 'k')), 'two');
    });

    it('refuses a value over kvMaxValueBytes with PAYLOAD_TOO_LARGE and stores nothing of the batch', async () => {
      const b = unique();
      const big = new Uint8Array(limits.kvMaxValueBytes + 1);
      await assert.rejects(kv.set(b, 'big', big), hasCode('PAYLOAD_TOO_LARGE'));
      await kv.set(b, 'fits', new Uint8Array(limits.kvMaxValueBytes));
      await assert.rejects(
        kv.setMany(b, [
          ['small', text('s')],
          ['big', big],
        ]),
        hasCode('PAYLOAD_TOO_LARGE'),
      );
      assert.deepEqual((await kv.getMany(b, ['big', 'small'])).map(str), [undefined, undefined]);
    });

    it('refuses empty, overlong and malformed keys with INVALID_KEY', async () => {
      const b = unique();
      const tooLong = 'é'.repeat(limits.kvMaxKeyBytes / 2 + 1); // within the limit in characters, not in bytes
      for (const bad of ['', tooLong, '\uD800']) {
        await assert.rejects(kv.set(b, bad, text('x')), hasCode('INVALID_KEY'), JSON.stringify(bad));
        await assert.rejects(kv.get(b, bad), hasCode('INVALID_KEY'));
        await assert.rejects(kv.increment(b, bad, 1n), hasCode('INVALID_KEY'));
        await assert.rejects(kv.getMany(b, ['ok', bad]), hasCode('INVALID_KEY'));
      }
      await kv.set(b, 'k'.repeat(limits.kvMaxKeyBytes), text('longest'));
    });

    it('refuses a bucket identifier it cannot name with KV_NO_SUCH_STORE, already when opening', async () => {
      await kv.open(unique());
      for (const bad of ['', 'b'.repeat(limits.kvMaxKeyBytes + 1), '\uDC00']) {
        await assert.rejects(kv.open(bad), hasCode('KV_NO_SUCH_STORE'), JSON.stringify(bad));
        await assert.rejects(kv.get(bad, 'k'), hasCode('KV_NO_SUCH_STORE'), JSON.stringify(bad));
        await assert.rejects(kv.listKeys(bad), hasCode('KV_NO_SUCH_STORE'));
      }
    });

    it('refuses batches above kvBatchMaxKeys with INVALID_ARGUMENT', async () => {
      const keys = Array.from({ length: limits.kvBatchMaxKeys + 1 }, (_, i) => `k${i}`);
      await assert.rejects(kv.getMany(unique(), keys), hasCode('INVALID_ARGUMENT'));
      await assert.rejects(kv.deleteMany(unique(), keys), hasCode('INVALID_ARGUMENT'));
      await assert.rejects(
        kv.setMany(
          unique(),
          keys.map((k) => [k, text('v')] as const),
        ),
        hasCode('INVALID_ARGUMENT'),
      );
    });

    it('fails with KV_UNAVAILABLE once closed, and closing twice is fine', async () => {
      const own = await target.open();
      await own.set(unique(), 'k', text('v'));
      await own.close();
      await own.close();
      await assert.rejects(own.get(unique(), 'k'), hasCode('KV_UNAVAILABLE'));
    });
  });
}

async function listAll(kv: KeyValueBackend, bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1_000; pages++) {
    const page = await kv.listKeys(bucket, cursor);
    keys.push(...page.keys);
    cursor = page.cursor;
    if (cursor === undefined) return [...new Set(keys)];
  }
  throw new Error(`listing ${bucket} did not end`);
}

// --- the backends ----------------------------------------------------------------------------------------

keyValueContract('memory', async () => ({
  open: async () => createMemoryBackend(limits),
  teardown: async () => {},
  exactPages: true,
}));

keyValueContract('redis', async () => {
  const server = await startRedisServer();
  return {
    open: () => createRedisBackend({ url: server.url, limits }),
    teardown: () => server.stop(),
    exactPages: false,
  };
});

keyValueContract('nats (nats-server with JetStream)', async () => {
  const server = await startNatsServer();
  const lattice = await connectNats({ servers: server.url, limits: TEST_LIMITS });
  return {
    open: async () => createNatsBackend(lattice, limits),
    teardown: async () => {
      await lattice.close();
      await server.stop();
    },
    exactPages: true,
  };
});

keyValueContract('nats (embedded in-memory lattice)', async () => {
  const memory = createMemoryLattice({ maxValueBytes: limits.kvMaxValueBytes });
  const lattice = memory.connect();
  return {
    open: async () => createNatsBackend(lattice, limits),
    teardown: () => lattice.close(),
    exactPages: true,
  };
});

// --- what only one backend has ---------------------------------------------------------------------------

describe('in-memory key-value backend', () => {
  it('refuses writes past kvMemoryMaxKeysPerBucket with KV_STORE_FULL, and a delete makes room', async () => {
    const kv = createMemoryBackend(resolveLimits({ ...TEST_LIMITS, kvMemoryMaxKeysPerBucket: 3 }));
    await kv.setMany('b', [
      ['1', text('x')],
      ['2', text('x')],
      ['3', text('x')],
    ]);
    await assert.rejects(kv.set('b', '4', text('x')), hasCode('KV_STORE_FULL'));
    await assert.rejects(kv.increment('b', 'n', 1n), hasCode('KV_STORE_FULL'));
    await kv.set('b', '3', text('overwriting is not a new key'));
    await kv.set('other', '4', text('the limit is per bucket'));
    await kv.delete('b', '1');
    await kv.set('b', '4', text('x'));
    assert.equal(await kv.exists('b', '4'), true);
  });

  it('refuses writes past kvMemoryMaxBytes of keys and values with KV_STORE_FULL, leaving the store as it was', async () => {
    const kv = createMemoryBackend(resolveLimits({ ...TEST_LIMITS, kvMemoryMaxBytes: 1024 }));
    await kv.set('a', 'k', new Uint8Array(1000)); // 1 + 1000 bytes
    await assert.rejects(kv.set('b', 'kk', new Uint8Array(22)), hasCode('KV_STORE_FULL'));
    await kv.set('b', 'k', new Uint8Array(22)); // exactly 1024
    await assert.rejects(kv.setMany('c', [['x', new Uint8Array(1)]]), hasCode('KV_STORE_FULL'));
    assert.equal(await kv.exists('c', 'x'), false);
    await kv.set('a', 'k', new Uint8Array(10)); // shrinking a value frees its bytes
    await kv.set('c', 'x', new Uint8Array(900));
  });

  it('keeps separate stores for separate backends', async () => {
    const one = createMemoryBackend(limits);
    const two = createMemoryBackend(limits);
    await one.set('b', 'k', text('v'));
    assert.equal(await two.exists('b', 'k'), false);
  });
});

describe('key-value backend factory', () => {
  const lattice = (): LatticeConnection => createMemoryLattice().connect();

  it('uses the in-memory backend when config names none', async () => {
    const kv = await createKeyValueBackend(backendSpec({}), { lattice: lattice(), limits });
    assert.equal(kv.kind, 'memory');
    await kv.close();
  });

  it('uses the lattice’s key-value buckets for backend=nats', async () => {
    const conn = lattice();
    const kv = await createKeyValueBackend(backendSpec({ backend: 'nats' }), { lattice: conn, limits });
    assert.equal(kv.kind, 'nats');
    await kv.set('shared', 'k', text('v'));
    assert.equal((await (await conn.kv('shared')).get('k'))?.string(), 'v');
  });

  it('refuses an unknown backend with INVALID_ARGUMENT naming the known ones', () => {
    assert.throws(
      () => backendSpec({ backend: 'etcd' }),
      (err) => {
        assert.equal(codeOf(err), 'INVALID_ARGUMENT');
        assert.match((err as { hint?: string }).hint ?? '', /memory, redis, nats/);
        return true;
      },
    );
  });

  it('refuses a url that is not a Redis URL with INVALID_ARGUMENT', async () => {
    await assert.rejects(
      createKeyValueBackend(backendSpec({ backend: 'redis', url: 'http://127.0.0.1:6379' }), {
        lattice: lattice(),
        limits,
      }),
      hasCode('INVALID_ARGUMENT'),
    );
  });
});

describe('redis key-value backend', () => {
  let server: RedisServer;

  before(async () => {
    server = await startRedisServer();
  });

  after(async () => {
    await server?.stop();
  });

  it('stores bucket b’s key k as the Redis key "b:k", and refuses identifiers with ":"', async () => {
    const kv = await createRedisBackend({ url: server.url, limits });
    const raw = createClient({ url: server.url, RESP: 2 });
    await raw.connect();
    try {
      await kv.set('app', 'counter', text('1'));
      assert.equal(await raw.get('app:counter'), '1');
      await raw.set('app:from-elsewhere', 'x');
      assert.deepEqual((await listAll(kv, 'app')).sort(), ['counter', 'from-elsewhere']);
      await assert.rejects(kv.open('a:b'), hasCode('KV_NO_SUCH_STORE'));
      await assert.rejects(kv.get('a:b', 'k'), hasCode('KV_NO_SUCH_STORE'));
    } finally {
      raw.destroy();
      await kv.close();
    }
  });

  it('matches bucket identifiers with glob characters literally when listing', async () => {
    const kv = await createRedisBackend({ url: server.url, limits });
    await kv.set('g*', 'k1', text('1'));
    await kv.set('gx', 'k2', text('2'));
    await kv.set('g[x]', 'k3', text('3'));
    assert.deepEqual(await listAll(kv, 'g*'), ['k1']);
    assert.deepEqual(await listAll(kv, 'g[x]'), ['k3']);
    await kv.close();
  });

  it('fails with KV_UNAVAILABLE after kvRedisConnectTimeoutMs when nothing listens at the url', async () => {
    const port = await freePort();
    const quick = resolveLimits({ ...TEST_LIMITS, kvRedisConnectTimeoutMs: 300 });
    const started = Date.now();
    await assert.rejects(
      withDeadline(
        createRedisBackend({ url: `redis://127.0.0.1:${port}`, limits: quick }),
        FAIL_FAST_MS,
        'connect',
      ),
      (err) => {
        assert.equal(codeOf(err), 'KV_UNAVAILABLE');
        assert.match(
          (err as Error).message,
          new RegExp(`127\\.0\\.0\\.1:${port}.* within 300 ms: .*ECONNREFUSED`),
        );
        return true;
      },
    );
    assert.ok(Date.now() - started >= 300, 'it keeps trying until the deadline');
  });

  it('reconnects by itself after a server restart, and fails fast with KV_UNAVAILABLE while the server is down', async () => {
    const own = await startRedisServer();
    try {
      const kv = await createRedisBackend({ url: own.url, limits });
      await kv.set('b', 'k', text('v'));
      await own.restart();
      // Nothing is saved, so the data went with the process; the connection comes back on its own.
      await waitFor(
        () =>
          kv.set('b', 'again', text('yes')).then(
            () => true,
            () => false,
          ),
        5_000,
        'the backend to reconnect',
      );
      assert.equal(str(await kv.get('b', 'again')), 'yes');

      await own.stop();
      for (const op of [
        (): Promise<unknown> => kv.get('b', 'k'),
        () => kv.increment('b', 'n', 1n),
        () => kv.listKeys('b'),
      ]) {
        const started = Date.now();
        await assert.rejects(withDeadline(op(), FAIL_FAST_MS, 'a failure with the server stopped'), (err) => {
          assert.equal(codeOf(err), 'KV_UNAVAILABLE');
          assert.match((err as Error).message, /Redis at redis:\/\/127\.0\.0\.1:/);
          return true;
        });
        assert.ok(
          Date.now() - started <= limits.kvRedisCommandTimeoutMs + 500,
          'no wait beyond the command timeout',
        );
      }
      await kv.close();
    } finally {
      await own.stop();
    }
  });

  it('refuses wrong credentials at once with KV_ACCESS_DENIED, without showing the password', async () => {
    const secured = await startRedisServer({ args: ['--requirepass', 's3cret'] });
    try {
      const url = new URL(secured.url);
      url.password = 'wrong-pass';
      const started = Date.now();
      await assert.rejects(createRedisBackend({ url: url.href, limits }), (err) => {
        assert.ok(
          Date.now() - started < limits.kvRedisConnectTimeoutMs,
          'no waiting for the connect deadline',
        );
        assert.equal(codeOf(err), 'KV_ACCESS_DENIED');
        assert.doesNotMatch((err as Error).message, /wrong-pass/);
        return true;
      });
      url.password = 's3cret';
      const kv = await createRedisBackend({ url: url.href, limits });
      await kv.set('b', 'k', text('v'));
      await kv.close();
    } finally {
      await secured.stop();
    }
  });
});

describe('nats key-value backend', () => {
  let server: NatsServer;
  let lattice: LatticeConnection;

  before(async () => {
    server = await startNatsServer();
    lattice = await connectNats({ servers: server.url, limits: TEST_LIMITS });
  });

  after(async () => {
    await lattice?.close();
    await server?.stop();
  });

  it('uses the identifier as the JetStream bucket and NATS-valid keys as they are, so wasmCloud sees the same data', async () => {
    const kv = createNatsBackend(lattice, limits);
    const bucket = `wc_${unique()}`;
    await kv.set(bucket, 'COMPONENT_x.y', text('plain'));
    await kv.set(bucket, 'user:42 a', text('escaped'));
    const raw = await lattice.kv(bucket);
    assert.equal((await raw.get('COMPONENT_x.y'))?.string(), 'plain');
    assert.equal((await raw.get('user=3A42=20a'))?.string(), 'escaped');
    assert.deepEqual((await listAll(kv, bucket)).sort(), ['COMPONENT_x.y', 'user:42 a']);
    // A key written by another client with "=" in a form we do not write is listed as it is.
    await raw.put('a=zz', text('foreign'));
    assert.ok((await listAll(kv, bucket)).includes('a=zz'));
  });

  it('refuses the host’s own buckets with KV_ACCESS_DENIED and non-NATS names with KV_NO_SUCH_STORE', async () => {
    const kv = createNatsBackend(lattice, limits);
    for (const reserved of ['LATTICEDATA_default', 'CONFIGDATA_default', 'wadm_state', 'latticedata_x']) {
      await assert.rejects(kv.open(reserved), hasCode('KV_ACCESS_DENIED'), reserved);
      await assert.rejects(
        kv.set(reserved, 'COMPONENT_evil', text('{}')),
        hasCode('KV_ACCESS_DENIED'),
        reserved,
      );
    }
    for (const bad of ['a.b', 'a b', 'a:b', 'ключ']) {
      await assert.rejects(kv.open(bad), hasCode('KV_NO_SUCH_STORE'), bad);
      await assert.rejects(kv.get(bad, 'k'), hasCode('KV_NO_SUCH_STORE'), bad);
    }
  });

  it('fails with KV_UNAVAILABLE within its deadline while the NATS server is down', async () => {
    const own = await startNatsServer();
    const conn = await connectNats({ servers: own.url, limits: TEST_LIMITS });
    try {
      const kv = createNatsBackend(conn, limits);
      const bucket = unique();
      await kv.set(bucket, 'k', text('v'));
      await own.stop();
      for (const op of [(): Promise<unknown> => kv.get(bucket, 'k'), () => kv.increment(bucket, 'n', 1n)]) {
        await assert.rejects(
          withDeadline(op(), FAIL_FAST_MS, 'a failure with NATS stopped'),
          hasCode('KV_UNAVAILABLE'),
        );
      }
    } finally {
      await conn.close();
      await own.stop();
    }
  });
});
