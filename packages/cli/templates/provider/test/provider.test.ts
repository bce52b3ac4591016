/**
 * Starts src/provider.ts the way a host starts a provider program, as a process of its own that
 * connects to the host's lattice, and calls it over wRPC as the host of a linked component would.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { createMemoryLattice, wrpcInvoke } from '@cirrus/lattice';
import type { LatticeConnection, MemoryLattice } from '@cirrus/lattice';
import { serveLattice } from '@cirrus/local-endpoint';
import type { LocalEndpoint } from '@cirrus/local-endpoint';
import { parseWitInterface, witInstanceName } from '@cirrus/protocol';
import type { WitFunction } from '@cirrus/protocol';

const PROVIDER = new URL('../src/provider.ts', import.meta.url);
const GREET = parseWitInterface(await readFile(new URL('../wit/greet.wit', import.meta.url), 'utf8'));
/** A new Node process that loads the SDK, connects and answers the host's first health check. */
const START_MS = 30_000;
const CALL_MS = 5_000;
const STOP_MS = 15_000;

/** Resolves with `promise`, or fails after `ms` saying what it was waiting for. */
async function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('__NAME__', () => {
  let lattice: MemoryLattice;
  let endpoint: LocalEndpoint | undefined;
  let host: Host | undefined;
  let client: LatticeConnection | undefined;

  before(async () => {
    lattice = createMemoryLattice();
    // The lattice lives in this process; provider processes reach it on loopback, with a token, as
    // they reach the embedded lattice of `cirrus up`.
    const token = randomBytes(24).toString('hex');
    endpoint = await serveLattice(lattice, { token });
    const rpc = new URL(endpoint.url);
    rpc.username = token;
    host = await createHost({
      lattice: lattice.connect(),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      providerRpc: () => ({ url: rpc.href }),
    });
    client = lattice.connect();
    await deadline(
      host.startProvider({ providerRef: PROVIDER.href, providerId: '__NAME__' }),
      START_MS,
      'the provider to start',
    );
  });

  after(async () => {
    // The host stops the provider process it started.
    await deadline(host?.stop() ?? Promise.resolve(), STOP_MS, 'the host and its provider to stop');
    await client?.close();
    await endpoint?.close();
    await lattice.close();
  });

  it('greets a caller without a link with the default greeting', async () => {
    const [greeting] = await wrpcInvoke(client as LatticeConnection, {
      lattice: 'default',
      targetId: '__NAME__',
      instance: witInstanceName(GREET),
      fn: GREET.functions.get('greet') as WitFunction,
      args: ['World'],
      sourceId: 'test',
      linkName: 'default',
      timeoutMs: CALL_MS,
      maxBytes: 1024 * 1024,
    });
    assert.equal(greeting, 'Hello, World!');
  });
});
