/**
 * `cirrus keys gen` and `cirrus claims sign|inspect` as users run them: seed files are written 0600
 * and never over another file, only the public key is printed, and a signed component inspects back
 * to what was signed, with every check a host makes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Nkey, NKEY_SEED_PATTERN, verifyComponentClaims } from '@cirrus/protocol';
import { assemble, tempDir, TRAP_WAT, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { main } from '../src/index.ts';
import type { CommandContext } from '../src/index.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CIRRUS = join(ROOT, 'packages/cli/bin/cirrus.js');

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function run(argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const context: CommandContext = {
    print: (line) => out.push(line),
    log: (line) => err.push(line),
    env: {},
    signals: new EventEmitter() as unknown as CommandContext['signals'],
    exit: (code) => {
      throw new Error(`exit(${code}) called`);
    },
  };
  return { code: await main(argv, context), out, err };
}

async function mode(file: string): Promise<number> {
  return (await stat(file)).mode & 0o777;
}

async function seedOf(file: string): Promise<Nkey> {
  return Nkey.fromSeed(await readFile(file, 'utf8'));
}

describe('cirrus keys and claims', () => {
  let dir: TempDir;
  let wasm: string;
  let issuerFile: string;

  before(async () => {
    dir = await tempDir();
    wasm = join(dir.path, 'trap.wasm');
    await writeFile(wasm, await assemble(TRAP_WAT));
    issuerFile = join(dir.path, 'issuer.nk');
    const made = await run(['keys', 'gen', 'account', '--output', issuerFile]);
    assert.equal(made.code, 0, made.err.join('\n'));
  });

  after(async () => {
    await dir.remove();
  });

  it('keys gen writes the seed with mode 600 and prints only the public key', async () => {
    for (const type of ['account', 'module', 'service', 'server', 'cluster', 'curve', 'user', 'operator']) {
      const file = join(dir.path, `${type}.nk`);
      const result = await run(['keys', 'gen', type, '--output', file]);
      assert.equal(result.code, 0, result.err.join('\n'));
      assert.equal(await mode(file), 0o600, `${type}: mode 600`);
      const key = await seedOf(file);
      assert.equal(key.type, type);
      assert.deepEqual(result.out, [key.publicKey], 'stdout is the public key alone');
      assert.match(result.err.join('\n'), new RegExp(`seed written to ${file}`));
      const printed = [...result.out, ...result.err].join('\n');
      assert.ok(!printed.includes(key.exportSeed()), 'the seed is not printed');
      assert.equal(printed.match(NKEY_SEED_PATTERN), null, 'no seed at all is printed');
    }
  });

  it('keys gen never writes over a file unless --force, and --force leaves it 600', async () => {
    const file = join(dir.path, 'precious.nk');
    assert.equal((await run(['keys', 'gen', 'account', '--output', file])).code, 0);
    const before = await readFile(file, 'utf8');
    const refused = await run(['keys', 'gen', 'account', '--output', file]);
    assert.equal(refused.code, 1);
    assert.match(refused.err.join('\n'), /error\[FILE_EXISTS\]: .*precious\.nk already exists/);
    assert.equal(await readFile(file, 'utf8'), before, 'the old seed is intact');
    await chmod(file, 0o644);
    const forced = await run(['keys', 'gen', 'account', '--output', file, '--force']);
    assert.equal(forced.code, 0);
    assert.notEqual(await readFile(file, 'utf8'), before);
    assert.equal(await mode(file), 0o600);
    assert.deepEqual(
      (await readdir(dir.path)).filter((f) => f.endsWith('.tmp')),
      [],
      'no temporary file is left',
    );
  });

  it('keys gen refuses a missing or unknown type with a usage error', async () => {
    assert.equal((await run(['keys', 'gen'])).code, 2);
    const unknown = await run(['keys', 'gen', 'wizard']);
    assert.equal(unknown.code, 2);
    assert.match(
      unknown.err.join('\n'),
      /one of: account, module, service, server, cluster, operator, user, curve/,
    );
    assert.equal((await run(['keys', 'list'])).code, 2);
  });

  it('keys gen names the file after the type and key in the current directory', async () => {
    const child = spawn(process.execPath, [CIRRUS, 'keys', 'gen', 'server'], {
      cwd: dir.path,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await withDeadline(
      new Promise<number | null>((resolve) => child.on('exit', resolve)),
      30_000,
      'cirrus keys gen to exit',
    );
    assert.equal(code, 0);
    const publicKey = stdout.trim();
    assert.match(publicKey, /^N[A-Z2-7]{55}$/);
    const file = join(dir.path, `server-${publicKey.slice(0, 8)}.nk`);
    assert.equal(await mode(file), 0o600);
    assert.equal((await seedOf(file)).publicKey, publicKey);
  });

  it('claims sign writes <name>_s.wasm and a module key next to it; inspect reads it back', async () => {
    const signed = await run([
      'claims',
      'sign',
      wasm,
      '--issuer',
      issuerFile,
      '--name',
      'trap',
      '--ver',
      '1.2.3',
      '--rev',
      '4',
      '--tag',
      'a',
      '--tag',
      'b',
      '--expires',
      '30d',
    ]);
    assert.equal(signed.code, 0, signed.err.join('\n'));
    const output = join(dir.path, 'trap_s.wasm');
    const moduleFile = join(dir.path, 'trap_module.nk');
    const moduleKey = await seedOf(moduleFile);
    assert.equal(await mode(moduleFile), 0o600);
    assert.match(
      signed.err.join('\n'),
      new RegExp(`new module key ${moduleKey.publicKey}: seed written to .*trap_module\\.nk`),
    );
    assert.equal(signed.out[0], `Signed ${output}`);
    const issuer = await seedOf(issuerFile);

    const claims = await verifyComponentClaims(new Uint8Array(await readFile(output)), {
      requireSigned: true,
    });
    assert.equal(claims?.iss, issuer.publicKey);
    assert.equal(claims?.sub, moduleKey.publicKey);
    assert.deepEqual([claims?.wascap.name, claims?.wascap.ver, claims?.wascap.rev], ['trap', '1.2.3', 4]);
    assert.deepEqual(claims?.wascap.tags, ['a', 'b']);
    const thirtyDays = Math.floor(Date.now() / 1000) + 30 * 86_400;
    assert.ok(Math.abs((claims?.exp ?? 0) - thirtyDays) < 60, 'expires in 30 days');

    const json = await run(['claims', 'inspect', output, '--output', 'json']);
    assert.equal(json.code, 0, json.err.join('\n'));
    const report = JSON.parse(json.out.join('\n')) as {
      section: string;
      claims: { iss: string; sub: string; wascap: { name: string } };
      checks: Record<string, unknown>;
    };
    assert.equal(report.section, 'wasmcloud_jwt');
    assert.equal(report.claims.iss, issuer.publicKey);
    assert.deepEqual(
      { ...report.checks, computed_hash: undefined },
      {
        signature_valid: true,
        hash_matches: true,
        computed_hash: undefined,
        expired: false,
        not_yet_valid: false,
      },
    );

    const table = await run(['claims', 'inspect', output]);
    assert.equal(table.code, 0);
    const text = table.out.join('\n');
    assert.match(text, new RegExp(`Component +${moduleKey.publicKey}`));
    assert.match(text, new RegExp(`Account +${issuer.publicKey}`));
    assert.match(text, /Hash +[0-9A-F]{64} \(matches\)/);
    assert.match(text, /Signature +valid/);
    assert.match(text, /Tags +a, b/);

    // Signing again keeps the component's identity: the module key next to the output is reused.
    const again = await run([
      'claims',
      'sign',
      wasm,
      '--issuer',
      issuerFile,
      '--name',
      'trap',
      '--ver',
      '1.2.4',
      '--rev',
      '5',
    ]);
    assert.equal(again.code, 0, again.err.join('\n'));
    assert.match(again.err.join('\n'), /using the module key in .*trap_module\.nk/);
    const resigned = await verifyComponentClaims(new Uint8Array(await readFile(output)));
    assert.equal(resigned?.sub, moduleKey.publicKey);
    assert.equal(resigned?.wascap.ver, '1.2.4');
  });

  it('claims sign with --subject and --output; inspect exits 1 for claims a host would refuse', async () => {
    const subjectFile = join(dir.path, 'subject.nk');
    assert.equal((await run(['keys', 'gen', 'module', '--output', subjectFile])).code, 0);
    const output = join(dir.path, 'later.wasm');
    const signed = await run([
      'claims',
      'sign',
      wasm,
      '--issuer',
      issuerFile,
      '--subject',
      subjectFile,
      '--name',
      'later',
      '--ver',
      '1.0.0',
      '--rev',
      '1',
      '--not-before',
      '2999-01-01',
      '--output',
      output,
    ]);
    assert.equal(signed.code, 0, signed.err.join('\n'));
    const inspected = await run(['claims', 'inspect', output]);
    assert.equal(inspected.code, 1);
    assert.match(inspected.out.join('\n'), /Can be used +2999-01-01T00:00:00\.000Z \(not yet\) +✖/);
    assert.match(inspected.out.join('\n'), new RegExp(`Component +${(await seedOf(subjectFile)).publicKey}`));

    const bytes = new Uint8Array(await readFile(output));
    bytes[20] = (bytes[20] as number) ^ 0x01;
    const tampered = join(dir.path, 'tampered.wasm');
    await writeFile(tampered, bytes);
    const json = await run(['claims', 'inspect', tampered, '--output', 'json']);
    assert.equal(json.code, 1);
    assert.equal(
      (JSON.parse(json.out.join('\n')) as { checks: { hash_matches: boolean } }).checks.hash_matches,
      false,
    );

    const unsigned = await run(['claims', 'inspect', wasm]);
    assert.equal(unsigned.code, 1);
    assert.match(unsigned.err.join('\n'), /error\[CLAIMS_REQUIRED\]: .*trap\.wasm carries no claims/);
  });

  it('claims sign refuses a readable seed file, a seed of the wrong type and missing flags', async () => {
    const open = join(dir.path, 'open.nk');
    await writeFile(open, `${Nkey.create('account').exportSeed()}\n`, { mode: 0o644 });
    await chmod(open, 0o644);
    const flags = ['--name', 'x', '--ver', '1', '--rev', '1', '--output', join(dir.path, 'x.wasm')];
    const readable = await run(['claims', 'sign', wasm, '--issuer', open, ...flags]);
    assert.equal(readable.code, 1);
    assert.match(
      readable.err.join('\n'),
      /error\[INSECURE_PERMISSIONS\]: the issuer key: .*open\.nk is readable by other users \(mode 644\)/,
    );

    const moduleFile = join(dir.path, 'module-as-issuer.nk');
    assert.equal((await run(['keys', 'gen', 'module', '--output', moduleFile])).code, 0);
    const wrong = await run(['claims', 'sign', wasm, '--issuer', moduleFile, ...flags]);
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.err.join('\n'),
      /error\[NKEY_WRONG_TYPE\]: the issuer key \(.*\) is a module key, expected account/,
    );
    assert.ok(
      !wrong.err.join('\n').includes((await readFile(moduleFile, 'utf8')).trim()),
      'the seed is not quoted',
    );

    const missing = await run(['claims', 'sign', wasm, '--issuer', issuerFile, '--name', 'x']);
    assert.equal(missing.code, 2);
    assert.match(missing.err.join('\n'), /needs --ver, --rev/);
    const badWhen = await run([
      'claims',
      'sign',
      wasm,
      '--issuer',
      issuerFile,
      ...flags,
      '--expires',
      'soon',
    ]);
    assert.equal(badWhen.code, 2);
    const notWasm = await run(['claims', 'sign', issuerFile, '--issuer', issuerFile, ...flags]);
    assert.equal(notWasm.code, 1);
    assert.match(notWasm.err.join('\n'), /error\[NOT_WASM\]/);
  });
});
