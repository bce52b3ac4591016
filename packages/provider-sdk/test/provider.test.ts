/**
 * A provider written with the SDK, run in-process on the in-memory lattice and called over wRPC as a
 * component's host would call it: links from HostData and from `linkdefs.put`/`del` decide which
 * config a caller gets, config updates and health checks are answered, a shutdown request from
 * another host is ignored and one from its own host drains the calls in flight before it stops.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createMemoryLattice, encodeJson, encodeText, wrpcInvoke, wrpcServe } from '@cirrus/lattice';
import type { LatticeConnection, MemoryLattice } from '@cirrus/lattice';
import {
  DEFAULT_LIMITS,
  InvalidArgumentError,
  silentLogger,
  parseWitInterface,
  providerConfigUpdateSubject,
  providerHealthSubject,
  providerLinkDelSubject,
  providerLinkPutSubject,
  providerShutdownSubject,
} from '@cirrus/protocol';
import type { HostData, InterfaceLinkDefinition, StringMap, WitFunction } from '@cirrus/protocol';
import { waitFor, withDeadline } from '@cirrus/testing';
import { err, ok, runProvider } from '../src/index.ts';
import type { LinkRole, Provider, ProviderOptions } from '../src/index.ts';

const WIT = `package example:greeter@0.1.0;

interface greet {
  greet: func(name: string) -> string;
  checked-greet: func(name: string) -> result<string, string>;
}
`;
const INSTANCE = 'example:greeter/greet@0.1.0';
const GREET = parseWitInterface(WIT);
const WAIT_MS = 5000;

function fn(name: string): WitFunction {
  return GREET.functions.get(name) as WitFunction;
}

function link(overrides: Partial<InterfaceLinkDefinition> = {}): InterfaceLinkDefinition {
  return {
    source_id: 'client',
    target: 'greeter',
    name: 'default',
    wit_namespace: 'example',
    wit_package: 'greeter',
    interfaces: ['greet'],
    source_config: {},
    target_config: {},
    source_secrets: null,
    target_secrets: null,
    ...overrides,
  };
}

function hostData(links: InterfaceLinkDefinition[]): HostData {
  return {
    host_id: 'NHOST',
    lattice_rpc_prefix: 'default',
    link_name: 'default',
    lattice_rpc_user_jwt: '',
    lattice_rpc_user_seed: '',
    lattice_rpc_url: 'nats://unused:4222',
    provider_key: 'greeter',
    env_values: {},
    instance_id: 'i-1',
    link_definitions: links,
    cluster_issuers: [],
    config: { mode: 'initial' },
    secrets: {},
    host_xkey_public_key: '',
    provider_xkey_private_key: '',
    default_rpc_timeout_ms: null,
    structured_logging: true,
    log_level: 'debug',
    otel_config: {
      enable_observability: false,
      protocol: 'Http',
      additional_ca_paths: [],
      trace_level: 'info',
    },
  };
}

interface Recorded {
  targets: InterfaceLinkDefinition[];
  sources: InterfaceLinkDefinition[];
  deleted: [InterfaceLinkDefinition, LinkRole][];
  configs: StringMap[];
  logs: Record<string, unknown>[];
  shutdowns: number;
}

describe('a provider written with the SDK', () => {
  let lattice: MemoryLattice;
  let client: LatticeConnection;
  let provider: Provider;
  let seen: Recorded;
  /** Released by a test to let a slow call finish. */
  let releaseSlow: () => void = () => {};
  let slowEntered = false;

  async function start(
    options: Partial<ProviderOptions> = {},
    links = [link({ target_config: { greeting: 'Hi' } })],
  ) {
    seen = { targets: [], sources: [], deleted: [], configs: [], logs: [], shutdowns: 0 };
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    slowEntered = false;
    return runProvider({
      name: 'greeter-test',
      wit: WIT,
      exports: {
        [INSTANCE]: {
          greet: async (ctx, name: string) => {
            if (name === 'slow') {
              slowEntered = true;
              await slow;
            }
            return `${ctx.config['greeting'] ?? 'Hello'}, ${name}!`;
          },
          'checked-greet': (_ctx, name: string) =>
            name === '' ? err('a name is required') : ok(`Hello, ${name}!`),
        },
      },
      onLinkAsTarget: (l) => void seen.targets.push(l),
      onLinkAsSource: (l) => void seen.sources.push(l),
      onLinkDeleted: (l, role) => void seen.deleted.push([l, role]),
      onConfigUpdate: (config) => void seen.configs.push(config),
      shutdown: () => void (seen.shutdowns += 1),
      hostData: hostData(links),
      connection: lattice.connect(),
      exitOnShutdown: false,
      writeLog: (line) => seen.logs.push(JSON.parse(line) as Record<string, unknown>),
      ...options,
    });
  }

  async function call(name: string, args: unknown[], sourceId = 'client'): Promise<unknown> {
    const [result] = await wrpcInvoke(client, {
      lattice: 'default',
      targetId: 'greeter',
      instance: INSTANCE,
      fn: fn(name),
      args,
      sourceId,
      linkName: 'default',
      timeoutMs: WAIT_MS,
      maxBytes: DEFAULT_LIMITS.wrpcMaxValueBytes,
    });
    return result;
  }

  before(() => {
    lattice = createMemoryLattice();
    client = lattice.connect();
  });

  beforeEach(async () => {
    provider = await start();
  });

  after(async () => {
    await client.close();
    await lattice.close();
  });

  it('serves each export over wRPC with the config of the link the caller holds', async () => {
    assert.equal(await call('greet', ['Ada'], 'client'), 'Hi, Ada!');
    assert.equal(await call('greet', ['Ada'], 'stranger'), 'Hello, Ada!', 'no link: no link config');
    assert.deepEqual(await call('checked-greet', ['']), { tag: 'err', val: 'a name is required' });
    assert.deepEqual(await call('checked-greet', ['Bo']), { tag: 'ok', val: 'Hello, Bo!' });
    assert.deepEqual(
      seen.targets.map((l) => l.source_id),
      ['client'],
      'the HostData link was applied at start',
    );
    await provider.stop();
  });

  it('applies linkdefs.put and linkdefs.del in the order they arrive, by role', async () => {
    client.publish(
      providerLinkPutSubject('default', 'greeter'),
      encodeJson(link({ target_config: { greeting: 'Hey' } })),
    );
    client.publish(
      providerLinkPutSubject('default', 'greeter'),
      encodeJson(
        link({ source_id: 'greeter', target: 'worker', wit_package: 'jobs', source_config: { queue: 'q' } }),
      ),
    );
    client.publish(
      providerLinkPutSubject('default', 'greeter'),
      encodeJson(link({ source_id: 'a', target: 'b' })),
    );
    await waitFor(() => seen.sources.length === 1, WAIT_MS, 'the link as source');
    assert.equal(await call('greet', ['Ada']), 'Hey, Ada!');
    assert.deepEqual(seen.sources[0]?.source_config, { queue: 'q' });
    assert.equal(provider.links().length, 2, 'a link that concerns neither side is not kept');

    // A delete carries no config; the identity (source, namespace, package, name) is what counts.
    client.publish(providerLinkDelSubject('default', 'greeter'), encodeJson(link()));
    await waitFor(() => seen.deleted.length === 1, WAIT_MS, 'the deletion');
    assert.equal(seen.deleted[0]?.[1], 'target');
    assert.deepEqual(
      seen.deleted[0]?.[0].target_config,
      { greeting: 'Hey' },
      'the hook sees the link as it was',
    );
    assert.equal(await call('greet', ['Ada']), 'Hello, Ada!');
    await provider.stop();
  });

  it('keeps serving after a malformed link message, and drops a link its hook refuses', async () => {
    await provider.stop();
    provider = await start({
      onLinkAsTarget: (l) => {
        if (l.target_config['greeting'] === 'refuse') throw new Error('bad settings');
      },
    });
    client.publish(providerLinkPutSubject('default', 'greeter'), encodeText('{not json'));
    client.publish(providerLinkPutSubject('default', 'greeter'), encodeJson({ source_id: 'client' }));
    client.publish(
      providerLinkPutSubject('default', 'greeter'),
      encodeJson(link({ target_config: { greeting: 'refuse' } })),
    );
    await waitFor(
      () =>
        seen.logs.filter((l) => l['msg'] === 'malformed linkdefs.put message').length === 2 &&
        seen.logs.some((l) => l['msg'] === 'link as target failed'),
      WAIT_MS,
      'the two malformed messages and the refused link logged',
    );
    assert.equal(provider.links().length, 0);
    assert.equal(await call('greet', ['Ada']), 'Hello, Ada!');
    await provider.stop();
  });

  it('takes config updates and answers health checks', async () => {
    assert.deepEqual(provider.config(), { mode: 'initial' });
    client.publish(providerConfigUpdateSubject('default', 'greeter'), encodeJson({ mode: 'updated' }));
    await waitFor(() => seen.configs.length === 1, WAIT_MS, 'the config update');
    assert.deepEqual(seen.configs[0], { mode: 'updated' });
    assert.deepEqual(provider.config(), { mode: 'updated' });
    const health = await client.request(providerHealthSubject('default', 'greeter'), undefined, {
      timeoutMs: WAIT_MS,
    });
    assert.deepEqual(health.json(), { healthy: true });
    await provider.stop();

    provider = await start({
      health: () => {
        throw new Error('database unreachable');
      },
    });
    const sick = await client.request(providerHealthSubject('default', 'greeter'), undefined, {
      timeoutMs: WAIT_MS,
    });
    assert.deepEqual(sick.json(), { healthy: false, message: 'database unreachable' });
    await provider.stop();
  });

  it('ignores a shutdown request for another host, and drains its calls on one for its own', async () => {
    const subject = providerShutdownSubject('default', 'greeter');
    await assert.rejects(
      client.request(subject, encodeJson({ host_id: 'NOTHER' }), { timeoutMs: 200 }),
      /REQUEST_TIMEOUT|did not|timed out|no reply/i,
    );
    const slow = call('greet', ['slow']);
    await waitFor(() => slowEntered, WAIT_MS, 'the slow call to be in flight');
    const reply = await client.request(subject, encodeJson({ host_id: 'NHOST' }), { timeoutMs: WAIT_MS });
    assert.equal(reply.string(), 'shutting down');
    assert.equal(seen.shutdowns, 0, 'the shutdown hook waits for the call in flight');
    releaseSlow();
    assert.equal(await slow, 'Hi, slow!');
    await withDeadline(provider.stopped, WAIT_MS, 'the provider to stop');
    assert.equal(seen.shutdowns, 1);
    await assert.rejects(
      client.request(providerHealthSubject('default', 'greeter'), undefined, { timeoutMs: 200 }),
      'a stopped provider no longer answers',
    );
  });

  it('refuses exports that do not match the WIT before it serves anything', async () => {
    await provider.stop();
    await assert.rejects(
      start({ exports: { [INSTANCE]: { greet: () => 'x' } } }),
      (e: unknown) => e instanceof InvalidArgumentError && /missing checked-greet/.test(e.message),
    );
    await assert.rejects(
      start({ exports: { 'example:greeter/other@0.1.0': {} } }),
      (e: unknown) => e instanceof InvalidArgumentError && /does not declare/.test(e.message),
    );
    provider = await start();
    await provider.stop();
  });

  it('calls an export of a component, typed by its imports WIT, naming itself and the target', async () => {
    const seenHeaders: Record<string, string>[] = [];
    const component = wrpcServe(client, {
      lattice: 'default',
      id: 'comp',
      instance: INSTANCE,
      handlers: new Map([
        [
          'greet',
          {
            fn: fn('greet'),
            handle: async ([name], caller) => {
              seenHeaders.push({ source: caller.sourceId, link: caller.linkName });
              return [`Hi from the component, ${String(name)}!`];
            },
          },
        ],
      ]),
      logger: silentLogger,
      maxBytes: 1 << 20,
      maxPayload: client.maxPayload,
      timeoutMs: 2000,
    });
    try {
      provider = await start({ imports: WIT });
      assert.equal(
        await provider.invoke('comp', INSTANCE, 'greet', ['Ada'], { linkName: 'other' }),
        'Hi from the component, Ada!',
      );
      assert.deepEqual(seenHeaders, [{ source: 'greeter', link: 'other' }]);
      await assert.rejects(provider.invoke('comp', INSTANCE, 'wave', []), { code: 'INVALID_ARGUMENT' });
      await assert.rejects(provider.invoke('nobody', INSTANCE, 'greet', ['Ada']), { code: 'NO_RESPONDERS' });
    } finally {
      component.unsubscribe();
      await provider.stop();
    }
  });
});
