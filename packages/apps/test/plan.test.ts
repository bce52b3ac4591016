/**
 * Deployment planning: a pure function from a parsed manifest to what one host must do — the configs
 * to create (each once), providers and components with their resolved ids, config names and
 * wadm's ownership annotations, and links with resolved source/target ids.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { APP_SPEC, MANAGED_BY, parseManifest, planDeployment } from '../src/index.ts';
import type { AppManifest, DeploymentPlan } from '../src/index.ts';
import { HEAD } from './support.ts';

const HELLO_URL = new URL('../../../examples/hello/', import.meta.url);

const DEMO = { [MANAGED_BY]: 'cirrus', [APP_SPEC]: 'demo' };

interface PlanCase {
  name: string;
  yaml: string;
  managedBy?: string;
  plan: DeploymentPlan;
}

const cases: PlanCase[] = [
  {
    name: 'one component without a scaler runs one instance',
    yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
`,
    plan: {
      configs: [],
      providers: [],
      components: [{ id: 'demo-api', ref: './api.wasm', count: 1, config: [], annotations: DEMO }],
      links: [],
    },
  },
  {
    name: 'count comes from instances (or replicas), including 0',
    yaml: `${HEAD}    - name: a
      type: component
      properties: { image: ./a.wasm }
      traits:
        - type: spreadscaler
          properties: { instances: 7 }
    - name: b
      type: actor
      properties: { image: ./b.wasm }
      traits:
        - type: spreadscaler
          properties: { replicas: 2 }
    - name: c
      type: component
      properties: { image: ./c.wasm }
      traits:
        - type: spreadscaler
          properties: { instances: 0 }
`,
    plan: {
      configs: [],
      providers: [],
      components: [
        { id: 'demo-a', ref: './a.wasm', count: 7, config: [], annotations: DEMO },
        { id: 'demo-b', ref: './b.wasm', count: 2, config: [], annotations: DEMO },
        { id: 'demo-c', ref: './c.wasm', count: 0, config: [], annotations: DEMO },
      ],
      links: [],
    },
  },
  {
    name: 'providers and components, explicit ids, links resolved to ids, default link name',
    yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
        config:
          - name: settings
            properties: { mode: fast }
          - name: external
      traits:
        - type: spreadscaler
          properties: { instances: 3 }
    - name: server
      type: capability
      properties:
        image: wasmcloud+builtin://http-server
        id: http-server
        config:
          - name: tls
            properties: { cert: none }
      traits:
        - type: spreadscaler
          properties: { instances: 5 }
        - type: link
          properties:
            target:
              name: api
              config:
                - name: route
                  properties: { path: / }
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source:
              config:
                - name: listen
                  properties: { address: '127.0.0.1:8080' }
                - name: shared-listen
`,
    plan: {
      configs: [
        { name: 'demo-settings', values: { mode: 'fast' } },
        { name: 'demo-tls', values: { cert: 'none' } },
        { name: 'demo-listen', values: { address: '127.0.0.1:8080' } },
        { name: 'demo-route', values: { path: '/' } },
      ],
      providers: [
        {
          id: 'http-server',
          ref: 'wasmcloud+builtin://http-server',
          config: ['demo-tls'],
          annotations: DEMO,
        },
      ],
      components: [
        {
          id: 'demo-api',
          ref: './api.wasm',
          count: 3,
          config: ['demo-settings', 'external'],
          annotations: DEMO,
        },
      ],
      links: [
        {
          source_id: 'http-server',
          target: 'demo-api',
          name: 'default',
          wit_namespace: 'wasi',
          wit_package: 'http',
          interfaces: ['incoming-handler'],
          source_config: ['demo-listen', 'shared-listen'],
          target_config: ['demo-route'],
        },
      ],
    },
  },
  {
    name: 'named links, legacy target_config/source_config, and a link to a provider with an explicit id',
    yaml: `${HEAD}    - name: cache
      type: capability
      properties:
        image: ghcr.io/wasmcloud/keyvalue-redis:0.28.1
        id: redis
    - name: Worker
      type: component
      properties:
        image: https://example.com/worker.wasm
      traits:
        - type: link
          properties:
            target: cache
            name: sessions
            namespace: wasi
            package: keyvalue
            interfaces: [store, atomics]
            target_config:
              - name: redis-url
                properties: { URL: 'redis://127.0.0.1:6379/1' }
            source_config:
              - name: bucket
                properties: { bucket: sessions }
        - type: link
          properties:
            target: Worker
            namespace: my-org
            package: jobs
            interfaces: [queue]
`,
    plan: {
      configs: [
        { name: 'demo-bucket', values: { bucket: 'sessions' } },
        { name: 'demo-redis_url', values: { URL: 'redis://127.0.0.1:6379/1' } },
      ],
      providers: [
        { id: 'redis', ref: 'ghcr.io/wasmcloud/keyvalue-redis:0.28.1', config: [], annotations: DEMO },
      ],
      components: [
        {
          id: 'demo-worker',
          ref: 'https://example.com/worker.wasm',
          count: 1,
          config: [],
          annotations: DEMO,
        },
      ],
      links: [
        {
          source_id: 'demo-worker',
          target: 'redis',
          name: 'sessions',
          wit_namespace: 'wasi',
          wit_package: 'keyvalue',
          interfaces: ['store', 'atomics'],
          source_config: ['demo-bucket'],
          target_config: ['demo-redis_url'],
        },
        {
          source_id: 'demo-worker',
          target: 'demo-worker',
          name: 'default',
          wit_namespace: 'my-org',
          wit_package: 'jobs',
          interfaces: ['queue'],
          source_config: [],
          target_config: [],
        },
      ],
    },
  },
  {
    name: 'configs declared in several places are created once; referenced configs are not created',
    yaml: `${HEAD}    - name: a
      type: component
      properties:
        image: ./a.wasm
        config:
          - name: common
            properties: { level: info }
          - name: existing
    - name: b
      type: component
      properties:
        image: ./b.wasm
        config:
          - name: common
            properties: { level: info }
          - name: existing
      traits:
        - type: link
          properties:
            target: a
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source_config:
              - name: common
                properties: { level: info }
            target_config:
              - name: existing
`,
    plan: {
      configs: [{ name: 'demo-common', values: { level: 'info' } }],
      providers: [],
      components: [
        { id: 'demo-a', ref: './a.wasm', count: 1, config: ['demo-common', 'existing'], annotations: DEMO },
        { id: 'demo-b', ref: './b.wasm', count: 1, config: ['demo-common', 'existing'], annotations: DEMO },
      ],
      links: [
        {
          source_id: 'demo-b',
          target: 'demo-a',
          name: 'default',
          wit_namespace: 'wasi',
          wit_package: 'http',
          interfaces: ['incoming-handler'],
          source_config: ['demo-common'],
          target_config: ['existing'],
        },
      ],
    },
  },
  {
    name: 'annotations name the manager and the app (as written, not cleaned)',
    yaml:
      HEAD.replace('name: demo', 'name: Shop-App') +
      '    - {name: api, type: component, properties: {image: ./a.wasm}}\n',
    managedBy: 'wadm',
    plan: {
      configs: [],
      providers: [],
      components: [
        {
          id: 'shop_app-api',
          ref: './a.wasm',
          count: 1,
          config: [],
          annotations: { 'wasmcloud.dev/managed-by': 'wadm', 'wasmcloud.dev/appspec': 'Shop-App' },
        },
      ],
      links: [],
    },
  },
];

describe('planDeployment', () => {
  it('uses wadm’s annotation keys', () => {
    assert.equal(MANAGED_BY, 'wasmcloud.dev/managed-by');
    assert.equal(APP_SPEC, 'wasmcloud.dev/appspec');
  });

  for (const c of cases) {
    it(c.name, () => {
      const manifest = parseManifest(c.yaml);
      const plan =
        c.managedBy === undefined ? planDeployment(manifest) : planDeployment(manifest, c.managedBy);
      assert.deepEqual(plan, c.plan);
    });
  }

  it('providers have no count: a capability with a spreadscaler still plans one provider', () => {
    const plan = planDeployment(
      parseManifest(`${HEAD}    - name: p
      type: capability
      properties: { image: wasmcloud+builtin://http-server }
      traits:
        - type: spreadscaler
          properties: { instances: 3 }
`),
    );
    assert.equal(plan.providers.length, 1);
    assert.equal(plan.components.length, 0);
    assert.ok(!('count' in (plan.providers[0] ?? {})));
  });

  it('is pure: the manifest is not changed and the same manifest gives the same plan', () => {
    const manifest: AppManifest = {
      name: 'hand-made',
      version: undefined,
      description: undefined,
      shared: false,
      components: [
        {
          name: 'a',
          kind: 'component',
          image: 'file:///a.wasm',
          id: 'hand_made-a',
          config: [{ name: 'hand_made-c', values: { k: 'v' } }, { name: 'external' }],
          scaler: { kind: 'spread', instances: 2, spread: [] },
          links: [
            {
              // Not a component of this manifest: a hand-built manifest's unknown target passes through.
              target: 'elsewhere',
              namespace: 'wasi',
              package: 'http',
              interfaces: ['outgoing-handler'],
              name: 'out',
              sourceConfig: [{ name: 'hand_made-c', values: { k: 'v' } }],
              targetConfig: [],
              line: 9,
            },
          ],
          line: 3,
        },
      ],
    };
    const before = structuredClone(manifest);
    const first = planDeployment(manifest);
    const second = planDeployment(manifest);
    assert.deepEqual(manifest, before);
    assert.deepEqual(first, second);
    assert.notEqual(first, second);
    assert.deepEqual(first, {
      configs: [{ name: 'hand_made-c', values: { k: 'v' } }],
      providers: [],
      components: [
        {
          id: 'hand_made-a',
          ref: 'file:///a.wasm',
          count: 2,
          config: ['hand_made-c', 'external'],
          annotations: { [MANAGED_BY]: 'cirrus', [APP_SPEC]: 'hand-made' },
        },
      ],
      links: [
        {
          source_id: 'hand_made-a',
          target: 'elsewhere',
          name: 'out',
          wit_namespace: 'wasi',
          wit_package: 'http',
          interfaces: ['outgoing-handler'],
          source_config: ['hand_made-c'],
          target_config: [],
        },
      ],
    } satisfies DeploymentPlan);
  });

  it('an app with no components plans nothing', () => {
    const manifest: AppManifest = {
      name: 'empty',
      version: undefined,
      description: undefined,
      shared: false,
      components: [],
    };
    assert.deepEqual(planDeployment(manifest), { configs: [], providers: [], components: [], links: [] });
  });

  it('plans examples/hello/app.yaml', () => {
    const text = readFileSync(new URL('app.yaml', HELLO_URL), 'utf8');
    const plan = planDeployment(parseManifest(text, { baseUrl: HELLO_URL.href }));
    const annotations = { [MANAGED_BY]: 'cirrus', [APP_SPEC]: 'hello' };
    assert.deepEqual(plan, {
      configs: [
        { name: 'hello-greeting', values: { GREETING: 'Hello from Cirrus' } },
        { name: 'hello-listen', values: { address: '127.0.0.1:8000' } },
      ],
      providers: [
        { id: 'hello-httpserver', ref: 'wasmcloud+builtin://http-server', config: [], annotations },
      ],
      components: [
        {
          id: 'hello-greeter',
          ref: new URL('build/hello.wasm', HELLO_URL).href,
          count: 4,
          config: ['hello-greeting'],
          annotations,
        },
      ],
      links: [
        {
          source_id: 'hello-httpserver',
          target: 'hello-greeter',
          name: 'default',
          wit_namespace: 'wasi',
          wit_package: 'http',
          interfaces: ['incoming-handler'],
          source_config: ['hello-listen'],
          target_config: [],
        },
      ],
    } satisfies DeploymentPlan);
  });
});
