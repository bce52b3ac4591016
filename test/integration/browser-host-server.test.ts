/**
 * What a Node host serves for browser hosts, without a browser: the page's isolation headers, what
 * the bootstrap gives a signed-in session and what it keeps from others, and the typed refusals of
 * the transpiler, the credential issuer, the websocket endpoint and the sign-in redirect.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { browserHostPages } from '@cirrus/browser-host';
import type { BrowserHostBootstrap } from '@cirrus/browser-host';
import { startDashboard } from '@cirrus/dashboard';
import type { Dashboard } from '@cirrus/dashboard';
import { createMemoryLattice } from '@cirrus/lattice';
import type { MemoryLattice } from '@cirrus/lattice';
import { resolveLimits, silentLogger } from '@cirrus/protocol';
import { createBrowserTranspiler } from '@cirrus/runtime';
import { tempDir, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';

const MAX_COMPONENT_BYTES = 1024;

describe('the pages a host serves at /host', () => {
  let lattice: MemoryLattice;
  let dir: TempDir;
  let dashboard: Dashboard;
  let bearer: Record<string, string>;

  before(async () => {
    lattice = createMemoryLattice();
    dir = await tempDir('cirrus-browser-host-server-');
    dashboard = await startDashboard({
      connection: lattice.connect(),
      lattice: 'default',
      port: 0,
      mounts: [
        browserHostPages({
          lattice: 'default',
          transpiler: createBrowserTranspiler({ cacheDir: dir.path }),
          limits: resolveLimits({ componentMaxBytes: MAX_COMPONENT_BYTES }),
          embedded: { token: 'endpoint-token', acceptWebSocket: (_req, socket) => socket.destroy() },
          logger: silentLogger,
        }),
      ],
    });
    bearer = { authorization: `Bearer ${dashboard.token}` };
  });

  after(async () => {
    await dashboard?.close();
    await lattice?.close();
    await dir?.remove();
  });

  const at = (path: string): string => `${dashboard.origin}${path}`;
  const code = async (response: Response): Promise<string> =>
    ((await response.json()) as { error: { code: string } }).error.code;
  const transpile = (body: Uint8Array, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(at('/host/api/transpile'), {
      method: 'POST',
      headers: { 'content-type': 'application/wasm', ...headers },
      body,
    });

  it('serves the page cross-origin isolated', async () => {
    const response = await fetch(at('/host'));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(response.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.match(await response.text(), /Cirrus browser host/);
  });

  it('gives the embedded lattice and its token to a signed-in session only', async () => {
    const anonymous = (await (await fetch(at('/host/api/bootstrap'))).json()) as BrowserHostBootstrap;
    assert.equal(anonymous.embedded, undefined);
    assert.equal(anonymous.limits.componentMaxBytes, MAX_COMPONENT_BYTES);
    const signedIn = (await (
      await fetch(at('/host/api/bootstrap'), { headers: bearer })
    ).json()) as BrowserHostBootstrap;
    assert.deepEqual(signedIn.embedded, {
      url: `${dashboard.origin.replace('http', 'ws')}/host/lattice`,
      token: 'endpoint-token',
    });
  });

  it('refuses to transpile for another site, bytes that are no component, or too many of them', async () => {
    const wasmHeader = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    const foreign = await transpile(wasmHeader, { origin: 'http://attacker.example' });
    assert.equal(foreign.status, 403);
    assert.equal(await code(foreign), 'DASHBOARD_FORBIDDEN');
    const text = await transpile(new TextEncoder().encode('not wasm'));
    assert.equal(text.status, 400);
    assert.equal(await code(text), 'NOT_WASM');
    const module = await transpile(wasmHeader);
    assert.equal(module.status, 400);
    assert.equal(await code(module), 'NOT_A_COMPONENT');
    const large = await transpile(new Uint8Array(MAX_COMPONENT_BYTES + 1));
    assert.equal(large.status, 413);
    assert.equal(await code(large), 'ARTIFACT_TOO_LARGE');
    const json = await transpile(wasmHeader, { 'content-type': 'application/json' });
    assert.equal(json.status, 400);
    assert.equal(await code(json), 'INVALID_ARGUMENT');
  });

  it('issues no credential where the host does not sign, or to a page without a session', async () => {
    const post = (headers: Record<string, string>): Promise<Response> =>
      fetch(at('/host/api/credential'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ hostId: 'N' }),
      });
    const anonymous = await post({});
    assert.equal(anonymous.status, 401);
    assert.equal(await code(anonymous), 'DASHBOARD_UNAUTHORIZED');
    assert.equal(await code(await post(bearer)), 'DASHBOARD_UNAUTHORIZED');
  });

  it('opens the lattice websocket to a signed-in session only', async () => {
    const status = await withDeadline(
      new Promise<number | undefined>((resolve, reject) => {
        const req = request(at('/host/lattice'), {
          headers: {
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        req.on('upgrade', () => reject(new Error('upgraded without a session')));
        req.on('error', reject);
        req.end();
      }),
      5_000,
      'the refused upgrade',
    );
    assert.equal(status, 401);
  });

  it('redirects after sign-in to a page it serves, and nowhere else', async () => {
    const signIn = async (next: string): Promise<string | null> =>
      (
        await fetch(at(`/?token=${dashboard.token}&next=${encodeURIComponent(next)}`), {
          redirect: 'manual',
        })
      ).headers.get('location');
    assert.equal(await signIn('/host?nats=ws://127.0.0.1:8080'), '/host?nats=ws://127.0.0.1:8080');
    assert.equal(await signIn('//attacker.example/host'), '/');
    assert.equal(await signIn('https://attacker.example/host'), '/');
    assert.equal(await signIn('/api/lattice'), '/');
  });
});
