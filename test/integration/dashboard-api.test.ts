/**
 * The dashboard's server against a real host on the embedded lattice: the token URL trades the token
 * for a session cookie, every API call needs the session, state-changing calls need the CSRF header
 * and the page's own origin, the snapshot shows the lattice as it is (hostile strings included, as
 * data), the event stream shows a scale within 2 s, and each action's error carries its code.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createControlClient } from '@cirrus/control-client';
import type { ControlClient } from '@cirrus/control-client';
import { startDashboard } from '@cirrus/dashboard';
import type { ApiError, ConfigValues, Dashboard, LatticeSnapshot, SessionInfo } from '@cirrus/dashboard';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { createMemoryLattice } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import { BUILTIN_PROVIDERS, WIRE_BINDINGS } from '@cirrus/providers';
import { tempDir, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';

const HELLO = new URL('../../examples/hello/build/hello.wasm', import.meta.url);
const HOSTILE_LABEL = '<img src=x onerror=alert(1)>';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with exactly the headers given (fetch would add Origin and Sec-Fetch-* itself). */
function call(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function codeOf(reply: Reply): string {
  return (JSON.parse(reply.body) as ApiError).error.code;
}

describe('dashboard API', () => {
  let dir: TempDir;
  let host: Host;
  let dashboard: Dashboard;
  let control: ControlClient;
  let cookie: string;
  let csrf: string;

  const post = (body: unknown, headers: Record<string, string> = {}): Promise<Reply> =>
    call(`${dashboard.origin}/api/actions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        cookie,
        'x-cirrus-csrf': csrf,
        origin: dashboard.origin,
        'sec-fetch-site': 'same-origin',
        ...headers,
      },
      body: JSON.stringify(body),
    });
  const get = (path: string): Promise<Reply> => call(`${dashboard.origin}${path}`, { headers: { cookie } });

  before(async () => {
    dir = await tempDir();
    const lattice = createMemoryLattice();
    host = await createHost({
      lattice: lattice.connect(),
      friendlyName: 'dash-host',
      labels: { zone: HOSTILE_LABEL },
      cacheDir: dir.path,
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      builtinProviders: BUILTIN_PROVIDERS,
      wireBindings: WIRE_BINDINGS,
    });
    dashboard = await startDashboard({
      connection: lattice.connect(),
      lattice: 'default',
      port: 0,
      limits: resolveLimits({ dashboardRequestMaxBytes: 4096, dashboardEventStreamsMax: 2 }),
    });
    control = createControlClient({ connection: lattice.connect(), lattice: 'default' });
  });

  after(async () => {
    await dashboard?.close();
    await host?.stop();
    await dir?.remove();
  });

  it('trades the token for an HttpOnly, SameSite=Strict cookie and drops the token from the URL', async () => {
    const wrong = await call(`${dashboard.origin}/?token=not-the-token`);
    assert.equal(wrong.status, 401);
    const opened = await call(dashboard.url);
    assert.equal(opened.status, 303);
    assert.equal(opened.headers.location, '/');
    const setCookie = String(opened.headers['set-cookie']);
    assert.match(setCookie, /; HttpOnly; SameSite=Strict; Path=\//);
    cookie = setCookie.split(';')[0] as string;
    const session = await get('/api/session');
    assert.equal(session.status, 200);
    csrf = (JSON.parse(session.body) as SessionInfo).csrf;
    assert.ok(csrf.length >= 32);
  });

  it('refuses an API call without the session or the token, and takes the token as a bearer', async () => {
    const bare = await call(`${dashboard.origin}/api/lattice`);
    assert.equal(bare.status, 401);
    assert.equal(codeOf(bare), 'DASHBOARD_UNAUTHORIZED');
    const forged = await call(`${dashboard.origin}/api/lattice`, {
      headers: { cookie: 'cirrus_dashboard_1=x' },
    });
    assert.equal(forged.status, 401);
    const bearer = await call(`${dashboard.origin}/api/lattice`, {
      headers: { authorization: `Bearer ${dashboard.token}` },
    });
    assert.equal(bearer.status, 200);
  });

  it('serves the built page, whose script and style are its own files', async () => {
    const page = await call(`${dashboard.origin}/`);
    assert.equal(page.status, 200, 'npm test builds the page first (packages/dashboard/scripts/build-ui.ts)');
    assert.match(page.body, /<script type="module" src="\/assets\/app\.js"><\/script>/);
    assert.ok(!/<script>|<style>|style="/.test(page.body), 'nothing inline');
    const script = await call(`${dashboard.origin}/assets/app.js`);
    assert.equal(script.status, 200);
    assert.match(String(script.headers['content-type']), /^text\/javascript/);
    assert.equal((await call(`${dashboard.origin}/assets/../package.json`)).status, 404);
  });

  it('sends a strict Content-Security-Policy and no framing on every response', async () => {
    for (const reply of [await get('/api/session'), await call(`${dashboard.origin}/nope`)]) {
      assert.match(String(reply.headers['content-security-policy']), /script-src 'self'; style-src 'self'/);
      assert.equal(reply.headers['x-frame-options'], 'DENY');
      assert.equal(reply.headers['x-content-type-options'], 'nosniff');
    }
  });

  it('shows the lattice as it is, hostile strings as plain data', async () => {
    const snapshot = JSON.parse((await get('/api/lattice')).body) as LatticeSnapshot;
    assert.equal(snapshot.hosts.length, 1);
    const view = snapshot.hosts[0]!;
    assert.equal(view.info.friendly_name, 'dash-host');
    assert.equal(view.info.labels['zone'], HOSTILE_LABEL);
    assert.equal(view.stale, false);
    assert.ok(!('unavailable' in view.inventory));
    assert.ok(Array.isArray(snapshot.links));
    // No application manager runs here: that part says so, the rest is there.
    assert.ok('unavailable' in snapshot.apps);
  });

  it('refuses a cross-site action, one without the CSRF header, and one from another origin', async () => {
    const body = { kind: 'put-config', name: 'csrf-test', values: { a: '1' } };
    const crossSite = await post(body, { 'sec-fetch-site': 'cross-site' });
    assert.equal(crossSite.status, 403);
    assert.equal(codeOf(crossSite), 'DASHBOARD_FORBIDDEN');
    assert.equal((await post(body, { origin: 'http://evil.example' })).status, 403);
    assert.equal((await post(body, { 'x-cirrus-csrf': 'wrong' })).status, 403);
    assert.equal(await control.getConfig('csrf-test'), undefined, 'nothing was written');
  });

  it('puts a config, shows its values only when asked, and deletes it', async () => {
    const put = await post({ kind: 'put-config', name: 'greeting', values: { text: '</script>' } });
    assert.equal(put.status, 200, put.body);
    const snapshot = JSON.parse((await get('/api/lattice')).body) as LatticeSnapshot;
    assert.ok(snapshot.configs.includes('greeting'));
    assert.ok(!JSON.stringify(snapshot).includes('</script>'), 'the snapshot holds names, not values');
    const shown = JSON.parse((await get('/api/config?name=greeting')).body) as ConfigValues;
    assert.deepEqual(shown.values, { text: '</script>' });
    assert.equal((await post({ kind: 'delete-config', name: 'greeting' })).status, 200);
    const gone = JSON.parse((await get('/api/config?name=greeting')).body) as ConfigValues;
    assert.equal(gone.values, undefined);
  });

  it('answers bad actions with their code', async () => {
    const badCount = await post({
      kind: 'scale-component',
      hostId: host.id,
      componentRef: 'x',
      componentId: 'y',
      count: -1,
    });
    assert.equal(badCount.status, 400);
    assert.equal(codeOf(badCount), 'INVALID_ARGUMENT');
    const unknown = await post({ kind: 'reboot-everything' });
    assert.equal(codeOf(unknown), 'INVALID_ARGUMENT');
    const badManifest = await post({
      kind: 'put-app',
      manifest: 'apiVersion: core.oam.dev/v1beta1\nkind: Application\n',
    });
    assert.equal(badManifest.status, 400);
    const error = (JSON.parse(badManifest.body) as ApiError).error;
    assert.equal(error.code, 'MANIFEST_INVALID');
    assert.ok(Array.isArray(error.details?.['problems']), 'the problems come with their lines');
    const tooLarge = await post({ kind: 'put-app', manifest: 'x'.repeat(5000) });
    assert.equal(tooLarge.status, 413);
    assert.equal(codeOf(tooLarge), 'PAYLOAD_TOO_LARGE');
    const notJson = await post('{', {});
    assert.equal(codeOf(notJson), 'INVALID_ARGUMENT');
  });

  it('answers a request target that is not a URL with 400, and serves on', async () => {
    const odd = await call(`${dashboard.origin}/`, {
      headers: { authorization: `Bearer ${dashboard.token}` },
    });
    assert.equal(odd.status, 200);
    const port = new URL(dashboard.origin).port;
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.end(`GET http://[ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`),
      );
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 400/);
    assert.match(raw, /INVALID_ARGUMENT/, 'answered by the dashboard, not by the HTTP parser');
    assert.equal((await get('/api/session')).status, 200, 'the server still answers');
  });

  it('refuses requests addressed to another host name (DNS rebinding)', async () => {
    const port = new URL(dashboard.origin).port;
    const rebound = await call(`${dashboard.origin}/api/lattice`, {
      headers: { host: `attacker.example:${port}`, authorization: `Bearer ${dashboard.token}` },
    });
    assert.equal(rebound.status, 403);
  });

  it('streams a scale done through the control interface within 2 s, and caps the streams', async () => {
    const events: string[] = [];
    const controller = new AbortController();
    const stream = await fetch(`${dashboard.origin}/api/events`, {
      headers: { cookie },
      signal: controller.signal,
    });
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    const second = await fetch(`${dashboard.origin}/api/events`, { headers: { cookie } });
    const third = await call(`${dashboard.origin}/api/events`, { headers: { cookie } });
    assert.equal(third.status, 503);
    assert.equal(codeOf(third), 'DASHBOARD_BUSY');
    await second.body?.cancel();
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    const seen = (async () => {
      let buffered = '';
      while (!events.includes('component_scaled')) {
        const { value, done } = await reader.read();
        if (done) throw new Error('the event stream ended');
        buffered += value;
        for (const line of buffered.split('\n').filter((l) => l.startsWith('data: '))) {
          // The stream also carries the request figures (`{ metrics }`), every 2 s.
          const message = JSON.parse(line.slice(6)) as { event?: { type: string } };
          if (message.event !== undefined) events.push(message.event.type.split('.').pop()!);
        }
        buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
      }
    })();
    // The control client sees the host's component_scaled event: the dashboard's stream has it too.
    await control.scaleComponent(
      { hostId: host.id, componentRef: HELLO.href, componentId: 'dash-hello', count: 1 },
      { wait: true },
    );
    await withDeadline(seen, 2_000, 'component_scaled on the dashboard stream');
    controller.abort();
    await reader.cancel().catch(() => undefined);
    const snapshot = JSON.parse((await get('/api/lattice')).body) as LatticeSnapshot;
    const inventory = snapshot.hosts[0]!.inventory;
    assert.ok(!('unavailable' in inventory) && inventory.components.some((c) => c.id === 'dash-hello'));
  });

  it('listens on loopback only', async () => {
    await assert.rejects(
      startDashboard({
        connection: createMemoryLattice().connect(),
        lattice: 'default',
        host: '0.0.0.0',
        port: 0,
      }),
      { code: 'INVALID_ADDRESS' },
    );
  });
});
