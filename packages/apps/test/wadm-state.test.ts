import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostInventory } from '@cirrus/protocol';
import { wadmStateDocuments } from '../src/index.ts';

const inventory = (id: string, components: [string, number][], providers: string[]): HostInventory => ({
  host_id: id,
  friendly_name: `host-${id}`,
  version: '0.1.0',
  labels: { zone: 'east' },
  uptime_seconds: 12,
  uptime_human: '12s',
  components: components.map(([cid, count]) => ({
    id: cid,
    image_ref: `file:///${cid}.wasm`,
    annotations: { 'wasmcloud.dev/appspec': 'shop' },
    revision: 0,
    max_instances: count,
    limits: null,
  })),
  providers: providers.map((pid) => ({ id: pid, image_ref: `wasmcloud+builtin://${pid}`, revision: 0 })),
});

describe('wadm_state documents', () => {
  it('record hosts, components and providers keyed by id, in wadm 0.2x shapes', () => {
    const now = new Date('2026-12-07T12:00:00Z');
    const { host, component, provider } = wadmStateDocuments(
      [inventory('NA', [['shop-api', 2]], ['kv']), inventory('NB', [['shop-api', 1]], [])],
      now,
    );
    assert.deepEqual(host['NA'], {
      components: { 'shop-api': 2 },
      friendly_name: 'host-NA',
      labels: { zone: 'east' },
      providers: [{ provider_id: 'kv', provider_ref: 'wasmcloud+builtin://kv', annotations: {} }],
      uptime_seconds: 12,
      version: '0.1.0',
      id: 'NA',
      last_seen: '2026-12-07T12:00:00.000Z',
    });
    assert.deepEqual(component['shop-api'], {
      id: 'shop-api',
      name: 'shop-api',
      issuer: '',
      reference: 'file:///shop-api.wasm',
      instances: {
        NA: [{ annotations: { 'wasmcloud.dev/appspec': 'shop' }, count: 2 }],
        NB: [{ annotations: { 'wasmcloud.dev/appspec': 'shop' }, count: 1 }],
      },
    });
    assert.deepEqual(provider['kv'], {
      id: 'kv',
      name: 'kv',
      issuer: '',
      reference: 'wasmcloud+builtin://kv',
      hosts: { NA: 'Running' },
    });
  });
});
