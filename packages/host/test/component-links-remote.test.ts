/**
 * Component → component across hosts: the client and the HTTP server on host A, the greeter on host
 * B, one nats-server. The client's example:greeter/greet calls travel as wRPC under the interface's
 * own name, typed from each component's binary, and both cases of a result cross.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { wrpcInvoke } from '@cirrus/lattice';
import type { Msg } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { parseWit } from '@cirrus/protocol';
import type { WitFunction } from '@cirrus/protocol';
import { freePort, startNatsServer, tempDir } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { hostOnNats, httpGet as get, serveOverHttp } from './support.ts';
import type { Host } from '../src/index.ts';

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../testing/fixtures/${name}/build/${name}.wasm`, import.meta.url));

const GREET_SUBJECT = 'default.greeter.wrpc.0.0.1.example:greeter/greet@0.1.0';

describe('component → component across hosts over wRPC', () => {
  let dir: TempDir;
  let nats: NatsServer;
  const connections: NatsLatticeConnection[] = [];
  let a: Host;
  let b: Host;
  let port: number;

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    const cache = join(dir.path, 'cache');
    const started = [await hostOnNats(nats.url, 'a', cache), await hostOnNats(nats.url, 'b', cache)];
    connections.push(...started.map((s) => s.connection));
    [a, b] = started.map((s) => s.host) as [Host, Host];
    port = await freePort();
    await b.scaleComponent({ componentRef: fixture('greeter'), componentId: 'greeter', count: 2 });
    await a.scaleComponent({ componentRef: fixture('greet-client'), componentId: 'client', count: 2 });
    await a.putLink({
      source_id: 'client',
      target: 'greeter',
      wit_namespace: 'example',
      wit_package: 'greeter',
      interfaces: ['greet'],
    });
    await serveOverHttp(a, 'client', port);
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await Promise.all(connections.map((c) => c.close()));
    await nats?.stop();
    await dir?.remove();
  });

  it('calls the greeter on the other host, one wRPC invocation per call', async () => {
    const spy = await connectNats({ servers: nats.url, name: 'spy' });
    const subjects: string[] = [];
    const sub = spy.subscribe('default.greeter.wrpc.>', { callback: (m: Msg) => subjects.push(m.subject) });
    await spy.flush();
    try {
      const replies = await Promise.all(['Ada', 'Grace', 'Edsger'].map((n) => get(port, `/${n}`)));
      assert.deepEqual(
        replies.map((r) => r.status),
        [200, 200, 200],
      );
      assert.match(replies[0]?.body ?? '', /^Hello, Ada! \(call \d+\)/);
      assert.match(replies[2]?.body ?? '', /^Hello, Edsger!/);
      await spy.flush();
      assert.deepEqual(subjects, Array(3).fill(`${GREET_SUBJECT}.greet`));
    } finally {
      sub.unsubscribe();
      await spy.close();
    }
  });

  it('carries both cases of a result', async () => {
    const ok = await get(port, '/checked/Barbara');
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'Hello, Barbara!\n');
    const refused = await get(port, '/checked/');
    assert.equal(refused.status, 422);
    assert.equal(refused.body, 'refused: a name is required\n');
  });

  it('serves the exports to any wRPC client, typed from the binary', async () => {
    const wit = parseWit(
      'package example:greeter@0.1.0; interface greet { greet: func(name: string) -> string; }',
    );
    const greet = wit.interfaces[0]?.functions.get('greet') as WitFunction;
    const client = await connectNats({ servers: nats.url, name: 'client' });
    try {
      const [reply] = await wrpcInvoke(client, {
        lattice: 'default',
        targetId: 'greeter',
        instance: 'example:greeter/greet@0.1.0',
        fn: greet,
        args: ['Alan'],
        sourceId: 'outside',
        linkName: 'default',
        timeoutMs: 5000,
        maxBytes: 1 << 20,
      });
      assert.match(String(reply), /^Hello, Alan! \(call \d+\)$/);
    } finally {
      await client.close();
    }
  });

  it('stops serving when the component stops, and callers learn it at once', async () => {
    await b.scaleComponent({ componentRef: fixture('greeter'), componentId: 'greeter', count: 0 });
    const started = performance.now();
    const reply = await get(port, '/Ada');
    assert.equal(reply.status, 500, reply.body);
    // Where the function's error type can carry it, the failure reaches the guest as that error.
    const refused = await get(port, '/checked/Ada');
    assert.equal(refused.status, 422);
    assert.match(refused.body, /^refused: NO_RESPONDERS: nothing serves default\.greeter\.wrpc/);
    assert.ok(performance.now() - started < 2000, 'no responders is known at once, not at a deadline');
    await b.scaleComponent({ componentRef: fixture('greeter'), componentId: 'greeter', count: 1 });
    assert.equal((await get(port, '/Ada')).status, 200);
  });
});
