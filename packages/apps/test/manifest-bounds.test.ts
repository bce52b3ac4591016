/**
 * What parseManifest guarantees for YAML beyond the plain subset, and for hostile YAML: aliases work
 * as if the values were written out, merge keys are refused as wadm does not apply them, and nesting,
 * alias expansion and instance counts are bounded by the host's limits, each refused with a line and
 * a fix in bounded time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_LIMITS, ManifestInvalidError, ManifestParseError } from '@cirrus/protocol';
import { parseManifest } from '../src/index.ts';
import type { ParseOptions, Problem } from '../src/index.ts';
import { HEAD, problemsOf, thrown } from './support.ts';

/** Lines 1-6; the first component starts at line 7. */

/** The single problem of a MANIFEST_PARSE_ERROR (or MANIFEST_INVALID with `invalid`). */
function onlyProblem(text: string, options: ParseOptions = {}, invalid = false): Problem {
  const err = thrown(() => parseManifest(text, options));
  const expected = invalid ? ManifestInvalidError : ManifestParseError;
  assert.ok(err instanceof expected, `expected ${expected.name}, got ${String(err)}`);
  const problems = problemsOf(err);
  assert.equal(problems.length, 1, JSON.stringify(problems, null, 2));
  return problems[0] as Problem;
}

/** Runs `fn` and returns how long it took, in ms. */
function timed(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

describe('parseManifest: YAML anchors and aliases', () => {
  const written = `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
        config:
          - name: shared
            properties:
              region: eu
              retries: 3
      traits:
        - type: link
          properties:
            target: store
            namespace: wasi
            package: keyvalue
            interfaces: [store, atomics]
    - name: worker
      type: component
      properties:
        image: ./api.wasm
        config:
          - name: shared
            properties:
              region: eu
              retries: 3
      traits:
        - type: link
          properties:
            target: store
            namespace: wasi
            package: keyvalue
            interfaces: [store, atomics]
    - name: store
      type: capability
      properties:
        image: wasmcloud+builtin://keyvalue
`;
  const aliased = `${HEAD}    - name: api
      type: component
      properties:
        image: &image ./api.wasm
        config:
          - &shared-config
            name: shared
            properties: &shared
              region: eu
              retries: 3
      traits:
        - &kv-link
          type: link
          properties:
            target: store
            namespace: wasi
            package: keyvalue
            interfaces: &kv [store, atomics]
    - name: worker
      type: component
      properties:
        image: *image
        config:
          - name: shared
            properties: *shared
      traits:
        - type: link
          properties:
            target: store
            namespace: wasi
            package: keyvalue
            interfaces: *kv
    - name: store
      type: capability
      properties:
        image: wasmcloud+builtin://keyvalue
`;

  it('a manifest with aliases parses to what the written-out manifest gives (but for the lines)', () => {
    const options = { baseUrl: 'file:///srv/app/' };
    const strip = (text: string): unknown =>
      parseManifest(text, options).components.map((c) => ({
        ...c,
        line: 0,
        links: c.links.map((l) => ({ ...l, line: 0 })),
      }));
    assert.deepEqual(strip(aliased), strip(written));
    const [api, worker] = parseManifest(aliased, options).components;
    assert.equal(worker?.image, 'file:///srv/app/api.wasm');
    assert.deepEqual(worker?.config, [{ name: 'demo-shared', values: { region: 'eu', retries: '3' } }]);
    assert.deepEqual(worker?.links[0]?.interfaces, ['store', 'atomics']);
    assert.deepEqual(api?.config, worker?.config);
  });

  it('whole entries can be reused: a config entry, a trait, and a key', () => {
    const yaml = aliased
      .replace(
        '          - name: shared\n            properties: *shared\n      traits:\n        - type: link\n          properties:\n            target: store\n            namespace: wasi\n            package: keyvalue\n            interfaces: *kv\n',
        '          - *shared-config\n      traits:\n        - *kv-link\n',
      )
      .replace('  name: demo\n', '  name: demo\n  labels:\n    &team team: web\n    owner: *team\n');
    const [, worker] = parseManifest(yaml).components;
    assert.deepEqual(worker?.config, [{ name: 'demo-shared', values: { region: 'eu', retries: '3' } }]);
    assert.equal(worker?.links[0]?.target, 'store');
    assert.deepEqual(worker?.links[0]?.interfaces, ['store', 'atomics']);
  });

  it('a problem inside a reused value is reported where it is written, and again for each use', () => {
    const yaml = `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
        config:
          - name: shared
            properties: &shared
              region: [eu]
    - name: worker
      type: component
      properties:
        image: ./worker.wasm
        config:
          - name: shared
            properties: *shared
`;
    const problems = problemsOf(thrown(() => parseManifest(yaml)));
    assert.deepEqual(
      problems.map((p) => [p.line, p.message]),
      [
        [
          14,
          'manifest.spec.components[0].properties.config[0].properties.region: must be a plain value (string, number or boolean)',
        ],
        [
          14,
          'manifest.spec.components[1].properties.config[0].properties.region: must be a plain value (string, number or boolean) (in the value of *shared used at line 21)',
        ],
      ],
    );
  });

  it('an alias whose value has the wrong shape is reported at the alias', () => {
    const yaml = `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
        config: &list
          - name: existing
    - name: worker
      type: component
      properties:
        image: *list
`;
    const problem = onlyProblem(yaml, {}, true);
    assert.equal(problem.line, 16);
    assert.equal(problem.message, 'manifest.spec.components[1].properties.image: must be a string');
  });

  it('an alias before (or without) its anchor is MANIFEST_PARSE_ERROR at the alias', () => {
    const yaml = `${HEAD}    - name: api\n      type: component\n      properties:\n        image: *image\n    - name: worker\n      type: component\n      properties:\n        image: &image ./w.wasm\n`;
    const problem = onlyProblem(yaml);
    assert.equal(problem.line, 10);
    assert.equal(problem.message, 'alias "*image" has no anchor "&image" before it');
    assert.match(problem.fix, /put "&image" on the value to reuse/);
  });

  it('an alias inside the value it refers to is MANIFEST_PARSE_ERROR at the alias', () => {
    const yaml = `${HEAD}    - &api\n      name: api\n      type: component\n      properties:\n        image: ./api.wasm\n        config: [*api]\n`;
    const problem = onlyProblem(yaml);
    assert.equal(problem.line, 12);
    assert.match(problem.message, /alias "\*api" is inside the value anchored as "&api"/);
  });

  /** Nine times nine times … lol: `levels` levels of 9 aliases each, under metadata.labels. */
  function laughs(levels: number): string {
    const rows = ['lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i < levels; i++) {
      rows.push(`lol${i}: &lol${i} [${Array.from({ length: 9 }, () => `*lol${i - 1}`).join(', ')}]`);
    }
    return `apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: demo\n  labels:\n    ${rows.join('\n    ')}\n`;
  }

  it('an alias bomb (9^12 values) is MANIFEST_PARSE_ERROR at the alias that passes manifestMaxNodes, at once', () => {
    let problem: Problem | undefined;
    const ms = timed(() => {
      problem = onlyProblem(laughs(12));
    });
    // 9^5 = 59049 values fit in the default 100000; the first *lol4 of lol5 (line 11) passes it.
    assert.deepEqual(problem, {
      line: 11,
      message: `alias "*lol4" expands the manifest past ${DEFAULT_LIMITS.manifestMaxNodes} values`,
      fix: 'reuse smaller values, or raise manifestMaxNodes (CIRRUS_LIMIT_MANIFEST_MAX_NODES) if the manifest is meant to be this large',
    });
    assert.ok(ms < 1_000, `took ${ms} ms`);
  });

  it('manifestMaxNodes comes from the options, and counts written values too', () => {
    const small = { limits: { manifestMaxNodes: 1_000 } };
    assert.equal(onlyProblem(laughs(4), small).line, 9);
    const labels = Array.from({ length: 600 }, (_, i) => `    l${i}: v`).join('\n');
    const big = `apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: demo\n  labels:\n${labels}\n`;
    const problem = onlyProblem(big, small);
    assert.equal(problem.message, 'the manifest has more than 1000 values');
    assert.equal(problem.line, 500);
    // Within the default limit the same texts parse, and are only validated.
    for (const text of [laughs(4), big]) {
      assert.ok(thrown(() => parseManifest(text)) instanceof ManifestInvalidError);
    }
  });
});

describe('parseManifest: YAML merge keys are refused, as wadm does not apply them', () => {
  it('"<<" in a component names the key and says to write the keys out', () => {
    const yaml = `${HEAD}    - &base\n      name: api\n      type: component\n      properties:\n        image: ./api.wasm\n    - <<: *base\n      name: worker\n`;
    const problems = problemsOf(thrown(() => parseManifest(yaml)));
    assert.deepEqual(problems[0], {
      line: 12,
      message:
        'manifest.spec.components[1]: YAML merge keys ("<<") are not supported: wadm reads "<<" as a plain key',
      fix: 'write the keys out here; an alias such as "*shared" can stand for a whole value',
    });
    // Without the merge the component lacks what it would have merged: wadm refuses it the same way.
    assert.deepEqual(
      problems.slice(1).map((p) => p.message),
      [
        'manifest.spec.components[1].type: is required',
        'manifest.spec.components[1].properties: is required',
        'manifest.spec.components[1].properties.image: is required',
      ],
    );
  });

  it('"<<" in config properties is refused too; a quoted "<<" is an ordinary name', () => {
    const config = (key: string): string =>
      `${HEAD}    - name: api\n      type: component\n      properties:\n        image: ./api.wasm\n        config:\n          - name: base\n            properties: &base {region: eu}\n          - name: more\n            properties:\n              ${key}: *base\n`;
    const problem = onlyProblem(config('<<'), {}, true);
    assert.equal(problem.line, 16);
    assert.match(problem.message, /properties: YAML merge keys \("<<"\) are not supported/);
    assert.match(onlyProblem(config('"<<"'), {}, true).message, /properties\.<<: must be a plain value/);
  });
});

describe('parseManifest: nesting deeper than manifestMaxDepth', () => {
  const cases: [title: string, text: string, line: number][] = [
    ['100000 "["', '['.repeat(100_000), 1],
    ['100000 "{a: "', '{a: '.repeat(100_000), 1],
    ['100000 "- "', '- '.repeat(100_000), 1],
    [
      '5000 ever deeper indented keys',
      Array.from({ length: 5_000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n'),
      65,
    ],
    [
      'a component nested deep under a real manifest',
      `${HEAD}    - name: api\n      type: component\n      properties:\n        image: ${'['.repeat(1_000)}\n`,
      10,
    ],
  ];
  for (const [title, text, line] of cases) {
    it(`${title}: MANIFEST_PARSE_ERROR at line ${line}, with a fix, quickly`, () => {
      let problem: Problem | undefined;
      const ms = timed(() => {
        problem = onlyProblem(text, { source: 'deep.yaml' });
      });
      assert.deepEqual(problem, {
        line,
        message: 'the YAML is nested deeper than 64 levels (a manifest needs about 11)',
        fix: 'close the brackets or reduce the indentation at that line, or raise manifestMaxDepth (CIRRUS_LIMIT_MANIFEST_MAX_DEPTH)',
      });
      assert.ok(ms < 1_000, `took ${ms} ms`);
    });
  }

  it('manifestMaxDepth comes from the options: the limit itself is accepted, one more level is not', () => {
    const nested = (depth: number): string =>
      HEAD.replace(
        '  name: demo\n',
        `  name: demo\n  labels: {a: ${'['.repeat(depth - 3)}${']'.repeat(depth - 3)}}\n`,
      ) + '    - name: api\n      type: component\n      properties:\n        image: ./api.wasm\n';
    const limits = { manifestMaxDepth: 16 };
    // Root, metadata and labels are three levels.
    assert.match(onlyProblem(nested(16), { limits }, true).message, /labels\.a: must be a plain value/);
    const problem = onlyProblem(nested(17), { limits });
    assert.equal(problem.line, 5);
    assert.match(problem.message, /nested deeper than 16 levels/);
  });

  it('the example manifests fit the smallest allowed manifestMaxDepth', () => {
    const yaml = `${HEAD}    - name: api
      type: component
      properties:
        image: ./api.wasm
      traits:
        - type: link
          properties:
            target:
              name: api
              config:
                - name: deepest
                  properties: {level: eleven}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
`;
    assert.equal(parseManifest(yaml, { limits: { manifestMaxDepth: 16 } }).components.length, 1);
  });
});

describe('parseManifest: instance counts above maxInstances', () => {
  const scaled = (key: string, count: number): string =>
    `${HEAD}    - name: api\n      type: component\n      properties:\n        image: ./api.wasm\n      traits:\n        - type: spreadscaler\n          properties:\n            ${key}: ${count}\n`;

  for (const key of ['instances', 'replicas']) {
    it(`${key}: 100000 is MANIFEST_INVALID at its line, naming the host's limit`, () => {
      assert.deepEqual(onlyProblem(scaled(key, 100_000), {}, true), {
        line: 14,
        message: `manifest.spec.components[0].traits[0].properties.${key}: 100000 is above this host's limit of ${DEFAULT_LIMITS.maxInstances} instances`,
        fix: `use at most ${DEFAULT_LIMITS.maxInstances}, or raise maxInstances (CIRRUS_LIMIT_MAX_INSTANCES)`,
      });
    });
  }

  it('maxInstances comes from the options; the limit itself is accepted', () => {
    const limits = { maxInstances: 10 };
    assert.equal(parseManifest(scaled('instances', 10), { limits }).components[0]?.scaler.instances, 10);
    assert.match(
      onlyProblem(scaled('instances', 11), { limits }, true).message,
      /11 is above this host's limit of 10/,
    );
    assert.equal(parseManifest(scaled('instances', 11)).components[0]?.scaler.instances, 11);
  });
});
