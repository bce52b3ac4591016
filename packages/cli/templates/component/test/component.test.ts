/**
 * Deploys build/__NAME__.wasm with app.yaml, as `cirrus up --app app.yaml` does, on a free port, and
 * sends it a request. It builds nothing: run `npm run build` first.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const PROJECT = fileURLToPath(new URL('..', import.meta.url));
const CIRRUS = join(PROJECT, 'node_modules', '.bin', 'cirrus');
const IMAGE = './build/__NAME__.wasm';
const ADDRESS = '127.0.0.1:8000';
/** Starting a host and loading a component it has not seen before takes a few seconds. */
const READY_MS = 60_000;
const REQUEST_MS = 5_000;
/** The host lets requests in flight finish before it exits. */
const STOP_MS = 15_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

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

/** Resolves once `child` has printed `text`; fails, with all it printed, if it exits or `ms` pass first. */
function printed(child: ChildProcess, text: string, ms: number): Promise<void> {
  let output = '';
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${text}" after ${ms} ms:\n${output}`)), ms);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      if (err === undefined) resolve();
      else reject(err);
    };
    const seen = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes(text)) done();
    };
    child.stdout?.on('data', seen);
    child.stderr?.on('data', seen);
    child.once('exit', (code) => done(new Error(`exited with ${code} before "${text}":\n${output}`)));
    child.once('error', done);
  });
}

/** app.yaml, serving on `port` instead of 8000, with the image path made absolute. */
async function manifestOn(port: number, dir: string): Promise<string> {
  const text = await readFile(join(PROJECT, 'app.yaml'), 'utf8');
  for (const expected of [IMAGE, ADDRESS]) {
    assert.ok(text.includes(expected), `app.yaml no longer has ${expected}: change this test to match`);
  }
  const file = join(dir, 'app.yaml');
  await writeFile(
    file,
    text.replaceAll(IMAGE, JSON.stringify(join(PROJECT, IMAGE))).replaceAll(ADDRESS, `127.0.0.1:${port}`),
  );
  return file;
}

describe('__NAME__', () => {
  let dir: string;
  let host: ChildProcess | undefined;
  let exited: Promise<unknown>;
  let port: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), '__NAME__-test-'));
    port = await freePort();
    const manifest = await manifestOn(port, dir);
    // No dashboard and no local endpoint: a `cirrus up` already running on this machine keeps its own.
    const child = spawn(
      process.execPath,
      [CIRRUS, 'up', '--app', manifest, '--no-dashboard', '--no-local-endpoint'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    host = child;
    exited = new Promise((resolve) => {
      child.once('exit', resolve);
      child.once('error', resolve);
    });
    await printed(child, 'Press Ctrl+C to stop.', READY_MS);
  });

  after(async () => {
    try {
      if (host !== undefined && host.exitCode === null && host.signalCode === null) {
        host.kill('SIGTERM');
        await deadline(exited, STOP_MS, 'cirrus up to stop').catch(async (err: unknown) => {
          host?.kill('SIGKILL');
          await exited;
          throw err;
        });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('answers with the greeting from its config and the path', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/hi`, { signal: AbortSignal.timeout(REQUEST_MS) });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(await response.text(), 'Hello from __NAME__!\npath: /hi\n');
  });
});
