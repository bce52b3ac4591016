/**
 * The reconciler as tables: an application, what the lattice holds, and the commands and statuses
 * that must come out. Every case also checks that applying the commands to the lattice and running
 * again gives no command and a deployed (or undeployed) status: a pass converges.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Link, StringMap } from '@cirrus/protocol';
import { APP_SPEC, MANAGED_BY, parseManifest, reconcile, spreadShares } from '../src/index.ts';
import type {
  AppManifest,
  AppState,
  ObservedHost,
  ObservedLattice,
  ReconcileCommand,
  StatusType,
} from '../src/index.ts';

const OURS: StringMap = { [MANAGED_BY]: 'cirrus', [APP_SPEC]: 'shop' };

function manifest(components: string): AppManifest {
  return parseManifest(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
  annotations:
    version: v1
spec:
  components:
${components}`);
}

const API = (traits: string, image = 'file:///api-v1.wasm'): string => `    - name: api
      type: component
      properties:
        image: ${image}
      traits:
${traits}`;

function host(id: string, labels: StringMap = {}, rest: Partial<ObservedHost> = {}): ObservedHost {
  return { id, labels, components: [], providers: [], ...rest };
}

function lattice(hosts: ObservedHost[], rest: Partial<ObservedLattice> = {}): ObservedLattice {
  return { hosts, links: [], configs: new Map(), ...rest };
}

/** The lattice after the commands ran as a host would run them. */
function apply(observed: ObservedLattice, commands: readonly ReconcileCommand[]): ObservedLattice {
  const hosts = new Map(
    observed.hosts.map((h) => [h.id, { ...h, components: [...h.components], providers: [...h.providers] }]),
  );
  let links = [...observed.links];
  const configs = new Map(observed.configs);
  for (const c of commands) {
    switch (c.op) {
      case 'put-config':
        configs.set(c.name, c.values);
        break;
      case 'delete-config':
        configs.delete(c.name);
        break;
      case 'scale-component': {
        const h = hosts.get(c.hostId) as ObservedHost & { components: ObservedHost['components'][number][] };
        h.components = h.components.filter((x) => x.id !== c.componentId);
        if (c.count > 0)
          h.components.push({
            id: c.componentId,
            imageRef: c.imageRef,
            count: c.count,
            annotations: c.annotations,
          });
        break;
      }
      case 'update-component': {
        const h = hosts.get(c.hostId) as ObservedHost;
        h.components = h.components.map((x) => (x.id === c.componentId ? { ...x, imageRef: c.imageRef } : x));
        break;
      }
      case 'start-provider': {
        const h = hosts.get(c.hostId) as ObservedHost;
        h.providers = [
          ...h.providers,
          { id: c.providerId, imageRef: c.imageRef, annotations: c.annotations },
        ];
        break;
      }
      case 'stop-provider': {
        const h = hosts.get(c.hostId) as ObservedHost;
        h.providers = h.providers.filter((p) => p.id !== c.providerId);
        break;
      }
      case 'put-link':
        links = [
          ...links.filter(
            (l) =>
              !(
                l.source_id === c.link.source_id &&
                l.name === c.link.name &&
                l.wit_namespace === c.link.wit_namespace &&
                l.wit_package === c.link.wit_package
              ),
          ),
          c.link,
        ];
        break;
      case 'delete-link':
        links = links.filter(
          (l) =>
            !(
              l.source_id === c.sourceId &&
              l.name === c.name &&
              l.wit_namespace === c.namespace &&
              l.wit_package === c.package
            ),
        );
        break;
    }
  }
  return { hosts: [...hosts.values()], links, configs };
}

/** Counts of a component per host, after the commands. */
function countsOf(observed: ObservedLattice, componentId: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const h of observed.hosts) {
    const c = h.components.find((x) => x.id === componentId);
    if (c !== undefined) out[h.id] = c.count;
  }
  return out;
}

function providersOn(observed: ObservedLattice, providerId: string): string[] {
  return observed.hosts.filter((h) => h.providers.some((p) => p.id === providerId)).map((h) => h.id);
}

interface Case {
  name: string;
  apps: AppState[];
  observed: ObservedLattice;
  /** The status of the app after this pass. */
  status: StatusType;
  /** A message the status (or one of its scalers) must contain. */
  message?: RegExp;
  /** Checks on the lattice after the commands ran. */
  after?: (lattice: ObservedLattice, commands: readonly ReconcileCommand[]) => void;
  /** The status once the lattice has converged (default: deployed, or undeployed for an undeploy). */
  settled?: StatusType;
}

const spread21 = manifest(
  API(`        - type: spreadscaler
          properties:
            instances: 3
            spread:
              - name: east
                requirements: { zone: east }
                weight: 2
              - name: west
                requirements: { zone: west }
                weight: 1`),
);

const spreadAny2 = manifest(
  API(`        - type: spreadscaler
          properties: { instances: 2 }`),
);

const withProviderAndLink = manifest(`${API(`        - type: spreadscaler
          properties: { instances: 2 }
        - type: link
          properties:
            target: { name: kv, config: [{ name: conn, properties: { url: 'redis://x' } }] }
            namespace: wasi
            package: keyvalue
            interfaces: [store]`)}
    - name: kv
      type: capability
      properties:
        image: wasmcloud+builtin://keyvalue
      traits:
        - type: daemonscaler
          properties:
            instances: 1
            spread:
              - name: storage
                requirements: { disk: ssd }`);

const ssdHosts = (): ObservedHost[] => [
  host('A', { disk: 'ssd' }),
  host('B', { disk: 'ssd' }),
  host('C', { disk: 'hdd' }),
];

const cases: Case[] = [
  {
    name: 'a 2:1 spread over two labels puts two replicas east and one west',
    apps: [{ manifest: spread21, deployed: true }],
    observed: lattice([host('A', { zone: 'east' }), host('B', { zone: 'west' })]),
    status: 'reconciling',
    after: (l) => assert.deepEqual(countsOf(l, 'shop-api'), { A: 2, B: 1 }),
  },
  {
    name: "a spread's share is divided evenly among its hosts",
    apps: [{ manifest: spread21, deployed: true }],
    observed: lattice([
      host('A', { zone: 'east' }),
      host('A2', { zone: 'east' }),
      host('B', { zone: 'west' }),
    ]),
    status: 'reconciling',
    after: (l) => assert.deepEqual(countsOf(l, 'shop-api'), { A: 1, A2: 1, B: 1 }),
  },
  {
    name: 'a new host with the labels of a spread gets its part of that spread',
    apps: [{ manifest: spread21, deployed: true }],
    observed: lattice([
      host(
        'A',
        { zone: 'east' },
        { components: [{ id: 'shop-api', imageRef: 'file:///api-v1.wasm', count: 2, annotations: OURS }] },
      ),
      host('A2', { zone: 'east' }),
      host(
        'B',
        { zone: 'west' },
        { components: [{ id: 'shop-api', imageRef: 'file:///api-v1.wasm', count: 1, annotations: OURS }] },
      ),
    ]),
    status: 'reconciling',
    after: (l) => assert.deepEqual(countsOf(l, 'shop-api'), { A: 1, A2: 1, B: 1 }),
  },
  {
    name: 'replicas whose starts are under way are placed where they are starting, not again elsewhere',
    apps: [{ manifest: spreadAny2, deployed: true }],
    observed: lattice([host('A'), host('B'), host('C')], {
      starting: [
        { workloadId: 'shop-api', hostId: 'B' },
        { workloadId: 'shop-api', hostId: 'C' },
      ],
    }),
    status: 'reconciling',
    after: (l) => assert.deepEqual(countsOf(l, 'shop-api'), { B: 1, C: 1 }),
  },
  {
    name: 'a spread no host matches waits, naming its requirement, and the other spread is placed',
    apps: [{ manifest: spread21, deployed: true }],
    observed: lattice([host('B', { zone: 'west' })]),
    status: 'waiting',
    message: /spread east: no host has the labels zone=east/,
    after: (l) => assert.deepEqual(countsOf(l, 'shop-api'), { B: 1 }),
    settled: 'waiting',
  },
  {
    name: 'what already runs as it should gives no command',
    apps: [{ manifest: spread21, deployed: true }],
    observed: lattice([
      host(
        'A',
        { zone: 'east' },
        { components: [{ id: 'shop-api', imageRef: 'file:///api-v1.wasm', count: 2, annotations: OURS }] },
      ),
      host(
        'B',
        { zone: 'west' },
        { components: [{ id: 'shop-api', imageRef: 'file:///api-v1.wasm', count: 1, annotations: OURS }] },
      ),
    ]),
    status: 'deployed',
    after: (_l, commands) => assert.deepEqual(commands, []),
  },
  {
    name: 'a provider a host reports without its scheme, as 1.x hosts do, is the one wanted',
    apps: [
      {
        manifest: manifest(`    - name: kv
      type: capability
      properties:
        image: file:///opt/kv/main.ts`),
        deployed: true,
      },
    ],
    observed: lattice([
      host('A', {}, { providers: [{ id: 'shop-kv', imageRef: '/opt/kv/main.ts', annotations: OURS }] }),
    ]),
    status: 'deployed',
    after: (_l, commands) => assert.deepEqual(commands, []),
  },
  {
    name: 'a manual scale and a replica on a host outside the spread are reverted',
    apps: [{ manifest: spread21, deployed: true }],
    observed: lattice([
      host(
        'A',
        { zone: 'east' },
        { components: [{ id: 'shop-api', imageRef: 'file:///api-v1.wasm', count: 7, annotations: {} }] },
      ),
      host(
        'B',
        { zone: 'west' },
        { components: [{ id: 'shop-api', imageRef: 'file:///api-v1.wasm', count: 1, annotations: OURS }] },
      ),
      host(
        'C',
        { zone: 'north' },
        { components: [{ id: 'shop-api', imageRef: 'file:///api-v1.wasm', count: 3, annotations: {} }] },
      ),
    ]),
    status: 'reconciling',
    after: (l) => assert.deepEqual(countsOf(l, 'shop-api'), { A: 2, B: 1 }),
  },
  {
    name: 'a dead host’s replicas move to the hosts that remain',
    apps: [{ manifest: spread21, deployed: true }],
    observed: lattice([
      host('A2', { zone: 'east' }),
      host(
        'B',
        { zone: 'west' },
        { components: [{ id: 'shop-api', imageRef: 'file:///api-v1.wasm', count: 1, annotations: OURS }] },
      ),
    ]),
    status: 'reconciling',
    after: (l) => assert.deepEqual(countsOf(l, 'shop-api'), { A2: 2, B: 1 }),
  },
  {
    name: 'a daemon provider runs once on every matching host; config, the link and the component follow',
    apps: [{ manifest: withProviderAndLink, deployed: true }],
    observed: lattice(ssdHosts()),
    status: 'reconciling',
    after: (l, commands) => {
      assert.deepEqual(providersOn(l, 'shop-kv'), ['A', 'B']);
      assert.equal(
        Object.values(countsOf(l, 'shop-api')).reduce((a, b) => a + b, 0),
        2,
      );
      assert.deepEqual(l.configs.get('shop-conn'), { url: 'redis://x' });
      assert.deepEqual(
        l.links.map((x) => [x.source_id, x.target, x.interfaces, x.target_config]),
        [['shop-api', 'shop-kv', ['store'], ['shop-conn']]],
      );
      const order = commands.map((c) => c.op);
      assert.ok(order.indexOf('put-config') < order.indexOf('start-provider'), order.join(' '));
      assert.ok(order.indexOf('start-provider') < order.indexOf('put-link'), order.join(' '));
    },
  },
  {
    name: 'a new host with matching labels gets its daemon',
    apps: [{ manifest: withProviderAndLink, deployed: true }],
    observed: apply(
      lattice(ssdHosts()),
      reconcile([{ manifest: withProviderAndLink, deployed: true }], lattice(ssdHosts())).commands,
    ),
    status: 'deployed',
    after: () => {
      const grown = apply(
        lattice(ssdHosts()),
        reconcile([{ manifest: withProviderAndLink, deployed: true }], lattice(ssdHosts())).commands,
      );
      const withD = { ...grown, hosts: [...grown.hosts, host('D', { disk: 'ssd' })] };
      const { commands } = reconcile([{ manifest: withProviderAndLink, deployed: true }], withD);
      assert.deepEqual(
        commands.map((c) => [c.op, 'hostId' in c ? c.hostId : '']),
        [['start-provider', 'D']],
      );
    },
  },
  {
    name: 'a changed link and changed config values are put again',
    apps: [{ manifest: withProviderAndLink, deployed: true }],
    observed: (() => {
      const l = apply(
        lattice(ssdHosts()),
        reconcile([{ manifest: withProviderAndLink, deployed: true }], lattice(ssdHosts())).commands,
      );
      return {
        ...l,
        links: l.links.map((x) => ({ ...x, interfaces: ['store', 'atomics'] })),
        configs: new Map([['shop-conn', { url: 'redis://elsewhere' }]]),
      };
    })(),
    status: 'reconciling',
    after: (_l, commands) => assert.deepEqual(commands.map((c) => c.op).sort(), ['put-config', 'put-link']),
  },
  {
    name: 'a host that refused a start makes the scaler failed, with its message',
    apps: [
      {
        manifest: spread21,
        deployed: true,
        failures: [{ workloadId: 'shop-api', hostId: 'A', message: 'image not found' }],
      },
    ],
    observed: lattice([host('A', { zone: 'east' }), host('B', { zone: 'west' })]),
    status: 'failed',
    message: /host A: image not found/,
  },
];

function describeFor(c: Case): void {
  it(c.name, () => {
    const { commands, status } = reconcile(c.apps, c.observed);
    const app = status.get('shop');
    assert.ok(app !== undefined);
    assert.equal(app.status.type, c.status, JSON.stringify(app, null, 1));
    if (c.message !== undefined) {
      const texts = [app.status.message, ...app.scalers.map((s) => s.status.message)].join(' | ');
      assert.match(texts, c.message);
    }
    const after = apply(c.observed, commands);
    c.after?.(after, commands);
    const again = reconcile(
      c.apps.map((a) => ({ ...a, failures: [] })),
      after,
    );
    assert.deepEqual(again.commands, [], 'a second pass has nothing left to do');
    const settled = c.settled ?? (c.apps[0]?.deployed === false ? 'undeployed' : 'deployed');
    assert.equal(again.status.get('shop')?.status.type, settled);
  });
}

describe('reconcile: placement, links, config', () => {
  for (const c of cases) describeFor(c);
});

describe('reconcile: spread shares as wadm computes them', () => {
  const spreads = (...weights: number[]) =>
    weights.map((weight, i) => ({ name: `s${i}`, requirements: {}, weight, line: 0 }));
  const table: [number, number[], number[]][] = [
    [1, [100], [1]],
    [10, [100, 100], [5, 5]],
    [7, [30, 40], [3, 4]],
    [7, [100, 100], [4, 3]],
    [103, [42, 3, 37, 384], [10, 1, 8, 84]],
    [12, [], [12]],
    [3, [0, 1], [0, 3]],
  ];
  for (const [instances, weights, expected] of table) {
    it(`${instances} over weights [${weights.join(', ')}] → [${expected.join(', ')}]`, () => {
      assert.deepEqual(spreadShares(instances, spreads(...weights)), expected);
    });
  }
});

describe('reconcile: upgrades and undeploy', () => {
  const v1 = withProviderAndLink;
  const v2 = manifest(
    API(
      `        - type: spreadscaler
          properties: { instances: 2 }`,
      'file:///api-v2.wasm',
    ),
  );
  const deployedV1 = (): ObservedLattice =>
    apply(lattice(ssdHosts()), reconcile([{ manifest: v1, deployed: true }], lattice(ssdHosts())).commands);

  it('a new version updates the image in place, and removes the workloads it no longer has, after starting', () => {
    const before = deployedV1();
    const { commands } = reconcile([{ manifest: v2, deployed: true, previous: v1 }], before);
    const ops = commands.map((c) => c.op);
    assert.ok(ops.includes('update-component'));
    assert.ok(ops.lastIndexOf('update-component') < ops.indexOf('stop-provider'), ops.join(' '));
    const after = apply(before, commands);
    assert.deepEqual(providersOn(after, 'shop-kv'), []);
    assert.deepEqual(after.links, []);
    assert.deepEqual([...after.configs.keys()], []);
    for (const h of after.hosts)
      for (const c of h.components) assert.equal(c.imageRef, 'file:///api-v2.wasm');
    assert.deepEqual(reconcile([{ manifest: v2, deployed: true }], after).commands, []);
  });

  it('a component of a shared application is linked to, never placed or removed', () => {
    const usesShared = manifest(`${API(`        - type: spreadscaler
          properties: { instances: 1 }
        - type: link
          properties:
            target: { name: kv }
            namespace: wasi
            package: keyvalue
            interfaces: [store]`)}
    - name: kv
      type: capability
      properties:
        application: { name: common, component: store }`);
    const theirs = { [MANAGED_BY]: 'cirrus', [APP_SPEC]: 'common' };
    const observed = lattice([
      host(
        'A',
        {},
        {
          providers: [{ id: 'common-store', imageRef: 'wasmcloud+builtin://keyvalue', annotations: theirs }],
        },
      ),
    ]);
    const deployed = reconcile([{ manifest: usesShared, deployed: true }], observed);
    assert.deepEqual(
      deployed.commands.map((c) => c.op),
      ['scale-component', 'put-link'],
    );
    const after = apply(observed, deployed.commands);
    assert.deepEqual(
      after.links.map((l) => [l.source_id, l.target]),
      [['shop-api', 'common-store']],
    );
    const removed = apply(after, reconcile([{ manifest: usesShared, deployed: false }], after).commands);
    assert.deepEqual(providersOn(removed, 'common-store'), ['A']);
    assert.deepEqual(removed.links, []);
    assert.deepEqual(countsOf(removed, 'shop-api'), {});
  });

  it('undeploy removes exactly what the application placed: workloads, its links and its config', () => {
    const before = deployedV1();
    const unrelatedLink: Link = {
      source_id: 'other',
      target: 'shop-kv',
      name: 'default',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store'],
      source_config: [],
      target_config: [],
    };
    const withOthers: ObservedLattice = {
      hosts: before.hosts.map((h) =>
        h.id === 'C' ? { ...h, components: [{ id: 'other', imageRef: 'x', count: 1, annotations: {} }] } : h,
      ),
      links: [...before.links, unrelatedLink],
      configs: new Map([...before.configs, ['shared', { a: '1' }]]),
    };
    const { commands, status } = reconcile([{ manifest: v1, deployed: false }], withOthers);
    assert.equal(status.get('shop')?.status.type, 'reconciling');
    const after = apply(withOthers, commands);
    assert.deepEqual(providersOn(after, 'shop-kv'), []);
    assert.deepEqual(countsOf(after, 'shop-api'), {});
    assert.deepEqual(countsOf(after, 'other'), { C: 1 });
    assert.deepEqual(after.links, [unrelatedLink]);
    assert.deepEqual([...after.configs.keys()], ['shared']);
    const again = reconcile([{ manifest: v1, deployed: false }], after);
    assert.deepEqual(again.commands, []);
    assert.equal(again.status.get('shop')?.status.type, 'undeployed');
  });
});
