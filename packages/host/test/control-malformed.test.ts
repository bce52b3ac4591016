/**
 * Hostile and broken input on every control subject: each answers `success:false` quickly, nothing
 * changes, and the host keeps serving. Table-driven over subjects × bodies.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice, encodeText } from '@cirrus/lattice';
import type { LatticeConnection, MemoryLattice } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import type { CtlResponse, HostInventory } from '@cirrus/protocol';
import { tempDir } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import type { Host } from '../src/index.ts';
import { WITH_BUILTINS } from './support.ts';

const HELLO_WASM = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));
const P = 'wasmbus.ctl.v1.default';
/** The bound: a malformed request is refused within a second. */
const ANSWER_MS = 1000;

interface Subject {
  name: string;
  subject: (hostId: string) => string;
  /** Every host answers (scatter/gather) instead of one. */
  gather?: boolean;
  /** Takes no input: an object with unexpected field types is accepted, as 1.x ignores it. */
  bodiless?: boolean;
}

const SUBJECTS: Subject[] = [
  { name: 'host.ping', subject: () => `${P}.host.ping`, gather: true, bodiless: true },
  { name: 'host.get', subject: (h) => `${P}.host.get.${h}`, bodiless: true },
  { name: 'host.stop', subject: (h) => `${P}.host.stop.${h}` },
  { name: 'component.scale', subject: (h) => `${P}.component.scale.${h}` },
  { name: 'component.update', subject: (h) => `${P}.component.update.${h}` },
  { name: 'component.auction', subject: () => `${P}.component.auction`, gather: true },
  { name: 'provider.start', subject: (h) => `${P}.provider.start.${h}` },
  { name: 'provider.stop', subject: (h) => `${P}.provider.stop.${h}` },
  { name: 'provider.auction', subject: () => `${P}.provider.auction`, gather: true },
  { name: 'label.put', subject: (h) => `${P}.label.put.${h}` },
  { name: 'label.del', subject: (h) => `${P}.label.del.${h}` },
  { name: 'link.put', subject: () => `${P}.link.put` },
  { name: 'link.del', subject: () => `${P}.link.del` },
  { name: 'link.get', subject: () => `${P}.link.get`, bodiless: true },
  { name: 'claims.get', subject: () => `${P}.claims.get`, bodiless: true },
  { name: 'config.put', subject: () => `${P}.config.put.malformed` },
  { name: 'config.get', subject: () => `${P}.config.get.malformed`, bodiless: true },
  { name: 'config.del', subject: () => `${P}.config.del.malformed`, bodiless: true },
  { name: 'registry.put', subject: () => `${P}.registry.put`, gather: true },
];

/** Every field any request reads, each with a wrong type. */
const WRONG_TYPES = {
  host_id: 3,
  timeout: 'soon',
  component_ref: true,
  component_id: 5,
  new_component_ref: [],
  count: '1',
  max_instances: {},
  provider_ref: 1,
  provider_id: {},
  key: 7,
  value: [],
  source_id: 1,
  target: false,
  name: 2,
  wit_namespace: 1,
  wit_package: null,
  interfaces: 'store',
  constraints: 'zone=a',
  config: 'c',
  annotations: [],
  'ghcr.io': 'token',
};

const BODIES: { name: string; bytes: Uint8Array; bodilessAccepts?: boolean }[] = [
  { name: 'truncated JSON', bytes: encodeText('{"component_id":"x","count":') },
  { name: 'invalid UTF-8', bytes: Uint8Array.of(0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d) },
  { name: 'null', bytes: encodeText('null') },
  { name: 'an array', bytes: encodeText('[{"component_id":"x"}]') },
  { name: 'a number', bytes: encodeText('42') },
  { name: 'a string', bytes: encodeText('"scale"') },
  { name: 'a __proto__ key', bytes: encodeText('{"__proto__":{"success":true},"key":"k","value":"v"}') },
  { name: 'wrong types', bytes: encodeText(JSON.stringify(WRONG_TYPES)), bodilessAccepts: true },
];

interface Snapshot {
  inventory: Partial<HostInventory>;
  links: number;
}

describe('control interface: malformed input on every subject', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let client: LatticeConnection;
  let host: Host;
  let initial: Snapshot;

  const snapshot = (): Snapshot => {
    const inventory: Partial<HostInventory> = host.inventory();
    delete inventory.uptime_seconds;
    delete inventory.uptime_human;
    return { inventory, links: host.links().length };
  };

  before(async () => {
    dir = await tempDir();
    lattice = createMemoryLattice();
    client = lattice.connect();
    host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      labels: { zone: 'a' },
      limits: resolveLimits({ maxInstances: 10 }),
    });
    await host.scaleComponent({ componentRef: HELLO_WASM, componentId: 'steady', count: 1 });
    initial = snapshot();
  });

  after(async () => {
    await host.stop();
    await lattice.close();
    await dir.remove();
  });

  for (const subject of SUBJECTS) {
    for (const body of BODIES) {
      const accepted = subject.bodiless === true && body.bodilessAccepts === true;
      it(`${subject.name} answers ${body.name} with success:${String(accepted)} within ${ANSWER_MS} ms`, async () => {
        const began = performance.now();
        const replies: CtlResponse<unknown>[] = [];
        if (subject.gather === true) {
          for await (const msg of client.requestMany(subject.subject(host.id), body.bytes, {
            maxWaitMs: ANSWER_MS,
            maxMessages: 1,
          })) {
            replies.push(msg.json<CtlResponse<unknown>>());
          }
        } else {
          const msg = await client.request(subject.subject(host.id), body.bytes, { timeoutMs: ANSWER_MS });
          replies.push(msg.json<CtlResponse<unknown>>());
        }
        assert.ok(performance.now() - began < ANSWER_MS, 'answered within the bound');
        assert.equal(replies.length, 1, 'exactly one reply');
        const [reply] = replies as [CtlResponse<unknown>];
        assert.equal(reply.success, accepted, reply.message);
        if (!accepted) {
          assert.match(reply.message, /^[A-Z_]+: \S/, 'a code and a message');
          assert.equal('response' in reply, false);
        }
      });
    }
  }

  it('still serves, with the same inventory, links and labels', async () => {
    const msg = await client.request(`${P}.host.get.${host.id}`, undefined, { timeoutMs: ANSWER_MS });
    assert.equal(msg.json<CtlResponse<HostInventory>>().success, true);
    assert.deepEqual(snapshot(), initial);
    assert.equal(host.labels()['zone'], 'a');
    assert.equal(host.labels()['k'], undefined);
    assert.equal(await host.getConfig('malformed'), undefined);
  });
});
