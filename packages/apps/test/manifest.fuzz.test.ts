/**
 * Fuzzing parseManifest: for arbitrary text, text made of YAML's own punctuation, arbitrary values
 * (and manifest-shaped ones) dumped as YAML, and the example manifests damaged at random (bytes
 * changed, cut short, lines repeated or moved deeper), the parser returns a manifest or throws
 * MANIFEST_PARSE_ERROR / MANIFEST_INVALID whose problems all point at a line of the text — never
 * another exception — and each case finishes quickly. `CIRRUS_FUZZ_RUNS` raises the case count.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { fc, fuzz } from '@cirrus/testing';
import { isCirrusError } from '@cirrus/protocol';
import { parseManifest } from '../src/index.ts';

/** Per case; a parse is a few ms, so only a runaway (a loop, an expansion) comes near it. */
const CASE_BUDGET_MS = 1_000;

function example(name: string): string {
  return readFileSync(new URL(`../../../examples/${name}/app.yaml`, import.meta.url), 'utf8');
}

const RICH = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
  annotations: {version: 1.10, description: A small shop}
  labels: {team: web}
spec:
  components:
    - name: api
      type: component
      properties:
        image: &image ./api.wasm
        id: shop-api
        config:
          - name: settings
            properties: &settings {PORT: 8080, DEBUG: true, RATIO: 1.50}
          - name: existing
      traits:
        - type: spreadscaler
          properties:
            replicas: 3
            spread:
              - name: eu
                requirements: {zone: eu}
                weight: 80
        - &kv-link
          type: link
          properties:
            target:
              name: kv
              config:
                - name: redis
                  properties: {URL: 'redis://127.0.0.1:6379'}
            namespace: wasi
            package: keyvalue
            interfaces: [store, atomics]
            name: cache
            source:
              config: [{name: settings, properties: *settings}]
    - name: worker
      type: actor
      properties:
        image: *image
      traits:
        - *kv-link
        - type: link
          properties:
            target: kv
            namespace: wasi
            package: keyvalue
            interfaces: [store]
            source_config: [{name: legacy}]
            target_config: [{name: legacy-target}]
    - name: kv
      type: capability
      properties:
        image: wasmcloud+builtin://keyvalue
`;

const JSON_MANIFEST = JSON.stringify(
  {
    apiVersion: 'core.oam.dev/v1beta1',
    kind: 'Application',
    metadata: { name: 'json-app' },
    spec: {
      components: [
        { name: 'api', type: 'component', properties: { image: './api.wasm' } },
        {
          name: 'http',
          type: 'capability',
          properties: { image: 'wasmcloud+builtin://http-server' },
          traits: [
            {
              type: 'link',
              properties: {
                target: { name: 'api' },
                namespace: 'wasi',
                package: 'http',
                interfaces: ['incoming-handler'],
              },
            },
          ],
        },
      ],
    },
  },
  null,
  2,
);

const SAMPLES = [example('hello'), example('counter'), RICH, JSON_MANIFEST];

/** What the YAML library or the runtime says when something broke inside, not in the text. */
const INTERNAL = /call stack|regular expression|should not happen|is not a function|Cannot read propert/i;

/** Parses `text`; fails unless it returns or refuses as a manifest problem on a line of the text. */
function returnsOrRefuses(text: string): void {
  const lineCount = text.split('\n').length;
  const start = performance.now();
  try {
    parseManifest(text, { source: 'fuzz.yaml', baseUrl: 'file:///srv/app/' });
  } catch (err) {
    assert.ok(isCirrusError(err), `not a Cirrus error: ${String(err)}`);
    assert.ok(
      err.code === 'MANIFEST_PARSE_ERROR' || err.code === 'MANIFEST_INVALID',
      `unexpected ${err.code}: ${err.message}`,
    );
    const problems = err.details?.['problems'];
    assert.ok(Array.isArray(problems) && problems.length > 0, `no problems listed: ${err.message}`);
    for (const p of problems as { line: unknown; message: unknown; fix: unknown }[]) {
      assert.ok(
        Number.isInteger(p.line) && (p.line as number) >= 1 && (p.line as number) <= lineCount,
        `line ${String(p.line)} is not a line of the ${lineCount}-line text: ${String(p.message)}`,
      );
      assert.ok(typeof p.message === 'string' && p.message !== '', 'a problem has a message');
      assert.doesNotMatch(p.message, INTERNAL);
      assert.ok(typeof p.fix === 'string' && p.fix !== '', 'a problem has a fix');
    }
  }
  const ms = performance.now() - start;
  assert.ok(ms < CASE_BUDGET_MS, `took ${Math.round(ms)} ms`);
}

/** Pieces of YAML syntax, so that random text is mostly made of what the parser reacts to. */
const YAML_PIECES = [
  '[',
  ']',
  '{',
  '}',
  ':',
  ': ',
  ',',
  '- ',
  '? ',
  '\n',
  '\n  ',
  '\n    ',
  ' ',
  '\t',
  '#',
  '"',
  "'",
  '|',
  '>',
  '&a ',
  '&b ',
  '*a',
  '*b',
  '<<: ',
  '!!str ',
  '!!map ',
  '!tag ',
  '%YAML 1.2\n',
  '---\n',
  '...\n',
  '~',
  'null',
  '1e400',
  '0x1F',
  '-1',
  'apiVersion: core.oam.dev/v1beta1\n',
  'kind: Application\n',
  'metadata',
  'name',
  'spec',
  'components',
  'type',
  'component',
  'properties',
  'image',
  'traits',
  'spreadscaler',
  'instances',
  'link',
  'target',
  'config',
  '\\',
  '\r\n',
  '\u00a0',
  '\ufeff',
  '@',
  '`',
  '%',
];

const yamlish = fc.array(fc.constantFrom(...YAML_PIECES), { maxLength: 120 }).map((p) => p.join(''));

const KEYS = [
  'apiVersion',
  'kind',
  'metadata',
  'name',
  'annotations',
  'labels',
  'spec',
  'components',
  'policies',
  'type',
  'properties',
  'image',
  'id',
  'config',
  'secrets',
  'application',
  'traits',
  'instances',
  'replicas',
  'spread',
  'requirements',
  'weight',
  'target',
  'namespace',
  'package',
  'interfaces',
  'source',
  'source_config',
  'target_config',
  '<<',
  'version',
];

const scalar = fc.oneof(
  fc.constantFrom(
    'core.oam.dev/v1beta1',
    'Application',
    'component',
    'capability',
    'actor',
    'spreadscaler',
    'link',
    'daemonscaler',
    'wasi',
    'http',
    'incoming-handler',
    './a.wasm',
    'file:///a.wasm',
    'api',
    'demo',
  ),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 12 }),
);

/** Values built from the manifest's own keys and words, so that the validator goes deep. */
const { value: manifestValue } = fc.letrec<{ value: unknown; map: Record<string, unknown>; list: unknown[] }>(
  (tie) => ({
    value: fc.oneof({ depthSize: 'small' }, scalar, tie('map'), tie('list')),
    map: fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 6 }),
    list: fc.array(tie('value'), { maxLength: 4 }),
  }),
);

const manifestShaped = fc.record({
  apiVersion: fc.oneof(fc.constant('core.oam.dev/v1beta1'), scalar),
  kind: fc.oneof(fc.constant('Application'), scalar),
  metadata: fc.oneof(fc.record({ name: fc.oneof(fc.constant('demo'), scalar) }), manifestValue),
  spec: fc.record({ components: fc.array(manifestValue, { maxLength: 4 }) }),
});

/** One random change to a text; positions are taken modulo its length (or its line count). */
type Mutation =
  | { kind: 'replace'; at: number; with: string }
  | { kind: 'truncate'; at: number }
  | { kind: 'duplicate'; from: number; count: number; to: number }
  | { kind: 'delete'; from: number; count: number }
  | { kind: 'indent'; from: number; count: number; by: number }
  | { kind: 'insert'; at: number; with: string }
  | { kind: 'nest'; at: number; with: string; times: number };

const position = fc.nat({ max: 1_000_000 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('replace' as const),
    at: position,
    with: fc.oneof(
      fc.constantFrom(...YAML_PIECES),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 2 }),
    ),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({
    kind: fc.constant('duplicate' as const),
    from: position,
    count: fc.integer({ min: 1, max: 12 }),
    to: position,
  }),
  fc.record({ kind: fc.constant('delete' as const), from: position, count: fc.integer({ min: 1, max: 6 }) }),
  fc.record({
    kind: fc.constant('indent' as const),
    from: position,
    count: fc.integer({ min: 1, max: 12 }),
    by: fc.integer({ min: -4, max: 8 }),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: position,
    with: fc.constantFrom('[', '{', '- ', '? ', '[[[[[[[[', '- - - - ', '&x ', '*x', '<<: *x\n', ': '),
  }),
  fc.record({
    kind: fc.constant('nest' as const),
    at: position,
    with: fc.constantFrom('[', '{', '{a: ', '[a: ', '- ', '? ', '\n  a:', '\n - '),
    times: fc.integer({ min: 1, max: 300 }),
  }),
);

function mutate(text: string, m: Mutation): string {
  const lines = text.split('\n');
  switch (m.kind) {
    case 'replace': {
      const at = m.at % (text.length + 1);
      return text.slice(0, at) + m.with + text.slice(at + 1);
    }
    case 'truncate':
      return text.slice(0, m.at % (text.length + 1));
    case 'insert':
    case 'nest': {
      const at = m.at % (text.length + 1);
      const piece = m.kind === 'nest' ? m.with.repeat(m.times) : m.with;
      return text.slice(0, at) + piece + text.slice(at);
    }
    case 'duplicate': {
      const from = m.from % lines.length;
      const copy = lines.slice(from, from + m.count);
      lines.splice(m.to % (lines.length + 1), 0, ...copy);
      return lines.join('\n');
    }
    case 'delete':
      lines.splice(m.from % lines.length, m.count);
      return lines.join('\n');
    case 'indent': {
      const from = m.from % lines.length;
      for (let i = from; i < Math.min(lines.length, from + m.count); i++) {
        const line = lines[i] as string;
        lines[i] = m.by >= 0 ? ' '.repeat(m.by) + line : line.replace(new RegExp(`^ {0,${-m.by}}`), '');
      }
      return lines.join('\n');
    }
  }
}

describe('parseManifest under fuzzing: returns a manifest or a manifest problem with a line, quickly', () => {
  it('for arbitrary text', () => {
    fuzz(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), returnsOrRefuses), 300);
  });

  it('for text made of YAML punctuation, anchors, aliases, tags and directives', () => {
    fuzz(fc.property(yamlish, returnsOrRefuses), 400);
  });

  it('for arbitrary JSON values dumped as YAML (and as JSON)', () => {
    fuzz(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        returnsOrRefuses(stringify(value));
        returnsOrRefuses(JSON.stringify(value));
      }),
      150,
    );
  });

  it('for manifest-shaped values made of its own keys and words, dumped as YAML', () => {
    fuzz(
      fc.property(manifestShaped, (value) => returnsOrRefuses(stringify(value))),
      200,
    );
  });

  it('for the example manifests damaged by random edits', () => {
    fuzz(
      fc.property(
        fc.constantFrom(...SAMPLES),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (sample, edits) => {
          returnsOrRefuses(edits.reduce(mutate, sample));
        },
      ),
      400,
    );
  });

  it('the undamaged samples parse', () => {
    for (const sample of SAMPLES) {
      assert.ok(parseManifest(sample, { baseUrl: 'file:///srv/app/' }).components.length >= 2);
    }
  });
});
