/**
 * A long outage of the link between a leaf node and its hub. A hub nats-server with JetStream in the
 * domain `hub` and a leaf server without JetStream, joined through a relay the test cuts; a `cirrus up
 * --js-domain hub` process on each. The cut lasts longer than nats.js keeps re-creating a lost
 * consumer of a watch that never received anything (30 attempts after two missed 30-second heartbeats:
 * the leaf host's CONFIGDATA watch, as no config changes): before, that watch then failed, and the leaf
 * host with it (an unhandled rejection ends the process).
 *
 * Guarantees: the leaf host keeps running through the outage and logs no error; once the link is back
 * it lists the link put through the hub during the outage and applies links put afterwards; a watch of
 * the config bucket through the leaf (without replay) delivers the config put during the outage and
 * nothing from before it.
 *
 * Measured (test diagnostics): the outage, how long after the restore the leaf host listed the link
 * put meanwhile, and the watch delivered the config put meanwhile.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeJson } from '@cirrus/lattice';
import type { KvWatch } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import type { Link } from '@cirrus/protocol';
import { startNatsLeaf, startNatsServer, take, tempDir, waitFor } from '@cirrus/testing';
import type { NatsLeaf, NatsServer, TempDir } from '@cirrus/testing';
import { killAll, runCirrus, startCirrusUp } from '../support.ts';
import type { CirrusProcess } from '../support.ts';

const LATTICE = 'outage';
const DOMAIN = 'hub';
/** Longer than nats.js's own attempts (measured: the watch failed 164 s into the cut). */
const OUTAGE_MS = 200_000;
/** How often the hosts are checked during the outage, so a dead one fails the test early. */
const CHECK_EVERY_MS = 5_000;

describe('a leaf host through a long outage of its link to the hub', () => {
  let dir: TempDir;
  let hub: NatsServer;
  let leaf: NatsLeaf;
  let hubHost: CirrusProcess;
  let leafHost: CirrusProcess;
  let client: NatsLatticeConnection | undefined;

  const cirrus = async (server: NatsServer, ...args: string[]): Promise<string> => {
    const result = await runCirrus([...args, '--nats', server.url, '--lattice', LATTICE], { dir: dir.path });
    assert.equal(result.code, 0, `cirrus ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  const links = async (server: NatsServer): Promise<string[]> =>
    (JSON.parse(await cirrus(server, 'get', 'links', '--output', 'json')) as Link[]).map((l) => l.source_id);

  before(async () => {
    dir = await tempDir();
    hub = await startNatsServer({ leafnodes: true, jetstream: { domain: DOMAIN } });
    leaf = await startNatsLeaf(hub);
    const host = (name: string, server: NatsServer): Promise<CirrusProcess> =>
      startCirrusUp({
        dir: join(dir.path, name),
        cacheDir: join(dir.path, 'cache'),
        label: name,
        args: [
          ...['--nats', server.url, '--js-domain', DOMAIN, '--lattice', LATTICE],
          ...['--name', name, '--log-format', 'json'],
        ],
      });
    client = await connectNats({ servers: leaf.url, jsDomain: DOMAIN });
    // Before the hosts start: their config watches (without replay) must receive nothing before the
    // cut, the case nats.js gives up on.
    await (await client.kv(`CONFIGDATA_${LATTICE}`)).put('before-outage', encodeJson({ a: '0' }));
    [hubHost, leafHost] = await Promise.all([host('hub-host', hub), host('leaf-host', leaf)]);
  });

  after(async () => {
    await client?.close();
    await Promise.all([hubHost?.stop(), leafHost?.stop()]);
    killAll();
    await leaf?.stop();
    await hub?.stop();
    await dir?.remove();
  });

  it('keeps running and, once the link is back, has the links and config changed meanwhile', async (t) => {
    const config = await (client as NatsLatticeConnection).kv(`CONFIGDATA_${LATTICE}`);
    const watch: KvWatch = await config.watch({ replay: false });
    await watch.replayed;
    await cirrus(hub, 'link', 'put', 'before', 'target', 'example', 'a', '--interface', 'i');
    await waitFor(
      async () => (await links(leaf)).includes('before'),
      10_000,
      'leaf-host to list the first link',
      100,
    );

    await leaf.link.cut();
    const cutAt = performance.now();
    try {
      await cirrus(hub, 'link', 'put', 'meanwhile', 'target', 'example', 'b', '--interface', 'i');
      await cirrus(hub, 'config', 'put', 'meanwhile', 'b=1');
      while (performance.now() - cutAt < OUTAGE_MS) {
        await new Promise((resolve) => setTimeout(resolve, CHECK_EVERY_MS));
        for (const host of [hubHost, leafHost])
          assert.equal(host.exit, undefined, `${host.label} died\n${host.tail()}`);
      }
    } finally {
      await leaf.link.restore();
    }
    const restored = performance.now();
    t.diagnostic(`the link was cut for ${Math.round((restored - cutAt) / 1000)} s`);

    await waitFor(
      async () => (await links(leaf)).includes('meanwhile'),
      30_000,
      'leaf-host to list the link put meanwhile',
      200,
    );
    const linkMs = Math.round(performance.now() - restored);
    const [entry] = await take(watch, 1, 30_000, 'the config put meanwhile');
    const watchMs = Math.round(performance.now() - restored);
    assert.equal(
      entry?.key,
      'meanwhile',
      'the first entry is the one put during the outage, not one from before',
    );
    t.diagnostic(
      `after the restore: leaf-host listed the link put meanwhile within ${linkMs} ms; the watch delivered the config put meanwhile within ${watchMs} ms`,
    );

    await cirrus(hub, 'link', 'put', 'after', 'target', 'example', 'c', '--interface', 'i');
    await waitFor(
      async () => (await links(leaf)).includes('after'),
      10_000,
      'leaf-host to apply a link put after the outage',
      100,
    );
    watch.stop();
    assert.equal(leafHost.exit, undefined, leafHost.tail());
    const errors = leafHost.records().filter((r) => r.level === 'error');
    assert.deepEqual(errors, [], 'leaf-host logged no error');
  });
});
