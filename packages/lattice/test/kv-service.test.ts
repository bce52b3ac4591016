/**
 * Key-value served over request/reply: the adapter contract through `withServedKv`, then what only a
 * served bucket has (watches the service must drop, clients and in-process connections mixed, errors
 * carried back by code, the wire format itself).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { take, waitFor, withDeadline } from '@cirrus/testing';
import type {
  KvEntry,
  KvWatch,
  LatticeConnection,
  LatticeStatus,
  MemoryLattice,
  MemoryLatticeOptions,
} from '../src/index.ts';
import { createMemoryLattice, encodeText, KV_SERVICE_PREFIX, serveKv, withServedKv } from '../src/index.ts';
import { latticeContract } from './contract.ts';

latticeContract('key-value served over request/reply', async () => {
  const lattice = createMemoryLattice({ maxPayload: 64 * 1024 });
  const service = serveKv(lattice);
  return {
    connect: async () => withServedKv(lattice.connect()),
    teardown: async () => {
      await service.close();
      await lattice.close();
    },
  };
});

const text = (s: string): Uint8Array => encodeText(s);
const unique = (): string => `b${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

/** The next entry of a watch, or the error its iteration ends with. */
async function nextOutcome(watch: KvWatch): Promise<KvEntry | 'done' | Error> {
  try {
    const next = await withDeadline(watch[Symbol.asyncIterator]().next(), 2000, 'the next watch outcome');
    return next.done === true ? 'done' : next.value;
  } catch (err) {
    return err as Error;
  }
}

describe('key-value served over request/reply', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  after(async () => {
    for (const closable of open.reverse()) await closable.close();
  });

  function setup(options: MemoryLatticeOptions = {}, maxWatches?: number) {
    const lattice: MemoryLattice = createMemoryLattice(options);
    open.push(lattice);
    const service = serveKv(lattice, maxWatches === undefined ? {} : { maxWatches });
    open.push(service);
    const client = (): LatticeConnection => withServedKv(lattice.connect());
    return { lattice, service, client };
  }

  it('refuses a watch past its bound and frees the slot when the client stops its watch', async () => {
    const { client } = setup({}, 1);
    const name = unique();
    const first = await (await client().kv(name)).watch();
    const other = await client().kv(name);
    await assert.rejects(other.watch(), (err) => codeOf(err) === 'KV_UNAVAILABLE');
    first.stop();
    // Unwatched at once: well before a sweep could have noticed the inbox gone.
    const second = await waitFor(
      () => other.watch().catch(() => undefined),
      500,
      'a watch once the first one stopped',
    );
    second.stop();
  });

  it('drops a watch whose client connection closed within a sweep, without any change to deliver', async () => {
    const { client } = setup({}, 1);
    const name = unique();
    const leaving = client();
    await (await leaving.kv(name)).watch();
    const staying = await client().kv(name);
    await assert.rejects(staying.watch(), (err) => codeOf(err) === 'KV_UNAVAILABLE');
    await leaving.close();
    const started = Date.now();
    const watch = await waitFor(
      () => staying.watch().catch(() => undefined),
      3000,
      'the service to drop the watch of the closed connection',
    );
    assert.ok(Date.now() - started < 2500, `dropped after ${Date.now() - started} ms`);
    await staying.put('k', text('v'));
    const [entry] = await take(watch, 1, 2000, 'an entry on the new watch');
    assert.equal(entry?.key, 'k');
    watch.stop();
  });

  it('drops a watch whose client connection closed at its next delivery', async () => {
    const { lattice, client } = setup({}, 1);
    const name = unique();
    const leaving = client();
    await (await leaving.kv(name)).watch();
    await leaving.close();
    await (await lattice.connect().kv(name)).put('k', text('v'));
    const watch = await waitFor(
      () =>
        client()
          .kv(name)
          .then((kv) => kv.watch())
          .catch(() => undefined),
      500,
      'the watch dropped when its entry found nobody listening',
    );
    watch.stop();
  });

  it('shares buckets between clients and in-process connections, both ways', async () => {
    const { lattice, client } = setup();
    const name = unique();
    const [one, two] = [await client().kv(name), await client().kv(name)];
    const local = await lattice.connect().kv(name);
    const watchOne = await one.watch();
    const watchLocal = await local.watch();
    await withDeadline(watchOne.replayed, 2000, 'replay of the client watch');

    await two.put('from.client', text('2'));
    await local.put('from.local', text('L'));
    await one.put('from.one', text('1'));
    const seenByOne = await take(watchOne, 3, 2000, 'entries seen by a client');
    const seenLocally = await take(watchLocal, 3, 2000, 'entries seen in process');
    const expected = ['from.client=2', 'from.local=L', 'from.one=1'];
    assert.deepEqual(
      seenByOne.map((e) => `${e.key}=${e.string()}`),
      expected,
    );
    assert.deepEqual(
      seenLocally.map((e) => `${e.key}=${e.string()}`),
      expected,
    );
    assert.deepEqual(
      seenByOne.map((e) => e.revision),
      seenLocally.map((e) => e.revision),
      'the same revisions on either side',
    );

    assert.equal((await two.get('from.local'))?.string(), 'L');
    assert.equal((await local.get('from.one'))?.string(), '1');
    const current = await local.get('from.client');
    assert.ok(current !== null);
    assert.equal(await one.update('from.client', text('stale'), current.revision - 1), null);
    const next = await one.update('from.client', text('3'), current.revision);
    assert.equal((await local.get('from.client'))?.revision, next);
    await local.delete('from.one');
    assert.deepEqual((await two.keys('from.*')).sort(), ['from.client', 'from.local']);
    watchOne.stop();
    watchLocal.stop();
  });

  it('brings back the typed error of a failed operation by its code', async () => {
    const { client } = setup({ maxValueBytes: 16 });
    const kv = await client().kv(unique());
    // A message the client may send, with a value the bucket in the service refuses.
    await assert.rejects(kv.put('k', new Uint8Array(32)), (err) => {
      assert.equal(codeOf(err), 'PAYLOAD_TOO_LARGE');
      assert.match((err as Error).message, /16-byte limit/);
      return true;
    });
    assert.equal(await kv.get('k'), null);
    const unserved = createMemoryLattice();
    open.push(unserved);
    await assert.rejects(
      withServedKv(unserved.connect()).kv('unserved'),
      (err) => codeOf(err) === 'KV_UNAVAILABLE',
      'a lattice nobody serves key-value on',
    );
  });

  it('fails a get and a watch of a stored value too large for one message with PAYLOAD_TOO_LARGE', async () => {
    const { lattice, client } = setup({ maxPayload: 1024, maxValueBytes: 4096 });
    const name = unique();
    const kv = await client().kv(name);
    await assert.rejects(kv.put('big', new Uint8Array(2000)), (err) => codeOf(err) === 'PAYLOAD_TOO_LARGE');
    await (await lattice.connect().kv(name)).put('big', new Uint8Array(2000));
    await assert.rejects(kv.get('big'), (err) => codeOf(err) === 'PAYLOAD_TOO_LARGE');
    const outcome = await nextOutcome(await kv.watch());
    assert.ok(outcome instanceof Error, 'the watch ends with an error');
    assert.equal(codeOf(outcome), 'PAYLOAD_TOO_LARGE');
  });

  it('ends the watches of its clients when it closes', async () => {
    const { service, client } = setup();
    const watch = await (await client().kv(unique())).watch();
    await withDeadline(watch.replayed, 2000, 'replay');
    await service.close();
    assert.equal(await nextOutcome(watch), 'done');
  });

  it('speaks a wire format any NATS client can use: headers, raw values, errors as JSON', async () => {
    const { lattice } = setup();
    const conn = lattice.connect();
    const name = unique();
    const subject = (op: string, bucket = name): string => `${KV_SERVICE_PREFIX}.${op}.${bucket}`;
    const put = await conn.request(subject('PUT'), text('raw'), { headers: { 'Cirrus-Kv-Key': 'a.b' } });
    const revision = put.headers?.['Cirrus-Kv-Revision'];
    assert.match(revision ?? '', /^[1-9][0-9]*$/);
    const got = await conn.request(subject('GET'), undefined, { headers: { 'Cirrus-Kv-Key': 'a.b' } });
    assert.equal(got.string(), 'raw');
    assert.equal(got.headers?.['Cirrus-Kv-Revision'], revision);
    const missing = await conn.request(subject('GET'), undefined, { headers: { 'Cirrus-Kv-Key': 'none' } });
    assert.equal(missing.headers?.['Cirrus-Kv-Revision'], undefined);

    const errorCode = async (
      op: string,
      headers: Record<string, string>,
      bucket?: string,
    ): Promise<string> => {
      const reply = await conn.request(subject(op, bucket), text('x'), { headers });
      const error = JSON.parse(reply.headers?.['Cirrus-Kv-Error'] ?? '{}') as { code?: string };
      return error.code ?? 'none';
    };
    assert.equal(await errorCode('PUT', { 'Cirrus-Kv-Key': 'a b' }), 'INVALID_KEY');
    assert.equal(await errorCode('PUT', { 'Cirrus-Kv-Key': 'k' }, 'two.tokens'), 'INVALID_KEY');
    assert.equal(await errorCode('PUT', {}), 'INVALID_ARGUMENT');
    assert.equal(await errorCode('FROB', { 'Cirrus-Kv-Key': 'k' }), 'INVALID_ARGUMENT');
    assert.equal(
      await errorCode('UPDATE', { 'Cirrus-Kv-Key': 'a.b', 'Cirrus-Kv-Revision': '1e3' }),
      'INVALID_ARGUMENT',
    );
    assert.equal(
      await errorCode('UPDATE', { 'Cirrus-Kv-Key': 'a.b', 'Cirrus-Kv-Revision': '0' }),
      'KV_CONFLICT',
    );
    const inbox = conn.newInbox();
    assert.equal(
      await errorCode('WATCH', { 'Cirrus-Kv-Watch': inbox }),
      'INVALID_ARGUMENT',
      'nobody listens',
    );

    const sub = conn.subscribe(inbox);
    await conn.request(subject('WATCH'), undefined, { headers: { 'Cirrus-Kv-Watch': inbox } });
    const [entry, marker] = await take(sub, 2, 2000, 'the replay and its marker');
    assert.equal(entry?.string(), 'raw');
    assert.deepEqual(entry?.headers, {
      'Cirrus-Kv-Key': 'a.b',
      'Cirrus-Kv-Revision': revision,
      'Cirrus-Kv-Operation': 'PUT',
    });
    assert.deepEqual(marker?.headers, { 'Cirrus-Kv-Marker': 'replayed' });
    // Still subscribed: only the unwatch request stops the deliveries.
    conn.publish(subject('UNWATCH'), undefined, { headers: { 'Cirrus-Kv-Watch': inbox } });
    await conn.request(subject('DEL'), undefined, { headers: { 'Cirrus-Kv-Key': 'a.b' } });
    await conn.request(subject('PUT'), text('after'), { headers: { 'Cirrus-Kv-Key': 'a.c' } });
    const keys = await conn.request(subject('KEYS'), undefined, { headers: { 'Cirrus-Kv-Key': 'a.*' } });
    assert.deepEqual(keys.json(), ['a.c']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    sub.unsubscribe();
    const late: string[] = [];
    await withDeadline(
      (async () => {
        for await (const msg of sub) late.push(JSON.stringify(msg.headers));
      })(),
      1000,
      'what the inbox holds',
    );
    assert.deepEqual(late, [], 'nothing delivered after the unwatch');
  });

  it('passes status changes through only on connections that have them', async () => {
    const lattice = createMemoryLattice();
    open.push(lattice);
    const plain = withServedKv(lattice.connect());
    assert.equal('status' in plain, false);
    assert.equal(plain.maxPayload, lattice.maxPayload);
    const inner = lattice.connect();
    const change: LatticeStatus = { type: 'lameDuck', server: '127.0.0.1:4222' };
    const networked = withServedKv(
      Object.assign(Object.create(inner) as LatticeConnection, {
        status: async function* () {
          yield change;
        },
      }),
    );
    assert.ok(networked.status !== undefined);
    assert.deepEqual(await take(networked.status(), 1, 1000, 'a status change'), [change]);
  });
});
