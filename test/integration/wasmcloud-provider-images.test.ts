/**
 * Manifests written for wasmCloud, in the shape of its key-value examples (http-keyvalue-counter with
 * `ghcr.io/wasmcloud/keyvalue-redis`, the keyvalue-nats README's counter), deployed on one host as
 * they are: the provider images start the built-ins, the links keep wasmCloud's config keys, and the
 * counts land where wasmCloud's providers keep them (plain Redis keys; the link's JetStream bucket).
 * Only the component image, the Redis port and the listen address differ from the originals.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parseManifest, planDeployment } from '@cirrus/apps';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { createMemoryLattice } from '@cirrus/lattice';
import type { LatticeConnection, MemoryLattice } from '@cirrus/lattice';
import { resolveLimits, silentLogger } from '@cirrus/protocol';
import { BUILTIN_PROVIDERS, WIRE_BINDINGS } from '@cirrus/providers';
import { freePort, startRedisServer, tempDir } from '@cirrus/testing';
import type { RedisServer, TempDir } from '@cirrus/testing';

const COUNTER = new URL('../../examples/counter/build/counter.wasm', import.meta.url);

/** http-keyvalue-counter's manifest: the counter linked to keyvalue-redis by a lower-case `url`. */
const redisCounter = (redisUrl: string, address: string): string => `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: rust-http-kv
  annotations:
    version: v0.0.1
spec:
  components:
    - name: counter
      type: component
      properties:
        image: ${COUNTER.href}
      traits:
        - type: spreadscaler
          properties:
            instances: 1
        - type: link
          properties:
            target:
              name: kvredis
              config:
                - name: redis-url
                  properties:
                    url: ${redisUrl}
            namespace: wasi
            package: keyvalue
            interfaces: [atomics, store]
    - name: kvredis
      type: capability
      properties:
        image: ghcr.io/wasmcloud/keyvalue-redis:0.30.0
    - name: httpserver
      type: capability
      properties:
        image: ghcr.io/wasmcloud/http-server:0.27.0
      traits:
        - type: link
          properties:
            target:
              name: counter
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source:
              config:
                - name: default-http
                  properties:
                    address: ${address}
`;

/** The keyvalue-nats README's manifest: the counter's link names the JetStream bucket. */
const natsCounter = (address: string): string => `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: http-kv-counter
  annotations:
    version: v0.0.1
spec:
  components:
    - name: counter
      type: component
      properties:
        image: ${COUNTER.href}
      traits:
        - type: spreadscaler
          properties:
            instances: 1
        - type: link
          properties:
            namespace: wasi
            package: keyvalue
            interfaces:
            - store
            - atomics
            target:
              name: kv-nats
              config:
              - name: wasi-keyvalue-config
                properties:
                  bucket: wasmcloud
                  enable_bucket_auto_create: 'true'
    - name: kv-nats
      type: capability
      properties:
        image: ghcr.io/wasmcloud/keyvalue-nats:0.4.1
    - name: httpserver
      type: capability
      properties:
        image: ghcr.io/wasmcloud/http-server:0.27.0
      traits:
        - type: link
          properties:
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            target:
              name: counter
            source:
              config:
                - name: default-http
                  properties:
                    address: ${address}
`;

/** Puts the manifest on the host as a deployment to it alone would: config, workloads, links. */
async function deploy(host: Host, manifest: string): Promise<void> {
  const plan = planDeployment(parseManifest(manifest));
  for (const { name, values } of plan.configs) await host.putConfig(name, values);
  for (const p of plan.providers) {
    await host.startProvider({
      providerRef: p.ref,
      providerId: p.id,
      config: p.config,
      annotations: p.annotations,
    });
  }
  for (const c of plan.components) {
    await host.scaleComponent({
      componentRef: c.ref,
      componentId: c.id,
      count: c.count,
      config: c.config,
      annotations: c.annotations,
    });
  }
  for (const link of plan.links) await host.putLink(link);
}

/** A Redis GET in the protocol's own words (values short and ASCII): what is stored, unmediated. */
async function redisGet(port: number, key: string): Promise<string | null> {
  const socket = connect(port, '127.0.0.1');
  try {
    socket.write(`*2\r\n$3\r\nGET\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n`);
    let reply = '';
    for await (const chunk of socket) {
      reply += String(chunk);
      const head = /^\$(-1|\d+)\r\n/.exec(reply);
      if (head?.[1] === '-1') return null;
      const length = Number(head?.[1]);
      if (head !== null && reply.length >= head[0].length + length + 2) {
        return reply.slice(head[0].length, head[0].length + length);
      }
    }
    throw new Error(`Redis answered ${JSON.stringify(reply)}`);
  } finally {
    socket.destroy();
  }
}

async function get(address: string, path: string): Promise<string> {
  const response = await fetch(`http://${address}${path}`, { signal: AbortSignal.timeout(10_000) });
  const body = await response.text();
  assert.equal(response.status, 200, body);
  return body;
}

describe("wasmCloud's key-value example manifests, unchanged", { timeout: 60_000 }, () => {
  let dir: TempDir;
  let redis: RedisServer;
  let lattice: MemoryLattice;
  let connection: LatticeConnection;
  let host: Host;

  before(async () => {
    dir = await tempDir();
    redis = await startRedisServer();
    lattice = createMemoryLattice();
    connection = lattice.connect();
    host = await createHost({
      builtinProviders: BUILTIN_PROVIDERS,
      wireBindings: WIRE_BINDINGS,
      lattice: lattice.connect(),
      cacheDir: dir.path,
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      limits: resolveLimits({ maxInstances: 10 }),
      logger: silentLogger,
    });
  });

  after(async () => {
    await host?.stop();
    await connection?.close();
    await lattice?.close();
    await redis?.stop();
    await dir?.remove();
  });

  it('counts in Redis under the plain key, as keyvalue-redis does', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    await deploy(host, redisCounter(redis.url, address));
    assert.match(await get(address, '/counter'), /^\/counter has been visited 1 time/);
    assert.match(await get(address, '/counter'), /^\/counter has been visited 2 time/);
    assert.equal(await redisGet(redis.port, '/counter'), '2');
    const provider = host.inventory().providers.find((p) => p.image_ref?.includes('keyvalue-redis'));
    assert.equal(provider?.name, 'Key-Value Redis');
  });

  it("counts in the link's JetStream bucket, as keyvalue-nats does", async () => {
    const address = `127.0.0.1:${await freePort()}`;
    await deploy(host, natsCounter(address));
    assert.match(await get(address, '/counter'), /^\/counter has been visited 1 time/);
    const bucket = await connection.kv('wasmcloud');
    assert.equal((await bucket.get('/counter'))?.string(), '1');
  });
});
