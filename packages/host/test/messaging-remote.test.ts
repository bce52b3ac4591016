/**
 * Messaging across hosts, both directions, on one nats-server. The messaging provider runs on host A
 * only; the handler component (imports-probe) runs on host B only. A message on a subscribed subject
 * reaches the handler on B as a `wasmcloud:messaging/handler@0.2.0` `handle-message` invocation over
 * wRPC, and the handler's answer goes back through its consumer import, linked to the same provider
 * on A: a `wasmcloud:messaging/consumer@0.2.0` `publish` over wRPC, served by host A.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Msg } from '@cirrus/lattice';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { hostOnNats } from './support.ts';
import { createLogger } from '../src/index.ts';
import type { Host } from '../src/index.ts';

const PROBE = fileURLToPath(
  new URL('../../testing/fixtures/imports-probe/build/imports-probe.wasm', import.meta.url),
);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe('messaging across hosts', () => {
  let dir: TempDir;
  let nats: NatsServer;
  const connections: NatsLatticeConnection[] = [];
  let a: Host;
  let b: Host;
  let client: NatsLatticeConnection;
  const invocations: string[] = [];
  const logOfA: string[] = [];

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    const cache = join(dir.path, 'cache');
    const logger = createLogger({ format: 'json', level: 'debug', write: (line) => logOfA.push(line) });
    const started = [
      await hostOnNats(nats.url, 'a', cache, { logger }),
      await hostOnNats(nats.url, 'b', cache),
    ];
    connections.push(...started.map((s) => s.connection));
    [a, b] = started.map((s) => s.host) as [Host, Host];
    client = (await hostOnNats(nats.url, 'spy', cache)).connection;
    connections.push(client);
    client.subscribe('default.>', { callback: (msg: Msg) => invocations.push(msg.subject) });
    await a.startProvider({ providerRef: 'wasmcloud+builtin://messaging', providerId: 'msg' });
    await b.scaleComponent({ componentRef: PROBE, componentId: 'handler', count: 1 });
    await a.putConfig('subscriptions', { subscriptions: 'app.in' });
    // The provider delivers to the handler (provider → component), and the handler publishes through
    // the provider (component → provider): both links, both hosts.
    await a.putLink({
      source_id: 'msg',
      target: 'handler',
      wit_namespace: 'wasmcloud',
      wit_package: 'messaging',
      interfaces: ['handler'],
      source_config: ['subscriptions'],
    });
    await b.putLink({
      source_id: 'handler',
      target: 'msg',
      wit_namespace: 'wasmcloud',
      wit_package: 'messaging',
      interfaces: ['consumer'],
    });
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    for (const connection of connections) await connection.close();
    await nats?.stop();
    await dir?.remove();
  });

  it('delivers to a handler on another host, which answers through the provider on the first', async () => {
    const reply = await withDeadline(
      client.request('app.in', encoder.encode('ping'), { timeoutMs: 5000 }),
      10_000,
      'the handler to answer',
    );
    assert.equal(decoder.decode(reply.data), 'handled: ping');
    assert.ok(
      invocations.includes('default.handler.wrpc.0.0.1.wasmcloud:messaging/handler@0.2.0.handle-message'),
      'the delivery crossed as the 1.x handler invocation',
    );
    assert.ok(
      invocations.includes('default.msg.wrpc.0.0.1.wasmcloud:messaging/consumer@0.2.0.publish'),
      'the answer crossed as a consumer publish served by host A',
    );
  });

  it('reports a message the remote handler refuses in the log of the host that delivered it', async () => {
    client.publish('app.in', encoder.encode('refuse'));
    const line = await waitFor(
      () => logOfA.find((l) => l.includes('refused by the handler')),
      5000,
      'the refusal in the log of host A',
    );
    assert.match(line, /"component":"handler"/);
  });
});
