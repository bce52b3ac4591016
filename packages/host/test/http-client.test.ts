/**
 * Outgoing HTTP through the built-in http-client provider: the fetcher component, behind the built-in
 * HTTP server, calls real node:http upstreams on this machine, with JavaScript's fetch() and with
 * wasi:http/outgoing-handler directly. What is measured is what the upstream receives, what the
 * component sees (status, body, headers, the exact error-code), how long a refusal or a timeout
 * takes, and what the host logs. The allow-list matching is also checked on its own.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import type { MemoryLattice } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import type { LogFields, Logger } from '@cirrus/protocol';
import { freePort, tempDir, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import type { Host } from '../src/index.ts';
import { builtinName } from '@cirrus/provider-core';
import { hostAllowed, parseAllowedHosts } from '@cirrus/provider-http-client';
import { routeHttp, WITH_BUILTINS } from './support.ts';

const FETCHER_WASM = fileURLToPath(
  new URL('../../testing/fixtures/fetcher/build/fetcher.wasm', import.meta.url),
);

const FIRST_BYTE_MS = 300;
const MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_REQUEST_BYTES = 32 * 1024;

interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields: LogFields;
}

function capturingLogger(entries: LogEntry[], bound: LogFields = {}): Logger {
  const at =
    (level: LogEntry['level']) =>
    (message: string, fields?: LogFields): void => {
      entries.push({ level, message, fields: { ...bound, ...fields } });
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (fields) => capturingLogger(entries, { ...bound, ...fields }),
  };
}

interface Reply {
  status: number;
  body: string;
  headers: Headers;
  ms: number;
}

async function call(port: number, path: string, init: RequestInit = {}): Promise<Reply> {
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    ...init,
    signal: AbortSignal.timeout(10_000),
  });
  const body = await response.text();
  return { status: response.status, body, headers: response.headers, ms: performance.now() - started };
}

/** A real upstream: records what it receives and answers by path. */
class Upstream {
  readonly received: { method: string; path: string; headers: IncomingMessage['headers']; body: string }[] =
    [];
  readonly #server: Server;
  port = 0;

  constructor() {
    this.#server = createServer((req, res) => void this.#serve(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return encodeURIComponent(`http://127.0.0.1:${this.port}${path}`);
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://upstream');
    this.received.push({
      method: req.method ?? '',
      path: url.pathname,
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    });
    const number = (name: string): number => Number(url.searchParams.get(name) ?? 0);
    switch (url.pathname) {
      case '/hello':
        res.setHeader('x-upstream', 'yes');
        res.setHeader('x-echo-request-id', String(req.headers['x-request-id'] ?? ''));
        res.end(`hello from ${this.port}\n`);
        return;
      case '/echo':
        res.end(`${req.method} ${Buffer.concat(chunks).toString()}`);
        return;
      case '/hop':
        res.setHeader('connection', 'keep-alive, x-hop');
        res.setHeader('x-hop', 'connection-only');
        res.setHeader('x-kept', 'end-to-end');
        res.end('hop\n');
        return;
      case '/redirect':
        res.writeHead(302, { location: '/hello' });
        res.end();
        return;
      case '/slow':
        await new Promise((resolve) => setTimeout(resolve, number('ms')));
        if (!res.destroyed) res.end('finally\n');
        return;
      case '/stall':
        res.write('the start, and then nothing for a while');
        await new Promise((resolve) => setTimeout(resolve, number('ms')));
        if (!res.destroyed) res.end();
        return;
      case '/big': {
        // No content-length with `chunked`, so the limit has to catch the body as it streams.
        if (url.searchParams.has('chunked')) res.setHeader('transfer-encoding', 'chunked');
        else res.setHeader('content-length', String(number('bytes')));
        const block = Buffer.alloc(16 * 1024, 'x');
        let left = number('bytes');
        while (left > 0 && !res.destroyed) {
          const piece = block.subarray(0, Math.min(left, block.byteLength));
          left -= piece.byteLength;
          if (!res.write(piece)) await new Promise((resolve) => res.once('drain', resolve));
        }
        res.end();
        return;
      }
      default:
        res.writeHead(404).end('no such path\n');
    }
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

describe('http-client provider: allow-list matching', () => {
  const cases: [allowed: string, host: string, port: number, expected: boolean][] = [
    ['api.example.com', 'api.example.com', 443, true],
    ['api.example.com', 'api.example.com', 8080, true],
    ['API.Example.com', 'api.example.com', 80, true],
    ['api.example.com', 'example.com', 443, false],
    ['api.example.com', 'api.example.com.evil.net', 443, false],
    ['api.example.com:8443', 'api.example.com', 8443, true],
    ['api.example.com:8443', 'api.example.com', 443, false],
    ['*.example.com', 'api.example.com', 443, true],
    ['*.example.com', 'a.b.example.com', 443, true],
    ['*.example.com', 'example.com', 443, false],
    ['*.example.com', 'badexample.com', 443, false],
    ['*.example.com:443', 'api.example.com', 80, false],
    ['127.0.0.1:8080', '127.0.0.1', 8080, true],
    ['127.0.0.1:8080', '127.0.0.1', 8081, false],
    ['127.0.0.1:8080', 'localhost', 8080, false],
    // The URL parser writes IPv4 in dotted decimal, so other spellings cannot slip past.
    ['2130706433', '127.0.0.1', 80, true],
    ['[::1]:9000', '[::1]', 9000, true],
    ['[0:0:0:0:0:0:0:1]', '[::1]', 80, true],
    ['*', 'anything.at.all', 1, true],
    ['*:443', 'anything.at.all', 80, false],
    ['a.example, b.example', 'b.example', 80, true],
    ['', 'api.example.com', 443, false],
  ];
  for (const [allowed, host, port, expected] of cases) {
    it(`${JSON.stringify(allowed)} ${expected ? 'allows' : 'denies'} ${host}:${port}`, () => {
      assert.equal(hostAllowed(parseAllowedHosts(allowed), host, port), expected);
    });
  }

  it('allows nothing without allowed_hosts', () => {
    assert.equal(hostAllowed(parseAllowedHosts(undefined), '127.0.0.1', 80), false);
  });

  for (const bad of [
    'http://api.example.com',
    'api.example.com/path',
    'user@host',
    'host:0',
    'host:99999',
    '*x.com',
    '[::1',
  ]) {
    it(`refuses the entry ${JSON.stringify(bad)} with INVALID_ARGUMENT`, () => {
      assert.throws(() => parseAllowedHosts(bad), { code: 'INVALID_ARGUMENT' });
    });
  }

  it("stands in for wasmCloud's published http-client image", () => {
    assert.equal(builtinName('ghcr.io/wasmcloud/http-client:0.13.1'), 'http-client');
    assert.equal(builtinName('wasmcloud+builtin://http-client'), 'http-client');
  });
});

describe('http-client provider: a component calling real upstreams', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let host: Host;
  let port: number;
  let lonelyPort: number;
  const allowed = new Upstream();
  const other = new Upstream();
  const logs: LogEntry[] = [];

  const linkClient = (configName: string): Promise<void> =>
    host.putLink({
      source_id: 'fetcher',
      target: 'client',
      wit_namespace: 'wasi',
      wit_package: 'http',
      interfaces: ['outgoing-handler'],
      target_config: [configName],
    });

  before(async () => {
    await allowed.start();
    await other.start();
    dir = await tempDir();
    lattice = createMemoryLattice();
    host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      limits: resolveLimits({
        maxInstances: 4,
        httpClientFirstByteTimeoutMs: FIRST_BYTE_MS,
        httpClientMaxResponseBodyBytes: MAX_RESPONSE_BYTES,
        httpClientMaxRequestBodyBytes: MAX_REQUEST_BYTES,
      }),
      logger: capturingLogger(logs),
    });
    port = await freePort();
    lonelyPort = await freePort();
    await host.startProvider({ providerRef: 'wasmcloud+builtin://http-server', providerId: 'web' });
    await host.startProvider({ providerRef: 'wasmcloud+builtin://http-client', providerId: 'client' });
    await host.scaleComponent({ componentRef: FETCHER_WASM, componentId: 'fetcher', count: 2 });
    await host.scaleComponent({ componentRef: FETCHER_WASM, componentId: 'lonely', count: 1 });
    await host.putConfig('allow-first', { allowed_hosts: `127.0.0.1:${allowed.port}` });
    await host.putConfig('allow-other', { allowed_hosts: `127.0.0.1:${other.port}` });
    await linkClient('allow-first');
    await routeHttp(host, 'fetcher', port, 'fetcher');
    await routeHttp(host, 'lonely', lonelyPort, 'lonely');
  });

  after(async () => {
    await host.stop();
    await lattice.close();
    await dir.remove();
    await allowed.stop();
    await other.stop();
  });

  it("fetch() reaches an allowed host: the upstream's status, body and headers come back", async () => {
    const reply = await call(port, `/fetch?url=${allowed.url('/hello')}`, {
      headers: { 'x-request-id': 'req-1' },
    });
    assert.equal(reply.status, 200, reply.body);
    assert.equal(reply.body, `hello from ${allowed.port}\n`);
    assert.equal(reply.headers.get('x-upstream'), 'yes');
    assert.equal(reply.headers.get('x-echo-request-id'), 'req-1', 'the request header reached the upstream');
    const seen = allowed.received.at(-1);
    assert.equal(seen?.headers['host'], `127.0.0.1:${allowed.port}`);
  });

  it('wasi:http/outgoing-handler reaches an allowed host too', async () => {
    const reply = await call(port, `/raw?url=${allowed.url('/hello?q=1')}`, {
      headers: { 'x-request-id': 'req-2' },
    });
    assert.equal(reply.status, 200, reply.body);
    assert.equal(reply.body, `hello from ${allowed.port}\n`);
    assert.equal(reply.headers.get('x-echo-request-id'), 'req-2');
  });

  it('sends a POST body to the upstream, with fetch() and with the body written after handle', async () => {
    const payload = 'a body of some length '.repeat(500);
    for (const route of ['fetch', 'raw']) {
      const reply = await call(port, `/${route}?url=${allowed.url('/echo')}`, {
        method: 'POST',
        body: payload,
      });
      assert.equal(reply.status, 200, `${route}: ${reply.body}`);
      assert.equal(reply.body, `POST ${payload}`, route);
      const seen = allowed.received.at(-1);
      assert.equal(seen?.headers['content-length'], String(payload.length), route);
    }
  });

  it('refuses a request body above httpClientMaxRequestBodyBytes in the instance', async () => {
    const before = allowed.received.length;
    const reply = await call(port, `/raw?url=${allowed.url('/echo')}`, {
      method: 'POST',
      body: 'x'.repeat(MAX_REQUEST_BYTES + 10_000),
    });
    assert.deepEqual([reply.status, reply.body], [502, 'request body failed: HTTP-request-body-size\n']);
    assert.equal(allowed.received.length, before, 'nothing reached the upstream');
  });

  it("passes 3xx through rather than following it, and drops headers the upstream's connection header names", async () => {
    const redirect = await call(port, `/raw?url=${allowed.url('/redirect')}`);
    assert.equal(redirect.status, 302);
    const hop = await call(port, `/raw?url=${allowed.url('/hop')}`);
    assert.equal(hop.headers.get('x-kept'), 'end-to-end');
    assert.equal(hop.headers.get('x-hop'), null);
  });

  it('denies a host outside the allow-list at once, without contacting it, and logs it once', async () => {
    const otherBefore = other.received.length;
    const byPort = await call(port, `/raw?url=${other.url('/hello')}`);
    assert.deepEqual([byPort.status, byPort.body], [502, 'error-code: HTTP-request-denied\n']);
    const byName = await call(
      port,
      `/raw?url=${encodeURIComponent(`http://localhost:${allowed.port}/hello`)}`,
    );
    assert.deepEqual([byName.status, byName.body], [502, 'error-code: HTTP-request-denied\n']);
    const viaFetch = await call(port, `/fetch?url=${other.url('/hello')}`);
    assert.equal(viaFetch.status, 502);
    assert.match(viaFetch.body, /^fetch failed/);
    assert.equal(other.received.length, otherBefore, 'the denied upstream saw no request');
    assert.ok(byPort.ms < 1000, `denied in ${byPort.ms.toFixed(0)} ms`);
    const denials = logs.filter(
      (e) => e.fields['code'] === 'HTTP_CLIENT_DENIED' && e.message.includes(`127.0.0.1:${other.port}`),
    );
    assert.equal(denials.length, 1, JSON.stringify(denials));
    assert.equal(denials[0]?.level, 'warn');
    assert.match(String(denials[0]?.fields['hint']), /allowed_hosts/);
  });

  it('denies every request of a component without a link, and the host logs the missing link once', async () => {
    for (let i = 0; i < 2; i++) {
      const raw = await call(lonelyPort, `/raw?url=${allowed.url('/hello')}`);
      assert.deepEqual([raw.status, raw.body], [502, 'error-code: HTTP-request-denied\n']);
      const viaFetch = await call(lonelyPort, `/fetch?url=${allowed.url('/hello')}`);
      assert.equal(viaFetch.status, 502);
    }
    const missing = logs.filter(
      (e) => e.message === 'import without a link' && e.fields['component'] === 'lonely',
    );
    assert.equal(missing.length, 1, JSON.stringify(missing));
    assert.equal(missing[0]?.fields['interface'], 'wasi:http/outgoing-handler');
    assert.match(
      String(missing[0]?.fields['hint']),
      /cirrus link put lonely <target> wasi http --interface outgoing-handler/,
    );
  });

  it('fails with connection-read-timeout when the upstream is slower than the first-byte timeout', async () => {
    const reply = await call(port, `/raw?url=${allowed.url('/slow?ms=5000')}`);
    assert.deepEqual([reply.status, reply.body], [502, 'error-code: connection-read-timeout\n']);
    assert.ok(reply.ms >= FIRST_BYTE_MS - 20, `after ${reply.ms.toFixed(0)} ms`);
    assert.ok(reply.ms < FIRST_BYTE_MS + 1500, `after ${reply.ms.toFixed(0)} ms`);
    // A shorter first-byte timeout in the guest's request options wins over the limit.
    const short = await call(port, `/raw?url=${allowed.url('/slow?ms=5000')}&first-byte-ms=50`);
    assert.equal(short.body, 'error-code: connection-read-timeout\n');
    assert.ok(short.ms < FIRST_BYTE_MS, `after ${short.ms.toFixed(0)} ms with first-byte-ms=50`);
  });

  it('fails with connection-read-timeout when the body pauses longer than the between-bytes timeout', async () => {
    const reply = await call(port, `/raw?url=${allowed.url('/stall?ms=5000')}&between-bytes-ms=100`);
    assert.deepEqual([reply.status, reply.body], [502, 'error-code: connection-read-timeout\n']);
    assert.ok(reply.ms < 2000, `after ${reply.ms.toFixed(0)} ms`);
  });

  it('fails with HTTP-response-body-size above the limit, declared or streamed, and keeps serving', async () => {
    const declared = await call(port, `/raw?url=${allowed.url(`/big?bytes=${MAX_RESPONSE_BYTES + 1}`)}`);
    assert.deepEqual(
      [declared.status, declared.body],
      [502, `error-code: HTTP-response-body-size "${MAX_RESPONSE_BYTES + 1}"\n`],
    );
    const streamed = await call(
      port,
      `/raw?url=${allowed.url(`/big?bytes=${4 * MAX_RESPONSE_BYTES}&chunked`)}`,
    );
    assert.deepEqual([streamed.status, streamed.body], [502, 'error-code: HTTP-response-body-size\n']);
    const atLimit = await call(port, `/raw?url=${allowed.url(`/big?bytes=${MAX_RESPONSE_BYTES}`)}`);
    assert.equal(atLimit.status, 200);
    assert.equal(atLimit.body.length, MAX_RESPONSE_BYTES);
    assert.equal((await call(port, `/fetch?url=${allowed.url('/hello')}`)).status, 200);
  });

  it('reports connection-refused for a port nobody listens on (when allowed)', async () => {
    const closed = await freePort();
    await host.putConfig('allow-closed', { allowed_hosts: `127.0.0.1:${closed}` });
    await linkClient('allow-closed');
    try {
      const reply = await call(port, `/raw?url=${encodeURIComponent(`http://127.0.0.1:${closed}/`)}`);
      assert.deepEqual([reply.status, reply.body], [502, 'error-code: connection-refused\n']);
    } finally {
      await linkClient('allow-first');
    }
  });

  it('reports TLS-protocol-error when https meets a plain HTTP server', async () => {
    const reply = await call(
      port,
      `/raw?url=${encodeURIComponent(`https://127.0.0.1:${allowed.port}/hello`)}`,
    );
    assert.deepEqual([reply.status, reply.body], [502, 'error-code: TLS-protocol-error\n']);
  });

  it('denies the next request once the link is deleted, and allows again when it is back', async () => {
    await host.deleteLink({ source_id: 'fetcher', wit_namespace: 'wasi', wit_package: 'http' });
    try {
      const reply = await call(port, `/raw?url=${allowed.url('/hello')}`);
      assert.deepEqual([reply.status, reply.body], [502, 'error-code: HTTP-request-denied\n']);
    } finally {
      await linkClient('allow-first');
    }
    assert.equal((await call(port, `/raw?url=${allowed.url('/hello')}`)).status, 200);
  });

  it('applies a changed link config to the next request', async () => {
    await linkClient('allow-other');
    try {
      const nowAllowed = await call(port, `/raw?url=${other.url('/hello')}`);
      assert.deepEqual([nowAllowed.status, nowAllowed.body], [200, `hello from ${other.port}\n`]);
      const nowDenied = await call(port, `/raw?url=${allowed.url('/hello')}`);
      assert.equal(nowDenied.body, 'error-code: HTTP-request-denied\n');
    } finally {
      await linkClient('allow-first');
    }
  });

  it('refuses a link with a malformed allowed_hosts entry, and then denies rather than keep the old list', async () => {
    await host.putConfig('allow-bad', { allowed_hosts: `http://127.0.0.1:${allowed.port}` });
    try {
      await assert.rejects(linkClient('allow-bad'), { code: 'INVALID_ARGUMENT' });
      const reply = await call(port, `/raw?url=${allowed.url('/hello')}`);
      assert.equal(reply.body, 'error-code: HTTP-request-denied\n');
    } finally {
      await linkClient('allow-first');
    }
  });

  it('measures a request through the provider against the same request made directly', async (t) => {
    const rounds = 40;
    const target = `http://127.0.0.1:${allowed.port}/hello`;
    const paths = {
      direct: () => fetch(target).then((r) => r.text()),
      component: () => call(port, '/raw'),
      denied: () => call(port, `/raw?url=${other.url('/hello')}`),
      through: () => call(port, `/raw?url=${allowed.url('/hello')}`),
      throughFetch: () => call(port, `/fetch?url=${allowed.url('/hello')}`),
    };
    type Path = keyof typeof paths;
    const samples = Object.fromEntries(Object.keys(paths).map((k) => [k, [] as number[]])) as Record<
      Path,
      number[]
    >;
    // Interleaved, so that a burst of load elsewhere on the machine hits every path alike.
    await withDeadline(
      (async () => {
        for (let i = 0; i < rounds; i++) {
          for (const [name, run] of Object.entries(paths) as [Path, () => Promise<unknown>][]) {
            const started = performance.now();
            await run();
            samples[name].push(performance.now() - started);
          }
        }
      })(),
      60_000,
      'the latency rounds',
    );
    const median = (name: Path): number => samples[name].sort((a, b) => a - b)[Math.floor(rounds / 2)] ?? 0;
    const us = (ms: number): string => `${Math.round(ms * 1000)} µs`;
    t.diagnostic(
      `median of ${rounds}: upstream directly ${us(median('direct'))}; component without an outgoing ` +
        `call ${us(median('component'))}; with one the provider refuses (no network) ` +
        `${us(median('denied'))}; with one (wasi:http) ${us(median('through'))}, (fetch()) ` +
        `${us(median('throughFetch'))}`,
    );
    assert.ok(median('through') < 250, `a request through the provider took ${us(median('through'))}`);
  });
});
