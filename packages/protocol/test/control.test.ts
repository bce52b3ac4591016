/**
 * Control-interface parsing, host side: every request shape a 1.x client sends (including the sloppy
 * ones) becomes a validated command, and everything else is refused with a typed error whose message
 * names the field and what was expected. Signal: the parsed value, or the error code and message.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertCtlTopicPrefix,
  controlSubjectTokens,
  controlSubscriptions,
  decodeControlBody,
  failure,
  flattenStoredClaims,
  isCirrusError,
  ok,
  parseComponentAuction,
  parseConfigName,
  parseConfigPut,
  parseDeleteLink,
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
  satisfiesConstraints,
} from '../src/index.ts';

const HOST = 'NBHOSTAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const OTHER = 'NBOTHERAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const CTX = { hostId: HOST, maxInstances: 100 };

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const json = (value: unknown): Uint8Array => bytes(JSON.stringify(value));

/** Runs `fn`, expecting a Cirrus error with `code` whose message matches `message`. */
function refuses(fn: () => unknown, code: string, message: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (caught) {
    err = caught;
  }
  assert.ok(isCirrusError(err), `expected a Cirrus error, got ${String(err)}`);
  assert.equal(err.code, code, `unexpected code for: ${err.message}`);
  assert.match(err.message, message);
}

describe('reply envelope', () => {
  it('ok() leaves response out entirely when there is none', () => {
    assert.equal(
      JSON.stringify(ok('successfully put label')),
      '{"success":true,"message":"successfully put label"}',
    );
    assert.equal(JSON.stringify(ok()), '{"success":true,"message":""}');
    assert.equal('response' in ok('x'), false);
  });

  it('ok() carries a response, even a falsy one', () => {
    assert.equal(JSON.stringify(ok('', { a: '1' })), '{"success":true,"message":"","response":{"a":"1"}}');
    assert.equal(JSON.stringify(ok('', [])), '{"success":true,"message":"","response":[]}');
    assert.equal(JSON.stringify(ok('', 0)), '{"success":true,"message":"","response":0}');
  });

  it('failure() is success:false with the message and no response', () => {
    assert.equal(
      JSON.stringify(failure('unsupported subject')),
      '{"success":false,"message":"unsupported subject"}',
    );
  });
});

describe('control subjects', () => {
  it('lists the 1.x subscriptions with queue groups for link, claims and config', () => {
    const p = 'wasmbus.ctl.v1.default';
    assert.deepEqual(controlSubscriptions(p, HOST), [
      { subject: `${p}.registry.put` },
      { subject: `${p}.host.ping` },
      { subject: `${p}.link.*`, queue: `${p}.link` },
      { subject: `${p}.claims.get`, queue: `${p}.claims` },
      { subject: `${p}.config.>`, queue: `${p}.config` },
      { subject: `${p}.component.*.${HOST}` },
      { subject: `${p}.provider.*.${HOST}` },
      { subject: `${p}.label.*.${HOST}` },
      { subject: `${p}.host.*.${HOST}` },
      { subject: `${p}.component.auction` },
      { subject: `${p}.provider.auction` },
      { subject: `${p}.provider.start` },
    ]);
  });

  it('splits a subject after the prefix, and ignores foreign subjects', () => {
    const p = 'acme.ctl.v1.prod';
    assert.deepEqual(controlSubjectTokens(`${p}.component.scale.${HOST}`, p), ['component', 'scale', HOST]);
    assert.deepEqual(controlSubjectTokens(`${p}.config.put.a`, p), ['config', 'put', 'a']);
    assert.equal(controlSubjectTokens('wasmbus.ctl.v1.prod.host.ping', p), undefined);
    assert.equal(controlSubjectTokens(`${p}x.host.ping`, p), undefined);
    assert.equal(controlSubjectTokens(p, p), undefined);
  });

  it('accepts dotted topic prefixes and refuses wildcards, blanks and empty tokens', () => {
    assert.equal(assertCtlTopicPrefix('wasmbus.ctl'), 'wasmbus.ctl');
    assert.equal(assertCtlTopicPrefix('acme'), 'acme');
    for (const bad of ['', 'a..b', 'a.*', '>', 'a b', '.a', 'a.']) {
      refuses(() => assertCtlTopicPrefix(bad), 'INVALID_SUBJECT', /control topic prefix/);
    }
  });
});

describe('request bodies', () => {
  it('decodes JSON bytes, treats empty bodies as absent, passes parsed values through', () => {
    assert.deepEqual(decodeControlBody(json({ a: 1 })), { a: 1 });
    assert.equal(decodeControlBody(new Uint8Array(0)), undefined);
    assert.equal(decodeControlBody(bytes('  \n')), undefined);
    const parsed = { key: 'zone' };
    assert.equal(decodeControlBody(parsed), parsed);
  });

  it('refuses bytes that are not JSON or not UTF-8', () => {
    refuses(
      () => decodeControlBody(bytes('{"count":')),
      'INVALID_ARGUMENT',
      /^request body is not valid JSON: /,
    );
    refuses(
      () => decodeControlBody(new Uint8Array([0x7b, 0xff, 0x7d])),
      'INVALID_ARGUMENT',
      /not valid UTF-8/,
    );
  });
});

describe('component.scale', () => {
  const base = { component_ref: 'ghcr.io/acme/hello:0.1.0', component_id: 'app-hello' };

  const accepted: { name: string; body: unknown; expect: Record<string, unknown> }[] = [
    { name: 'count (the 1.x wire name)', body: { ...base, count: 3 }, expect: { count: 3 } },
    {
      name: 'max_instances (lattice-client-core 0.2.3)',
      body: { ...base, max_instances: 4 },
      expect: { count: 4 },
    },
    {
      name: 'count wins over max_instances',
      body: { ...base, count: 2, max_instances: 9 },
      expect: { count: 2 },
    },
    {
      name: 'null count falls back to max_instances',
      body: { ...base, count: null, max_instances: 5 },
      expect: { count: 5 },
    },
    { name: 'no count means 0 (stop), as in Rust', body: base, expect: { count: 0 } },
    { name: 'the limit itself', body: { ...base, count: 100 }, expect: { count: 100 } },
    { name: 'matching host_id', body: { ...base, host_id: HOST, count: 1 }, expect: { host_id: HOST } },
    {
      name: 'empty host_id counts as absent',
      body: { ...base, host_id: '', count: 1 },
      expect: { host_id: HOST },
    },
    {
      name: 'annotations, config, limits, allow_update',
      body: {
        ...base,
        count: 1,
        annotations: { 'wasmcloud.dev/managed-by': 'wadm' },
        config: ['app-greeting', 'SECRET_key'],
        component_limits: { cpu: '1' },
        allow_update: true,
      },
      expect: {
        annotations: { 'wasmcloud.dev/managed-by': 'wadm' },
        config: ['app-greeting', 'SECRET_key'],
        component_limits: { cpu: '1' },
        allow_update: true,
      },
    },
    { name: 'unknown fields are ignored', body: { ...base, count: 1, colour: 'red' }, expect: { count: 1 } },
  ];
  for (const { name, body, expect } of accepted) {
    it(`accepts ${name}`, () => {
      const parsed = parseScaleComponent(json(body), CTX);
      assert.equal(parsed.component_id, 'app-hello');
      assert.equal(parsed.component_ref, base.component_ref);
      assert.equal(parsed.host_id, HOST);
      assert.ok(!('colour' in parsed));
      for (const [key, value] of Object.entries(expect)) {
        assert.deepEqual((parsed as unknown as Record<string, unknown>)[key], value, key);
      }
    });
  }

  it('leaves annotations out when the request has none (the event then carries {})', () => {
    assert.equal('annotations' in parseScaleComponent(json({ ...base, count: 1 }), CTX), false);
  });

  const refused: { name: string; body: unknown; code: string; message: RegExp }[] = [
    {
      name: 'count -1',
      body: { ...base, count: -1 },
      code: 'INVALID_ARGUMENT',
      message: /^count must be a whole number from 0 to 100, got -1$/,
    },
    {
      name: 'count 1.5',
      body: { ...base, count: 1.5 },
      code: 'INVALID_ARGUMENT',
      message: /^count must be a whole number from 0 to 100, got 1.5$/,
    },
    {
      name: 'count 10^9',
      body: { ...base, count: 1e9 },
      code: 'INVALID_ARGUMENT',
      message: /^count .* got 1000000000$/,
    },
    {
      name: 'count above the limit',
      body: { ...base, count: 101 },
      code: 'INVALID_ARGUMENT',
      message: /from 0 to 100/,
    },
    {
      name: 'count as a string',
      body: { ...base, count: '2' },
      code: 'INVALID_ARGUMENT',
      message: /^count must be a number, got string$/,
    },
    {
      name: 'max_instances -1',
      body: { ...base, max_instances: -1 },
      code: 'INVALID_ARGUMENT',
      message: /^max_instances must be a whole number/,
    },
    {
      name: 'missing component_id',
      body: { component_ref: 'x', count: 1 },
      code: 'INVALID_ARGUMENT',
      message: /^component_id is required$/,
    },
    {
      name: 'missing component_ref',
      body: { component_id: 'a', count: 1 },
      code: 'INVALID_ARGUMENT',
      message: /^component_ref is required$/,
    },
    {
      name: 'component_id as a number',
      body: { ...base, component_id: 7 },
      code: 'INVALID_ARGUMENT',
      message: /^component_id must be a string, got number$/,
    },
    {
      name: 'component_ref as an object',
      body: { ...base, component_ref: {} },
      code: 'INVALID_ARGUMENT',
      message: /^component_ref must be a string/,
    },
    {
      name: 'id with a dot',
      body: { ...base, component_id: 'a.b' },
      code: 'INVALID_ID',
      message: /^component_id "a\.b" is not a valid identifier$/,
    },
    {
      name: 'id with *',
      body: { ...base, component_id: 'a*' },
      code: 'INVALID_ID',
      message: /component_id "a\*"/,
    },
    {
      name: 'id with >',
      body: { ...base, component_id: 'a>' },
      code: 'INVALID_ID',
      message: /component_id "a>"/,
    },
    {
      name: 'id with a space',
      body: { ...base, component_id: 'a b' },
      code: 'INVALID_ID',
      message: /component_id "a b"/,
    },
    {
      name: 'config name with a dot',
      body: { ...base, config: ['a.b'] },
      code: 'INVALID_ID',
      message: /^config entry "a\.b"/,
    },
    {
      name: 'config not a list',
      body: { ...base, config: 'greeting' },
      code: 'INVALID_ARGUMENT',
      message: /^config must be a list of strings$/,
    },
    {
      name: 'annotation value not a string',
      body: { ...base, annotations: { n: 1 } },
      code: 'INVALID_ARGUMENT',
      message: /^annotations\.n must be a string, got number$/,
    },
    {
      name: 'allow_update as a string',
      body: { ...base, allow_update: 'yes' },
      code: 'INVALID_ARGUMENT',
      message: /^allow_update must be a boolean, got string$/,
    },
    {
      name: 'host_id of another host',
      body: { ...base, host_id: OTHER },
      code: 'INVALID_ARGUMENT',
      message: /^host_id "NBOTHER\w+" does not match the host the request was sent to \(NBHOST\w+\)$/,
    },
    {
      name: 'host_id as a number',
      body: { ...base, host_id: 5 },
      code: 'INVALID_ARGUMENT',
      message: /^host_id must be a string/,
    },
    {
      name: 'an array body',
      body: [base],
      code: 'INVALID_ARGUMENT',
      message: /^component scale request must be a JSON object$/,
    },
  ];
  for (const { name, body, code, message } of refused) {
    it(`refuses ${name}`, () => refuses(() => parseScaleComponent(json(body), CTX), code, message));
  }

  it('refuses an empty body and invalid JSON', () => {
    refuses(
      () => parseScaleComponent(new Uint8Array(0), CTX),
      'INVALID_ARGUMENT',
      /^component scale request has an empty body$/,
    );
    refuses(() => parseScaleComponent(bytes('{nope'), CTX), 'INVALID_ARGUMENT', /not valid JSON/);
  });

  it('takes already-parsed JSON as well as bytes', () => {
    assert.equal(parseScaleComponent({ ...base, count: 2 }, CTX).count, 2);
  });
});

describe('component.update', () => {
  it('parses the request and checks the host', () => {
    assert.deepEqual(
      parseUpdateComponent(
        json({ component_id: 'a', new_component_ref: 'r2', host_id: HOST, annotations: { k: 'v' } }),
        CTX,
      ),
      { component_id: 'a', new_component_ref: 'r2', host_id: HOST, annotations: { k: 'v' } },
    );
    refuses(
      () => parseUpdateComponent(json({ component_id: 'a' }), CTX),
      'INVALID_ARGUMENT',
      /^new_component_ref is required$/,
    );
    refuses(
      () => parseUpdateComponent(json({ component_id: 'a', new_component_ref: 'r', host_id: OTHER }), CTX),
      'INVALID_ARGUMENT',
      /does not match/,
    );
  });
});

describe('provider.start / provider.stop', () => {
  it('parses a start request; config defaults to []', () => {
    assert.deepEqual(
      parseStartProvider(json({ provider_id: 'p', provider_ref: 'wasmcloud+builtin://http-server' }), CTX),
      {
        provider_id: 'p',
        provider_ref: 'wasmcloud+builtin://http-server',
        host_id: HOST,
        config: [],
      },
    );
  });

  const startRefusals: [string, unknown, string, RegExp][] = [
    ['missing provider_id', { provider_ref: 'r' }, 'INVALID_ARGUMENT', /^provider_id is required$/],
    ['missing provider_ref', { provider_id: 'p' }, 'INVALID_ARGUMENT', /^provider_ref is required$/],
    ['provider_id with >', { provider_id: 'p>', provider_ref: 'r' }, 'INVALID_ID', /^provider_id "p>"/],
    [
      'another host',
      { provider_id: 'p', provider_ref: 'r', host_id: OTHER },
      'INVALID_ARGUMENT',
      /does not match/,
    ],
    [
      'annotations not an object',
      { provider_id: 'p', provider_ref: 'r', annotations: [] },
      'INVALID_ARGUMENT',
      /^annotations must be an object/,
    ],
  ];
  for (const [name, body, code, message] of startRefusals) {
    it(`start refuses ${name}`, () => refuses(() => parseStartProvider(json(body), CTX), code, message));
  }

  it('stop takes provider_id, or provider_ref as its alias', () => {
    assert.deepEqual(parseStopProvider(json({ provider_id: 'p', host_id: HOST }), CTX), {
      provider_id: 'p',
      host_id: HOST,
    });
    assert.deepEqual(parseStopProvider(json({ provider_ref: 'p' }), CTX), {
      provider_id: 'p',
      host_id: HOST,
    });
    assert.equal(parseStopProvider(json({ provider_id: 'a', provider_ref: 'b' }), CTX).provider_id, 'a');
    refuses(() => parseStopProvider(json({}), CTX), 'INVALID_ARGUMENT', /^provider_id is required$/);
    refuses(
      () => parseStopProvider(json({ provider_ref: 'ghcr.io/x' }), CTX),
      'INVALID_ID',
      /^provider_ref "ghcr\.io\/x"/,
    );
    refuses(
      () => parseStopProvider(json({ provider_id: 'p', host_id: OTHER }), CTX),
      'INVALID_ARGUMENT',
      /does not match/,
    );
  });
});

describe('host.stop', () => {
  it('accepts an empty body, {} and {host_id, timeout}', () => {
    assert.deepEqual(parseStopHost(new Uint8Array(0), CTX), { host_id: HOST });
    assert.deepEqual(parseStopHost(json({}), CTX), { host_id: HOST });
    assert.deepEqual(parseStopHost(json({ host_id: HOST, timeout: 5000 }), CTX), {
      host_id: HOST,
      timeout: 5000,
    });
  });

  it('refuses another host and a bad timeout', () => {
    refuses(() => parseStopHost(json({ host_id: OTHER }), CTX), 'INVALID_ARGUMENT', /does not match/);
    refuses(
      () => parseStopHost(json({ timeout: -1 }), CTX),
      'INVALID_ARGUMENT',
      /^timeout must be a whole number of milliseconds, got -1$/,
    );
    refuses(() => parseStopHost(json({ timeout: '5s' }), CTX), 'INVALID_ARGUMENT', /got string$/);
  });
});

describe('labels', () => {
  it('put needs key and a string value (which may be empty); del needs key', () => {
    assert.deepEqual(parseLabelPut(json({ key: 'zone', value: 'eu' })), { key: 'zone', value: 'eu' });
    assert.deepEqual(parseLabelPut(json({ key: 'zone', value: '' })), { key: 'zone', value: '' });
    assert.deepEqual(parseLabelDelete(json({ key: 'zone', value: 'ignored' })), { key: 'zone' });
    refuses(() => parseLabelPut(json({ key: 'zone' })), 'INVALID_ARGUMENT', /^value is required$/);
    refuses(
      () => parseLabelPut(json({ key: 'zone', value: 3 })),
      'INVALID_ARGUMENT',
      /^value must be a string, got number$/,
    );
    refuses(() => parseLabelPut(json({ value: 'eu' })), 'INVALID_ARGUMENT', /^key is required$/);
    refuses(
      () => parseLabelDelete(new Uint8Array(0)),
      'INVALID_ARGUMENT',
      /^label request has an empty body$/,
    );
  });
});

describe('links', () => {
  const link = {
    source_id: 'web',
    target: 'kv',
    wit_namespace: 'wasi',
    wit_package: 'keyvalue',
    interfaces: ['store'],
  };

  it('put parses a 1.x link with defaults', () => {
    assert.deepEqual(parsePutLink(json(link)), {
      ...link,
      name: 'default',
      source_config: [],
      target_config: [],
    });
    refuses(() => parsePutLink(new Uint8Array(0)), 'INVALID_ARGUMENT', /^link has an empty body$/);
    refuses(() => parsePutLink(json({ ...link, target: 'k.v' })), 'INVALID_ID', /^target "k\.v"/);
    refuses(
      () => parsePutLink(json({ ...link, interfaces: 'store' })),
      'INVALID_ARGUMENT',
      /^interfaces must be a list/,
    );
  });

  it('del defaults name to "default" and needs source, namespace and package', () => {
    assert.deepEqual(
      parseDeleteLink(json({ source_id: 'web', wit_namespace: 'wasi', wit_package: 'keyvalue' })),
      {
        source_id: 'web',
        name: 'default',
        wit_namespace: 'wasi',
        wit_package: 'keyvalue',
      },
    );
    assert.equal(
      parseDeleteLink(json({ source_id: 'w', name: 'cache', wit_namespace: 'a', wit_package: 'b' })).name,
      'cache',
    );
    assert.equal(
      parseDeleteLink(json({ source_id: 'w', link_name: 'cache', wit_namespace: 'a', wit_package: 'b' }))
        .name,
      'cache',
      'lattice-client-core sends link_name',
    );
    refuses(
      () => parseDeleteLink(json({ source_id: 'w', wit_namespace: 'a' })),
      'INVALID_ARGUMENT',
      /^wit_package is required$/,
    );
    refuses(
      () => parseDeleteLink(json({ source_id: 'w*', wit_namespace: 'a', wit_package: 'b' })),
      'INVALID_ID',
      /^source_id "w\*"/,
    );
  });
});

describe('config', () => {
  it('put takes the name from the subject and a string map from the body', () => {
    assert.deepEqual(parseConfigPut('app-greeting', json({ GREETING: 'hi' })), {
      name: 'app-greeting',
      values: { GREETING: 'hi' },
    });
    assert.deepEqual(parseConfigPut('empty', json({})), { name: 'empty', values: {} });
    refuses(
      () => parseConfigPut('x', json({ port: 8080 })),
      'INVALID_ARGUMENT',
      /^config\.port must be a string, got number$/,
    );
    refuses(() => parseConfigPut('x', new Uint8Array(0)), 'INVALID_ARGUMENT', /^config has an empty body$/);
    refuses(() => parseConfigPut('x', json(['a'])), 'INVALID_ARGUMENT', /^config must be a JSON object$/);
    refuses(() => parseConfigPut(undefined, json({})), 'INVALID_ARGUMENT', /config name is missing/);
  });

  it('names must be subject tokens', () => {
    assert.equal(parseConfigName('SECRET_db'), 'SECRET_db');
    refuses(() => parseConfigName('a b'), 'INVALID_ID', /^config name "a b"/);
  });
});

describe('auctions', () => {
  it('parse with constraints defaulting to {}', () => {
    assert.deepEqual(parseComponentAuction(json({ component_ref: 'r', component_id: 'c' })), {
      component_ref: 'r',
      component_id: 'c',
      constraints: {},
    });
    assert.deepEqual(
      parseProviderAuction(json({ provider_ref: 'r', provider_id: 'p', constraints: { zone: 'a' } })),
      {
        provider_ref: 'r',
        provider_id: 'p',
        constraints: { zone: 'a' },
      },
    );
    refuses(
      () => parseProviderAuction(json({ provider_ref: 'r' })),
      'INVALID_ARGUMENT',
      /^provider_id is required$/,
    );
    refuses(
      () => parseComponentAuction(json({ component_ref: 'r', component_id: 'c', constraints: { zone: 1 } })),
      'INVALID_ARGUMENT',
      /^constraints\.zone must be a string/,
    );
  });

  it('a host qualifies only when every constraint equals one of its labels', () => {
    const labels = { zone: 'a', 'hostcore.os': 'linux' };
    assert.equal(satisfiesConstraints({}, labels), true);
    assert.equal(satisfiesConstraints({ zone: 'a' }, labels), true);
    assert.equal(satisfiesConstraints({ zone: 'a', 'hostcore.os': 'linux' }, labels), true);
    assert.equal(satisfiesConstraints({ zone: 'b' }, labels), false);
    assert.equal(satisfiesConstraints({ region: 'a' }, labels), false);
  });
});

describe('registry.put', () => {
  it('parses credentials per registry; registryType defaults to oci', () => {
    assert.deepEqual(
      parseRegistryPut(
        json({
          'ghcr.io': { username: 'u', password: 'p' },
          'localhost:5000': { token: 't', registryType: 'oci' },
          'anon.io': {},
        }),
      ),
      {
        'ghcr.io': { registryType: 'oci', username: 'u', password: 'p' },
        'localhost:5000': { registryType: 'oci', token: 't' },
        'anon.io': { registryType: 'oci' },
      },
    );
  });

  it('refuses a "__proto__" key at any depth', () => {
    for (const body of ['{"__proto__":{"token":"t"}}', '{"ghcr.io":{"__proto__":{"a":1}}}']) {
      refuses(() => parseRegistryPut(bytes(body)), 'INVALID_ARGUMENT', /"__proto__" key/);
    }
  });

  it('refuses wrong types without echoing the secret', () => {
    refuses(
      () => parseRegistryPut(json({ 'ghcr.io': { password: 12345 } })),
      'INVALID_ARGUMENT',
      /^registry "ghcr\.io": password must be a string, got number$/,
    );
    refuses(
      () => parseRegistryPut(json({ 'ghcr.io': 'token' })),
      'INVALID_ARGUMENT',
      /^registry "ghcr\.io" must be a JSON object$/,
    );
    refuses(
      () => parseRegistryPut(json({ 'ghcr.io': { registryType: 'docker' } })),
      'INVALID_ARGUMENT',
      /registryType must be "oci"/,
    );
  });

  it('names the type of a registryType nested too deep to print instead of overflowing the stack', () => {
    const deep = JSON.parse(`${'['.repeat(20_000)}${']'.repeat(20_000)}`) as unknown;
    refuses(
      () => parseRegistryPut({ 'ghcr.io': { registryType: deep } }),
      'INVALID_ARGUMENT',
      /^registry "ghcr\.io": registryType must be "oci", got array$/,
    );
  });
});

describe('stored claims', () => {
  it('flattens component claims with the duplicated short keys and comma-joined tags', () => {
    const stored = {
      call_alias: '',
      issuer: 'A1',
      name: 'hello',
      revision: '2',
      subject: 'M1',
      tags: ['a', 'b'],
      version: '0.1.0',
    };
    assert.deepEqual(flattenStoredClaims(stored), {
      call_alias: '',
      iss: 'A1',
      issuer: 'A1',
      name: 'hello',
      rev: '2',
      revision: '2',
      sub: 'M1',
      subject: 'M1',
      tags: 'a,b',
      version: '0.1.0',
    });
    const legacy = { call_alias: 'x', iss: 'A1', name: 'h', rev: 3, sub: 'M1', tags: 'a,b', version: '1' };
    assert.equal(flattenStoredClaims(legacy)?.['tags'], 'a,b');
    assert.equal(flattenStoredClaims(legacy)?.['revision'], '3');
  });

  it('flattens provider claims with config_schema', () => {
    const stored = { issuer: 'A1', name: 'HTTP', revision: '0', subject: 'V1', version: '0.23.0' };
    assert.deepEqual(flattenStoredClaims(stored), {
      iss: 'A1',
      issuer: 'A1',
      name: 'HTTP',
      rev: '0',
      revision: '0',
      sub: 'V1',
      subject: 'V1',
      version: '0.23.0',
      config_schema: '',
    });
  });

  it('returns undefined for records that are neither', () => {
    for (const value of [null, 'x', [], {}, { issuer: 'A', name: 'n', revision: '0', subject: 'S' }]) {
      assert.equal(flattenStoredClaims(value), undefined);
    }
  });
});
