/**
 * Signed components on a host: the demo component, signed in the test, starts and its claims show in
 * `component_scaled` as 1.x reports them; every start and update verifies the claims, and a failure
 * ends in `component_scale_failed` with its code. `requireSigned` refuses unsigned components and
 * provider programs; `allowedIssuers` refuses other accounts; a host key gives a stable id.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createMemoryLattice } from '@cirrus/lattice';
import type { MemoryLattice } from '@cirrus/lattice';
import { Nkey, signComponent } from '@cirrus/protocol';
import type { SignComponentOptions } from '@cirrus/protocol';
import { tempDir } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import type { Host, HostOptions } from '../src/index.ts';
import { EventLog, WITH_BUILTINS } from './support.ts';

const HELLO_WASM = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));
const GREETER_MAIN = fileURLToPath(
  new URL('../../../examples/greeter-provider/src/main.ts', import.meta.url),
);

const ACCOUNT = Nkey.create('account');
const OTHER_ACCOUNT = Nkey.create('account');
const MODULE = Nkey.create('module');
const START_MS = 60_000;

function leb(bytes: Uint8Array, pos: number): [number, number] {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    const b = bytes[pos++] as number;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, pos];
  }
}

/** Top-level sections of the binary in `bytes[start, end)`: `[id, contentStart, contentEnd]`. */
function sections(bytes: Uint8Array, start: number, end: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let pos = start + 8; pos < end;) {
    const id = bytes[pos] as number;
    const [size, content] = leb(bytes, pos + 1);
    out.push([id, content, content + size]);
    pos = content + size;
  }
  return out;
}

/** A copy with one byte in the middle of the first core module's code section changed. */
function changeOneCodeByte(binary: Uint8Array): Uint8Array {
  const copy = new Uint8Array(binary);
  for (const [id, start, end] of sections(copy, 0, copy.byteLength)) {
    if (id !== 1) continue;
    const code = sections(copy, start, end).find(([innerId]) => innerId === 10);
    if (code === undefined) continue;
    const middle = Math.floor((code[1] + code[2]) / 2);
    copy[middle] = (copy[middle] as number) ^ 0x01;
    return copy;
  }
  throw new Error('no core module with a code section');
}

describe('signed components on a host', () => {
  let dir: TempDir;
  let hello: Uint8Array;
  const files: Record<string, string> = {};
  const lattices: MemoryLattice[] = [];
  const hosts: Host[] = [];

  async function sign(name: string, extra: Partial<SignComponentOptions> = {}): Promise<string> {
    const signed = await signComponent(hello, {
      issuer: ACCOUNT,
      subject: MODULE,
      name: 'hello',
      ver: '0.1.0',
      rev: 1,
      tags: ['demo'],
      ...extra,
    });
    const file = join(dir.path, `${name}.wasm`);
    await writeFile(file, signed.bytes);
    return file;
  }

  async function newHost(options: Partial<HostOptions> = {}): Promise<{ host: Host; log: EventLog }> {
    const lattice = createMemoryLattice();
    lattices.push(lattice);
    const log = new EventLog(lattice.connect());
    const host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      ...options,
    });
    hosts.push(host);
    return { host, log };
  }

  /** Scales `ref` up and expects the start to fail with `code`, in the rejection and in the event. */
  async function refused(host: Host, log: EventLog, ref: string, id: string, code: string): Promise<void> {
    const mark = log.mark;
    await assert.rejects(host.scaleComponent({ componentRef: ref, componentId: id, count: 1 }), { code });
    const failed = await log.next('component_scale_failed', mark, (e) => e.data['component_id'] === id);
    assert.match(String(failed.data['error']), new RegExp(`^${code}: `));
    assert.equal(failed.data['image_ref'], ref);
    assert.ok(!host.inventory().components.some((c) => c.id === id), `${id} does not run`);
  }

  before(async () => {
    dir = await tempDir();
    hello = new Uint8Array(await readFile(HELLO_WASM));
    files['signed'] = await sign('signed');
    files['other'] = await sign('other', { issuer: OTHER_ACCOUNT });
    files['expired'] = await sign('expired', { expires: Math.floor(Date.now() / 1000) - 60 });
    files['early'] = await sign('early', { notBefore: Math.floor(Date.now() / 1000) + 3600 });
    files['tampered'] = join(dir.path, 'tampered.wasm');
    await writeFile(files['tampered'], changeOneCodeByte(await readFile(files['signed'])));
  });

  after(async () => {
    for (const host of hosts) await host.stop();
    for (const lattice of lattices) await lattice.close();
    await dir.remove();
  });

  it('starts a signed component and reports its claims in component_scaled, as 1.x does', async () => {
    const { host, log } = await newHost();
    await host.scaleComponent({ componentRef: files['signed'] as string, componentId: 'hello', count: 1 });
    const scaled = await log.next('component_scaled', 0, (e) => e.data['component_id'] === 'hello', START_MS);
    assert.equal(scaled.data['public_key'], MODULE.publicKey);
    assert.deepEqual(scaled.data['claims'], {
      call_alias: null,
      issuer: ACCOUNT.publicKey,
      tags: ['demo'],
      name: 'hello',
      version: '0.1.0',
      revision: 1,
      not_before_human: 'never',
      expires_human: 'never',
    });

    // Stored as 1.x stores them, so claims.get (cirrus get claims) lists the component.
    assert.deepEqual(
      host.claims().find((c) => c['subject'] === MODULE.publicKey),
      {
        call_alias: '',
        iss: ACCOUNT.publicKey,
        issuer: ACCOUNT.publicKey,
        name: 'hello',
        rev: '1',
        revision: '1',
        sub: MODULE.publicKey,
        subject: MODULE.publicKey,
        tags: 'demo',
        version: '0.1.0',
      },
    );

    // Every update is verified again: a tampered image is refused and the running one stays.
    const mark = log.mark;
    await assert.rejects(
      host.updateComponent({ componentId: 'hello', newComponentRef: files['tampered'] as string }),
      { code: 'CLAIMS_HASH_MISMATCH' },
    );
    const failed = await log.next('component_scale_failed', mark, (e) => e.data['component_id'] === 'hello');
    assert.match(
      String(failed.data['error']),
      /^CLAIMS_HASH_MISMATCH: the code of .*tampered\.wasm does not match/,
    );
    assert.equal(host.inventory().components.find((c) => c.id === 'hello')?.image_ref, files['signed']);
  });

  it('refuses a component whose code changed after signing, and expired or not yet valid claims', async () => {
    const { host, log } = await newHost();
    await refused(host, log, files['tampered'] as string, 'tampered', 'CLAIMS_HASH_MISMATCH');
    await refused(host, log, files['expired'] as string, 'expired', 'CLAIMS_EXPIRED');
    await refused(host, log, files['early'] as string, 'early', 'CLAIMS_NOT_YET_VALID');
  });

  it('judges exp and nbf by the host clock', async () => {
    const later = new Date(Date.now() + 2 * 3600 * 1000);
    const { host, log } = await newHost({
      clock: { now: () => later, monotonicMs: () => performance.now() },
    });
    // Valid for another hour by the system clock; this host's clock is two hours ahead.
    const expiresSoon = await sign('expires-soon', { expires: Math.floor(Date.now() / 1000) + 3600 });
    await refused(host, log, expiresSoon, 'soon', 'CLAIMS_EXPIRED');
  });

  it('with requireSigned and allowedIssuers: the allowed signed component runs, others are refused', async () => {
    const { host, log } = await newHost({ requireSigned: true, allowedIssuers: [ACCOUNT.publicKey] });
    await host.scaleComponent({ componentRef: files['signed'] as string, componentId: 'ok', count: 1 });
    await log.next('component_scaled', 0, (e) => e.data['component_id'] === 'ok', START_MS);
    await refused(host, log, HELLO_WASM, 'unsigned', 'CLAIMS_REQUIRED');
    await refused(host, log, files['other'] as string, 'other', 'CLAIMS_ISSUER_NOT_ALLOWED');
  });

  it('with requireSigned, provider programs (no claims) are refused; built-ins run', async () => {
    const { host, log } = await newHost({ requireSigned: true });
    const mark = log.mark;
    const ref = pathToFileURL(GREETER_MAIN).href;
    await assert.rejects(host.startProvider({ providerRef: ref, providerId: 'greeter' }), {
      code: 'CLAIMS_REQUIRED',
    });
    const failed = await log.next('provider_start_failed', mark, (e) => e.data['provider_id'] === 'greeter');
    assert.match(String(failed.data['error']), /^CLAIMS_REQUIRED: provider program .* carries no claims/);
    await host.startProvider({ providerRef: 'wasmcloud+builtin://keyvalue', providerId: 'kv' });
    assert.ok(host.hasProvider('kv'));
  });

  it('a host key gives the same id on every start; a bad key or issuer is refused up front', async () => {
    const key = Nkey.create('server');
    const first = await newHost({ hostKey: key });
    assert.equal(first.host.id, key.publicKey);
    await first.host.stop();
    const second = await newHost({ hostKey: Nkey.fromSeed(key.exportSeed()) });
    assert.equal(second.host.id, key.publicKey);

    const lattice = createMemoryLattice();
    lattices.push(lattice);
    await assert.rejects(createHost({ ...WITH_BUILTINS, lattice: lattice.connect(), hostKey: ACCOUNT }), {
      code: 'NKEY_WRONG_TYPE',
    });
    await assert.rejects(
      createHost({ ...WITH_BUILTINS, lattice: lattice.connect(), allowedIssuers: [MODULE.publicKey] }),
      {
        code: 'NKEY_WRONG_TYPE',
        message: /allowed issuer M.* is a module key/,
      },
    );
    await assert.rejects(
      createHost({ ...WITH_BUILTINS, lattice: lattice.connect(), allowedIssuers: ['ANOTAKEY'] }),
      {
        code: 'NKEY_MALFORMED',
      },
    );
  });
});
