/**
 * The NATS adapter on a lattice that spans regions: a hub with JetStream in the domain `hub`, and a
 * leaf node server without JetStream joined to it through a relay the test cuts and stalls. Clients of
 * the leaf reach the hub's buckets through the domain; what happens while the link is down is measured
 * (and reported with t.diagnostic) as well as asserted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import type { NatsLeaf, NatsServer } from '@cirrus/testing';
import { startNatsLeaf, startNatsServer, take, waitFor, withDeadline } from '@cirrus/testing';
import { encodeText } from '@cirrus/lattice';
import type { NatsLatticeConnection } from '../src/index.ts';
import { connectNats } from '../src/index.ts';

const DOMAIN = 'hub';
/** Short pauses keep recovery fast; the defaults are for production. */
const FAST = { natsReconnectWaitMs: 50, natsPingIntervalMs: 1_000, natsKvTimeoutMs: 2_000 } as const;

const unique = (): string => `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;

/** How long `work` took to settle, and how: its value, or the code of its error. */
async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value?: T; code?: string }> {
  const started = performance.now();
  try {
    const value = await work();
    return { ms: Math.round(performance.now() - started), value };
  } catch (err) {
    return { ms: Math.round(performance.now() - started), code: codeOf(err) ?? String(err) };
  }
}

describe('NATS adapter across a leaf node (JetStream in the hub’s domain)', () => {
  let hub: NatsServer;
  let leaf: NatsLeaf;
  /** Clients of the leaf (through the domain) and of the hub (with and without it). */
  let onLeaf: NatsLatticeConnection;
  let onHub: NatsLatticeConnection;
  let onHubPlain: NatsLatticeConnection;

  before(async () => {
    hub = await startNatsServer({ leafnodes: true, jetstream: { domain: DOMAIN } });
    leaf = await startNatsLeaf(hub);
    onLeaf = await connectNats({ servers: leaf.url, name: 'leaf-client', jsDomain: DOMAIN, limits: FAST });
    onHub = await connectNats({ servers: hub.url, name: 'hub-client', jsDomain: DOMAIN, limits: FAST });
    onHubPlain = await connectNats({ servers: hub.url, name: 'hub-plain', limits: FAST });
  });

  after(async () => {
    await onLeaf?.close();
    await onHub?.close();
    await onHubPlain?.close();
    await leaf?.stop();
    await hub?.stop();
  });

  it('reaches the hub’s buckets from the leaf through the domain: writes, compare-and-swap and watches cross both ways', async () => {
    const name = `LATTICEDATA_${unique()}`;
    const leafKv = await onLeaf.kv(name);
    const hubKv = await onHub.kv(name);
    const plainKv = await onHubPlain.kv(name);
    await leafKv.put('COMPONENT_a', encodeText('from the leaf'));
    const leafWatch = await leafKv.watch();
    const hubWatch = await plainKv.watch();
    await Promise.all([leafWatch.replayed, hubWatch.replayed]);
    try {
      assert.equal((await hubKv.get('COMPONENT_a'))?.string(), 'from the leaf');
      assert.equal(
        (await plainKv.get('COMPONENT_a'))?.string(),
        'from the leaf',
        'the same bucket without the domain',
      );
      const revision = (await hubKv.get('COMPONENT_a'))?.revision ?? 0;
      assert.equal(await leafKv.update('COMPONENT_a', encodeText('stale'), revision + 100), null);
      const next = await leafKv.update('COMPONENT_a', encodeText('swapped on the leaf'), revision);
      assert.ok(next !== null && next > revision);
      await hubKv.put('COMPONENT_b', encodeText('from the hub'));
      await leafKv.delete('COMPONENT_a');
      assert.deepEqual((await leafKv.keys()).sort(), ['COMPONENT_b']);

      const expected = [
        'COMPONENT_a PUT from the leaf',
        'COMPONENT_a PUT swapped on the leaf',
        'COMPONENT_b PUT from the hub',
        'COMPONENT_a DEL ',
      ];
      for (const watch of [leafWatch, hubWatch]) {
        const seen = await take(watch, 4, 5_000, 'watch entries');
        assert.deepEqual(
          seen.map((e) => `${e.key} ${e.operation} ${e.operation === 'PUT' ? e.string() : ''}`),
          expected,
        );
      }
    } finally {
      leafWatch.stop();
      hubWatch.stop();
    }
  });

  it('tells a leaf client without the domain, or with a wrong one, that no JetStream answers and what to check', async () => {
    const noDomain = await connectNats({ servers: leaf.url, limits: FAST });
    const wrongDomain = await connectNats({ servers: leaf.url, jsDomain: 'elsewhere', limits: FAST });
    try {
      await assert.rejects(noDomain.kv(`CONFIGDATA_${unique()}`), (err: Error & { hint?: string }) => {
        assert.equal(codeOf(err), 'KV_UNAVAILABLE');
        assert.match(err.message, /JetStream does not answer/);
        assert.match(err.hint ?? '', /leaf node server without JetStream name the hub's JetStream domain/);
        return true;
      });
      await assert.rejects(wrongDomain.kv(`CONFIGDATA_${unique()}`), (err: Error & { hint?: string }) => {
        assert.equal(codeOf(err), 'KV_UNAVAILABLE');
        assert.match(err.message, /no JetStream answers in domain "elsewhere"/);
        assert.match(err.hint ?? '', /leaf node connection is up/);
        return true;
      });
    } finally {
      await noDomain.close();
      await wrongDomain.close();
    }
  });

  it('refuses a domain that is not one subject token before connecting', async () => {
    for (const jsDomain of ['a.b', 'hub*', '>', 'two words', '']) {
      await assert.rejects(
        // Port 1 refuses connections: a connect attempt would fail with LATTICE_CONNECT_FAILED instead.
        connectNats({ servers: 'nats://127.0.0.1:1', jsDomain }),
        (err: Error) => codeOf(err) === 'INVALID_ARGUMENT' && err.message.includes(JSON.stringify(jsDomain)),
        jsDomain,
      );
    }
  });

  it('while the link is cut: key-value calls and requests through it fail fast; a watch resumes with the last value of what changed meanwhile, once and in order', async (t: TestContext) => {
    const name = `CONFIGDATA_${unique()}`;
    const leafKv = await onLeaf.kv(name);
    const hubKv = await onHub.kv(name);
    await hubKv.put('before', encodeText('0'));
    const watch = await leafKv.watch({ replay: false });
    await watch.replayed;
    const responder = onHub.subscribe(`${unique()}.echo`, { callback: (m) => m.respond(m.data) });
    await onHub.flush();
    await waitFor(
      () =>
        onLeaf.request(responder.subject, encodeText('x'), { timeoutMs: 500 }).then(
          () => true,
          () => false,
        ),
      5_000,
      'the responder to be reachable from the leaf',
    );
    try {
      await leaf.link.cut();
      const put = await timed(() => leafKv.put('during', encodeText('from the leaf')));
      const get = await timed(() => leafKv.get('before'));
      const request = await timed(() =>
        onLeaf.request(responder.subject, encodeText('x'), { timeoutMs: 5_000 }),
      );
      t.diagnostic(
        `link cut: put ${put.code} in ${put.ms} ms, get ${get.code} in ${get.ms} ms, request ${request.code} in ${request.ms} ms`,
      );
      assert.equal(put.code, 'KV_UNAVAILABLE');
      assert.equal(get.code, 'KV_UNAVAILABLE');
      assert.equal(request.code, 'NO_RESPONDERS');
      // Far below the 2 s KV and 5 s request deadlines: the leaf knows at once that nobody listens.
      assert.ok(Math.max(put.ms, get.ms, request.ms) < 1_000, 'fails fast');

      // The hub carries on; the leaf's watch gets these once the link is back: the last value of each
      // key, as the bucket keeps one revision per key (history 1, as 1.x creates it).
      await hubKv.put('meanwhile', encodeText('1'));
      await hubKv.put('meanwhile', encodeText('2'));
      await hubKv.delete('before');

      const restoring = performance.now();
      await leaf.link.restore();
      const linkMs = Math.round(performance.now() - restoring);
      const seen = await take(watch, 2, 10_000, 'entries written while the link was cut');
      const watchMs = Math.round(performance.now() - restoring);
      const back = await waitFor(
        () =>
          onLeaf.request(responder.subject, encodeText('x'), { timeoutMs: 500 }).then(
            () => true,
            () => false,
          ),
        5_000,
        'requests across the restored link',
      );
      const requestMs = Math.round(performance.now() - restoring);
      t.diagnostic(
        `link restored in ${linkMs} ms; watch caught up ${watchMs} ms and requests answered ${requestMs} ms after the restore began`,
      );
      assert.ok(back);
      assert.deepEqual(
        seen.map((e) => `${e.key} ${e.operation} ${e.operation === 'PUT' ? e.string() : ''}`),
        ['meanwhile PUT 2', 'before DEL '],
      );
      await leafKv.put('after', encodeText('3'));
      const [live] = await take(watch, 1, 5_000, 'a live entry after the restore');
      assert.equal(
        `${live?.key} ${live?.string()}`,
        'after 3',
        'nothing twice, nothing from before the watch',
      );
    } finally {
      await leaf.link.restore();
      responder.unsubscribe();
      watch.stop();
    }
  });

  it('while the link is stalled (a silent partition): requests and key-value calls wait out their deadlines instead of failing fast', async (t: TestContext) => {
    const name = `CONFIGDATA_${unique()}`;
    const leafKv = await onLeaf.kv(name);
    const responder = onHub.subscribe(`${unique()}.echo`, { callback: (m) => m.respond(m.data) });
    await onHub.flush();
    await waitFor(
      () =>
        onLeaf.request(responder.subject, encodeText('x'), { timeoutMs: 500 }).then(
          () => true,
          () => false,
        ),
      5_000,
      'the responder to be reachable from the leaf',
    );
    try {
      leaf.link.stall();
      const request = await timed(() =>
        onLeaf.request(responder.subject, encodeText('x'), { timeoutMs: 1_000 }),
      );
      const put = await timed(() => leafKv.put('k', encodeText('v')));
      t.diagnostic(
        `link stalled: request ${request.code} after ${request.ms} ms (deadline 1000), put ${put.code} after ${put.ms} ms (natsKvTimeoutMs 2000)`,
      );
      assert.equal(request.code, 'REQUEST_TIMEOUT');
      assert.ok(request.ms >= 1_000);
      assert.equal(put.code, 'KV_UNAVAILABLE');
      assert.ok(put.ms >= FAST.natsKvTimeoutMs);
    } finally {
      await leaf.link.restore();
    }
    const answered = await timed(() =>
      onLeaf.request(responder.subject, encodeText('x'), { timeoutMs: 2_000 }),
    );
    t.diagnostic(`after the stall: request answered in ${answered.ms} ms`);
    assert.equal(answered.value?.string(), 'x');
    responder.unsubscribe();
  });

  it('a stalled link is dropped after the servers’ ping_interval × (ping_max + 1), and calls fail fast from then on', async (t: TestContext) => {
    // Servers of their own: the ping interval (2 minutes by default) applies to every connection.
    const pings = 'ping_interval: "1s"\nping_max: 2';
    await using fastHub = await startNatsServer({
      leafnodes: true,
      jetstream: { domain: DOMAIN },
      config: pings,
    });
    await using fastLeaf = await startNatsLeaf(fastHub, { config: pings });
    const client = await connectNats({ servers: fastLeaf.url, jsDomain: DOMAIN, limits: FAST });
    try {
      await client.kv(`CONFIGDATA_${unique()}`);
      const stalled = performance.now();
      fastLeaf.link.stall();
      await fastLeaf.waitForLeafLinks(0, 20_000);
      const noticedMs = Math.round(performance.now() - stalled);
      const put = await timed(() => client.kv(`CONFIGDATA_${unique()}`));
      t.diagnostic(
        `ping_interval 1s, ping_max 2: the stalled link was dropped after ${noticedMs} ms; then a key-value call failed (${put.code}) in ${put.ms} ms`,
      );
      assert.equal(put.code, 'KV_UNAVAILABLE');
      assert.ok(put.ms < 1_000, 'fails fast once the link is known to be down');
    } finally {
      await client.close();
    }
  });

  it('test kit: a restarted hub comes back on its leaf port, the leaf relinks, and the domain answers again', async () => {
    const leafUrl = hub.leafUrl;
    await hub.restart();
    assert.equal(hub.leafUrl, leafUrl);
    await leaf.link.waitUp();
    const kv = await waitFor(
      () => onLeaf.kv(`CONFIGDATA_${unique()}`).catch(() => false as const),
      15_000,
      'the hub’s JetStream through the domain after its restart',
      100,
    );
    await kv.put('k', encodeText('v'));
    assert.equal((await kv.get('k'))?.string(), 'v');
    await leaf.restart();
    assert.equal((await leaf.leafLinks()).length, 1, 'restart() waits for the link');
    await withDeadline(onLeaf.flush(), 10_000, 'the leaf client to reconnect');
  });
});
