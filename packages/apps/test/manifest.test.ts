/**
 * Manifest parsing and validation: a valid manifest becomes the expected AppManifest (with wadm's id
 * and config naming), and everything outside the supported OAM subset is refused with
 * MANIFEST_INVALID listing every problem with its exact line, a message and a fix. YAML syntax
 * errors are MANIFEST_PARSE_ERROR with their line.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ManifestInvalidError, ManifestParseError } from '@cirrus/protocol';
import { API_VERSION, parseManifest, wadmId } from '../src/index.ts';
import type { AppManifest, ParseOptions, Problem } from '../src/index.ts';
import { HEAD, problemsOf, thrown } from './support.ts';

const HELLO_URL = new URL('../../../examples/hello/', import.meta.url);
const HELLO_YAML = readFileSync(new URL('app.yaml', HELLO_URL), 'utf8');

/** An expected problem: its exact line and substrings of its message and fix. */
interface Expected {
  line: number;
  message: string;
  fix: string;
}

/** Asserts MANIFEST_INVALID with exactly the expected problems, in order (sorted by line). */
function assertInvalid(text: string, expected: Expected[], options: ParseOptions = {}): Problem[] {
  const err = thrown(() => parseManifest(text, options));
  assert.ok(err instanceof ManifestInvalidError, `expected ManifestInvalidError, got ${String(err)}`);
  assert.equal(err.code, 'MANIFEST_INVALID');
  const problems = problemsOf(err);
  const show = JSON.stringify(problems, null, 2);
  assert.deepEqual(
    problems.map((p) => p.line),
    expected.map((e) => e.line),
    `problem lines differ:\n${show}`,
  );
  expected.forEach((e, i) => {
    const p = problems[i] as Problem;
    assert.ok(p.message.includes(e.message), `problem ${i}: message ${JSON.stringify(e.message)}\n${show}`);
    assert.ok(p.fix.includes(e.fix), `problem ${i}: fix ${JSON.stringify(e.fix)}\n${show}`);
  });
  return problems;
}

interface InvalidCase {
  name: string;
  yaml: string;
  problems: Expected[];
}

describe('parseManifest: a valid manifest', () => {
  it('parses every supported field into the expected AppManifest', () => {
    const yaml = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: Shop-App
  annotations:
    version: 1.10
    description: A small shop
  labels:
    team: web
spec:
  components:
    - name: HTTP Handler
      type: component
      properties:
        image: https://example.com/handler.wasm
        config:
          - name: Settings
            properties:
              PORT: 8080
              DEBUG: true
              RATIO: 1.50
              GREETING: hi there
          - name: existing-config
      traits:
        - type: spreadscaler
          properties:
            replicas: 3
    - name: kv
      type: capability
      properties:
        image: ghcr.io/wasmcloud/keyvalue-redis:0.28.1
        id: redis-kv
      traits:
        - type: spreadscaler
          properties:
            instances: 1
    - name: legacy
      type: actor
      properties:
        image: wasmcloud+builtin://blobstore
      traits:
        - type: link
          properties:
            target: kv
            namespace: wasi
            package: keyvalue
            interfaces: [store, atomics]
            name: cache
            target_config:
              - name: redis-url
                properties:
                  URL: redis://127.0.0.1:6379
            source_config:
              - name: shared-source
        - type: link
          properties:
            target:
              name: HTTP Handler
              config:
                - name: target-side
                  properties: { mode: fast }
            namespace: wasi
            package: http
            interfaces:
              - incoming-handler
            source:
              config:
                - name: listen
                  properties: { address: '0.0.0.0:8080' }
                - name: external
`;
    const expected: AppManifest = {
      name: 'Shop-App',
      version: '1.10',
      description: 'A small shop',
      shared: false,
      components: [
        {
          name: 'HTTP Handler',
          kind: 'component',
          image: 'https://example.com/handler.wasm',
          id: 'shop_app-http_handler',
          config: [
            {
              name: 'shop_app-settings',
              values: { PORT: '8080', DEBUG: 'true', RATIO: '1.50', GREETING: 'hi there' },
            },
            { name: 'existing-config' },
          ],
          scaler: { kind: 'spread', instances: 3, spread: [] },
          links: [],
          line: 12,
        },
        {
          name: 'kv',
          kind: 'capability',
          image: 'ghcr.io/wasmcloud/keyvalue-redis:0.28.1',
          id: 'redis-kv',
          config: [],
          scaler: { kind: 'spread', instances: 1, spread: [] },
          links: [],
          line: 28,
        },
        {
          name: 'legacy',
          kind: 'component',
          image: 'wasmcloud+builtin://blobstore',
          id: 'shop_app-legacy',
          config: [],
          scaler: { kind: 'spread', instances: 1, spread: [] },
          links: [
            {
              target: 'kv',
              namespace: 'wasi',
              package: 'keyvalue',
              interfaces: ['store', 'atomics'],
              name: 'cache',
              sourceConfig: [{ name: 'shared-source' }],
              targetConfig: [{ name: 'shop_app-redis_url', values: { URL: 'redis://127.0.0.1:6379' } }],
              line: 42,
            },
            {
              target: 'HTTP Handler',
              namespace: 'wasi',
              package: 'http',
              interfaces: ['incoming-handler'],
              name: 'default',
              sourceConfig: [
                { name: 'shop_app-listen', values: { address: '0.0.0.0:8080' } },
                { name: 'external' },
              ],
              targetConfig: [{ name: 'shop_app-target_side', values: { mode: 'fast' } }],
              line: 55,
            },
          ],
          line: 37,
        },
      ],
    };
    assert.deepEqual(parseManifest(yaml), expected);
  });

  const minimal = (component: string): string =>
    `${HEAD}    - name: ${component}\n      type: component\n      properties:\n        image: ./c.wasm\n`;

  const idCases: [title: string, yaml: string, id: string][] = [
    ['plain names are joined with "-"', minimal('greeter'), 'demo-greeter'],
    [
      'upper case is lowered and every non-alphanumeric becomes "_"',
      minimal('"HTTP Server.v2/x"'),
      'demo-http_server_v2_x',
    ],
    [
      'the app name is cleaned the same way',
      minimal('api').replace('name: demo', 'name: My-Shop_1'),
      'my_shop_1-api',
    ],
    ['an explicit id wins', `${minimal('api')}        id: my-own-id\n`, 'my-own-id'],
  ];
  for (const [title, yaml, id] of idCases) {
    it(`component id: ${title}`, () => {
      const [component] = parseManifest(yaml).components;
      assert.equal(component?.id, id);
    });
  }

  const wadmIdCases: [app: string, name: string, id: string][] = [
    ['hello', 'greeter', 'hello-greeter'],
    ['hello-app', 'http component', 'hello_app-http_component'],
    ['Hello', 'HTTP-Server', 'hello-http_server'],
    ['a.b', 'c/d:e', 'a_b-c_d_e'],
    ['app', 'café', 'app-caf_'],
    // wadm replaces each Rust `char` (code point) with one "_", so an emoji is one "_", not two.
    ['app', 'x🙂y', 'app-x_y'],
  ];
  for (const [app, name, id] of wadmIdCases) {
    it(`wadmId(${JSON.stringify(app)}, ${JSON.stringify(name)}) is ${JSON.stringify(id)}`, () => {
      assert.equal(wadmId(app, name), id);
    });
  }

  it('config with properties is named <app>-<config>; without properties it is referenced as written', () => {
    const yaml = `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
        config:
          - name: Feature Flags
            properties:
              ON: 'yes'
          - name: Pre-Existing_Config
          - name: prefilled
            properties: {}
`;
    const [component] = parseManifest(yaml).components;
    assert.deepEqual(component?.config, [
      { name: 'demo-feature_flags', values: { ON: 'yes' } },
      { name: 'Pre-Existing_Config' },
      { name: 'demo-prefilled', values: {} },
    ]);
  });

  it('config values keep the text they were written with (numbers, booleans, quoted strings)', () => {
    const yaml = `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
        config:
          - name: values
            properties:
              int: 8080
              float: 1.50
              version: 1.0
              zip: 01234
              hex: 0x1F
              bool: true
              quoted: "007"
              empty: ''
`;
    const [component] = parseManifest(yaml).components;
    assert.deepEqual(component?.config[0]?.values, {
      int: '8080',
      float: '1.50',
      version: '1.0',
      zip: '01234',
      hex: '0x1F',
      bool: 'true',
      quoted: '007',
      empty: '',
    });
  });

  const scaleCases: [title: string, traits: string, instances: number][] = [
    ['no traits: one instance', '', 1],
    [
      'a spreadscaler with instances',
      'traits:\n        - type: spreadscaler\n          properties: {instances: 5}\n',
      5,
    ],
    [
      'replicas is an alias of instances',
      'traits:\n        - type: spreadscaler\n          properties: {replicas: 2}\n',
      2,
    ],
    [
      'instances: 0 is allowed',
      'traits:\n        - type: spreadscaler\n          properties: {instances: 0}\n',
      0,
    ],
    [
      'instances wins over replicas',
      'traits:\n        - type: spreadscaler\n          properties: {instances: 4, replicas: 9}\n',
      4,
    ],
    ['an empty traits list', 'traits: []\n', 1],
  ];
  for (const [title, traits, instances] of scaleCases) {
    it(`instances: ${title}`, () => {
      const yaml = `${HEAD}    - name: api\n      type: component\n      properties:\n        image: ./a.wasm\n      ${traits}`;
      assert.equal(parseManifest(yaml).components[0]?.scaler.instances, instances);
    });
  }

  it('type: actor is an alias of component, and version/description are optional', () => {
    const yaml = `${HEAD}    - name: api
      type: actor
      properties:
        image: ./api.wasm
`;
    const manifest = parseManifest(yaml);
    assert.equal(manifest.components[0]?.kind, 'component');
    assert.equal(manifest.version, undefined);
    assert.equal(manifest.description, undefined);
  });

  it('a link may target its own component, and an empty policies list is accepted', () => {
    const yaml = `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: link
          properties:
            target: { name: api }
            namespace: wasi
            package: keyvalue
            interfaces: [store]
  policies: []
`;
    const [component] = parseManifest(yaml).components;
    assert.equal(component?.links[0]?.target, 'api');
  });

  it('JSON is YAML: a JSON manifest parses the same as its YAML form', () => {
    const json = JSON.stringify(
      {
        apiVersion: API_VERSION,
        kind: 'Application',
        metadata: { name: 'demo', annotations: { version: 'v1' } },
        spec: {
          components: [
            {
              name: 'api',
              type: 'component',
              properties: { image: './api.wasm', config: [{ name: 'c', properties: { n: 1 } }] },
              traits: [{ type: 'spreadscaler', properties: { instances: 2 } }],
            },
          ],
        },
      },
      null,
      2,
    );
    const yaml = `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
        config:
          - name: c
            properties:
              n: 1
      traits:
        - type: spreadscaler
          properties:
            instances: 2
`.replace('  name: demo\n', '  name: demo\n  annotations:\n    version: v1\n');
    const fromJson = parseManifest(json);
    const fromYaml = parseManifest(yaml);
    const withoutLines = (m: AppManifest) => m.components.map((c) => ({ ...c, line: 0 }));
    assert.deepEqual(withoutLines(fromJson), withoutLines(fromYaml));
    assert.equal(fromJson.version, 'v1');
    assert.deepEqual(fromJson.components[0]?.config, [{ name: 'demo-c', values: { n: '1' } }]);
    assert.equal(fromJson.components[0]?.scaler.instances, 2);
    // One-line JSON still gives every component a line.
    assert.equal(parseManifest(JSON.stringify(JSON.parse(json))).components[0]?.line, 1);
  });

  it('a JSON manifest with a problem reports its line', () => {
    const json = `{
  "apiVersion": "core.oam.dev/v1beta1",
  "kind": "Application",
  "metadata": { "name": "demo" },
  "spec": {
    "components": [
      { "name": "api", "type": "component", "properties": { "imag": "./a.wasm" } }
    ]
  }
}`;
    assertInvalid(json, [
      { line: 7, message: 'unknown key "imag"', fix: 'did you mean "image"?' },
      { line: 7, message: 'properties.image: is required', fix: 'set image' },
    ]);
  });

  it('reads spread entries with their requirements and weights', () => {
    const yaml = `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: spreadscaler
          properties:
            instances: 2
            spread:
              - name: eu
                requirements:
                  zone: eu-west
                weight: 80
              - name: us
                requirements:
                  zone: us-east
`;
    const manifest = parseManifest(yaml);
    assert.equal(manifest.components[0]?.scaler.instances, 2);
    assert.deepEqual(
      manifest.components[0]?.scaler.spread.map((s) => [s.name, s.requirements, s.weight]),
      [
        ['eu', { zone: 'eu-west' }, 80],
        ['us', { zone: 'us-east' }, 100],
      ],
    );
  });

  it('reads spreads with their requirements and weights (100 when not given), and daemonscalers', () => {
    const yaml = `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: spreadscaler
          properties:
            replicas: 3
            spread:
              - name: eu
                requirements: { zone: eu-west, tier: 2 }
                weight: 2
              - name: us
                requirements: { zone: us-east }
    - name: kv
      type: capability
      properties:
        image: wasmcloud+builtin://keyvalue
      traits:
        - type: daemonscaler
          properties:
            instances: 1
            spread:
              - name: edge
                requirements: { role: edge }
`;
    const [api, kv] = parseManifest(yaml).components;
    assert.deepEqual(api?.scaler, {
      kind: 'spread',
      instances: 3,
      spread: [
        { name: 'eu', requirements: { zone: 'eu-west', tier: '2' }, weight: 2, line: 16 },
        { name: 'us', requirements: { zone: 'us-east' }, weight: 100, line: 19 },
      ],
    });
    assert.deepEqual(kv?.scaler, {
      kind: 'daemon',
      instances: 1,
      spread: [{ name: 'edge', requirements: { role: 'edge' }, weight: 100, line: 30 }],
    });
  });

  it('examples/hello/app.yaml parses without problems', () => {
    const manifest = parseManifest(HELLO_YAML, { source: 'app.yaml', baseUrl: HELLO_URL.href });
    const expected: AppManifest = {
      name: 'hello',
      version: 'v0.1.0',
      description: 'A TypeScript component that greets over HTTP',
      shared: false,
      components: [
        {
          name: 'greeter',
          kind: 'component',
          image: new URL('build/hello.wasm', HELLO_URL).href,
          id: 'hello-greeter',
          config: [{ name: 'hello-greeting', values: { GREETING: 'Hello from Cirrus' } }],
          scaler: { kind: 'spread', instances: 4, spread: [] },
          links: [],
          line: 12,
        },
        {
          name: 'httpserver',
          kind: 'capability',
          image: 'wasmcloud+builtin://http-server',
          id: 'hello-httpserver',
          config: [],
          scaler: { kind: 'spread', instances: 1, spread: [] },
          links: [
            {
              target: 'greeter',
              namespace: 'wasi',
              package: 'http',
              interfaces: ['incoming-handler'],
              name: 'default',
              sourceConfig: [{ name: 'hello-listen', values: { address: '127.0.0.1:8000' } }],
              targetConfig: [],
              line: 31,
            },
          ],
          line: 26,
        },
      ],
    };
    assert.deepEqual(manifest, expected);
    assert.ok(manifest.components[0]?.image.startsWith('file:///'));
    assert.ok(fileURLToPath(manifest.components[0]?.image ?? '').endsWith('hello/build/hello.wasm'));
  });
});

describe('parseManifest: image references', () => {
  const base = 'file:///srv/apps/shop/';
  const cases: [image: string, baseUrl: string | undefined, resolved: string][] = [
    ['./build/x.wasm', base, 'file:///srv/apps/shop/build/x.wasm'],
    ['../shared/x.wasm', base, 'file:///srv/apps/shared/x.wasm'],
    ['./with space.wasm', base, 'file:///srv/apps/shop/with%20space.wasm'],
    ['file://./x.wasm', base, 'file:///srv/apps/shop/x.wasm'],
    ['file://./build/x.wasm', base, 'file:///srv/apps/shop/build/x.wasm'],
    ['file://../x.wasm', base, 'file:///srv/apps/x.wasm'],
    ['file:///opt/x.wasm', base, 'file:///opt/x.wasm'],
    ['https://example.com/x.wasm', base, 'https://example.com/x.wasm'],
    ['http://127.0.0.1:8080/x.wasm', base, 'http://127.0.0.1:8080/x.wasm'],
    ['wasmcloud+builtin://http-server', base, 'wasmcloud+builtin://http-server'],
    ['ghcr.io/wasmcloud/http-server:0.27.0', base, 'ghcr.io/wasmcloud/http-server:0.27.0'],
    ['./build/x.wasm', undefined, './build/x.wasm'],
    ['file://./x.wasm', undefined, 'file://./x.wasm'],
  ];
  for (const [image, baseUrl, resolved] of cases) {
    it(`${image} with ${baseUrl ?? 'no baseUrl'} is ${resolved}`, () => {
      const yaml = `${HEAD}    - name: api\n      type: component\n      properties:\n        image: ${JSON.stringify(image)}\n`;
      const options: ParseOptions = baseUrl === undefined ? {} : { baseUrl };
      assert.equal(parseManifest(yaml, options).components[0]?.image, resolved);
    });
  }
});

describe('parseManifest: invalid manifests (MANIFEST_INVALID, every problem with its line)', () => {
  const cases: InvalidCase[] = [
    {
      name: 'unknown key with a close match suggests it (replica → replicas)',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: spreadscaler
          properties:
            replica: 3
`,
      problems: [
        { line: 14, message: 'traits[0].properties: unknown key "replica"', fix: 'did you mean "replicas"?' },
        { line: 14, message: 'properties.replicas: is required', fix: 'set "instances: 1"' },
      ],
    },
    {
      name: 'unknown key with a close match suggests it (imag → image)',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        imag: ./api.wasm
`,
      problems: [
        { line: 10, message: 'components[0].properties: unknown key "imag"', fix: 'did you mean "image"?' },
        { line: 10, message: 'components[0].properties.image: is required', fix: 'set image to a .wasm' },
      ],
    },
    {
      name: 'unknown top-level key (specs → spec), and the missing spec',
      yaml: `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: demo
specs:
  components: []
`,
      problems: [
        { line: 1, message: 'manifest.spec: is required', fix: 'add "spec:"' },
        { line: 5, message: 'manifest: unknown key "specs"', fix: 'did you mean "spec"?' },
      ],
    },
    {
      name: 'unknown key with no close match lists the allowed keys',
      yaml: `${HEAD}    - name: api
      type: component
      colour: blue
      properties:
        image: ./api.wasm
`,
      problems: [
        {
          line: 9,
          message: 'components[0]: unknown key "colour"',
          fix: 'remove it; allowed keys here: name, type, properties, traits',
        },
      ],
    },
    {
      name: 'unknown link property with no close match lists the allowed keys',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: link
          properties:
            target: api
            namespace: wasi
            package: http
            interfaces: [outgoing-handler]
            whatever: true
`,
      problems: [
        {
          line: 18,
          message: 'traits[0].properties: unknown key "whatever"',
          fix: 'allowed keys here: target, namespace, package, interfaces, name, source, source_config, target_config',
        },
      ],
    },
    {
      name: 'wrong apiVersion',
      yaml:
        HEAD.replace('core.oam.dev/v1beta1', 'core.oam.dev/v1') +
        '    - {name: a, type: component, properties: {image: ./a.wasm}}\n',
      problems: [
        {
          line: 1,
          message: 'manifest.apiVersion: "core.oam.dev/v1" is not supported',
          fix: 'use "apiVersion: core.oam.dev/v1beta1"',
        },
      ],
    },
    {
      name: 'missing apiVersion',
      yaml:
        HEAD.replace('apiVersion: core.oam.dev/v1beta1\n', '') +
        '    - {name: a, type: component, properties: {image: ./a.wasm}}\n',
      problems: [
        {
          line: 1,
          message: 'manifest.apiVersion: is required',
          fix: 'add "apiVersion: core.oam.dev/v1beta1"',
        },
      ],
    },
    {
      name: 'apiVersion that is not a string',
      yaml:
        HEAD.replace('core.oam.dev/v1beta1', '1') +
        '    - {name: a, type: component, properties: {image: ./a.wasm}}\n',
      problems: [
        {
          line: 1,
          message: 'manifest.apiVersion: must be a string',
          fix: 'add "apiVersion: core.oam.dev/v1beta1"',
        },
      ],
    },
    {
      name: 'wrong kind',
      yaml:
        HEAD.replace('kind: Application', 'kind: Deployment') +
        '    - {name: a, type: component, properties: {image: ./a.wasm}}\n',
      problems: [
        { line: 2, message: 'manifest.kind: "Deployment" is not supported', fix: 'use "kind: Application"' },
      ],
    },
    {
      name: 'missing metadata.name',
      yaml: `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  annotations:
    version: v1
spec:
  components:
    - name: api
      type: component
      properties:
        image: ./api.wasm
`,
      problems: [
        { line: 4, message: 'manifest.metadata.name: is required', fix: 'give the application a name' },
      ],
    },
    {
      name: 'empty metadata mapping',
      yaml:
        HEAD.replace('metadata:\n  name: demo', 'metadata: {}') +
        '    - {name: a, type: component, properties: {image: ./a.wasm}}\n',
      problems: [
        { line: 3, message: 'manifest.metadata.name: is required', fix: 'give the application a name' },
      ],
    },
    {
      name: 'invalid application name (space)',
      yaml:
        HEAD.replace('name: demo', 'name: my app') +
        '    - {name: a, type: component, properties: {image: ./a.wasm}}\n',
      problems: [
        {
          line: 4,
          message: 'manifest.metadata.name: "my app" is not a valid application name',
          fix: 'use letters, digits, "-" and "_" only',
        },
      ],
    },
    {
      name: 'invalid application name (dot)',
      yaml:
        HEAD.replace('name: demo', 'name: my.app') +
        '    - {name: a, type: component, properties: {image: ./a.wasm}}\n',
      problems: [{ line: 4, message: '"my.app" is not a valid application name', fix: 'letters, digits' }],
    },
    {
      name: 'annotations must be plain values',
      yaml:
        HEAD.replace('name: demo', 'name: demo\n  annotations:\n    version: [1, 2]') +
        '    - {name: a, type: component, properties: {image: ./a.wasm}}\n',
      problems: [
        {
          line: 6,
          message: 'manifest.metadata.annotations.version: must be a plain value (string, number or boolean)',
          fix: 'annotations are name: value pairs',
        },
      ],
    },
    {
      name: 'missing image',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        id: api
`,
      problems: [
        {
          line: 10,
          message: 'components[0].properties.image: is required',
          fix: 'set image to a .wasm file path, a file:// or an http(s):// URL',
        },
      ],
    },
    {
      name: 'missing properties',
      yaml: `${HEAD}    - name: api
      type: component
`,
      problems: [
        { line: 7, message: 'components[0].properties: is required', fix: 'add properties with an image' },
        { line: 7, message: 'components[0].properties.image: is required', fix: 'set image' },
      ],
    },
    {
      name: 'image that is not a string',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: [./a.wasm]
`,
      problems: [{ line: 10, message: 'properties.image: must be a string', fix: 'set image' }],
    },
    {
      name: 'missing component name and type',
      yaml: `${HEAD}    - properties:
        image: ./api.wasm
`,
      problems: [
        { line: 7, message: 'components[0].name: is required', fix: 'give the component a name' },
        {
          line: 7,
          message: 'components[0].type: is required',
          fix: 'set "type: component" or "type: capability"',
        },
      ],
    },
    {
      name: 'unknown component type',
      yaml: `${HEAD}    - name: api
      type: provider
      properties:
        image: ./api.wasm
`,
      problems: [
        {
          line: 8,
          message: 'components[0].type: "provider" is not a component type',
          fix: 'use "component" or "capability"',
        },
      ],
    },
    {
      name: 'a component that is not a mapping, and an empty one',
      yaml: `${HEAD}    - api
    -
    - name: ok
      type: component
      properties:
        image: ./ok.wasm
`,
      problems: [
        {
          line: 7,
          message: 'components[0]: must be a mapping of keys to values',
          fix: 'a component has name',
        },
        { line: 8, message: 'components[1]: is empty', fix: 'give the component a name, type and image' },
      ],
    },
    {
      name: 'instances of the wrong type (string)',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: spreadscaler
          properties:
            instances: "4"
`,
      problems: [
        {
          line: 14,
          message: 'traits[0].properties.instances: must be a whole number',
          fix: 'instances is a whole number, e.g. "instances: 4"',
        },
      ],
    },
    {
      name: 'instances that is not whole',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: spreadscaler
          properties: { instances: 1.5 }
`,
      problems: [{ line: 13, message: 'properties.instances: must be a whole number', fix: 'whole number' }],
    },
    {
      name: 'negative instances',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: spreadscaler
          properties:
            instances: -1
`,
      problems: [
        { line: 14, message: 'traits[0].properties.instances: must not be negative', fix: 'use 0 or more' },
      ],
    },
    {
      name: 'negative replicas',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: spreadscaler
          properties:
            replicas: -3
`,
      problems: [
        { line: 14, message: 'traits[0].properties.replicas: must not be negative', fix: 'use 0 or more' },
      ],
    },
    {
      name: 'a spreadscaler without instances',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: spreadscaler
          properties: {}
`,
      problems: [
        { line: 13, message: 'properties.replicas: is required', fix: 'set "instances: 1" (or more)' },
      ],
    },
    {
      name: 'two spreadscalers on one component',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: spreadscaler
          properties: { instances: 1 }
        - type: spreadscaler
          properties: { instances: 2 }
`,
      problems: [
        {
          line: 14,
          message: 'traits[1]: a component has at most one scaler',
          fix: 'keep one spreadscaler or daemonscaler and remove the other',
        },
      ],
    },
    {
      name: 'link to a component that does not exist (names it, lists the valid targets)',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
    - name: server
      type: capability
      properties:
        image: wasmcloud+builtin://http-server
      traits:
        - type: link
          properties:
            target:
              name: backend
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
`,
      problems: [
        {
          line: 16,
          message: 'link from "server" targets "backend", which is not a component of this manifest',
          fix: 'set target to one of: api, server',
        },
      ],
    },
    {
      name: 'link (legacy string target) to a component that differs only in case suggests it',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
    - name: server
      type: capability
      properties:
        image: wasmcloud+builtin://http-server
      traits:
        - type: link
          properties:
            target: API
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
`,
      problems: [
        { line: 16, message: 'targets "API", which is not a component', fix: 'did you mean "api"?' },
      ],
    },
    {
      name: 'link to a component that exists but has its own problem reports only that problem',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        id: api
    - name: server
      type: capability
      properties:
        image: wasmcloud+builtin://http-server
      traits:
        - type: link
          properties:
            target: api
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
`,
      problems: [{ line: 10, message: 'components[0].properties.image: is required', fix: 'set image' }],
    },
    {
      name: 'link target without a name',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: link
          properties:
            target:
              config: []
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
`,
      problems: [
        { line: 15, message: 'properties.target.name: is required', fix: 'name the target component' },
      ],
    },
    {
      name: 'duplicate component names',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./a.wasm
    - name: api
      type: component
      properties:
        image: ./b.wasm
`,
      problems: [
        {
          line: 11,
          message: 'component name "api" is used twice (first at line 7)',
          fix: 'give each component its own name',
        },
      ],
    },
    {
      name: 'duplicate component names are found even when a duplicate has another problem',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./a.wasm
    - name: api
      type: component
      properties: {}
`,
      problems: [
        { line: 11, message: 'component name "api" is used twice (first at line 7)', fix: 'its own name' },
        { line: 13, message: 'components[1].properties.image: is required', fix: 'set image' },
      ],
    },
    {
      name: 'two components with the same explicit id',
      yaml: `${HEAD}    - name: a
      type: component
      properties:
        image: ./a.wasm
        id: shared
    - name: b
      type: capability
      properties:
        image: ./b.wasm
        id: shared
`,
      problems: [
        {
          line: 12,
          message: 'component id "shared" of "b" is already the id of "a" (line 7)',
          fix: 'give one of them its own "id"',
        },
      ],
    },
    {
      name: 'two names that give the same wadm id',
      yaml: `${HEAD}    - name: http-server
      type: component
      properties:
        image: ./a.wasm
    - name: HTTP_Server
      type: component
      properties:
        image: ./b.wasm
`,
      problems: [
        {
          line: 11,
          message: 'component id "demo-http_server" of "HTTP_Server" is already the id of "http-server"',
          fix: '"id"',
        },
      ],
    },
    {
      name: 'invalid explicit id',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./a.wasm
        id: my.api
`,
      problems: [
        {
          line: 11,
          message: 'properties.id: "my.api" is not a valid id',
          fix: 'use no ".", "*", ">" or whitespace',
        },
      ],
    },
    {
      name: 'the same config declared twice with different properties',
      yaml: `${HEAD}    - name: a
      type: component
      properties:
        image: ./a.wasm
        config:
          - name: settings
            properties: { mode: fast }
    - name: b
      type: component
      properties:
        image: ./b.wasm
        config:
          - name: settings
            properties: { mode: slow }
`,
      problems: [
        {
          line: 19,
          message:
            'config "settings" (demo-settings) is declared again with different properties (first at line 12)',
          fix: 'give this config another name',
        },
      ],
    },
    {
      name: 'invalid config names and values',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./a.wasm
        config:
          - name: my config
          - properties: { a: b }
          - name: nested
            properties:
              deep: { a: b }
          - name: wrong
            props: {}
`,
      problems: [
        { line: 12, message: 'config[0].name: "my config" is not a valid config name', fix: 'use no "."' },
        { line: 13, message: 'config[1].name: is required', fix: 'give the config a name' },
        { line: 16, message: 'config[2].properties.deep: must be a plain value', fix: 'name: value pairs' },
        { line: 18, message: 'config[3]: unknown key "props"', fix: 'allowed keys here: name, properties' },
      ],
    },
    {
      name: 'secrets on component properties',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
        secrets:
          - name: token
`,
      problems: [
        { line: 12, message: 'properties.secrets: secrets are not supported yet', fix: 'remove secrets' },
      ],
    },
    {
      name: 'secrets on link target and source',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: link
          properties:
            target:
              name: api
              secrets: [{ name: t }]
            namespace: wasi
            package: keyvalue
            interfaces: [store]
            source:
              secrets: [{ name: s }]
`,
      problems: [
        {
          line: 16,
          message: 'properties.target.secrets: secrets are not supported yet',
          fix: 'remove secrets',
        },
        {
          line: 21,
          message: 'properties.source.secrets: secrets are not supported yet',
          fix: 'remove secrets',
        },
      ],
    },
    {
      name: 'a shared component with an image, config or a scaler of its own',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
        application: { name: shared, component: api }
        config:
          - name: x
      traits:
        - type: spreadscaler
          properties: { instances: 1 }
`,
      problems: [
        {
          line: 10,
          message: 'properties.image: a component of a shared application has no image here',
          fix: 'remove image, or remove application to run an image of this application',
        },
        {
          line: 13,
          message:
            'properties.config: a component of a shared application takes its config from that application',
          fix: 'remove config, or put it in the shared application',
        },
        {
          line: 15,
          message: 'traits[0]: a shared component is scaled by the application it belongs to',
          fix: 'remove the scaler; its own application says how many run',
        },
      ],
    },
    {
      name: 'policies',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
  policies:
    - name: vault
      type: policy.secret.wasmcloud.dev/v1alpha1
`,
      problems: [
        {
          line: 12,
          message: 'manifest.spec.policies: policies are not supported yet',
          fix: 'remove spec.policies',
        },
      ],
    },
    {
      name: 'unknown trait type',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: autoscaler
          properties: {}
`,
      problems: [
        {
          line: 12,
          message: 'traits[0].type: unknown trait type "autoscaler"',
          fix: 'use spreadscaler, daemonscaler or link',
        },
      ],
    },
    {
      name: 'trait without a type',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - properties: {}
`,
      problems: [
        { line: 12, message: 'traits[0].type: is required', fix: 'set the trait type: spreadscaler or link' },
      ],
    },
    {
      name: 'traits that are not a list',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        type: spreadscaler
`,
      problems: [
        { line: 12, message: 'components[0].traits: must be a list', fix: 'traits is a list of traits' },
      ],
    },
    {
      name: 'link interfaces missing',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: link
          properties:
            target: api
            namespace: wasi
            package: http
`,
      problems: [
        {
          line: 14,
          message: 'traits[0].properties.interfaces: must name at least one interface',
          fix: 'e.g. "interfaces: [incoming-handler]"',
        },
      ],
    },
    {
      name: 'link interfaces empty',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: link
          properties:
            target: api
            namespace: wasi
            package: http
            interfaces: []
`,
      problems: [
        {
          line: 17,
          message: 'properties.interfaces: must name at least one interface',
          fix: 'incoming-handler',
        },
      ],
    },
    {
      name: 'link interfaces not a list',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: link
          properties:
            target: api
            namespace: wasi
            package: http
            interfaces: incoming-handler
`,
      problems: [
        {
          line: 17,
          message: 'properties.interfaces: must be a list',
          fix: 'interfaces is a list, e.g. [incoming-handler]',
        },
        {
          line: 17,
          message: 'properties.interfaces: must name at least one interface',
          fix: 'incoming-handler',
        },
      ],
    },
    {
      name: 'link namespace and package that are not WIT names',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: link
          properties:
            target: api
            namespace: WASI
            package: wasi:http
            interfaces: [incoming-handler]
`,
      problems: [
        {
          line: 15,
          message: 'properties.namespace: "WASI" is not a WIT name',
          fix: 'use lower-case kebab-case',
        },
        {
          line: 16,
          message: 'properties.package: "wasi:http" is not a WIT name',
          fix: 'use lower-case kebab-case',
        },
      ],
    },
    {
      name: 'link without namespace and package',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: link
          properties:
            target: api
            interfaces: [incoming-handler]
`,
      problems: [
        {
          line: 14,
          message: 'properties.namespace: is required',
          fix: 'set the WIT namespace, e.g. "namespace: wasi"',
        },
        {
          line: 14,
          message: 'properties.package: is required',
          fix: 'set the WIT package, e.g. "package: http"',
        },
      ],
    },
    {
      name: 'no components',
      yaml: `${HEAD.replace('  components:\n', '  components: []\n')}`,
      problems: [
        {
          line: 6,
          message: 'manifest.spec.components: must list at least one component',
          fix: 'add a component',
        },
      ],
    },
    {
      name: 'spread entry with an unknown key is an error (and still a warning)',
      yaml: `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: spreadscaler
          properties:
            instances: 1
            spread:
              - name: eu
                weigth: 10
`,
      problems: [{ line: 17, message: 'spread[0]: unknown key "weigth"', fix: 'did you mean "weight"?' }],
    },
    {
      name: 'a document that is a list',
      yaml: '- apiVersion: core.oam.dev/v1beta1\n- kind: Application\n',
      problems: [
        {
          line: 1,
          message: 'manifest: must be a mapping of keys to values',
          fix: 'a manifest has apiVersion, kind, metadata and spec',
        },
      ],
    },
    {
      name: 'a document that is a plain string',
      yaml: '\n\nhello\n',
      problems: [
        { line: 3, message: 'manifest: must be a mapping of keys to values', fix: 'apiVersion, kind' },
      ],
    },
    {
      name: 'several problems at once, sorted by line',
      yaml: `apiVersion: core.oam.dev/v1beta1
kind: App
metadata:
  name: demo
spec:
  components:
    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: link
          properties:
            target: nowhere
            namespace: wasi
            package: http
            interfaces: [outgoing-handler]
    - name: worker
      type: component
      properties:
        imag: ./worker.wasm
      traits:
        - type: spreadscaler
          properties:
            instances: -2
extra: true
`,
      problems: [
        { line: 2, message: 'manifest.kind: "App" is not supported', fix: 'use "kind: Application"' },
        { line: 12, message: 'link from "api" targets "nowhere"', fix: 'set target to one of: api, worker' },
        { line: 21, message: 'components[1].properties: unknown key "imag"', fix: 'did you mean "image"?' },
        { line: 21, message: 'components[1].properties.image: is required', fix: 'set image' },
        {
          line: 25,
          message: 'components[1].traits[0].properties.instances: must not be negative',
          fix: 'use 0 or more',
        },
        {
          line: 26,
          message: 'manifest: unknown key "extra"',
          fix: 'remove it; allowed keys here: apiVersion, kind, metadata, spec',
        },
      ],
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      assertInvalid(c.yaml, c.problems);
    });
  }

  const emptyCases: [title: string, text: string][] = [
    ['an empty string', ''],
    ['only whitespace', '\n   \n\n'],
    ['only a comment', '# nothing here yet\n'],
    ['an explicit null', '~\n'],
  ];
  for (const [title, text] of emptyCases) {
    it(`an empty document (${title}) is MANIFEST_INVALID at line 1`, () => {
      assertInvalid(text, [
        {
          line: 1,
          message: 'the manifest is empty',
          fix: `start with "apiVersion: ${API_VERSION}" and "kind: Application"`,
        },
      ]);
    });
  }

  it('the error names the source, counts the problems and hints at the first fix', () => {
    const yaml =
      HEAD.replace('kind: Application', 'kind: Deployment') + '    - name: api\n      type: component\n';
    const err = thrown(() => parseManifest(yaml, { source: 'shop/app.yaml' }));
    assert.ok(err instanceof ManifestInvalidError);
    assert.match(err.message, /^shop\/app\.yaml has 3 problems:\n/);
    assert.match(
      err.message,
      /\n {2}line 2: manifest\.kind: "Deployment" is not supported \(fix: use "kind: Application"\)/,
    );
    assert.equal(err.hint, 'line 2: use "kind: Application"');
    assert.deepEqual(err.toJSON().details, { problems: problemsOf(err) });
    assert.match(err.describe(), /^MANIFEST_INVALID: shop\/app\.yaml has 3 problems/);
  });

  it('a single problem is counted in the singular', () => {
    const yaml = `${HEAD}    - name: api\n      type: component\n      properties: {}\n`;
    const err = thrown(() => parseManifest(yaml));
    assert.match(err.message, /^manifest has 1 problem:\n {2}line 9: /);
  });
});

describe('parseManifest: YAML syntax errors (MANIFEST_PARSE_ERROR)', () => {
  const cases: [title: string, yaml: string, line: number, message: string][] = [
    [
      'a duplicate key',
      `${HEAD}    - name: api\n      type: component\n      type: capability\n      properties: {image: ./a.wasm}\n`,
      9,
      'Map keys must be unique',
    ],
    [
      'a tab used for indentation',
      `${HEAD}    - name: api\n\ttype: component\n`,
      8,
      'Tabs are not allowed as indentation',
    ],
    [
      'a nested mapping on one line',
      `apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: demo: two\n`,
      4,
      'Nested mappings are not allowed in compact mappings',
    ],
    [
      'misaligned keys',
      `apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: demo\n annotations: {}\n`,
      5,
      'All mapping items must start at the same column',
    ],
    [
      'an unclosed flow mapping',
      `apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata: {name: demo\nspec: {}\n`,
      4,
      'Flow map in block collection must be sufficiently indented and end with a }',
    ],
    [
      'an unclosed flow sequence',
      `${HEAD}    - name: api\n      type: component\n      properties:\n        image: [./a.wasm\n`,
      10,
      'Flow sequence in block collection must be sufficiently indented and end with a ]',
    ],
    [
      'an unclosed quote on the last line (not the empty line after it)',
      `${HEAD}    - name: api\n      type: component\n      properties:\n        image: "./a.wasm\n\n`,
      10,
      'Missing closing "quote',
    ],
    ['two documents', `${HEAD}---\nkind: Other\n`, 7, 'Source contains multiple documents'],
  ];
  for (const [title, yaml, line, message] of cases) {
    it(`${title} is reported at line ${line}`, () => {
      const err = thrown(() => parseManifest(yaml, { source: 'app.yaml' }));
      assert.ok(err instanceof ManifestParseError, `expected ManifestParseError, got ${String(err)}`);
      assert.equal(err.code, 'MANIFEST_PARSE_ERROR');
      const problems = problemsOf(err);
      assert.ok(problems.length >= 1);
      assert.equal(problems[0]?.line, line, JSON.stringify(problems));
      assert.ok(problems[0]?.message.includes(message), JSON.stringify(problems));
      assert.equal(problems[0]?.fix, 'fix the YAML syntax at that line');
      assert.equal(err.hint, `line ${line}: fix the YAML syntax at that line`);
      assert.match(err.message, new RegExp(`^app\\.yaml has \\d+ problems?:\\n {2}line ${line}: `));
    });
  }

  it('syntax errors win over validation: no MANIFEST_INVALID problems are mixed in', () => {
    const yaml = `apiVersion: v0\nkind: Nope\nmetadata:\n  name: demo: x\n`;
    const err = thrown(() => parseManifest(yaml));
    assert.ok(err instanceof ManifestParseError);
    assert.deepEqual(
      problemsOf(err).map((p) => p.line),
      [4],
    );
  });
});
