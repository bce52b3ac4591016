/**
 * A TypeScript component's uncaught exception points at its source: the probe fixture, built by
 * `cirrus build` (which embeds the bundle's source map), throws on `GET /throw`; the HTTP 500 body
 * names the file, line, column and function of the `throw`, and the host log adds the message.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { findCustomSection, SOURCE_MAP_SECTION } from '@cirrus/protocol';
import { createControlClient } from '@cirrus/control-client';
import { createHost, createLogger } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { createMemoryLattice } from '@cirrus/lattice';
import { BUILTIN_PROVIDERS, WIRE_BINDINGS } from '@cirrus/providers';
import { freePort, httpGet, tempDir, waitFor } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { routeHttp } from '../failure/support.ts';

const PROBE = new URL('../../packages/testing/fixtures/probe/build/probe.wasm', import.meta.url);
const PROBE_SOURCE = new URL('../../packages/testing/fixtures/probe/src/component.ts', import.meta.url);

describe('guest errors', () => {
  let dir: TempDir;
  let host: Host;
  let port: number;
  const lines: string[] = [];

  before(async () => {
    dir = await tempDir();
    const lattice = createMemoryLattice();
    host = await createHost({
      lattice: lattice.connect(),
      cacheDir: dir.path,
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      builtinProviders: BUILTIN_PROVIDERS,
      wireBindings: WIRE_BINDINGS,
      logger: createLogger({ format: 'json', write: (line) => lines.push(line) }),
    });
    const control = createControlClient({ connection: lattice.connect(), lattice: 'default' });
    port = await freePort();
    await control.startProvider({
      hostId: host.id,
      providerRef: 'wasmcloud+builtin://http-server',
      providerId: 'web',
    });
    await control.scaleComponent(
      { hostId: host.id, componentRef: PROBE.href, componentId: 'probe', count: 1 },
      { wait: true },
    );
    await routeHttp(control, { serverId: 'web', componentId: 'probe', port });
    await waitFor(
      async () => (await httpGet(port, '/log').catch(() => undefined))?.status === 200,
      10_000,
      'probe to serve',
    );
  });

  after(async () => {
    await host?.stop();
    await dir?.remove();
  });

  it('names the TypeScript file, line, column and function of an uncaught exception', async () => {
    assert.ok(
      findCustomSection(await readFile(PROBE), SOURCE_MAP_SECTION),
      'cirrus build embedded the source map',
    );
    const source = (await readFile(PROBE_SOURCE, 'utf8')).split('\n');
    const line = source.findIndex((l) => l.includes("throw new Error('probe was asked to throw')")) + 1;
    const column = (source[line - 1] as string).indexOf('new Error') + 1;
    const at = `src/component.ts:${line}:${column} in handle`;

    const answer = await httpGet(port, '/throw');
    assert.equal(answer.status, 500);
    assert.equal(answer.body, `the component failed (GUEST_TRAP) at ${at}\n`);
    const logged = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((r) => r['msg'] === 'request failed' && r['code'] === 'GUEST_TRAP');
    assert.equal(logged?.['error'], `probe was asked to throw (at ${at})`);
  });
});
