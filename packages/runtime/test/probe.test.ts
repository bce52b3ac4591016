/**
 * Host capabilities as a real TypeScript component sees them (the probe fixture, built by the test
 * command): streamed request and response bodies, timers that suspend the guest through JSPI,
 * stdout/stderr into the host log, environment from config, and the sandbox.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { resolveLimits } from '@cirrus/protocol';
import type { Logger } from '@cirrus/protocol';
import { tempDir, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createComponentRuntime } from '../src/index.ts';
import type { ComponentPool, ComponentRuntime, HttpBody, HttpResponseSink } from '../src/index.ts';

const PROBE_WASM = fileURLToPath(new URL('../../testing/fixtures/probe/build/probe.wasm', import.meta.url));

interface Timed {
  status: number | undefined;
  body: Uint8Array[];
  /** Milliseconds from the call's start at which each body chunk arrived. */
  arrivals: number[];
  text(): string;
}

function timedSink(): { sink: HttpResponseSink; result: Timed } {
  const started = Date.now();
  const result: Timed = {
    status: undefined,
    body: [],
    arrivals: [],
    text: () => Buffer.concat(result.body).toString(),
  };
  return {
    result,
    sink: {
      head(status) {
        result.status = status;
      },
      async write(chunk) {
        result.body.push(chunk.slice());
        result.arrivals.push(Date.now() - started);
      },
      end(chunks) {
        for (const c of chunks) {
          result.body.push(c.slice());
          result.arrivals.push(Date.now() - started);
        }
      },
    },
  };
}

const request = (path: string, method = 'GET') => ({
  method,
  pathWithQuery: path,
  scheme: 'http' as const,
  authority: 'probe',
  headers: [],
});

async function* chunks(parts: Uint8Array[], gapMs: number): AsyncIterable<Uint8Array> {
  for (const part of parts) {
    await new Promise((resolve) => setTimeout(resolve, gapMs));
    yield part;
  }
}

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

describe('probe component', () => {
  let dir: TempDir;
  let runtime: ComponentRuntime;
  let pool: ComponentPool;
  const logs: { level: string; message: string; fields: Record<string, unknown> }[] = [];

  before(async () => {
    dir = await tempDir();
    const logger: Logger = {
      debug: () => {},
      info: (message, fields = {}) => logs.push({ level: 'info', message, fields }),
      warn: (message, fields = {}) => logs.push({ level: 'warn', message, fields }),
      error: (message, fields = {}) => logs.push({ level: 'error', message, fields }),
      child: () => logger,
    };
    runtime = createComponentRuntime({
      cacheDir: join(dir.path, 'cache'),
      limits: resolveLimits({ invocationTimeoutMs: 3000, httpResponseWindowBytes: 64 * 1024 }),
      logger,
    });
    const probe = await runtime.load(PROBE_WASM, { allowFileLoad: true });
    pool = runtime.createPool(probe, {
      componentId: 'probe',
      maxInstances: 2,
      environment: { MODE: 'test', LEVEL: '3' },
    });
    await pool.warm();
  });

  after(async () => {
    await runtime.close();
    await dir.remove();
  });

  const call = async (path: string, body: HttpBody = null, method = 'GET'): Promise<Timed> => {
    const { sink, result } = timedSink();
    await withDeadline(pool.handleHttp(request(path, method), body, sink), 10_000, `probe ${path}`);
    return result;
  };

  it('streams a request body into the component and the echo back out', async () => {
    const parts = Array.from({ length: 5 }, (_, i) => new TextEncoder().encode(`part-${i};`.repeat(2000)));
    const echoed = await call('/echo', chunks(parts, 10), 'POST');
    assert.equal(echoed.status, 200);
    assert.equal(echoed.text(), Buffer.concat(parts).toString());
  });

  it('suspends the guest on a timer without blocking other instances', async () => {
    await Promise.all([call('/env'), call('/env')]);
    const started = Date.now();
    const [slow, fast] = await Promise.all([call('/sleep?ms=1000'), call('/env')]);
    assert.equal(slow.text(), 'slept 1000\n');
    assert.equal(fast.status, 200);
    assert.ok(Date.now() - started >= 990);
    // Generous: a loaded CI machine can delay the fast call by hundreds of ms, never by the sleep.
    assert.ok((fast.arrivals[0] ?? Infinity) < 800, 'the other instance answered during the sleep');
  });

  it('streams a response: chunks arrive as they are written, not at the end', async () => {
    const streamed = await call('/stream?chunks=3&ms=400');
    assert.equal(streamed.text(), 'chunk 0\nchunk 1\nchunk 2\n');
    const first = streamed.arrivals[0] ?? Infinity;
    const last = streamed.arrivals[streamed.arrivals.length - 1] ?? 0;
    assert.ok(first < 350, `first chunk after ${first} ms`);
    assert.ok(last - first >= 700, `chunks spread over ${last - first} ms`);
  });

  it('delivers a response larger than the output window intact', async () => {
    const big = await call('/big?bytes=1000000');
    assert.equal(Buffer.concat(big.body).byteLength, 1_000_000);
    assert.ok(big.body.length > 1, 'the body was streamed in several pieces');
  });

  it('sends stdout and stderr lines to the host log', async () => {
    await call('/log');
    assert.ok(
      logs.some(
        (l) =>
          l.level === 'info' && l.message === 'probe says hello on stdout' && l.fields['stream'] === 'stdout',
      ),
    );
    assert.ok(
      logs.some(
        (l) =>
          l.level === 'warn' && l.message === 'probe says hello on stderr' && l.fields['stream'] === 'stderr',
      ),
    );
  });

  it('sees its named config as environment variables', async () => {
    assert.equal((await call('/env')).text(), 'MODE=test\nLEVEL=3\n');
  });

  it('has no network without a capability: outgoing HTTP is denied', async () => {
    const denied = await call('/fetch');
    assert.equal(denied.status, 502);
    assert.match(denied.text(), /fetch failed/);
  });

  it('turns an exception in the guest into GUEST_TRAP and keeps serving', async () => {
    const err = await call('/throw').catch((e: unknown) => e);
    assert.equal(codeOf(err), 'GUEST_TRAP');
    assert.equal((await call('/env')).status, 200);
  });

  it('stops a JavaScript busy loop at its deadline', async () => {
    const { sink } = timedSink();
    const started = Date.now();
    const err = await pool
      .handleHttp(request('/loop'), null, sink, { deadlineMs: 300 })
      .catch((e: unknown) => e);
    assert.equal(codeOf(err), 'DEADLINE_EXCEEDED');
    assert.ok(Date.now() - started < 1300);
    assert.equal((await call('/env')).status, 200);
  });
});
