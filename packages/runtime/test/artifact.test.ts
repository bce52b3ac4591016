/**
 * Loading component bytes: local files and http(s) URLs, with the size limit enforced while reading
 * and the fetch deadline applied; and the binary checks that run before anything is compiled.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { assemble } from '@cirrus/testing';
import { loadArtifact } from '../src/artifact.ts';
import { capModuleMemory, inspectWasm } from '../src/wasm-binary.ts';
import { HELLO_WASM } from './hello.ts';

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

describe('artifact loading', () => {
  let server: Server;
  let base: string;
  let hello: Buffer;

  before(async () => {
    hello = await readFile(HELLO_WASM);
    server = createServer((req, res) => {
      if (req.url === '/hello.wasm') {
        res.writeHead(200, { 'content-length': hello.byteLength });
        res.end(hello);
      } else if (req.url === '/chunked.wasm') {
        res.writeHead(200);
        res.write(hello.subarray(0, 1000));
        res.end(hello.subarray(1000, 5000));
      } else if (req.url === '/slow.wasm') {
        res.writeHead(200);
        res.write(hello.subarray(0, 10));
      } else {
        res.writeHead(404);
        res.end('not found');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const options = { maxBytes: 64 * 1024 * 1024, fetchTimeoutMs: 2000, allowFileLoad: true };

  it('downloads a component over http with the same digest as the file', async () => {
    const [fromHttp, fromFile] = await Promise.all([
      loadArtifact(`${base}/hello.wasm`, options),
      loadArtifact(HELLO_WASM, options),
    ]);
    assert.equal(fromHttp.bytes.byteLength, hello.byteLength);
    assert.equal(fromHttp.digest, fromFile.digest);
    assert.match(fromHttp.digest, /^sha256:[0-9a-f]{64}$/);
  });

  it('accepts file:// URLs', async () => {
    const artifact = await loadArtifact(`file://${HELLO_WASM}`, options);
    assert.equal(artifact.bytes.byteLength, hello.byteLength);
  });

  it('enforces the size limit from content-length, while streaming, and for files', async () => {
    const small = { ...options, maxBytes: 2000 };
    for (const ref of [`${base}/hello.wasm`, `${base}/chunked.wasm`, HELLO_WASM]) {
      await assert.rejects(loadArtifact(ref, small), (err) => codeOf(err) === 'ARTIFACT_TOO_LARGE', ref);
    }
  });

  it('fails downloads with ARTIFACT_FETCH_FAILED: HTTP errors, stalls past the deadline, refused connections', async () => {
    await assert.rejects(loadArtifact(`${base}/missing.wasm`, options), (err) => {
      assert.equal(codeOf(err), 'ARTIFACT_FETCH_FAILED');
      assert.match(String((err as Error).message), /HTTP 404/);
      return true;
    });
    const started = Date.now();
    await assert.rejects(
      loadArtifact(`${base}/slow.wasm`, { ...options, fetchTimeoutMs: 300 }),
      (err) => codeOf(err) === 'ARTIFACT_FETCH_FAILED',
    );
    assert.ok(Date.now() - started < 2000);
    await assert.rejects(
      loadArtifact('http://127.0.0.1:9/x.wasm', options),
      (err) => codeOf(err) === 'ARTIFACT_FETCH_FAILED',
    );
  });

  it('refuses unsupported references and denied file loads', async () => {
    for (const ref of [
      'ghcr.io/acme/hello:1.0',
      'oci://ghcr.io/acme/hello:1.0',
      'hello.wasm',
      'ftp://x/y.wasm',
    ]) {
      await assert.rejects(loadArtifact(ref, options), (err) => codeOf(err) === 'UNSUPPORTED_REFERENCE', ref);
    }
    await assert.rejects(
      loadArtifact(HELLO_WASM, { ...options, allowFileLoad: false }),
      (err) => codeOf(err) === 'FILE_LOAD_DENIED',
    );
  });
});

describe('binary checks', () => {
  it('classifies components, core modules and garbage', async () => {
    assert.equal(inspectWasm(await assemble('(component)'), 'c'), 'component');
    assert.equal(inspectWasm(await assemble('(module)'), 'm'), 'module');
    const cases: [Uint8Array, string][] = [
      [new TextEncoder().encode('#!/bin/sh\necho hi\n'), 'NOT_WASM'],
      [new Uint8Array([0x00, 0x61, 0x73]), 'TRUNCATED_WASM'],
      [new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x0a, 0x00, 0x01, 0x00]), 'MALFORMED_COMPONENT'],
      [new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x7f]), 'TRUNCATED_WASM'],
      [new Uint8Array([]), 'NOT_WASM'],
    ];
    for (const [bytes, code] of cases) {
      assert.throws(
        () => inspectWasm(bytes, 'input'),
        (err) => codeOf(err) === code,
        code,
      );
    }
  });

  it('rewrites a memory maximum so growth stops at the cap', async () => {
    const module = await assemble(`(module
      (memory (export "memory") 1)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);
    const capped = capModuleMemory(module, 4 * 65536, 'test');
    const { instance } = await WebAssembly.instantiate(capped);
    const grow = instance.exports['grow'] as (pages: number) => number;
    assert.equal(grow(3), 1, 'growing to the cap works');
    assert.equal(grow(1), -1, 'growing past the cap fails');

    const bounded = await assemble(`(module
      (memory 1 2)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);
    const kept = await WebAssembly.instantiate(capModuleMemory(bounded, 1024 * 65536, 'test'));
    const growKept = kept.instance.exports['grow'] as (pages: number) => number;
    assert.equal(growKept(2), -1, 'a lower declared maximum is kept');
    assert.equal(growKept(1), 1);
    assert.throws(
      () => capModuleMemory(bounded, 0, 'test'),
      (err) => codeOf(err) === 'INSTANTIATION_FAILED',
      'a module whose initial memory exceeds the cap is refused',
    );
  });

  it('caps a 64-bit memory too, which it once left to grow without bound', async () => {
    const module = await assemble(`(module
      (memory (export "memory") i64 1)
      (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0))))`);
    const { instance } = await WebAssembly.instantiate(capModuleMemory(module, 4 * 65536, 'test'));
    const grow = instance.exports['grow'] as (pages: bigint) => bigint;
    assert.equal(grow(3n), 1n, 'growing to the cap works');
    assert.equal(grow(1n), -1n, 'growing past the cap fails');
  });

  it('refuses a memory section that does not end where its size says, instead of reading on', () => {
    const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    // Two memories announced, one present; a custom section follows.
    const short = Uint8Array.from([...header, 0x05, 0x03, 0x02, 0x00, 0x01, 0x00, 0x03, 0x01, 0x78, 0x00]);
    // Unknown limits flags (0x10).
    const flags = Uint8Array.from([...header, 0x05, 0x03, 0x01, 0x10, 0x01]);
    for (const module of [short, flags]) {
      assert.throws(
        () => capModuleMemory(module, 1024 * 65536, 'test'),
        (err) => codeOf(err) === 'MALFORMED_COMPONENT',
      );
    }
  });
});
