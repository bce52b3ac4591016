/**
 * The runtime against real components in real worker threads. Signals measured: the typed error
 * code of each failure, how long a failing call takes against its deadline, and whether a healthy
 * component keeps answering meanwhile.
 */
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveLimits } from '@cirrus/protocol';
import {
  assemble,
  BUSY_LOOP_WAT,
  CORE_MODULE_WAT,
  HUGE_MEMORY_WAT,
  MEMORY_GROWER_WAT,
  tempDir,
  TRAP_WAT,
  TOP_LEVEL_IMPORT_WAT,
  UNKNOWN_IMPORT_WAT,
  withDeadline,
} from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createComponentRuntime } from '../src/index.ts';
import type { ComponentRuntime, HttpResponseSink, ImportCall } from '../src/index.ts';
import { HELLO_WASM } from './hello.ts';

const GET = { method: 'GET', pathWithQuery: '/x', scheme: 'http' as const, authority: 'test', headers: [] };

interface Collected {
  status: number | undefined;
  headers: string[];
  body: string;
  ended: boolean;
}

function collector(): { sink: HttpResponseSink; result: Collected } {
  const result: Collected = { status: undefined, headers: [], body: '', ended: false };
  const decoder = new TextDecoder();
  return {
    result,
    sink: {
      head(status, headers) {
        result.status = status;
        result.headers = headers;
      },
      async write(chunk) {
        result.body += decoder.decode(chunk, { stream: true });
      },
      end(chunks) {
        for (const c of chunks) result.body += decoder.decode(c, { stream: true });
        result.ended = true;
      },
    },
  };
}

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

describe('component runtime', () => {
  let dir: TempDir;
  let runtime: ComponentRuntime;
  const files: Record<string, string> = {};

  before(async () => {
    dir = await tempDir();
    const limits = resolveLimits({
      invocationTimeoutMs: 500,
      poolAcquireTimeoutMs: 200,
      instanceMemoryMaxBytes: 64 * 1024 * 1024,
    });
    runtime = createComponentRuntime({ cacheDir: join(dir.path, 'cache'), limits });
    const wats = {
      loop: BUSY_LOOP_WAT,
      trap: TRAP_WAT,
      grower: MEMORY_GROWER_WAT,
      huge: HUGE_MEMORY_WAT,
      unknown: UNKNOWN_IMPORT_WAT,
      topLevel: TOP_LEVEL_IMPORT_WAT,
      core: CORE_MODULE_WAT,
    };
    for (const [name, wat] of Object.entries(wats)) {
      files[name] = join(dir.path, `${name}.wasm`);
      await writeFile(files[name], await assemble(wat));
    }
  });

  after(async () => {
    await runtime.close();
    await dir.remove();
  });

  it('serves the hello component and reuses warm instances', async () => {
    const hello = await runtime.load(HELLO_WASM, { allowFileLoad: true });
    assert.match(hello.httpExport ?? '', /^wasi:http\/incoming-handler@0\.2\./);
    const pool = runtime.createPool(hello, {
      componentId: 'hello',
      maxInstances: 1,
      environment: { GREETING: 'Hi' },
    });
    await pool.warm();
    const first = collector();
    await pool.handleHttp(GET, null, first.sink);
    const second = collector();
    await pool.handleHttp({ ...GET, pathWithQuery: '/second?q=1' }, null, second.sink);
    assert.equal(first.result.status, 200);
    assert.match(first.result.body, /^Hi!\nmethod: GET\npath: \/x\n/);
    assert.match(
      second.result.body,
      /path: \/second\?q=1\ninstance: [0-9a-f]{4} \(request #2 on this instance\)/,
    );
    await pool.close();
  });

  it('fails a busy loop with DEADLINE_EXCEEDED within its deadline while another component keeps serving', async () => {
    const loop = runtime.createPool(await runtime.load(files['loop'] as string, { allowFileLoad: true }), {
      componentId: 'loop',
      maxInstances: 1,
      invocationTimeoutMs: 300,
    });
    const hello = runtime.createPool(await runtime.load(HELLO_WASM, { allowFileLoad: true }), {
      componentId: 'hello2',
      maxInstances: 2,
    });
    await Promise.all([loop.warm(), hello.warm()]);
    const started = Date.now();
    const stuck = loop.handleHttp(GET, null, collector().sink).then(
      () => undefined,
      (err: unknown) => ({ err, ms: Date.now() - started }),
    );
    let served = 0;
    while (Date.now() - started < 250) {
      const c = collector();
      await hello.handleHttp(GET, null, c.sink);
      assert.equal(c.result.status, 200);
      served++;
    }
    const outcome = await withDeadline(stuck, 1300, 'the busy loop to be stopped');
    assert.equal(codeOf(outcome?.err), 'DEADLINE_EXCEEDED');
    assert.ok((outcome?.ms ?? 0) >= 290 && (outcome?.ms ?? 0) < 1300, `failed after ${outcome?.ms} ms`);
    assert.ok(served > 5, `hello answered ${served} requests while the loop ran`);

    const again = await loop.handleHttp(GET, null, collector().sink).catch((err: unknown) => err);
    assert.equal(codeOf(again), 'DEADLINE_EXCEEDED', 'a replacement instance serves the next call');
    await Promise.all([loop.close(), hello.close()]);
  });

  it('reports a trap as GUEST_TRAP and replaces the instance', async () => {
    const pool = runtime.createPool(await runtime.load(files['trap'] as string, { allowFileLoad: true }), {
      componentId: 'trap',
      maxInstances: 1,
    });
    await pool.warm();
    for (let i = 0; i < 2; i++) {
      const err = await pool.handleHttp(GET, null, collector().sink).catch((e: unknown) => e);
      assert.equal(codeOf(err), 'GUEST_TRAP');
      assert.match(String((err as Error).message), /unreachable/);
    }
    await pool.close();
  });

  it('caps linear memory: a component that grows without bound traps at the cap', async () => {
    const pool = runtime.createPool(await runtime.load(files['grower'] as string, { allowFileLoad: true }), {
      componentId: 'grower',
      maxInstances: 1,
    });
    await pool.warm();
    const err = await pool.handleHttp(GET, null, collector().sink).catch((e: unknown) => e);
    assert.equal(codeOf(err), 'GUEST_TRAP');
    await pool.close();
  });

  it('refuses a component whose initial memory exceeds the cap with INSTANTIATION_FAILED', async () => {
    await assert.rejects(runtime.load(files['huge'] as string, { allowFileLoad: true }), (err) => {
      assert.equal(codeOf(err), 'INSTANTIATION_FAILED');
      return true;
    });
  });

  it('answers AT_CAPACITY when every instance is busy past the acquire timeout', async () => {
    const pool = runtime.createPool(await runtime.load(files['loop'] as string, { allowFileLoad: true }), {
      componentId: 'busy',
      maxInstances: 1,
      invocationTimeoutMs: 2000,
    });
    await pool.warm();
    const stuck = pool.handleHttp(GET, null, collector().sink).catch((e: unknown) => e);
    const started = Date.now();
    const err = await pool.handleHttp(GET, null, collector().sink).catch((e: unknown) => e);
    assert.equal(codeOf(err), 'AT_CAPACITY');
    assert.ok(Date.now() - started < 1000);
    await pool.close();
    assert.equal(codeOf(await stuck), 'INSTANCE_CRASHED');
  });

  it("serves an import of another interface through the pool's import handler", async () => {
    const component = await runtime.load(files['unknown'] as string, { allowFileLoad: true });
    assert.deepEqual(component.linkedImports, ['acme:unknown/thing']);
    const calls: ImportCall[] = [];
    const pool = runtime.createPool(component, {
      componentId: 'poker',
      maxInstances: 1,
      imports: async (call) => {
        calls.push(call);
        return undefined;
      },
    });
    // The guest pokes, then returns without a response.
    await assert.rejects(
      pool.handleHttp(GET, null, collector().sink),
      (err) => codeOf(err) === 'NO_RESPONSE',
    );
    assert.equal(calls.length, 1);
    const [call] = calls as [ImportCall];
    assert.deepEqual([call.interface, call.fn, call.args], ['acme:unknown/thing', 'poke', []]);
    assert.ok(call.invocation > 0, 'the call carries the guest call it belongs to');
    await pool.close();
  });

  it('fails an import nobody serves at once with LINK_NOT_FOUND', async () => {
    const component = await runtime.load(files['unknown'] as string, { allowFileLoad: true });
    const pool = runtime.createPool(component, { componentId: 'unserved', maxInstances: 1 });
    await pool.warm();
    const began = performance.now();
    await assert.rejects(pool.handleHttp(GET, null, collector().sink), (err) => {
      assert.equal(codeOf(err), 'LINK_NOT_FOUND');
      assert.match((err as Error).message, /unserved has no link for acme:unknown\/thing/);
      return true;
    });
    assert.ok(performance.now() - began < 50, `failed after ${Math.round(performance.now() - began)} ms`);
    await pool.close();
  });

  it('rejects bad binaries with stable codes', async () => {
    const notWasm = join(dir.path, 'readme.wasm');
    await writeFile(notWasm, 'this is not wasm');
    const truncated = join(dir.path, 'truncated.wasm');
    const hello = await import('node:fs/promises').then((fs) => fs.readFile(HELLO_WASM));
    await writeFile(truncated, hello.subarray(0, Math.floor(hello.byteLength / 2)));
    const cases: [string, string][] = [
      [notWasm, 'NOT_WASM'],
      [truncated, 'TRUNCATED_WASM'],
      [files['core'] as string, 'NOT_A_COMPONENT'],
      [files['topLevel'] as string, 'UNSUPPORTED_IMPORT'],
      [join(dir.path, 'missing.wasm'), 'ARTIFACT_NOT_FOUND'],
    ];
    for (const [file, code] of cases) {
      await assert.rejects(runtime.load(file, { allowFileLoad: true }), (err) => {
        assert.equal(codeOf(err), code, file);
        return true;
      });
    }
    await assert.rejects(
      runtime.load(HELLO_WASM, { allowFileLoad: false }),
      (err) => codeOf(err) === 'FILE_LOAD_DENIED',
    );
  });

  it('caches transpiled output on disk and leaves no temporary files', async () => {
    const cacheDir = join(dir.path, 'cache');
    const fresh = createComponentRuntime({ cacheDir });
    const loaded = await fresh.load(HELLO_WASM, { allowFileLoad: true });
    assert.equal(loaded.fromCache, true);
    const entries = await readdir(join(cacheDir, 'components'));
    assert.deepEqual(
      entries.filter((e) => e.startsWith('.tmp')),
      [],
    );
    await fresh.close();
  });
});
