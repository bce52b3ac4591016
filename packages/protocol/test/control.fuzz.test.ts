/**
 * Fuzzing the control-interface request parsers: whatever a client sends (any JSON value, valid
 * requests with one field made hostile, `__proto__`/`constructor` keys, numbers JSON cannot hold,
 * nesting thousands deep, truncated JSON, bytes that are not UTF-8), each parser either returns a
 * request that keeps its invariants or throws a Cirrus error, and nothing leaks into
 * Object.prototype. Signal: the thrown value's class, and the parsed request.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fc, fuzz } from '@cirrus/testing';
import {
  controlSubjectTokens,
  decodeControlBody,
  flattenStoredClaims,
  isCirrusError,
  isValidToken,
  parseComponentAuction,
  parseConfigName,
  parseConfigPut,
  parseDeleteLink,
  parseEmptyRequest,
  parseLabelDelete,
  parseLabelPut,
  parseProviderAuction,
  parsePutLink,
  parseRegistryPut,
  parseScaleComponent,
  parseStartProvider,
  parseStopHost,
  parseStopProvider,
  parseUpdateComponent,
} from '../src/index.ts';

const HOST = 'NBHOSTAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const CTX = { hostId: HOST, maxInstances: 100 };
const encoder = new TextEncoder();

/** JSON text spliced in verbatim: values `JSON.stringify` cannot produce. */
class Raw {
  readonly text: string;
  readonly #label: string;
  constructor(
    text: string,
    label = text.length > 60 ? `${text.slice(0, 40)}… (${text.length} chars)` : text,
  ) {
    this.text = text;
    this.#label = label;
  }

  // Counterexamples print the label, not megabytes of brackets.
  [fc.toStringMethod](): string {
    return `raw(${this.#label})`;
  }
}

type Body = Raw | null | boolean | number | string | Body[] | { [key: string]: Body };

function toJson(value: Body): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const deepArrays = (depth: number): Raw =>
  new Raw(`${'['.repeat(depth)}${']'.repeat(depth)}`, `arrays ${depth} deep`);
const deepObjects = (depth: number): Raw =>
  new Raw(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`, `objects ${depth} deep`);
/** Shallow, and deep enough to overflow any recursive walk of the parsed value. */
const depth = fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 6_000, max: 10_000 }));

/** Values no well-behaved client sends. */
const hostileRaw: fc.Arbitrary<Raw> = fc.oneof(
  fc
    .constantFrom(
      '1e999',
      '-1e999',
      '1e-999',
      '-0',
      '123456789012345678901234567890',
      '9007199254740993',
      '0.5',
      '"\\ud800"',
      '"\\u0000"',
      '"a.b"',
      '"*"',
      '">"',
      '" "',
      '""',
      `"${'x'.repeat(100_000)}"`,
      '{"__proto__":{"polluted":"yes"}}',
      '{"constructor":{"prototype":{"polluted":"yes"}}}',
      '["__proto__"]',
      '{"__proto__":"x","toString":"y","valueOf":1,"hasOwnProperty":null}',
    )
    .map((text) => new Raw(text)),
  depth.map(deepArrays),
  depth.map(deepObjects),
);

const hostileKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', 'a.b'),
  fc.string({ unit: 'binary', maxLength: 8 }),
);

const hostileValue: fc.Arbitrary<Body> = fc.oneof(
  { weight: 2, arbitrary: hostileRaw },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Body> },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Body>(
      HOST,
      'NOTTHISHOST',
      'oci',
      'default',
      'keyvalue',
      'store',
      -1,
      0,
      1,
      101,
      1.5,
    ),
  },
);

/** One valid body per request kind; fuzzing makes one of its fields hostile. */
const BASELINES: Record<string, Body> = {
  stopHost: { host_id: HOST, timeout: 1000 },
  scale: {
    component_ref: 'file:///srv/hello.wasm',
    component_id: 'hello',
    host_id: HOST,
    count: 1,
    max_instances: 2,
    config: ['cfg'],
    component_limits: { cpu: '1' },
    allow_update: true,
    annotations: { k: 'v' },
  },
  update: { component_id: 'hello', new_component_ref: 'file:///srv/v2.wasm', host_id: HOST, annotations: {} },
  startProvider: { provider_id: 'p1', provider_ref: 'r', host_id: HOST, config: ['c'], annotations: {} },
  stopProvider: { provider_id: 'p1', provider_ref: 'r', host_id: HOST },
  label: { key: 'zone', value: 'eu' },
  link: {
    source_id: 's',
    target: 't',
    name: 'default',
    wit_namespace: 'wasi',
    wit_package: 'keyvalue',
    interfaces: ['store', 'atomics'],
    source_config: ['a'],
    target_config: ['b'],
  },
  deleteLink: { source_id: 's', name: 'n', link_name: 'm', wit_namespace: 'wasi', wit_package: 'keyvalue' },
  config: { address: '0.0.0.0:8080', other: '' },
  auction: {
    component_ref: 'r',
    component_id: 'c',
    provider_ref: 'r',
    provider_id: 'p',
    constraints: { zone: 'a' },
  },
  registry: {
    'ghcr.io': { username: 'u', password: 'p', token: 't', registryType: 'oci' },
    'docker.io': null,
  },
};

function isObject(value: Body): value is { [key: string]: Body } {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Raw);
}

/** Every place in `value` a field or element could be replaced: paths of keys and indices. */
function paths(value: Body, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

type Edit = 'replace' | 'delete' | 'add';

/** `base` with the node at path number `pick` replaced or deleted, or given an extra key. */
function mutate(base: Body, pick: number, edit: Edit, key: string, value: Body): Body {
  const all = paths(base);
  const path = all[pick % all.length] as (string | number)[];
  const apply = (node: Body, rest: (string | number)[]): Body => {
    if (rest.length === 0) {
      if (edit === 'replace') return value;
      if (edit === 'add' && isObject(node)) {
        return Object.fromEntries([...Object.entries(node), [key, value]]);
      }
      return node;
    }
    const [head, ...tail] = rest as [string | number, ...(string | number)[]];
    if (Array.isArray(node)) {
      const copy = [...node];
      if (edit === 'delete' && tail.length === 0) copy.splice(head as number, 1);
      else copy[head as number] = apply(node[head as number] as Body, tail);
      return copy;
    }
    const entries = Object.entries(node as Record<string, Body>);
    if (edit === 'delete' && tail.length === 0)
      return Object.fromEntries(entries.filter(([k]) => k !== head));
    return Object.fromEntries(entries.map(([k, v]) => [k, k === head ? apply(v, tail) : v]));
  };
  return apply(base, path);
}

const edit = fc.tuple(
  fc.nat(),
  fc.constantFrom<Edit>('replace', 'replace', 'replace', 'delete', 'add'),
  hostileKey,
  hostileValue,
);

/** A valid body with one to three of its fields or elements replaced, deleted or added. */
const mutatedBody: fc.Arbitrary<Body> = fc
  .tuple(fc.constantFrom(...Object.values(BASELINES)), fc.array(edit, { minLength: 1, maxLength: 3 }))
  .map(([base, edits]) =>
    edits.reduce<Body>((body, [pick, how, key, value]) => mutate(body, pick, how, key, value), base),
  );

const anyBody: fc.Arbitrary<Body> = fc.oneof(
  { weight: 3, arbitrary: mutatedBody },
  { weight: 1, arbitrary: hostileValue },
  { weight: 1, arbitrary: fc.constantFrom(...Object.values(BASELINES)) },
);

type Damage =
  | { kind: 'none' }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: readonly number[] }
  | { kind: 'replace'; at: number; byte: number };

const damage: fc.Arbitrary<Damage> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Damage>({ kind: 'none' }) },
  { weight: 1, arbitrary: fc.nat().map((at): Damage => ({ kind: 'truncate', at })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.nat(),
        fc.constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x00]),
      )
      .map(([at, bytes]): Damage => ({ kind: 'insert', at, bytes })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, byte]): Damage => ({
      kind: 'replace',
      at,
      byte,
    })),
  },
);

function damaged(bytes: Uint8Array, d: Damage): Uint8Array {
  if (d.kind === 'none' || bytes.length === 0) return bytes;
  const at = d.at % (bytes.length + 1);
  if (d.kind === 'truncate') return bytes.subarray(0, at);
  if (d.kind === 'insert')
    return Uint8Array.from([...bytes.subarray(0, at), ...d.bytes, ...bytes.subarray(at)]);
  const copy = bytes.slice();
  copy[at % bytes.length] = d.byte;
  return copy;
}

/** What each parser promises about a request it accepts. */
const PARSERS: Record<string, (body: unknown) => void> = {
  'host.ping': (b) => parseEmptyRequest(b, 'host ping request'),
  'host.stop': (b) => {
    const r = parseStopHost(b, CTX);
    assert.equal(r.host_id, HOST);
    if (r.timeout !== undefined) assert.ok(Number.isSafeInteger(r.timeout) && r.timeout >= 0);
  },
  'component.scale': (b) => {
    const r = parseScaleComponent(b, CTX);
    assert.ok(Number.isInteger(r.count) && r.count >= 0 && r.count <= CTX.maxInstances, String(r.count));
    assert.ok(!Object.is(r.count, -0));
    assert.ok(isValidToken(r.component_id));
    for (const name of r.config ?? []) assert.ok(isValidToken(name));
    assert.equal(r.host_id, HOST);
  },
  'component.update': (b) => assert.ok(isValidToken(parseUpdateComponent(b, CTX).component_id)),
  'provider.start': (b) => assert.ok(isValidToken(parseStartProvider(b, CTX).provider_id)),
  'provider.stop': (b) => assert.ok(isValidToken(parseStopProvider(b, CTX).provider_id)),
  'label.put': (b) => {
    const r = parseLabelPut(b);
    assert.equal(typeof r.key, 'string');
    assert.equal(typeof r.value, 'string');
  },
  'label.del': (b) => assert.equal(typeof parseLabelDelete(b).key, 'string'),
  'link.put': (b) => {
    const link = parsePutLink(b);
    for (const id of [link.source_id, link.target, link.name]) assert.ok(isValidToken(id));
  },
  'link.del': (b) => assert.ok(isValidToken(parseDeleteLink(b).name)),
  'config.put': (b) => {
    const { values } = parseConfigPut('cfg', b);
    for (const v of Object.values(values)) assert.equal(typeof v, 'string');
  },
  'component.auction': (b) => assert.ok(isValidToken(parseComponentAuction(b).component_id)),
  'provider.auction': (b) => assert.ok(isValidToken(parseProviderAuction(b).provider_id)),
  'registry.put': (b) => {
    const creds = parseRegistryPut(b);
    assert.equal(Object.getPrototypeOf(creds), Object.prototype);
    for (const c of Object.values(creds)) assert.equal(c.registryType, 'oci');
  },
};

const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).join(',');

/** Runs `fn`: a return or a Cirrus error is fine, anything else fails the property. */
function returnsOrRefuses(what: string, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(isCirrusError(err), `${what} threw ${String(err)} instead of a Cirrus error`);
  }
}

function checkAll(body: unknown): void {
  for (const [name, parse] of Object.entries(PARSERS)) returnsOrRefuses(name, () => parse(body));
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype was polluted');
  assert.equal(Object.getOwnPropertyNames(Object.prototype).join(','), PROTOTYPE_KEYS);
}

describe('control request parsers under fuzzing', () => {
  it('every parser returns or throws a Cirrus error for JSON bodies with hostile fields, as bytes and as parsed values', () => {
    fuzz(
      fc.property(anyBody, damage, (body, d) => {
        const bytes = damaged(encoder.encode(toJson(body)), d);
        checkAll(bytes);
        let parsed: unknown;
        try {
          parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
        } catch {
          return; // Not JSON any more: only the byte form applies.
        }
        checkAll(parsed);
      }),
      200,
    );
  });

  it('every parser returns or throws a Cirrus error for arbitrary bytes', () => {
    fuzz(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        checkAll(bytes);
        returnsOrRefuses('decodeControlBody', () => decodeControlBody(bytes));
      }),
      300,
    );
  });

  it('every parser returns or throws a Cirrus error for arbitrary JavaScript values', () => {
    fuzz(
      fc.property(fc.anything({ maxDepth: 3, withNullPrototype: false }), (value) => checkAll(value)),
      200,
    );
  });

  it('config names and subjects from the wire never throw anything but a Cirrus error', () => {
    fuzz(
      fc.property(
        fc.option(fc.string({ unit: 'binary', maxLength: 300 }), { nil: undefined }),
        fc.string({ unit: 'binary', maxLength: 40 }),
        (name, subject) => {
          returnsOrRefuses('parseConfigName', () => assert.ok(isValidToken(parseConfigName(name))));
          returnsOrRefuses('parseConfigPut', () => parseConfigPut(name, encoder.encode('{"a":"b"}')));
          const tokens = controlSubjectTokens(`wasmbus.ctl.v1.default.${subject}`, 'wasmbus.ctl.v1.default');
          if (tokens !== undefined) assert.equal(tokens.join('.'), subject);
        },
      ),
      300,
    );
  });

  it('stored claims of any shape flatten to a string map or to nothing, without throwing', () => {
    const claimsLike = fc.record(
      {
        issuer: hostileValue,
        iss: hostileValue,
        name: hostileValue,
        revision: hostileValue,
        rev: hostileValue,
        subject: hostileValue,
        sub: hostileValue,
        version: hostileValue,
        call_alias: hostileValue,
        tags: hostileValue,
        config_schema: hostileValue,
      },
      { requiredKeys: [] },
    );
    fuzz(
      fc.property(fc.oneof(claimsLike, hostileValue), (value) => {
        const parsed = JSON.parse(value instanceof Raw ? value.text : toJson(value)) as unknown;
        const flat = flattenStoredClaims(parsed);
        if (flat !== undefined) for (const v of Object.values(flat)) assert.equal(typeof v, 'string');
      }),
      100,
    );
  });
});
