/**
 * Part D: what a call through a link costs.
 *
 * P2, in-process, one request at a time (no HTTP: requests enter the way the HTTP server provider
 * hands them to a component):
 *   (1) hello in a Cirrus host          runtime pool, no imports
 *   (2) counter in a Cirrus host        the same path, plus its wasi:keyvalue calls routed through its
 *                                       link to the built-in key-value provider (memory backend)
 *   (3) hello, direct                   the bare jco export call on this thread (see direct.ts)
 *   (4) counter, direct                 the same, its wasi:keyvalue imports plain JavaScript over a
 *                                       Map: the bare jco import-call cost
 *   (p) thread ping-pong                the host thread and a worker, one postMessage each way
 *   (s) shared-memory hop               the same over Atomics.notify / Atomics.wait(Async) (see
 *                                       thread-hops.ts)
 * What the link adds to an import call is ((2) − (1) − ((4) − (3))) per import call: the guests'
 * own difference cancels out. P2 compares it with (p).
 *
 * P3, across hosts over one nats-server, one call at a time, latency of every call:
 *   (5) wRPC increment                  host A's path to the key-value provider on host B: the call
 *                                       a linked wasi:keyvalue/atomics increment makes
 *   (5s) the same, signed and verified  (5) signed with a host key and credential, to a provider on
 *                                       host C, which requires signed invocations (the cost of signing
 *                                       and verifying, as a ratio to (5))
 *   (6) raw NATS request/reply          nats.js request to a nats.js responder that answers a payload
 *                                       of the same size: the server hop and the client library
 *   (7) counter across hosts            (2) with the key-value provider on host B: end to end
 *
 * Rounds are interleaved; medians over rounds are reported, and p50/p99 over every call for P3.
 */
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { createHost, issueHostCredential, nodeSigning, setUpInvocationSigning } from '@cirrus/host';
import type { Host, HostOptions } from '@cirrus/host';
import { keyValueBinding } from '@cirrus/provider-keyvalue';
import { BUILTIN_PROVIDERS, WIRE_BINDINGS } from '@cirrus/providers';
import { createMemoryLattice } from '@cirrus/lattice';
import type { LatticeConnection } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { Nkey, resolveLimits, silentLogger } from '@cirrus/protocol';
import type { ImportCall } from '@cirrus/runtime';
import type { HostResource } from '@cirrus/runtime';
import { startNatsServer } from '@cirrus/testing';
import type { NatsServer } from '@cirrus/testing';
import { BufferedResponse, loadDirect } from './direct.ts';
import { driver, HEAD, hostCall } from './host-driver.ts';
import { startThreadHops } from './thread-hops.ts';
import type { ThreadHops } from './thread-hops.ts';
import { latencyTable, medianOfRounds as med, percentile, runModes } from './sequential.ts';
import type { Call, Mode } from './sequential.ts';

const remoteKeyValue = keyValueBinding.invoke.bind(keyValueBinding);
import type { DirectComponent } from './direct.ts';
import {
  COUNTER_WASM,
  fmt,
  HarnessError,
  HELLO_GREETING,
  log,
  makeTempDir,
  progress,
  ratio,
  removeTempDir,
  requireHelloWasm,
  table,
} from './lib.ts';
import type { Settings } from './lib.ts';
import { existsSync } from 'node:fs';

const TIMEOUT_MS = 5000;
const RAW_SUBJECT = 'bench.raw.increment';

function directCall(component: DirectComponent): Call {
  return async () => {
    const out = new BufferedResponse();
    await component.handle(HEAD, out);
    if (out.status !== 200 || out.bytes === 0) {
      throw new HarnessError(`the direct call answered status ${out.status} with ${out.bytes} bytes`);
    }
  };
}

/** wasi:keyvalue as plain JavaScript, for the bare jco import-call baseline; counts its calls. */
function plainKeyValue(): { imports: Record<string, unknown>; calls: () => number } {
  let calls = 0;
  const counts = new Map<string, bigint>();
  class Bucket {}
  const bucket = new Bucket();
  return {
    imports: {
      'wasi:keyvalue/store': {
        Bucket,
        open: () => {
          calls++;
          return { tag: 'ok', val: bucket };
        },
      },
      'wasi:keyvalue/atomics': {
        increment: (_bucket: Bucket, key: string, delta: bigint) => {
          calls++;
          const next = (counts.get(key) ?? 0n) + delta;
          counts.set(key, next);
          return { tag: 'ok', val: next };
        },
      },
    },
    calls: () => calls,
  };
}

async function linkedHost(
  lattice: LatticeConnection,
  dir: string,
  name: string,
  signedInvocations?: HostOptions['signedInvocations'],
): Promise<Host> {
  return createHost({
    lattice,
    friendlyName: name,
    cacheDir: join(dir, 'cache'),
    allowFileLoad: true,
    heartbeatIntervalMs: 0,
    limits: resolveLimits({ maxInstances: 10 }),
    builtinProviders: { ...BUILTIN_PROVIDERS, 'bench-driver': benchDriver.provider },
    wireBindings: WIRE_BINDINGS,
    ...(signedInvocations === undefined ? {} : { signedInvocations }),
  });
}

const benchDriver = driver();

async function deployCounter(host: Host, kvHost: Host): Promise<void> {
  await host.scaleComponent({ componentRef: COUNTER_WASM, componentId: 'counter', count: 1 });
  await kvHost.startProvider({ providerRef: 'wasmcloud+builtin://keyvalue', providerId: 'kv' });
  await host.putLink({
    source_id: 'counter',
    target: 'kv',
    wit_namespace: 'wasi',
    wit_package: 'keyvalue',
    interfaces: ['store', 'atomics'],
  });
}

export async function runLinks(settings: Settings): Promise<void> {
  const hello = requireHelloWasm();
  if (!existsSync(COUNTER_WASM))
    throw new HarnessError(`${COUNTER_WASM} is missing: run npm run build:examples`);
  const dir = await makeTempDir();
  const hosts: Host[] = [];
  const lattices: NatsLatticeConnection[] = [];
  const raws: NatsConnection[] = [];
  let nats: NatsServer | undefined;
  let hops: ThreadHops | undefined;
  const calls = Math.max(1, Math.floor(settings.calls / 5));
  try {
    log(`\n## D. Calls through links: ${settings.rounds} rounds × ${calls} calls, one at a time\n`);

    // --- P2: in-process ---------------------------------------------------------------------------
    const memory = createMemoryLattice();
    const local = await linkedHost(memory.connect(), dir, 'bench-local');
    hosts.push(local);
    await local.startProvider({ providerRef: 'wasmcloud+builtin://bench-driver', providerId: 'driver' });
    const components = benchDriver.calls();
    await local.scaleComponent({ componentRef: hello, componentId: 'hello', count: 1 });
    await deployCounter(local, local);
    const plain = plainKeyValue();
    const directHello = await loadDirect(hello, join(dir, 'direct-hello'), [['GREETING', HELLO_GREETING]]);
    const directCounter = await loadDirect(COUNTER_WASM, join(dir, 'direct-counter'), [], plain.imports);
    hops = await startThreadHops();
    const p2: Mode[] = [
      { label: '(1) hello in a host', call: hostCall(components, 'hello'), rounds: [], samples: [] },
      {
        label: '(2) counter in a host, linked kv',
        call: hostCall(components, 'counter'),
        rounds: [],
        samples: [],
      },
      { label: '(3) hello, direct', call: directCall(directHello), rounds: [], samples: [] },
      { label: '(4) counter, direct, plain kv', call: directCall(directCounter), rounds: [], samples: [] },
      { label: '(p) thread ping-pong (postMessage)', call: hops.pingPong, rounds: [], samples: [] },
      { label: '(s) shared-memory hop (Atomics)', call: hops.sharedMemory, rounds: [], samples: [] },
    ];
    const before = plain.calls();
    await directCounter.handle(HEAD, new BufferedResponse());
    const importCalls = plain.calls() - before;
    if (importCalls === 0) throw new HarnessError('the counter made no key-value calls');
    progress(`P2: the counter makes ${importCalls} key-value calls per request`);
    await runModes(p2, settings, calls, false);
    const [h1, c2, h3, c4, ping, shared] = p2.map(med) as [number, number, number, number, number, number];
    log('\nP2, medians over rounds:\n');
    log(
      table(
        ['mode', 'µs/request', 'µs per round'],
        p2.map((m) => [m.label, fmt(med(m), 1), m.rounds.map((x) => fmt(x, 1)).join(' / ')]),
      ),
    );
    const added = (c2 - h1 - (c4 - h3)) / importCalls;
    log('');
    log(
      `  what a link adds to an import call ((2) − (1) − ((4) − (3))) / ${importCalls}: ${fmt(added, 1)} µs`,
    );
    log(`  thread ping-pong (p): ${fmt(ping, 1)} µs; shared-memory hop (s): ${fmt(shared, 1)} µs`);
    log(`  P2  linked import call vs thread ping-pong:  ${ratio(added, ping)}  (target ≤ 2×)`);
    log(`      counter request, host vs direct:         ${ratio(c2, c4)}`);

    // --- P3: across hosts ---------------------------------------------------------------------------
    nats = await startNatsServer();
    const [connA, connB, connC, client] = await Promise.all(
      ['bench-a', 'bench-b', 'bench-c', 'bench-client'].map((name) =>
        connectNats({ servers: nats!.url, name }),
      ),
    );
    lattices.push(connA!, connB!, connC!, client!);
    const cluster = Nkey.create('cluster');
    const a = await linkedHost(connA!, dir, 'bench-a');
    const b = await linkedHost(connB!, dir, 'bench-b');
    const c = await linkedHost(connC!, dir, 'bench-c', {
      require: true,
      clusterIssuers: [cluster.publicKey],
    });
    hosts.push(a, b, c);
    await a.startProvider({ providerRef: 'wasmcloud+builtin://bench-driver', providerId: 'driver' });
    const remoteComponents = benchDriver.calls();
    await deployCounter(a, b);
    await c.startProvider({ providerRef: 'wasmcloud+builtin://keyvalue', providerId: 'kv-signed' });
    for (const target of ['kv', 'kv-signed']) {
      await a.putLink({
        source_id: 'bench',
        target,
        wit_namespace: 'wasi',
        wit_package: 'keyvalue',
        interfaces: ['store', 'atomics'],
        ...(target === 'kv' ? {} : { name: 'signed' }),
      });
    }
    const remote = { connection: client!, lattice: 'default', limits: resolveLimits() };
    const source = { sourceId: 'bench', linkName: 'default' };
    // The client signs as a host of the cluster would, with a credential issued to its key.
    const clientKey = Nkey.create('server');
    const { sign } = await setUpInvocationSigning(
      { sign: true, hostCredential: issueHostCredential(cluster, clientKey.publicKey, 3_600_000) },
      { hostKey: clientKey, primitives: nodeSigning, limits: remote.limits, logger: silentLogger },
    );
    const signedRemote = { ...remote, sign };
    const signedSource = { sourceId: 'bench', linkName: 'signed' };
    const opened = (await remoteKeyValue(
      remote,
      'kv',
      { interface: 'wasi:keyvalue/store', fn: 'open', args: ['bench'], invocation: 1 } satisfies ImportCall,
      source,
    )) as { val: HostResource };
    const increment: ImportCall = {
      interface: 'wasi:keyvalue/atomics',
      fn: 'increment',
      args: [opened.val.value, 'bench-key', 1n],
      invocation: 2,
    };
    const openedSigned = (await remoteKeyValue(
      signedRemote,
      'kv-signed',
      { interface: 'wasi:keyvalue/store', fn: 'open', args: ['bench'], invocation: 3 } satisfies ImportCall,
      signedSource,
    )) as { val: HostResource };
    const signedIncrement: ImportCall = { ...increment, args: [openedSigned.val.value, 'bench-key', 1n] };
    const responder = await connect({ servers: nats.url, name: 'bench-raw-responder' });
    const requester = await connect({ servers: nats.url, name: 'bench-raw-requester' });
    raws.push(responder, requester);
    // The increment's parameters and result are about this size on the wire.
    const answer = new Uint8Array(3);
    responder.subscribe(RAW_SUBJECT, {
      callback: (_err, msg) => {
        msg.respond(answer);
      },
    });
    await responder.flush();
    const request = new Uint8Array(20);
    const p3: Mode[] = [
      {
        label: '(5) wRPC increment, host A → provider on B',
        call: async () => {
          const result = (await remoteKeyValue(remote, 'kv', increment, source)) as { tag: string };
          if (result.tag !== 'ok') throw new HarnessError(`increment answered ${JSON.stringify(result)}`);
        },
        rounds: [],
        samples: [],
      },
      {
        label: '(5s) wRPC increment, signed and verified',
        call: async () => {
          const result = (await remoteKeyValue(signedRemote, 'kv-signed', signedIncrement, signedSource)) as {
            tag: string;
          };
          if (result.tag !== 'ok')
            throw new HarnessError(`signed increment answered ${JSON.stringify(result)}`);
        },
        rounds: [],
        samples: [],
      },
      {
        label: '(6) raw NATS request/reply',
        call: async () => {
          await requester.request(RAW_SUBJECT, request, { timeout: TIMEOUT_MS });
        },
        rounds: [],
        samples: [],
      },
      {
        label: '(7) counter on A, kv provider on B',
        call: hostCall(remoteComponents, 'counter'),
        rounds: [],
        samples: [],
      },
    ];
    await runModes(p3, settings, calls, true);
    log('\nP3, medians over rounds; p50/p99 over every call:\n');
    log(latencyTable(p3, 'call'));
    const [w5, w5s, w6, w7] = p3 as [Mode, Mode, Mode, Mode];
    log('');
    log(
      `  P3  wRPC vs raw NATS request/reply: p50 ${ratio(percentile(w5.samples, 50), percentile(w6.samples, 50))}, ` +
        `p99 ${ratio(percentile(w5.samples, 99), percentile(w6.samples, 99))}  (target ≤ 1.5×)`,
    );
    log(
      `      signed vs unsigned wRPC increment ((5s) / (5)): p50 ${ratio(percentile(w5s.samples, 50), percentile(w5.samples, 50))}, ` +
        `p99 ${ratio(percentile(w5s.samples, 99), percentile(w5.samples, 99))}, ` +
        `+${fmt(percentile(w5s.samples, 50) - percentile(w5.samples, 50), 1)} µs per call at p50`,
    );
    log(`      counter request, kv across hosts vs same host: ${ratio(med(w7), c2)}`);
  } finally {
    await hops?.close();
    for (const host of hosts) await host.stop();
    await Promise.all(lattices.map((c) => c.close()));
    await Promise.all(raws.map((c) => c.close()));
    await nats?.stop();
    await removeTempDir(dir);
  }
}
