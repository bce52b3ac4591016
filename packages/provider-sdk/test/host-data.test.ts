/**
 * HostData as a provider receives it: what a host writes decodes to the same value, every kind of
 * malformed input is refused with HOST_DATA_INVALID naming what is wrong (never a token), and the
 * connection settings follow from the URL and credential fields.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeHostData, encodeHostData, HostDataInvalidError } from '@cirrus/protocol';
import type { HostData } from '@cirrus/protocol';
import { natsOptionsFromHostData, readHostData } from '../src/index.ts';

function hostData(overrides: Partial<HostData> = {}): HostData {
  return {
    host_id: 'NHOST',
    lattice_rpc_prefix: 'default',
    link_name: 'default',
    lattice_rpc_user_jwt: '',
    lattice_rpc_user_seed: '',
    lattice_rpc_url: 'nats://127.0.0.1:4222',
    provider_key: 'greeter',
    env_values: {},
    instance_id: '4f6b1c2e-0000-4000-8000-000000000000',
    link_definitions: [
      {
        source_id: 'client',
        target: 'greeter',
        name: 'default',
        wit_namespace: 'example',
        wit_package: 'greeter',
        interfaces: ['greet'],
        source_config: {},
        target_config: { greeting: 'Hi ✓' },
        source_secrets: null,
        target_secrets: null,
      },
    ],
    cluster_issuers: [],
    config: { mode: 'test' },
    secrets: { api_key: { kind: 'String', value: 's3cret' } },
    host_xkey_public_key: '',
    provider_xkey_private_key: '',
    default_rpc_timeout_ms: 2000,
    structured_logging: true,
    log_level: 'info',
    otel_config: {
      enable_observability: false,
      protocol: 'Http',
      additional_ca_paths: [],
      trace_level: 'info',
    },
    ...overrides,
  };
}

const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

function refused(input: string, pattern: RegExp): void {
  assert.throws(
    () => decodeHostData(input),
    (err: unknown) =>
      err instanceof HostDataInvalidError && err.code === 'HOST_DATA_INVALID' && pattern.test(err.message),
  );
}

describe('HostData encoding', () => {
  it('decodes what the host encodes, with the \\r\\n the host writes after it', () => {
    const data = hostData();
    assert.deepEqual(decodeHostData(`${encodeHostData(data)}\r\n`), data);
  });

  it('is standard padded base64 of the JSON, as the Rust provider SDK reads it', () => {
    const data = hostData();
    assert.equal(encodeHostData(data), base64(JSON.stringify(data)));
  });

  it('fills the fields a 1.x host may leave out with their Rust defaults', () => {
    const minimal = {
      host_id: 'NHOST',
      lattice_rpc_prefix: 'default',
      lattice_rpc_url: 'nats://127.0.0.1:4222',
      provider_key: 'greeter',
    };
    const decoded = decodeHostData(base64(JSON.stringify(minimal)));
    assert.equal(decoded.link_name, 'default');
    assert.deepEqual(decoded.link_definitions, []);
    assert.deepEqual(decoded.config, {});
    assert.equal(decoded.default_rpc_timeout_ms, null);
    assert.equal(decoded.log_level, null);
    assert.equal(decoded.otel_config.protocol, 'Http');
  });

  it('refuses empty input, text that is not base64, and base64 of something other than a JSON object', () => {
    refused('', /stdin was empty/);
    refused('not base64!', /not standard padded base64/);
    refused('abc', /not standard padded base64/);
    refused(Buffer.from([0xff, 0xfe, 0xfd]).toString('base64'), /not base64 of UTF-8/);
    refused(base64('{"host_id":'), /not JSON/);
    refused(base64('[1,2]'), /must be a JSON object/);
  });

  it('names the field that is missing or of the wrong type', () => {
    const without = (field: keyof HostData): string => {
      const data: Record<string, unknown> = { ...hostData() };
      delete data[field];
      return base64(JSON.stringify(data));
    };
    refused(without('provider_key'), /^provider_key is missing/);
    refused(without('lattice_rpc_url'), /^lattice_rpc_url is missing/);
    refused(
      base64(JSON.stringify({ ...hostData(), config: { port: 8080 } })),
      /^config\.port must be a string/,
    );
    refused(
      base64(JSON.stringify({ ...hostData(), structured_logging: 'yes' })),
      /structured_logging must be a boolean/,
    );
    refused(base64(JSON.stringify({ ...hostData(), log_level: 'loud' })), /log_level must be one of/);
    const badLink = { ...hostData().link_definitions[0], target_config: { greeting: 1 } };
    refused(
      base64(JSON.stringify({ ...hostData(), link_definitions: [badLink] })),
      /^link_definitions\[0\]\.target_config\.greeting must be a string/,
    );
  });

  it('refuses a provider id or lattice that cannot be a subject token', () => {
    refused(
      base64(JSON.stringify({ ...hostData(), provider_key: 'my.provider' })),
      /provider_key "my\.provider"/,
    );
    refused(base64(JSON.stringify({ ...hostData(), lattice_rpc_prefix: 'a b' })), /lattice_rpc_prefix/);
  });
});

describe('reading HostData from stdin', () => {
  async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
    for (const part of parts) yield Buffer.from(part, 'latin1');
  }

  it('reads up to the first newline, across chunks', async () => {
    const line = encodeHostData(hostData());
    const decoded = await readHostData(chunks(line.slice(0, 10), line.slice(10), '\r\nignored'));
    assert.equal(decoded.provider_key, 'greeter');
  });

  it('refuses a terminal instead of waiting for input forever', async () => {
    const tty = Object.assign(chunks(), { isTTY: true });
    await assert.rejects(readHostData(tty), /stdin is a terminal/);
  });
});

describe('connection settings from HostData', () => {
  it('takes a token from the URL, the way the host passes its local endpoint token', () => {
    const options = natsOptionsFromHostData(hostData({ lattice_rpc_url: 'nats://t0ken-_x@127.0.0.1:4333' }));
    assert.deepEqual(options.servers, ['nats://127.0.0.1:4333']);
    assert.deepEqual(options.credentials, {
      type: 'token',
      token: 't0ken-_x',
      source: 'HostData lattice_rpc_url',
    });
    assert.equal(options.name, 'greeter');
  });

  it('takes a user and password from the URL', () => {
    const options = natsOptionsFromHostData(
      hostData({ lattice_rpc_url: 'nats://ann:p%40ss@h1:4222,nats://h2:4222' }),
    );
    assert.deepEqual(options.servers, ['nats://h1:4222', 'nats://h2:4222']);
    assert.deepEqual(options.credentials, {
      type: 'user',
      user: 'ann',
      password: 'p@ss',
      source: 'HostData lattice_rpc_url',
    });
  });

  it('prefers the JWT and seed fields, and uses a seed alone as an nkey', () => {
    const jwt = natsOptionsFromHostData(
      hostData({ lattice_rpc_user_jwt: 'eyJ…', lattice_rpc_user_seed: 'SUA…' }),
    );
    assert.deepEqual(jwt.credentials, {
      type: 'jwt',
      jwt: 'eyJ…',
      seed: 'SUA…',
      source: 'HostData lattice_rpc_user_jwt/lattice_rpc_user_seed',
    });
    const nkey = natsOptionsFromHostData(hostData({ lattice_rpc_user_seed: 'SUA…' }));
    assert.deepEqual(nkey.credentials, {
      type: 'nkey',
      seed: 'SUA…',
      source: 'HostData lattice_rpc_user_seed',
    });
    assert.equal(natsOptionsFromHostData(hostData()).credentials, undefined);
  });

  it('takes TLS from the lattice_rpc_tls extension, keeps a tls:// URL, and refuses a JWT without its seed', () => {
    const data = hostData({
      lattice_rpc_url: 'tls://t0ken@h1:4222',
      lattice_rpc_tls: {
        ca_file: '/ca.pem',
        cert_file: '/c.pem',
        key_file: '/c.key',
        server_name: 'nats.example',
      },
    });
    // A round trip through the wire form: the extension survives encoding and parsing.
    const options = natsOptionsFromHostData(decodeHostData(encodeHostData(data)));
    assert.deepEqual(options.servers, ['tls://h1:4222']);
    assert.deepEqual(options.tls, {
      caFile: '/ca.pem',
      certFile: '/c.pem',
      keyFile: '/c.key',
      serverName: 'nats.example',
    });
    assert.equal(natsOptionsFromHostData(hostData()).tls, undefined);
    assert.throws(
      () => natsOptionsFromHostData(hostData({ lattice_rpc_user_jwt: 'eyJ…' })),
      (err: unknown) =>
        err instanceof HostDataInvalidError && /without lattice_rpc_user_seed/.test(err.message),
    );
    assert.throws(
      () =>
        decodeHostData(
          encodeHostData({ ...hostData(), lattice_rpc_tls: { ca_file: 7 } } as unknown as HostData),
        ),
      (err: unknown) =>
        err instanceof HostDataInvalidError && /lattice_rpc_tls\.ca_file must be a string/.test(err.message),
    );
  });

  it('never repeats a URL that may hold a token in its error', () => {
    assert.throws(
      () => natsOptionsFromHostData(hostData({ lattice_rpc_url: 'nats://secret-token@[bad' })),
      (err: unknown) =>
        err instanceof HostDataInvalidError &&
        !err.message.includes('secret-token') &&
        /not a URL/.test(err.message),
    );
  });
});
