/**
 * Three hosts on a real nats-server: scatter/gather over the control interface, links learned from
 * the LATTICEDATA watch by hosts that did not handle the put, control from a client connected
 * elsewhere, and a server restart under traffic.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { encodeJson } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { resolveLimits } from '@cirrus/protocol';
import type { CtlResponse, HostInfo, Link } from '@cirrus/protocol';
import { freePort, startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import { EventLog, WITH_BUILTINS } from './support.ts';
import type { Host } from '../src/index.ts';

const HELLO_WASM = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));
const HTTP_SERVER = 'wasmcloud+builtin://http-server';
const P = 'wasmbus.ctl.v1.default';
const REQUEST_MS = 3000;
const EVENT_MS = 15_000;
const HEARTBEAT_MS = 500;

/** GET on a fresh connection; resolves with the status and body, or rejects (e.g. refused). */
function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

function httpLink(providerId: string, configName: string): Link {
  return {
    source_id: providerId,
    target: 'hello',
    name: 'default',
    wit_namespace: 'wasi',
    wit_package: 'http',
    interfaces: ['incoming-handler'],
    source_config: [configName],
    target_config: [],
  };
}

describe('three hosts on a NATS lattice', () => {
  let dir: TempDir;
  let nats: NatsServer;
  let client: NatsLatticeConnection;
  let log: EventLog;
  const hosts: Host[] = [];
  const connections: NatsLatticeConnection[] = [];
  let a: Host;
  let b: Host;
  let c: Host;
  const ports: Record<string, number> = {};

  async function request<T>(subject: string, body?: unknown): Promise<CtlResponse<T>> {
    const data = body === undefined ? undefined : encodeJson(body);
    return (await client.request(subject, data, { timeoutMs: REQUEST_MS })).json<CtlResponse<T>>();
  }

  async function ping(): Promise<HostInfo[]> {
    const replies: HostInfo[] = [];
    for await (const msg of client.requestMany(`${P}.host.ping`, undefined, {
      maxWaitMs: 1000,
      maxMessages: 3,
    })) {
      const reply = msg.json<CtlResponse<HostInfo>>();
      if (reply.response !== undefined) replies.push(reply.response);
    }
    return replies;
  }

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    client = await connectNats({ servers: nats.url, name: 'test-client' });
    log = new EventLog(client);
    for (const name of ['a', 'b', 'c']) {
      const conn = await connectNats({ servers: nats.url, name: `host-${name}` });
      connections.push(conn);
      hosts.push(
        await createHost({
          ...WITH_BUILTINS,
          lattice: conn,
          friendlyName: `host-${name}`,
          labels: { name },
          cacheDir: join(dir.path, 'cache'),
          allowFileLoad: true,
          heartbeatIntervalMs: HEARTBEAT_MS,
          limits: resolveLimits({ maxInstances: 10 }),
        }),
      );
      ports[name] = await freePort();
    }
    [a, b, c] = hosts as [Host, Host, Host];
  });

  after(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    log?.stop();
    await Promise.all(connections.map((conn) => conn.close()));
    await client?.close();
    await nats?.stop();
    await dir?.remove();
  });

  it('host.ping gathers one reply per host', async () => {
    const infos = await ping();
    assert.deepEqual(infos.map((i) => i.id).sort(), hosts.map((h) => h.id).sort());
    for (const info of infos) assert.equal(info.lattice, 'default');
  });

  it('scaling a component on host B from a client elsewhere publishes component_scaled with the 1.x fields', async () => {
    const mark = log.mark;
    const ack = await request(`${P}.component.scale.${b.id}`, {
      component_ref: HELLO_WASM,
      component_id: 'hello',
      host_id: b.id,
      count: 2,
      annotations: { team: 'web' },
    });
    assert.deepEqual(ack, { success: true, message: '' });
    const event = await log.next('component_scaled', mark, (e) => e.source === b.id);
    assert.deepEqual(Object.keys(event.data).sort(), [
      'annotations',
      'component_id',
      'host_id',
      'image_ref',
      'max_instances',
    ]);
    assert.deepEqual(event.data, {
      annotations: { team: 'web' },
      component_id: 'hello',
      host_id: b.id,
      image_ref: HELLO_WASM,
      max_instances: 2,
    });
    assert.equal(event.specversion, '1.0');
    assert.equal(event.datacontenttype, 'application/json');
  });

  it('a link put through host A is routed by hosts B and C, which learned it from the KV watch', async () => {
    await c.scaleComponent({ componentRef: HELLO_WASM, componentId: 'hello', count: 1 });
    await b.startProvider({ providerRef: HTTP_SERVER, providerId: 'http-b' });
    await c.startProvider({ providerRef: HTTP_SERVER, providerId: 'http-c' });
    await a.putConfig('addr-b', { address: `127.0.0.1:${ports['b']}` });
    await a.putConfig('addr-c', { address: `127.0.0.1:${ports['c']}` });
    await a.putLink(httpLink('http-b', 'addr-b'));
    await a.putLink(httpLink('http-c', 'addr-c'));
    for (const name of ['b', 'c']) {
      const reply = await waitFor(
        () => get(ports[name] as number).catch(() => undefined),
        EVENT_MS,
        `host ${name} to serve the link`,
      );
      assert.equal(reply.status, 200);
      assert.match(reply.body, /Hello/);
    }
    for (const host of [b, c]) assert.equal(host.links().length, 2);
    const listed = await request<Link[]>(`${P}.link.get`);
    assert.equal(listed.response?.length, 2);
  });

  it('survives a nats-server restart under traffic: reconnects, heartbeats resume, state intact, new links apply', async () => {
    let served = 0;
    let failed = 0;
    let running = true;
    const traffic = (async () => {
      while (running) {
        // HTTP keeps working without NATS; the control requests in between need the server.
        await get(ports['b'] as number).then(
          (r) => (r.status === 200 ? served++ : failed++),
          () => failed++,
        );
        await client.request(`${P}.host.get.${c.id}`, undefined, { timeoutMs: 500 }).catch(() => undefined);
      }
    })();

    await nats.restart();
    await withDeadline(
      Promise.all(connections.map((conn) => waitFor(() => conn.connected, EVENT_MS, 'host reconnect'))),
      EVENT_MS,
      'hosts to reconnect',
    );
    const mark = log.mark;
    for (const host of hosts) {
      await log.next('host_heartbeat', mark, (e) => e.source === host.id);
    }
    running = false;
    await withDeadline(traffic, EVENT_MS, 'traffic loop to end');
    assert.ok(served > 0, 'requests were served during the restart');
    assert.equal(failed, 0, 'no HTTP request failed');

    assert.equal((await ping()).length, 3);
    assert.equal((await request<Link[]>(`${P}.link.get`)).response?.length, 2);
    assert.deepEqual((await request(`${P}.config.get.addr-b`)).response, {
      address: `127.0.0.1:${ports['b']}`,
    });

    const moved = await freePort();
    const ack = await request(`${P}.config.put.addr-c`, { address: `127.0.0.1:${moved}` });
    assert.equal(ack.success, true);
    const reply = await waitFor(
      () => get(moved).catch(() => undefined),
      EVENT_MS,
      'host C to serve on the new address',
    );
    assert.equal(reply.status, 200);

    const extra = await freePort();
    await a.putConfig('addr-b2', { address: `127.0.0.1:${extra}` });
    await b.startProvider({ providerRef: HTTP_SERVER, providerId: 'http-b2' });
    const put = await request(`${P}.link.put`, httpLink('http-b2', 'addr-b2'));
    assert.equal(put.success, true, put.message);
    const fresh = await waitFor(
      () => get(extra).catch(() => undefined),
      EVENT_MS,
      'a link put after the restart to take effect',
    );
    assert.equal(fresh.status, 200);
  });
});
