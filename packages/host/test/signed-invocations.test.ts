/**
 * Signed invocations across hosts, on one nats-server. Host A signs with a credential it issues itself
 * from the cluster seed; host B requires signatures from that cluster and serves the greeter component
 * and the key-value provider; host O has neither option, as a 1.x host. A raw client sends what an
 * attacker on the lattice could: unsigned, tampered, replayed, stale invocations, and ones signed by a
 * host of another cluster. B refuses each with its own code in its log, and signed traffic passes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice, wrpcInvoke } from '@cirrus/lattice';
import type { Msg, MsgHeaders, Subscription } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import {
  decodeHostCredential,
  decodeWrpcResults,
  encodeWrpcParams,
  isCirrusError,
  Nkey,
  parseWit,
  resolveLimits,
  signInvocation,
  WRPC_HEADER_HOST_CREDENTIAL,
  WRPC_HEADER_INVOCATION_SIGNATURE,
  wrpcInvocationHeaders,
} from '@cirrus/protocol';
import type { InvocationFields, WitFunction } from '@cirrus/protocol';
import type { HostResource, ImportCall } from '@cirrus/runtime';
import { freePort, startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { createHost, createLogger, issueHostCredential } from '../src/index.ts';
import type { Host, HostOptions } from '../src/index.ts';
import { setUpInvocationSigning } from '../src/invocation-signing.ts';
import { nodeInvocationCrypto, nodeSigning } from '../src/platform/node-signing.ts';
import { keyValueBinding } from '@cirrus/provider-keyvalue';

const remoteKeyValue = keyValueBinding.invoke.bind(keyValueBinding);
import { hostOnNats, httpGet as get, serveOverHttp, WITH_BUILTINS } from './support.ts';

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../testing/fixtures/${name}/build/${name}.wasm`, import.meta.url));

const GREET = parseWit(
  'package example:greeter@0.1.0; interface greet { greet: func(name: string) -> string; }',
).interfaces[0]?.functions.get('greet') as WitFunction;
const GREET_INSTANCE = 'example:greeter/greet@0.1.0';
const GREETER_PROVIDER = fileURLToPath(
  new URL('../../../examples/greeter-provider/src/main.ts', import.meta.url),
);
const HOUR = 3_600_000;

type Sign = (fields: InvocationFields, params: Uint8Array) => Promise<Record<string, string>>;

describe('signed invocations across hosts', () => {
  const cluster = Nkey.create('cluster');
  const foreignCluster = Nkey.create('cluster');
  let dir: TempDir;
  let nats: NatsServer;
  const connections: NatsLatticeConnection[] = [];
  const hosts: Host[] = [];
  let a: Host;
  let b: Host;
  let open: Host;
  let client: NatsLatticeConnection;
  let port: number;
  const bLog: string[] = [];
  /** A host of the cluster, outside any Cirrus host: its key and a credential issued offline. */
  const outsider = Nkey.create('server');
  let outsiderSign: Sign;

  async function startHost(name: string, extra: Partial<HostOptions>): Promise<Host> {
    const { host, connection } = await hostOnNats(nats.url, name, join(dir.path, 'cache'), extra);
    connections.push(connection);
    hosts.push(host);
    return host;
  }

  function signerFor(key: Nkey, credential: string): Promise<Sign> {
    return setUpInvocationSigning(
      { sign: true, hostCredential: credential },
      {
        hostKey: key,
        primitives: nodeSigning,
        limits: resolveLimits(),
        logger: createLogger({ level: 'error', write: () => undefined }),
      },
    ).then((signing) => signing.sign as Sign);
  }

  function greet(target: string, name: string, sign?: Sign, args: unknown[] = [name]): Promise<unknown[]> {
    return wrpcInvoke(client, {
      lattice: 'default',
      targetId: target,
      instance: GREET_INSTANCE,
      fn: GREET,
      args,
      sourceId: 'outside',
      linkName: 'default',
      timeoutMs: 5000,
      maxBytes: 1 << 20,
      ...(sign === undefined ? {} : { sign }),
    });
  }

  /** The call fails at once, and B logs the refusal with `code`. */
  async function refusedByB(call: () => Promise<unknown>, code: string): Promise<void> {
    const mark = bLog.length;
    const started = performance.now();
    await assert.rejects(call(), (err: unknown) => isCirrusError(err) && err.code === 'WRPC_CALL_FAILED');
    assert.ok(performance.now() - started < 2000, 'a refusal is known at once, not at the deadline');
    const line = await waitFor(
      () => bLog.slice(mark).find((l) => l.includes('wRPC invocation refused')),
      5000,
      `B's log line for ${code}`,
    );
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.equal(entry['level'], 'warn');
    assert.equal(entry['code'], code, line);
  }

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    a = await startHost('a', { signedInvocations: { sign: true, clusterSeed: cluster } });
    b = await startHost('b', {
      signedInvocations: { require: true, clusterIssuers: [cluster.publicKey] },
      providerRpc: () => ({ url: nats.url }),
      logger: createLogger({ format: 'json', level: 'info', write: (line) => bLog.push(line) }),
    });
    open = await startHost('open', {});
    client = await connectNats({ servers: nats.url, name: 'raw-client' });
    connections.push(client);
    outsiderSign = await signerFor(outsider, issueHostCredential(cluster, outsider.publicKey, HOUR));

    port = await freePort();
    await b.scaleComponent({ componentRef: fixture('greeter'), componentId: 'greeter', count: 1 });
    await open.scaleComponent({ componentRef: fixture('greeter'), componentId: 'open-greeter', count: 1 });
    await b.startProvider({ providerRef: 'wasmcloud+builtin://keyvalue', providerId: 'kv' });
    await a.scaleComponent({ componentRef: fixture('greet-client'), componentId: 'client', count: 1 });
    await a.putLink({
      source_id: 'client',
      target: 'greeter',
      wit_namespace: 'example',
      wit_package: 'greeter',
      interfaces: ['greet'],
    });
    await a.putLink({
      source_id: 'outside',
      target: 'kv',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store', 'atomics'],
    });
    await serveOverHttp(a, 'client', port);
  });

  after(async () => {
    for (const host of hosts) await host.stop();
    await Promise.all(connections.map((c) => c.close()));
    await nats?.stop();
    await dir?.remove();
  });

  it('passes the signed calls of a component on host A, its own credential on each', async () => {
    const spy = await connectNats({ servers: nats.url, name: 'spy' });
    const seen: (MsgHeaders | undefined)[] = [];
    const sub = spy.subscribe('default.greeter.wrpc.>', { callback: (m: Msg) => seen.push(m.headers) });
    await spy.flush();
    try {
      const replies = await Promise.all(['Ada', 'Grace', 'Edsger'].map((n) => get(port, `/${n}`)));
      assert.deepEqual(
        replies.map((r) => r.status),
        [200, 200, 200],
        replies[0]?.body,
      );
      assert.match(replies[0]?.body ?? '', /^Hello, Ada! \(call \d+\)/);
      await spy.flush();
      assert.equal(seen.length, 3);
      const credential = decodeHostCredential(seen[0]?.[WRPC_HEADER_HOST_CREDENTIAL] ?? '');
      assert.equal(credential.claims.sub, a.id);
      assert.equal(credential.claims.iss, cluster.publicKey);
      assert.equal(new Set(seen.map((h) => h?.[WRPC_HEADER_INVOCATION_SIGNATURE])).size, 3);
    } finally {
      sub.unsubscribe();
      await spy.close();
    }
  });

  it('passes a signed call from any host of the cluster, with a credential issued offline', async () => {
    const [reply] = await greet('greeter', 'Alan', outsiderSign);
    assert.match(String(reply), /^Hello, Alan! \(call \d+\)$/);
  });

  it('refuses an unsigned invocation', async () => {
    await refusedByB(() => greet('greeter', 'Mallory'), 'INVOCATION_UNSIGNED');
  });

  it('refuses parameters other than the signed ones', async () => {
    // Signed over "Alan", sent with "Mallory": a payload changed on the way.
    const signed = encodeWrpcParams(GREET, ['Alan']).bytes;
    const tampered: Sign = (fields) => outsiderSign(fields, signed);
    await refusedByB(() => greet('greeter', 'Mallory', tampered), 'INVOCATION_TAMPERED');
  });

  it('refuses a replayed invocation: the same headers and payload a second time', async () => {
    let captured: Record<string, string> | undefined;
    const recording: Sign = async (fields, params) => (captured = await outsiderSign(fields, params));
    const [reply] = await greet('greeter', 'Alan', recording);
    assert.match(String(reply), /^Hello, Alan!/);
    const replay: Sign = async () => captured as Record<string, string>;
    await refusedByB(() => greet('greeter', 'Alan', replay), 'INVOCATION_REPLAYED');
  });

  it('refuses an invocation signed outside the time window', async () => {
    const stale: Sign = (fields, params) =>
      signInvocation(
        fields,
        params,
        {
          credential: () => issueHostCredential(cluster, outsider.publicKey, HOUR),
          sign: (data) => outsider.sign(data),
        },
        nodeInvocationCrypto,
        { now: Date.now() - 5 * 60_000 },
      );
    await refusedByB(() => greet('greeter', 'Alan', stale), 'INVOCATION_STALE');
  });

  it('refuses a host whose credential another cluster issued', async () => {
    const stranger = Nkey.create('server');
    const foreign = await signerFor(stranger, issueHostCredential(foreignCluster, stranger.publicKey, HOUR));
    await refusedByB(() => greet('greeter', 'Alan', foreign), 'INVOCATION_ISSUER_NOT_ALLOWED');
  });

  it('refuses a signature by a key other than the credential’s host', async () => {
    const credential = issueHostCredential(cluster, outsider.publicKey, HOUR);
    const impostor = Nkey.create('server');
    const forged: Sign = (fields, params) =>
      signInvocation(
        fields,
        params,
        { credential: () => credential, sign: (d) => impostor.sign(d) },
        nodeInvocationCrypto,
      );
    await refusedByB(() => greet('greeter', 'Alan', forged), 'INVOCATION_SIGNATURE_INVALID');
  });

  /**
   * An invocation whose parameters come in two messages, as a client with a small `max_payload` sends
   * them: the first with the invocation, the rest on `S.params` after the handshake.
   */
  async function greetInParts(
    headers: Record<string, string>,
    first: Uint8Array,
    rest: Uint8Array,
  ): Promise<Uint8Array> {
    const inbox = client.newInbox();
    const parts: Uint8Array[] = [];
    let handshake: Subscription | undefined;
    let results: Subscription | undefined;
    const done = new Promise<Uint8Array>((resolve) => {
      handshake = client.subscribe(inbox, {
        callback: (msg: Msg) => {
          if (msg.reply === undefined) return;
          client.publish(`${msg.reply}.params`, rest);
          client.publish(`${msg.reply}.params`, new Uint8Array(0));
        },
      });
      results = client.subscribe(`${inbox}.results`, {
        callback: (msg: Msg) => {
          if (msg.data.length > 0) parts.push(msg.data);
          else resolve(Buffer.concat(parts));
        },
      });
    });
    try {
      client.publish(`default.greeter.wrpc.0.0.1.${GREET_INSTANCE}.greet`, first, {
        reply: inbox,
        headers: { ...wrpcInvocationHeaders({ sourceId: 'outside', linkName: 'default' }), ...headers },
      });
      return await withDeadline(done, 5000, 'the results of a two-part invocation');
    } finally {
      handshake?.unsubscribe();
      results?.unsubscribe();
    }
  }

  it('digests all the parameter bytes when they come in several messages', async () => {
    const params = encodeWrpcParams(GREET, ['Ada Lovelace']).bytes;
    const fields: InvocationFields = {
      lattice: 'default',
      targetId: 'greeter',
      instance: GREET_INSTANCE,
      fn: 'greet',
      sourceId: 'outside',
      linkName: 'default',
    };
    const headers = await outsiderSign(fields, params);
    const cut = 5;
    const reply = await greetInParts(headers, params.subarray(0, cut), params.subarray(cut));
    assert.match(String(decodeWrpcResults(GREET, reply).values[0]), /^Hello, Ada Lovelace!/);
    // The second message changed, the first (with the headers) untouched.
    const tampered = encodeWrpcParams(GREET, ['Ada Lovelacf']).bytes;
    const mark = bLog.length;
    const refused = await greetInParts(
      await outsiderSign(fields, params),
      tampered.subarray(0, cut),
      tampered.subarray(cut),
    );
    assert.equal(refused.length, 0);
    await waitFor(
      () => bLog.slice(mark).find((l) => l.includes('"code":"INVOCATION_TAMPERED"')),
      5000,
      'the tampering in B’s log',
    );
  });

  it('checks invocations of the built-in key-value provider too', async () => {
    const source = { sourceId: 'outside', linkName: 'default' };
    const options = { connection: client, lattice: 'default', limits: resolveLimits() };
    const opened = (await remoteKeyValue(
      options,
      'kv',
      { interface: 'wasi:keyvalue/store', fn: 'open', args: ['b'], invocation: 1 } satisfies ImportCall,
      source,
    )) as { val: HostResource };
    const increment: ImportCall = {
      interface: 'wasi:keyvalue/atomics',
      fn: 'increment',
      args: [opened.val.value, 'hits', 1n],
      invocation: 2,
    };
    assert.deepEqual(await remoteKeyValue({ ...options, sign: outsiderSign }, 'kv', increment, source), {
      tag: 'ok',
      val: 1n,
    });
    const mark = bLog.length;
    const unsigned = (await remoteKeyValue(options, 'kv', increment, source)) as {
      tag: string;
      val: unknown;
    };
    assert.equal(unsigned.tag, 'err');
    assert.match(JSON.stringify(unsigned.val), /WRPC_CALL_FAILED/);
    await waitFor(
      () =>
        bLog.slice(mark).find((l) => l.includes('"code":"INVOCATION_UNSIGNED"') && l.includes('default.kv.')),
      5000,
      'the key-value refusal in B’s log',
    );
    assert.deepEqual(await remoteKeyValue({ ...options, sign: outsiderSign }, 'kv', increment, source), {
      tag: 'ok',
      val: 2n,
    });
  });

  it('has provider processes of a requiring host check invocations themselves', async () => {
    await b.startProvider({
      providerRef: pathToFileURL(GREETER_PROVIDER).href,
      providerId: 'greeter-process',
    });
    const [reply] = await greet('greeter-process', 'Ada', outsiderSign);
    assert.equal(reply, 'Hello, Ada!');
    await refusedByB(() => greet('greeter-process', 'Mallory'), 'INVOCATION_UNSIGNED');
    const signed = encodeWrpcParams(GREET, ['Alan']).bytes;
    const tampered: Sign = (fields) => outsiderSign(fields, signed);
    await refusedByB(() => greet('greeter-process', 'Mallory', tampered), 'INVOCATION_TAMPERED');
    await b.stopProvider('greeter-process');
  });

  it('leaves a host without the options as a 1.x host: unsigned and signed calls pass', async () => {
    const [unsigned] = await greet('open-greeter', 'Barbara');
    assert.match(String(unsigned), /^Hello, Barbara!/);
    const [signed] = await greet('open-greeter', 'Barbara', outsiderSign);
    assert.match(String(signed), /^Hello, Barbara!/);
  });
});

describe('signed invocation settings', () => {
  const cluster = Nkey.create('cluster');

  async function refusedHost(options: Partial<HostOptions>, code: string, message: RegExp): Promise<void> {
    const lattice = createMemoryLattice();
    try {
      await assert.rejects(
        createHost({ ...WITH_BUILTINS, lattice: lattice.connect(), heartbeatIntervalMs: 0, ...options }),
        (err: unknown) => isCirrusError(err) && err.code === code && message.test(err.message),
      );
    } finally {
      await lattice.close();
    }
  }

  it('refuses a credential issued for another host key, or expired', async () => {
    const other = Nkey.create('server');
    await refusedHost(
      {
        signedInvocations: {
          sign: true,
          hostCredential: issueHostCredential(cluster, other.publicKey, HOUR),
        },
      },
      'INVOCATION_CREDENTIAL_INVALID',
      new RegExp(`is for ${other.publicKey}, not this host`),
    );
    const host = Nkey.create('server');
    const expired = issueHostCredential(cluster, host.publicKey, 60_000, Date.now() - 120_000);
    await refusedHost(
      { hostKey: host, signedInvocations: { sign: true, hostCredential: expired } },
      'INVOCATION_CREDENTIAL_INVALID',
      /expired/,
    );
  });

  it('refuses incomplete or contradictory settings', async () => {
    await refusedHost({ signedInvocations: { sign: true } }, 'INVALID_ARGUMENT', /one source of credentials/);
    await refusedHost(
      { signedInvocations: { require: true } },
      'INVALID_ARGUMENT',
      /at least one accepted cluster/,
    );
    await refusedHost(
      { signedInvocations: { clusterIssuers: [cluster.publicKey] } },
      'INVALID_ARGUMENT',
      /only used to check/,
    );
    await refusedHost(
      { signedInvocations: { require: true, clusterIssuers: [Nkey.create('account').publicKey] } },
      'NKEY_WRONG_TYPE',
      /cluster issuer/,
    );
  });

  it('starts with an offline credential for its own key', async () => {
    const key = Nkey.create('server');
    const lattice = createMemoryLattice();
    try {
      const host = await createHost({
        ...WITH_BUILTINS,
        lattice: lattice.connect(),
        heartbeatIntervalMs: 0,
        hostKey: key,
        signedInvocations: { sign: true, hostCredential: issueHostCredential(cluster, key.publicKey, HOUR) },
      });
      assert.equal(host.id, key.publicKey);
      await host.stop();
    } finally {
      await lattice.close();
    }
  });
});
