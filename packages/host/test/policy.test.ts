/**
 * The policy service (§5.6 of the 1.x protocol) against a real nats-server: the request shapes a 1.x
 * policy service reads, fail-closed behaviour (silence, nobody listening, malformed replies), cached
 * decisions and their changes, and invocations on the same host and across hosts. The example service
 * in examples/policy-service has tests of its own.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { createMemoryLattice, encodeJson, wrpcInvoke } from '@cirrus/lattice';
import type { Msg, Subscription } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { parseWit, resolveLimits, silentLogger } from '@cirrus/protocol';
import type { PolicyRequest, PolicyResponse, WitFunction } from '@cirrus/protocol';
import {
  assemble,
  freePort,
  TRAP_WAT,
  startNatsServer,
  tempDir,
  waitFor,
  withDeadline,
} from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { createHost, systemClock } from '../src/index.ts';
import { PolicyClient } from '../src/policy.ts';
import type { Host, PolicyOptions } from '../src/index.ts';
import { EventLog, httpGet, serveOverHttp, WITH_BUILTINS } from './support.ts';

/** Exports `example:policy/probe@0.1.0` with `ping: func() -> u32` (answers 42); imports nothing. */
const PROBE_WAT = `(component
  (core module $m (func (export "ping") (result i32) i32.const 42))
  (core instance $i (instantiate $m))
  (func $ping (result u32) (canon lift (core func $i "ping")))
  (instance $probe (export "ping" (func $ping)))
  (export "example:policy/probe@0.1.0" (instance $probe))
)`;
const PROBE_INSTANCE = 'example:policy/probe@0.1.0';
const PING = parseWit(
  'package example:policy@0.1.0; interface probe { ping: func() -> u32; }',
).interfaces[0]?.functions.get('ping') as WitFunction;
const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../testing/fixtures/${name}/build/${name}.wasm`, import.meta.url));

const TIMEOUT_MS = 500;
/** What a failure may take beyond the policy timeout (loading from a warm cache, scheduling). */
const MARGIN_MS = 1_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

/** Rejects with the error `promise` rejects with, and how long that took; fails if it resolves. */
async function failure(promise: Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const started = performance.now();
  try {
    await withDeadline(promise, 10_000, 'the operation to fail');
  } catch (err) {
    return { err, ms: performance.now() - started };
  }
  assert.fail('expected the operation to fail');
}

/**
 * A policy service scripted by the test: `decide` returns a decision, a raw reply body, or undefined to
 * stay silent. It records every request.
 */
class ScriptedPolicyService {
  readonly requests: PolicyRequest[] = [];
  decide: (request: PolicyRequest) => PolicyResponse | string | undefined;
  readonly #sub: Subscription;

  constructor(
    conn: NatsLatticeConnection,
    topic: string,
    decide: (request: PolicyRequest) => PolicyResponse | string | undefined,
  ) {
    this.decide = decide;
    this.#sub = conn.subscribe(topic, {
      callback: (msg: Msg) => {
        const request = msg.json<PolicyRequest>();
        this.requests.push(request);
        const out = this.decide(request);
        if (out !== undefined)
          msg.respond(typeof out === 'string' ? new TextEncoder().encode(out) : encodeJson(out));
      },
    });
  }

  of<K extends PolicyRequest['kind']>(kind: K): Extract<PolicyRequest, { kind: K }>[] {
    return this.requests.filter((r): r is Extract<PolicyRequest, { kind: K }> => r.kind === kind);
  }

  stop(): void {
    this.#sub.unsubscribe();
  }
}

const permit = (request: PolicyRequest): PolicyResponse => ({
  requestId: request.requestId,
  permitted: true,
});

describe('policy service', () => {
  let dir: TempDir;
  let nats: NatsServer;
  let conn: NatsLatticeConnection;
  let log: EventLog;
  let probeWasm: string;
  const hosts: Host[] = [];
  const connections: NatsLatticeConnection[] = [];
  let topics = 0;

  /** A fresh subject per test, so services of earlier tests never answer. */
  const nextTopic = (): string => `test.policy.${++topics}`;

  async function startHost(policy?: PolicyOptions, name = `host-${hosts.length}`): Promise<Host> {
    const hostConn = await connectNats({ servers: nats.url, name });
    connections.push(hostConn);
    const host = await createHost({
      ...WITH_BUILTINS,
      lattice: hostConn,
      friendlyName: name,
      labels: { zone: 'test' },
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      limits: resolveLimits({ maxInstances: 10 }),
      ...(policy === undefined ? {} : { policy }),
    });
    hosts.push(host);
    return host;
  }

  function ping(targetId: string, timeoutMs = 5_000): Promise<unknown[]> {
    return wrpcInvoke(conn, {
      lattice: 'default',
      targetId,
      instance: PROBE_INSTANCE,
      fn: PING,
      args: [],
      sourceId: 'tester',
      linkName: 'default',
      timeoutMs,
      maxBytes: 1 << 20,
    });
  }

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    conn = await connectNats({ servers: nats.url, name: 'test' });
    log = new EventLog(conn);
    probeWasm = join(dir.path, 'probe.wasm');
    await writeFile(probeWasm, await assemble(PROBE_WAT));
    // Warms the shared cache, so that timings below measure the policy and not a first transpile.
    const warm = await startHost(undefined, 'warm');
    await warm.scaleComponent({ componentRef: probeWasm, componentId: 'warm-probe', count: 1 });
    assert.deepEqual(await ping('warm-probe'), [42]);
  });

  after(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    log?.stop();
    await Promise.all(connections.map((c) => c.close()));
    await conn?.close();
    await nats?.stop();
    await dir?.remove();
  });

  it('a silent service fails a component start, a provider start and an invocation within the timeout', async (t: TestContext) => {
    const topic = nextTopic();
    // Answers nothing but the start of the component whose invocations are tried below.
    const service = new ScriptedPolicyService(conn, topic, (r) =>
      r.kind === 'startComponent' && r.request.componentId === 'served' ? permit(r) : undefined,
    );
    await conn.flush();
    try {
      const host = await startHost({ topic, timeoutMs: TIMEOUT_MS });

      const mark = log.mark;
      const start = await failure(
        host.scaleComponent({ componentRef: probeWasm, componentId: 'silenced', count: 1 }),
      );
      assert.equal(codeOf(start.err), 'POLICY_UNAVAILABLE');
      assert.match(String((start.err as Error).message), /starting component silenced .*REQUEST_TIMEOUT/);
      assert.ok(
        start.ms >= TIMEOUT_MS && start.ms < TIMEOUT_MS + MARGIN_MS,
        `component start failed after ${start.ms} ms`,
      );
      const failed = await log.next(
        'component_scale_failed',
        mark,
        (e) => e.data['component_id'] === 'silenced',
      );
      assert.match(String(failed.data['error']), /^POLICY_UNAVAILABLE: /);
      assert.equal(host.inventory().components.length, 0);

      const provider = await failure(
        host.startProvider({ providerRef: 'wasmcloud+builtin://keyvalue', providerId: 'silenced-kv' }),
      );
      assert.equal(codeOf(provider.err), 'POLICY_UNAVAILABLE');
      assert.ok(
        provider.ms >= TIMEOUT_MS && provider.ms < TIMEOUT_MS + MARGIN_MS,
        `provider start failed after ${provider.ms} ms`,
      );
      const providerFailed = await log.next('provider_start_failed', mark);
      assert.equal(providerFailed.data['provider_id'], 'silenced-kv');
      assert.match(String(providerFailed.data['error']), /^POLICY_UNAVAILABLE: /);
      assert.equal(host.hasProvider('silenced-kv'), false);

      await host.scaleComponent({ componentRef: probeWasm, componentId: 'served', count: 1 });
      const call = await failure(ping('served'));
      assert.equal(codeOf(call.err), 'WRPC_CALL_FAILED');
      assert.ok(
        call.ms >= TIMEOUT_MS && call.ms < TIMEOUT_MS + MARGIN_MS,
        `invocation failed after ${call.ms} ms`,
      );
      t.diagnostic(
        `failed after: component start ${start.ms.toFixed(0)} ms, provider start ${provider.ms.toFixed(0)} ms, ` +
          `invocation ${call.ms.toFixed(0)} ms (policy timeout ${TIMEOUT_MS} ms)`,
      );
      // Failures are not cached: each of these asked again.
      await failure(host.scaleComponent({ componentRef: probeWasm, componentId: 'silenced', count: 1 }));
      assert.equal(
        service.of('startComponent').filter((r) => r.request.componentId === 'silenced').length,
        2,
      );
    } finally {
      service.stop();
    }
  });

  it('fails closed at once when nothing listens on the policy topic', async () => {
    const host = await startHost({ topic: nextTopic(), timeoutMs: 5_000 });
    const { err, ms } = await failure(
      host.scaleComponent({ componentRef: probeWasm, componentId: 'nobody', count: 1 }),
    );
    assert.equal(codeOf(err), 'POLICY_UNAVAILABLE');
    assert.match(String((err as Error).message), /NO_RESPONDERS/);
    assert.ok(ms < 2_000, `took ${ms} ms`);
  });

  it('sends the 1.x request shapes', async () => {
    const topic = nextTopic();
    const service = new ScriptedPolicyService(conn, topic, permit);
    await conn.flush();
    try {
      const host = await startHost({ topic });
      await host.scaleComponent({
        componentRef: probeWasm,
        componentId: 'shaped',
        count: 3,
        annotations: { team: 'a' },
      });
      await host.startProvider({
        providerRef: 'wasmcloud+builtin://keyvalue',
        providerId: 'shaped-kv',
        annotations: { team: 'b' },
      });
      assert.deepEqual(await ping('shaped'), [42]);

      const hostInfo = { publicKey: host.id, lattice: 'default', labels: host.labels() };
      const [component] = service.of('startComponent');
      assert.match(component?.requestId ?? '', UUID);
      assert.deepEqual(component, {
        requestId: component?.requestId,
        kind: 'startComponent',
        version: 'v1',
        request: {
          componentId: 'shaped',
          imageRef: probeWasm,
          maxInstances: 3,
          annotations: { team: 'a' },
          claims: null,
        },
        host: hostInfo,
      });
      const [provider] = service.of('startProvider');
      assert.deepEqual(provider, {
        requestId: provider?.requestId,
        kind: 'startProvider',
        version: 'v1',
        request: {
          providerId: 'shaped-kv',
          imageRef: 'wasmcloud+builtin://keyvalue',
          annotations: { team: 'b' },
          claims: null,
        },
        host: hostInfo,
      });
      const [invocation] = service.of('performInvocation');
      assert.deepEqual(invocation, {
        requestId: invocation?.requestId,
        kind: 'performInvocation',
        version: 'v1',
        request: {
          interface: PROBE_INSTANCE,
          function: 'ping',
          target: {
            componentId: 'shaped',
            imageRef: probeWasm,
            maxInstances: 0,
            annotations: { team: 'a' },
            claims: null,
          },
        },
        host: hostInfo,
      });
      assert.equal(new Set(service.requests.map((r) => r.requestId)).size, 3);
    } finally {
      service.stop();
    }
  });

  it('denies on a malformed reply, and says what was wrong', async () => {
    const topic = nextTopic();
    const replies: ((r: PolicyRequest) => string)[] = [
      (r) => JSON.stringify({ requestId: r.requestId, permitted: 'yes' }),
      () => 'permitted',
      (r) => JSON.stringify({ requestId: `${r.requestId}x`, permitted: true }),
      () => '',
    ];
    let next = 0;
    const service = new ScriptedPolicyService(conn, topic, (r) => replies[next]?.(r));
    await conn.flush();
    try {
      const host = await startHost({ topic, timeoutMs: TIMEOUT_MS });
      const reasons = [
        /permitted must be a boolean/,
        /not valid JSON/,
        /answers request/,
        /the body is empty/,
      ];
      for (const [i, reason] of reasons.entries()) {
        next = i;
        const mark = log.mark;
        const { err, ms } = await failure(
          host.scaleComponent({ componentRef: probeWasm, componentId: 'malformed', count: 1 }),
        );
        assert.equal(codeOf(err), 'POLICY_REPLY_INVALID');
        assert.match(String((err as Error).message), reason);
        assert.ok(ms < TIMEOUT_MS, `a malformed reply took ${ms} ms to fail`);
        const failed = await log.next(
          'component_scale_failed',
          mark,
          (e) => e.data['component_id'] === 'malformed',
        );
        assert.match(String(failed.data['error']), /^POLICY_REPLY_INVALID: /);
      }
      assert.equal(host.inventory().components.length, 0);
    } finally {
      service.stop();
    }
  });

  it('runs what is permitted, caches decisions, and refuses what is denied with the service’s message', async () => {
    const topic = nextTopic();
    const service = new ScriptedPolicyService(conn, topic, (r) =>
      r.kind === 'startComponent' && r.request.componentId === 'refused'
        ? { requestId: r.requestId, permitted: false, message: 'not on this host' }
        : permit(r),
    );
    await conn.flush();
    try {
      const host = await startHost({ topic });
      await host.scaleComponent({ componentRef: probeWasm, componentId: 'allowed', count: 1 });
      for (let i = 0; i < 5; i++) assert.deepEqual(await ping('allowed'), [42]);
      assert.equal(service.of('performInvocation').length, 1);
      // The same (id, ref) again: the start decision comes from the cache.
      await host.scaleComponent({ componentRef: probeWasm, componentId: 'allowed', count: 0 });
      await host.scaleComponent({ componentRef: probeWasm, componentId: 'allowed', count: 1 });
      assert.equal(service.of('startComponent').length, 1);

      const mark = log.mark;
      const { err } = await failure(
        host.scaleComponent({ componentRef: probeWasm, componentId: 'refused', count: 1 }),
      );
      assert.equal(codeOf(err), 'POLICY_DENIED');
      assert.match(String((err as Error).message), /denied starting component refused .*: not on this host$/);
      const failed = await log.next(
        'component_scale_failed',
        mark,
        (e) => e.data['component_id'] === 'refused',
      );
      assert.match(String(failed.data['error']), /^POLICY_DENIED: .*not on this host/);
    } finally {
      service.stop();
    }
  });

  it('a decision on the changes topic replaces the cached one it names', async () => {
    const topic = nextTopic();
    const changesTopic = `${topic}.changes`;
    const service = new ScriptedPolicyService(conn, topic, permit);
    await conn.flush();
    try {
      const host = await startHost({ topic, changesTopic });
      await host.scaleComponent({ componentRef: probeWasm, componentId: 'flipped', count: 1 });
      assert.deepEqual(await ping('flipped'), [42]);
      const [asked] = service.of('performInvocation');
      const requestId = asked?.requestId as string;

      conn.publish(changesTopic, encodeJson({ requestId, permitted: false, message: 'revoked' }));
      await waitFor(
        () =>
          ping('flipped').then(
            () => false,
            (err: unknown) => codeOf(err) === 'WRPC_CALL_FAILED',
          ),
        5_000,
        'the revoked decision to apply',
      );
      // A change that is not a decision, or names no cached one, changes nothing.
      conn.publish(changesTopic, encodeJson({ requestId, permitted: 'yes' }));
      conn.publish(changesTopic, encodeJson({ requestId: 'unknown', permitted: true }));
      await conn.flush();
      await assert.rejects(ping('flipped'), (err: unknown) => codeOf(err) === 'WRPC_CALL_FAILED');

      conn.publish(changesTopic, encodeJson({ requestId, permitted: true }));
      await waitFor(
        () =>
          ping('flipped').then(
            (r) => r[0] === 42,
            () => false,
          ),
        5_000,
        'the restored decision to apply',
      );
      assert.equal(service.of('performInvocation').length, 1, 'changes are applied without asking again');
    } finally {
      service.stop();
    }
  });

  it('also asks about calls on the same host: a denied linked call fails the import, HTTP to a denied component is 403', async () => {
    const topic = nextTopic();
    const closed = ['greeter', 'closed'];
    const service = new ScriptedPolicyService(conn, topic, (r) =>
      r.kind === 'performInvocation' && closed.includes(r.request.target.componentId)
        ? { requestId: r.requestId, permitted: false, message: 'closed' }
        : permit(r),
    );
    await conn.flush();
    try {
      const host = await startHost({ topic });
      const port = await freePort();
      await host.scaleComponent({ componentRef: fixture('greeter'), componentId: 'greeter', count: 1 });
      await host.scaleComponent({ componentRef: fixture('greet-client'), componentId: 'client', count: 1 });
      await host.putLink({
        source_id: 'client',
        target: 'greeter',
        wit_namespace: 'example',
        wit_package: 'greeter',
        interfaces: ['greet'],
      });
      await serveOverHttp(host, 'client', port);

      // The client runs; its import call fails with the policy's error, which decides the status.
      assert.deepEqual(await httpGet(port, '/Ada'), {
        status: 403,
        body: 'forbidden by policy (POLICY_DENIED)\n',
      });
      const [denied] = service
        .of('performInvocation')
        .filter((r) => r.request.target.componentId === 'greeter');
      assert.equal(denied?.request.interface, 'example:greeter/greet@0.1.0');
      assert.equal(denied?.request.function, 'greet');
      const [http] = service.of('performInvocation').filter((r) => r.request.target.componentId === 'client');
      assert.equal(http?.request.interface, 'wrpc:http/incoming-handler@0.1.0');
      assert.equal(http?.request.function, 'handle');

      // It would trap if it ran: the 403 shows the policy stopped the request first.
      const trapWasm = join(dir.path, 'trap.wasm');
      await writeFile(trapWasm, await assemble(TRAP_WAT));
      const port2 = await freePort();
      await host.scaleComponent({ componentRef: trapWasm, componentId: 'closed', count: 1 });
      await host.startProvider({ providerRef: 'wasmcloud+builtin://http-server', providerId: 'web2' });
      await host.putConfig('web2-listen', { address: `127.0.0.1:${port2}` });
      await host.putLink({
        source_id: 'web2',
        target: 'closed',
        wit_namespace: 'wasi',
        wit_package: 'http',
        interfaces: ['incoming-handler'],
        source_config: ['web2-listen'],
      });
      assert.deepEqual(await httpGet(port2, '/'), {
        status: 403,
        body: 'forbidden by policy (POLICY_DENIED)\n',
      });
    } finally {
      service.stop();
    }
  });

  it('keeps at most policyMaxCachedDecisions decisions, and asks once for concurrent calls', async () => {
    const lattice = createMemoryLattice();
    const service = lattice.connect();
    let asked = 0;
    service.subscribe('policy', {
      callback: (msg: Msg) => {
        asked++;
        msg.respond(encodeJson(permit(msg.json<PolicyRequest>())));
      },
    });
    const client = await PolicyClient.open({
      connection: lattice.connect(),
      topic: 'policy',
      timeoutMs: 1_000,
      maxCachedDecisions: 2,
      host: () => ({ publicKey: 'N', lattice: 'default', labels: {} }),
      clock: systemClock,
      logger: silentLogger,
    });
    try {
      const target = { componentId: 'c', imageRef: 'r', annotations: {}, claims: undefined };
      const call = (fn: string): Promise<void> =>
        client.evaluatePerformInvocation(target, PROBE_INSTANCE, fn);
      await Promise.all(Array.from({ length: 5 }, () => call('a')));
      assert.equal(asked, 1, 'one request for five concurrent calls');
      await call('b');
      await call('c'); // evicts a, the least recently used
      assert.equal(asked, 3);
      await call('c');
      await call('b');
      assert.equal(asked, 3, 'b and c are cached');
      await call('a');
      assert.equal(asked, 4, 'a was forgotten and asked for again');
    } finally {
      client.close();
      await lattice.close();
    }
  });
});
