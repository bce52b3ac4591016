/**
 * The protocol package is the contract every other layer builds on: error codes and their JSON form,
 * the limits table and how it is overridden, identifier and subject rules, input parsers for the
 * wasmCloud 1.x wire shapes, and event envelopes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as protocol from '../src/index.ts';
import {
  AtCapacityError,
  CirrusError,
  cloudEvent,
  componentSpecKey,
  configDataBucket,
  ctlPrefix,
  DEFAULT_LATTICE,
  DEFAULT_LIMITS,
  describeError,
  ERROR_CLASSES,
  ERROR_CODES,
  errorFromJSON,
  EVENT_NAMES,
  eventSubject,
  eventType,
  GuestTrapError,
  humanUptime,
  InstanceCrashedError,
  InvalidArgumentError,
  InvalidIdError,
  InvalidLimitError,
  isCirrusError,
  isValidToken,
  assertValidId,
  latticeDataBucket,
  LIMIT_NAMES,
  LIMIT_SPECS,
  limitEnvName,
  optionalString,
  parseConfigValues,
  parseLink,
  requireRecord,
  requireString,
  resolveLimits,
  sameLinkIdentity,
  silentLogger,
  stringList,
  stringMap,
} from '../src/index.ts';
import type { ErrorJSON, Link, LimitName } from '../src/index.ts';

/** Runs `fn` and returns what it threw, failing if it returned. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected an exception');
}

function assertCirrus(err: unknown, code: string, message?: RegExp): CirrusError {
  assert.ok(isCirrusError(err), `expected a CirrusError, got ${String(err)}`);
  assert.equal(err.code, code, `unexpected code for: ${err.message}`);
  if (message !== undefined) assert.match(err.message, message);
  return err;
}

describe('errors', () => {
  it('codes are unique, UPPER_SNAKE_CASE, and match each class', () => {
    assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length, 'duplicate error codes');
    for (const code of ERROR_CODES) assert.match(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
    assert.equal(ERROR_CLASSES.length, ERROR_CODES.length);
    assert.equal(new Set(ERROR_CLASSES).size, ERROR_CLASSES.length, 'a class is listed twice');
    for (const [i, Class] of ERROR_CLASSES.entries()) {
      const err = new Class('m');
      assert.equal(Class.CODE, ERROR_CODES[i]);
      assert.equal(err.code, Class.CODE);
      assert.ok(err instanceof CirrusError && err instanceof Error);
      assert.equal(err.name, Class.name);
      assert.match(err.name, /Error$/);
    }
  });

  it('every exported error class is registered, so it survives JSON', () => {
    const exported = Object.entries(protocol).filter(
      ([name, value]) =>
        typeof value === 'function' && value.prototype instanceof CirrusError && name !== 'CirrusError',
    );
    const registered = new Set<unknown>(ERROR_CLASSES);
    const unregistered = exported.filter(([, value]) => !registered.has(value)).map(([name]) => name);
    assert.deepEqual(unregistered, []);
    assert.equal(exported.length, ERROR_CLASSES.length);
  });

  it('carries message, hint, details and cause', () => {
    const cause = new Error('root');
    const err = new AtCapacityError('busy', { hint: 'scale up', details: { waiting: 3 }, cause });
    assert.equal(err.message, 'busy');
    assert.equal(err.hint, 'scale up');
    assert.deepEqual(err.details, { waiting: 3 });
    assert.equal(err.cause, cause);
    const bare = new AtCapacityError('busy');
    assert.equal(bare.hint, undefined);
    assert.equal(bare.details, undefined);
    assert.equal('cause' in bare, false);
  });

  const jsonCases: { name: string; json: ErrorJSON }[] = [
    { name: 'message only', json: { code: 'GUEST_TRAP', message: 'wasm trap: unreachable' } },
    { name: 'with hint', json: { code: 'AT_CAPACITY', message: 'busy', hint: 'scale up' } },
    {
      name: 'with hint and details',
      json: {
        code: 'MANIFEST_INVALID',
        message: 'bad',
        hint: 'fix it',
        details: { problems: [{ line: 3 }] },
      },
    },
  ];
  for (const { name, json } of jsonCases) {
    it(`toJSON and errorFromJSON round-trip (${name})`, () => {
      const err = errorFromJSON(json);
      assert.equal(err.code, json.code);
      assert.equal(err.constructor, ERROR_CLASSES[ERROR_CODES.indexOf(json.code)]);
      assert.deepEqual(err.toJSON(), json);
      assert.deepEqual(JSON.parse(JSON.stringify(err)), json);
    });
  }

  it('toJSON leaves out absent fields and copies details', () => {
    const details = { imports: ['wasi:keyvalue/store'] };
    const err = new GuestTrapError('trap', { details });
    const json = err.toJSON();
    assert.deepEqual(Object.keys(json), ['code', 'message', 'details']);
    assert.notEqual(json.details, details);
    assert.deepEqual(json.details, details);
  });

  it('every code round-trips to its own class', () => {
    for (const Class of ERROR_CLASSES) {
      const back = errorFromJSON(new Class('m', { hint: 'h' }).toJSON());
      assert.ok(back instanceof Class, `${Class.CODE} came back as ${back.name}`);
      assert.equal(back.hint, 'h');
    }
  });

  it('an unknown code becomes INSTANCE_CRASHED and keeps message and hint', () => {
    const err = errorFromJSON({ code: 'SOMETHING_NEW', message: 'from a newer worker', hint: 'upgrade' });
    assert.ok(err instanceof InstanceCrashedError);
    assert.equal(err.code, 'INSTANCE_CRASHED');
    assert.equal(err.message, 'from a newer worker');
    assert.equal(err.hint, 'upgrade');
  });

  it('describe() is one line: CODE: message (hint)', () => {
    assert.equal(new AtCapacityError('busy').describe(), 'AT_CAPACITY: busy');
    assert.equal(new AtCapacityError('busy', { hint: 'retry' }).describe(), 'AT_CAPACITY: busy (retry)');
  });

  const describeCases: { name: string; value: unknown; expected: string }[] = [
    {
      name: 'a Cirrus error',
      value: new InvalidIdError('bad id', { hint: 'x' }),
      expected: 'INVALID_ID: bad id (x)',
    },
    { name: 'a plain Error', value: new TypeError('nope'), expected: 'nope' },
    { name: 'a string', value: 'just text', expected: 'just text' },
    { name: 'a number', value: 42, expected: '42' },
    { name: 'undefined', value: undefined, expected: 'undefined' },
  ];
  for (const { name, value, expected } of describeCases) {
    it(`describeError of ${name}`, () => assert.equal(describeError(value), expected));
  }

  it('isCirrusError accepts only Cirrus errors', () => {
    assert.equal(isCirrusError(new AtCapacityError('x')), true);
    assert.equal(isCirrusError(errorFromJSON({ code: 'NOT_WASM', message: 'x' })), true);
    for (const value of [
      new Error('x'),
      { code: 'AT_CAPACITY', message: 'x' },
      'AT_CAPACITY',
      null,
      undefined,
    ]) {
      assert.equal(isCirrusError(value), false, describeError(value));
    }
  });
});

describe('limits', () => {
  it('every default lies within [min, max] and the unit is known', () => {
    for (const name of LIMIT_NAMES) {
      const spec = LIMIT_SPECS[name];
      for (const value of [spec.default, spec.min, spec.max]) assert.ok(Number.isSafeInteger(value), name);
      assert.ok(spec.min <= spec.default && spec.default <= spec.max, `${name} default out of range`);
      assert.ok(['ms', 'bytes', 'count'].includes(spec.unit), name);
      assert.ok(spec.description.length > 0, name);
      assert.equal(DEFAULT_LIMITS[name], spec.default);
    }
    assert.deepEqual(Object.keys(DEFAULT_LIMITS), LIMIT_NAMES);
  });

  it('names say their unit', () => {
    for (const name of LIMIT_NAMES) {
      const { unit } = LIMIT_SPECS[name];
      if (unit === 'ms') assert.match(name, /Ms$/, name);
      if (unit === 'bytes') assert.match(name, /Bytes$/, name);
    }
  });

  const envNameCases: [LimitName, string][] = [
    ['httpMaxBodyBytes', 'CIRRUS_LIMIT_HTTP_MAX_BODY_BYTES'],
    ['maxInstances', 'CIRRUS_LIMIT_MAX_INSTANCES'],
    ['kvMaxValueBytes', 'CIRRUS_LIMIT_KV_MAX_VALUE_BYTES'],
    ['invocationTimeoutMs', 'CIRRUS_LIMIT_INVOCATION_TIMEOUT_MS'],
  ];
  for (const [name, env] of envNameCases) {
    it(`limitEnvName(${name}) is ${env}`, () => assert.equal(limitEnvName(name), env));
  }

  it('environment variable names are distinct and well-formed', () => {
    const names = LIMIT_NAMES.map((name) => limitEnvName(name));
    assert.equal(new Set(names).size, names.length);
    for (const env of names) assert.match(env, /^CIRRUS_LIMIT_[A-Z0-9]+(_[A-Z0-9]+)*$/);
  });

  it('without overrides or environment, resolves to the defaults', () => {
    assert.deepEqual(resolveLimits(), DEFAULT_LIMITS);
    assert.deepEqual(resolveLimits({}, { PATH: '/bin', HOME: '/root' }), DEFAULT_LIMITS);
  });

  const envCases: { name: string; raw: string; expected: number }[] = [
    { name: 'a plain number', raw: '2500', expected: 2500 },
    { name: 'surrounding whitespace', raw: '  2500\n', expected: 2500 },
    { name: 'leading zeros', raw: '0042', expected: 42 },
    { name: 'the minimum', raw: String(LIMIT_SPECS.poolAcquireTimeoutMs.min), expected: 0 },
    { name: 'the maximum', raw: '60000', expected: 60_000 },
    { name: 'an empty value (unset)', raw: '', expected: 1_000 },
    { name: 'a blank value (unset)', raw: '   ', expected: 1_000 },
  ];
  for (const { name, raw, expected } of envCases) {
    it(`takes an environment value: ${name}`, () => {
      const limits = resolveLimits({}, { CIRRUS_LIMIT_POOL_ACQUIRE_TIMEOUT_MS: raw });
      assert.equal(limits.poolAcquireTimeoutMs, expected);
      assert.equal(limits.invocationTimeoutMs, DEFAULT_LIMITS.invocationTimeoutMs);
    });
  }

  it('overrides beat the environment, which beats the default', () => {
    const env = { CIRRUS_LIMIT_MAX_INSTANCES: '10', CIRRUS_LIMIT_HTTP_MAX_BODY_BYTES: '2048' };
    const limits = resolveLimits({ maxInstances: 3 }, env);
    assert.equal(limits.maxInstances, 3);
    assert.equal(limits.httpMaxBodyBytes, 2048);
    assert.equal(limits.manifestMaxBytes, DEFAULT_LIMITS.manifestMaxBytes);
  });

  it('rejects a CIRRUS_LIMIT_ variable that names no limit, listing the real ones', () => {
    const err = thrown(() => resolveLimits({}, { CIRRUS_LIMIT_MAX_INSTANCE: '3' }));
    assert.ok(err instanceof InvalidLimitError);
    assert.match(err.message, /CIRRUS_LIMIT_MAX_INSTANCE names no limit/);
    assert.match(err.hint ?? '', /CIRRUS_LIMIT_MAX_INSTANCES/);
  });

  const badEnv: { name: string; raw: string; problem: RegExp }[] = [
    { name: 'garbage', raw: 'lots', problem: /"lots" is not a whole number/ },
    { name: 'a unit suffix', raw: '10ms', problem: /is not a whole number/ },
    { name: 'a fraction', raw: '2.5', problem: /is not a whole number/ },
    { name: 'a trailing .0', raw: '5.0', problem: /is not a whole number/ },
    { name: 'exponent notation', raw: '1e3', problem: /is not a whole number/ },
    { name: 'hexadecimal', raw: '0x10', problem: /is not a whole number/ },
    { name: 'a sign', raw: '+5', problem: /is not a whole number/ },
    { name: 'a negative number', raw: '-1', problem: /is not a whole number/ },
    { name: 'negative zero', raw: '-0', problem: /is not a whole number/ },
    { name: 'digit separators', raw: '1_000', problem: /is not a whole number/ },
    { name: 'Infinity', raw: 'Infinity', problem: /is not a whole number/ },
    { name: 'above the maximum', raw: '60001', problem: /= "60001" is out of range/ },
    { name: 'beyond safe integers', raw: '99999999999999999999', problem: /is out of range/ },
  ];
  for (const { name, raw, problem } of badEnv) {
    it(`rejects an environment value: ${name}`, () => {
      const err = assertCirrus(
        thrown(() => resolveLimits({}, { CIRRUS_LIMIT_POOL_ACQUIRE_TIMEOUT_MS: raw })),
        'INVALID_LIMIT',
        problem,
      );
      assert.ok(err instanceof InvalidLimitError);
      assert.match(err.message, /^environment variable CIRRUS_LIMIT_POOL_ACQUIRE_TIMEOUT_MS: /);
      assert.match(err.message, /limit poolAcquireTimeoutMs/);
      assert.equal(err.hint, 'use a whole number of ms between 0 and 60000 (default 1000)');
    });
  }

  it('rejects a value below the minimum', () => {
    assertCirrus(
      thrown(() => resolveLimits({}, { CIRRUS_LIMIT_MAX_INSTANCES: '0' })),
      'INVALID_LIMIT',
      /CIRRUS_LIMIT_MAX_INSTANCES: limit maxInstances = "0" is out of range/,
    );
  });

  it('checks an invalid environment value even when an override replaces it', () => {
    assertCirrus(
      thrown(() => resolveLimits({ maxInstances: 5 }, { CIRRUS_LIMIT_MAX_INSTANCES: 'many' })),
      'INVALID_LIMIT',
      /CIRRUS_LIMIT_MAX_INSTANCES/,
    );
  });

  const badOverrides: { name: string; overrides: Partial<Record<LimitName, number>>; problem: RegExp }[] = [
    { name: 'a fraction', overrides: { invocationTimeoutMs: 1.5 }, problem: /= 1\.5 is not a whole number/ },
    { name: 'NaN', overrides: { invocationTimeoutMs: Number.NaN }, problem: /= NaN is not a whole number/ },
    { name: 'below the minimum', overrides: { invocationTimeoutMs: 9 }, problem: /= 9 is out of range/ },
    { name: 'above the maximum', overrides: { invocationTimeoutMs: 3_600_001 }, problem: /is out of range/ },
    { name: 'negative', overrides: { httpMaxBodyBytes: -1 }, problem: /= -1 is out of range/ },
  ];
  for (const { name, overrides, problem } of badOverrides) {
    it(`rejects an override: ${name}`, () => {
      const err = assertCirrus(
        thrown(() => resolveLimits(overrides)),
        'INVALID_LIMIT',
        problem,
      );
      assert.match(err.message, /^configuration: limit /);
    });
  }

  it('rejects an override for an unknown limit, listing the known ones', () => {
    const overrides = { invocationTimeout: 5 } as unknown as Partial<Record<LimitName, number>>;
    const err = assertCirrus(
      thrown(() => resolveLimits(overrides)),
      'INVALID_LIMIT',
      /unknown limit "invocationTimeout"/,
    );
    assert.ok(err.hint?.includes('invocationTimeoutMs'));
  });

  it('accepts every limit at its minimum and maximum', () => {
    const min = Object.fromEntries(LIMIT_NAMES.map((n) => [limitEnvName(n), String(LIMIT_SPECS[n].min)]));
    const max = Object.fromEntries(LIMIT_NAMES.map((n) => [n, LIMIT_SPECS[n].max]));
    const atMin = resolveLimits({}, min);
    const atMax = resolveLimits(max);
    for (const name of LIMIT_NAMES) {
      assert.equal(atMin[name], LIMIT_SPECS[name].min, name);
      assert.equal(atMax[name], LIMIT_SPECS[name].max, name);
    }
  });
});

describe('subjects and identifiers', () => {
  const tokens: { value: string; valid: boolean }[] = [
    { value: 'hello', valid: true },
    { value: 'myapp-http_component', valid: true },
    { value: 'MBCFOPM6JW2APJLXJD3Z5O4CN7CPYJ2B4FTKLJUR5YR5MITIU7HD3WD5', valid: true },
    { value: 'ünïcödé', valid: true },
    { value: 'a:b/c=d', valid: true },
    { value: 'x'.repeat(256), valid: true },
    { value: 'x'.repeat(257), valid: false },
    { value: '', valid: false },
    { value: 'a.b', valid: false },
    { value: 'a*', valid: false },
    { value: '>', valid: false },
    { value: 'a b', valid: false },
    { value: 'tab\there', valid: false },
    { value: 'line\n', valid: false },
  ];
  for (const { value, valid } of tokens) {
    it(`${JSON.stringify(value.length > 20 ? `${value.slice(0, 8)}…(${value.length})` : value)} is ${valid ? '' : 'not '}a valid token`, () => {
      assert.equal(isValidToken(value), valid);
      if (valid) assert.equal(assertValidId('component_id', value), value);
      else
        assertCirrus(
          thrown(() => assertValidId('component_id', value)),
          'INVALID_ID',
          /^component_id /,
        );
    });
  }

  it('assertValidId rejects non-strings, naming the type and the kind', () => {
    for (const [value, shown] of [
      [42, 'number'],
      [undefined, 'undefined'],
      [null, 'object'],
      [['a'], 'object'],
    ] as const) {
      const err = assertCirrus(
        thrown(() => assertValidId('provider_id', value)),
        'INVALID_ID',
      );
      assert.equal(err.message, `provider_id ${shown} is not a valid identifier`);
      assert.ok(err instanceof InvalidIdError);
      assert.match(err.hint ?? '', /1-256 characters/);
    }
  });

  it('builds the 1.x subjects, event types and bucket names', () => {
    assert.equal(DEFAULT_LATTICE, 'default');
    assert.equal(ctlPrefix('default'), 'wasmbus.ctl.v1.default');
    assert.equal(ctlPrefix('prod', 'acme.ctl'), 'acme.ctl.v1.prod');
    assert.equal(eventSubject('default', 'host_started'), 'wasmbus.evt.default.host_started');
    assert.equal(eventType('linkdef_set'), 'com.wasmcloud.lattice.linkdef_set');
    assert.equal(latticeDataBucket('default'), 'LATTICEDATA_default');
    assert.equal(configDataBucket('default'), 'CONFIGDATA_default');
    assert.equal(componentSpecKey('hello-greeter'), 'COMPONENT_hello-greeter');
  });
});

describe('input validation', () => {
  it('requireRecord accepts only plain objects', () => {
    assert.deepEqual(requireRecord({ a: 1 }, 'link'), { a: 1 });
    for (const value of [null, undefined, [], 'x', 1, true]) {
      assertCirrus(
        thrown(() => requireRecord(value, 'link')),
        'INVALID_ARGUMENT',
        /^link must be a JSON object$/,
      );
    }
  });

  it('optionalString and requireString', () => {
    const obj = { s: 'x', empty: '', n: 5, nil: null };
    assert.equal(optionalString(obj, 's'), 'x');
    assert.equal(optionalString(obj, 'empty'), '');
    assert.equal(optionalString(obj, 'missing'), undefined);
    assert.equal(optionalString(obj, 'nil'), undefined);
    assertCirrus(
      thrown(() => optionalString(obj, 'n')),
      'INVALID_ARGUMENT',
      /^n must be a string, got number$/,
    );
    assert.equal(requireString(obj, 's'), 'x');
    for (const field of ['empty', 'missing', 'nil']) {
      assertCirrus(
        thrown(() => requireString(obj, field)),
        'INVALID_ARGUMENT',
        new RegExp(`^${field} is required$`),
      );
    }
  });

  it('stringList', () => {
    assert.deepEqual(stringList({ l: ['a', 'b'] }, 'l'), ['a', 'b']);
    assert.deepEqual(stringList({}, 'l'), []);
    assert.deepEqual(stringList({ l: null }, 'l'), []);
    for (const bad of ['a', ['a', 1], { 0: 'a' }]) {
      assertCirrus(
        thrown(() => stringList({ l: bad }, 'l')),
        'INVALID_ARGUMENT',
        /^l must be a list of strings$/,
      );
    }
  });

  it('stringMap accepts string values only and names the bad key', () => {
    assert.deepEqual(stringMap({ a: '1', b: '' }, 'config'), { a: '1', b: '' });
    assert.deepEqual(stringMap(undefined, 'config'), {});
    assert.deepEqual(stringMap(null, 'config'), {});
    assertCirrus(
      thrown(() => stringMap(['a'], 'config')),
      'INVALID_ARGUMENT',
      /^config must be an object/,
    );
    const err = assertCirrus(
      thrown(() => stringMap({ port: 8080 }, 'config')),
      'INVALID_ARGUMENT',
      /^config\.port must be a string, got number$/,
    );
    assert.equal(err.hint, 'quote numbers and booleans');
  });

  it('parseConfigValues takes a flat object of strings', () => {
    assert.deepEqual(parseConfigValues({ GREETING: 'hi' }), { GREETING: 'hi' });
    assert.deepEqual(parseConfigValues({}), {});
    assertCirrus(
      thrown(() => parseConfigValues('GREETING=hi')),
      'INVALID_ARGUMENT',
      /^config must be a JSON object$/,
    );
    assertCirrus(
      thrown(() => parseConfigValues({ on: true })),
      'INVALID_ARGUMENT',
      /^config\.on must be a string/,
    );
  });

  const link = {
    source_id: 'hello-httpserver',
    target: 'hello-greeter',
    wit_namespace: 'wasi',
    wit_package: 'http',
    interfaces: ['incoming-handler'],
  };

  it('parseLink fills in the 1.x defaults and ignores unknown fields', () => {
    const parsed = parseLink({ ...link, extra: 'ignored' });
    assert.deepEqual(parsed, {
      ...link,
      name: 'default',
      source_config: [],
      target_config: [],
    });
    assert.equal(parseLink({ ...link, name: null }).name, 'default');
  });

  it('parseLink keeps name and config lists', () => {
    const parsed = parseLink({
      ...link,
      name: 'api',
      source_config: ['listen'],
      target_config: ['t1', 't2'],
    });
    assert.equal(parsed.name, 'api');
    assert.deepEqual(parsed.source_config, ['listen']);
    assert.deepEqual(parsed.target_config, ['t1', 't2']);
  });

  const badLinks: { name: string; input: unknown; code: string; message: RegExp }[] = [
    {
      name: 'not an object',
      input: [link],
      code: 'INVALID_ARGUMENT',
      message: /^link must be a JSON object/,
    },
    {
      name: 'no interfaces',
      input: { ...link, interfaces: [] },
      code: 'INVALID_ARGUMENT',
      message: /^interfaces must name/,
    },
    {
      name: 'interfaces missing',
      input: { ...link, interfaces: undefined },
      code: 'INVALID_ARGUMENT',
      message: /^interfaces must name/,
    },
    {
      name: 'a versioned interface',
      input: { ...link, interfaces: ['incoming-handler@0.2.0'] },
      code: 'INVALID_ARGUMENT',
      message: /is not a WIT interface name/,
    },
    {
      name: 'an upper-case namespace',
      input: { ...link, wit_namespace: 'WASI' },
      code: 'INVALID_ARGUMENT',
      message: /^wit_namespace "WASI" is not a WIT name/,
    },
    {
      name: 'no package',
      input: { ...link, wit_package: undefined },
      code: 'INVALID_ARGUMENT',
      message: /^wit_package is required/,
    },
    {
      name: 'a numeric package',
      input: { ...link, wit_package: 7 },
      code: 'INVALID_ARGUMENT',
      message: /must be a string/,
    },
    {
      name: 'no source_id',
      input: { ...link, source_id: undefined },
      code: 'INVALID_ID',
      message: /^source_id undefined/,
    },
    {
      name: 'a dotted target',
      input: { ...link, target: 'a.b' },
      code: 'INVALID_ID',
      message: /^target "a\.b"/,
    },
    { name: 'a wildcard name', input: { ...link, name: '*' }, code: 'INVALID_ID', message: /^name "\*"/ },
    {
      name: 'a bad config name',
      input: { ...link, source_config: ['has space'] },
      code: 'INVALID_ID',
      message: /^config name "has space"/,
    },
    {
      name: 'config that is not a list',
      input: { ...link, target_config: 'one' },
      code: 'INVALID_ARGUMENT',
      message: /^target_config must be a list of strings/,
    },
  ];
  for (const { name, input, code, message } of badLinks) {
    it(`parseLink rejects ${name}`, () => {
      assertCirrus(
        thrown(() => parseLink(input)),
        code,
        message,
      );
    });
  }
});

describe('wire helpers', () => {
  const base: Link = {
    source_id: 'p',
    target: 'c',
    name: 'default',
    wit_namespace: 'wasi',
    wit_package: 'http',
    interfaces: ['incoming-handler'],
    source_config: [],
    target_config: [],
  };
  const identity: { name: string; other: Partial<Link>; same: boolean }[] = [
    { name: 'identical', other: {}, same: true },
    {
      name: 'different interfaces and config',
      other: { interfaces: ['x'], source_config: ['a'] },
      same: true,
    },
    { name: 'another source', other: { source_id: 'q' }, same: false },
    { name: 'another target', other: { target: 'd' }, same: false },
    { name: 'another name', other: { name: 'api' }, same: false },
    { name: 'another namespace', other: { wit_namespace: 'wasmcloud' }, same: false },
    { name: 'another package', other: { wit_package: 'keyvalue' }, same: false },
  ];
  for (const { name, other, same } of identity) {
    it(`sameLinkIdentity: ${name}`, () => {
      assert.equal(sameLinkIdentity(base, { ...base, ...other }), same);
      assert.equal(sameLinkIdentity({ ...base, ...other }, base), same);
    });
  }

  const uptimes: [number, string][] = [
    [0, '0s'],
    [59, '59s'],
    [60, '1m 0s'],
    [93, '1m 33s'],
    [3_600, '1h 0s'],
    [3_661, '1h 1m 1s'],
    [86_400, '1d 0s'],
    [90_061, '1d 1h 1m 1s'],
    [59.9, '59s'],
    [-5, '0s'],
  ];
  for (const [seconds, expected] of uptimes) {
    it(`humanUptime(${seconds}) is ${expected}`, () => assert.equal(humanUptime(seconds), expected));
  }
});

describe('events', () => {
  it('event names are unique snake_case 1.x names', () => {
    assert.equal(new Set(EVENT_NAMES).size, EVENT_NAMES.length);
    for (const name of EVENT_NAMES) assert.match(name, /^[a-z]+(_[a-z]+)*$/);
    for (const name of ['host_started', 'component_scaled', 'linkdef_set', 'config_set'] as const) {
      assert.ok(EVENT_NAMES.includes(name));
    }
  });

  it('cloudEvent builds a CloudEvents 1.0 envelope', () => {
    const time = new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 6));
    const data = { host_id: 'NABC' };
    const event = cloudEvent('host_started', 'NABC', data, 'evt-1', time);
    assert.deepEqual(event, {
      specversion: '1.0',
      id: 'evt-1',
      type: 'com.wasmcloud.lattice.host_started',
      source: 'NABC',
      datacontenttype: 'application/json',
      time: '2025-01-02T03:04:05.006Z',
      data,
    });
  });
});

describe('silentLogger', () => {
  it('accepts every call and stays silent in children', () => {
    for (const level of ['debug', 'info', 'warn', 'error'] as const) {
      assert.equal(silentLogger[level]('message', { key: 'value' }), undefined);
    }
    assert.equal(silentLogger.child({ component: 'x' }), silentLogger);
  });
});

describe('errors raised by the helpers', () => {
  it('are the exported classes', () => {
    assert.ok(thrown(() => parseLink(null)) instanceof InvalidArgumentError);
    assert.ok(thrown(() => assertValidId('x', '')) instanceof InvalidIdError);
    assert.ok(thrown(() => resolveLimits({ maxInstances: 0 })) instanceof InvalidLimitError);
  });
});
