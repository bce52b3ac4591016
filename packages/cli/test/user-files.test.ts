/**
 * Files the user names on the command line (manifests, seeds, credentials, NATS secrets, components
 * to sign) never hang the CLI and never end in a stack trace: a directory or a FIFO fails at once
 * with NOT_A_REGULAR_FILE, an oversized file with its limit, a missing one with its usual code.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Nkey } from '@cirrus/protocol';
import { tempDir, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { main } from '../src/index.ts';
import { writeSeedFile } from '../src/seed-files.ts';
import { harness, ownDirs } from './support.ts';

const CIRRUS = fileURLToPath(new URL('../bin/cirrus.js', import.meta.url));
/** A FIFO read with a blocking open would wait for a writer forever; this is far more than enough. */
const AT_ONCE_MS = 5000;
/** Node's start-up alone can take seconds on a loaded machine; a blocked open would never exit. */
const PROCESS_EXIT_MS = 30_000;
const STACK_LINE = /^\s+at /m;
/** The smallest core module: what `claims sign` accepts. */
const EMPTY_MODULE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
const NOWHERE = 'nats://127.0.0.1:1';

describe('files named on the cirrus command line', () => {
  let dir: TempDir;
  let fifo: string;
  let issuerFile: string;
  let wasmFile: string;

  before(async () => {
    dir = await tempDir();
    fifo = join(dir.path, 'named.pipe');
    execFileSync('mkfifo', [fifo]);
    issuerFile = join(dir.path, 'issuer.nk');
    await writeSeedFile(issuerFile, Nkey.create('account'));
    wasmFile = join(dir.path, 'empty.wasm');
    await writeFile(wasmFile, EMPTY_MODULE);
  });

  after(() => dir.remove());

  async function cirrus(
    argv: string[],
    env: Record<string, string> = {},
  ): Promise<{ code: number; err: string }> {
    const h = harness({ ...ownDirs(dir.path), ...env });
    const code = await withDeadline(main(argv, h.context), AT_ONCE_MS, `cirrus ${argv.join(' ')}`);
    return { code, err: h.err.join('\n') };
  }

  it('cirrus up --app DIRECTORY exits 1 with NOT_A_REGULAR_FILE and no stack trace', async () => {
    const { code, err } = await cirrus(['up', '--app', dir.path]);
    assert.equal(code, 1);
    assert.match(
      err,
      new RegExp(
        `^error\\[NOT_A_REGULAR_FILE\\]: application file ${dir.path} is a directory, not a regular file`,
      ),
    );
    assert.doesNotMatch(err, STACK_LINE);
    assert.doesNotMatch(err, /EISDIR/);
  });

  it('the cirrus binary given --app FIFO exits with NOT_A_REGULAR_FILE instead of hanging', async () => {
    const child = spawn(process.execPath, [CIRRUS, 'up', '--app', fifo], {
      env: { ...process.env, ...ownDirs(dir.path) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      assert.equal(await withDeadline(exited, PROCESS_EXIT_MS, 'cirrus up --app FIFO to exit'), 1);
    } finally {
      child.kill('SIGKILL');
    }
    assert.match(
      stderr,
      /^error\[NOT_A_REGULAR_FILE\]: application file .* is a FIFO \(named pipe\), not a regular file/,
    );
    assert.doesNotMatch(stderr, STACK_LINE);
  });

  it('every flag and argument that names a file refuses a FIFO at once with NOT_A_REGULAR_FILE', async () => {
    const sign = ['--name', 'x', '--ver', '1', '--rev', '1', '--output', join(dir.path, 'signed.wasm')];
    const cases: string[][] = [
      ['up', '--app', fifo],
      ['up', '--host-seed', fifo],
      ['up', '--sign-invocations', '--cluster-seed', fifo],
      ['up', '--sign-invocations', '--host-credential', fifo],
      ['up', '--nats', NOWHERE, '--nats-token-file', fifo],
      ['up', '--nats', NOWHERE, '--rpc-nkey', fifo],
      ['get', 'hosts', '--nats', NOWHERE, '--nats-creds', fifo],
      ['get', 'hosts', '--nats', NOWHERE, '--nats-nkey', fifo],
      ['get', 'hosts', '--nats', NOWHERE, '--nats-user', 'ops', '--nats-password-file', fifo],
      ['claims', 'inspect', fifo],
      ['claims', 'sign', fifo, '--issuer', issuerFile, ...sign],
      ['claims', 'sign', wasmFile, '--issuer', fifo, ...sign],
      ['credential', 'inspect', fifo],
      ['credential', 'issue', '--cluster-seed', fifo, '--host', Nkey.create('server').publicKey],
    ];
    for (const argv of cases) {
      const { code, err } = await cirrus(argv);
      assert.equal(code, 1, `${argv.join(' ')}: ${err}`);
      assert.match(
        err,
        /^error\[NOT_A_REGULAR_FILE\]: .* is a FIFO \(named pipe\), not a regular file/,
        argv.join(' '),
      );
      assert.doesNotMatch(err, STACK_LINE, argv.join(' '));
    }
  });

  it('a seed or secret file above secretFileMaxBytes is FILE_TOO_LARGE naming the limit', async () => {
    const big = join(dir.path, 'big.nk');
    await writeFile(big, 'x'.repeat(2048), { mode: 0o600 });
    const env = { CIRRUS_LIMIT_SECRET_FILE_MAX_BYTES: '1024' };
    for (const argv of [
      ['up', '--host-seed', big],
      ['get', 'hosts', '--nats', NOWHERE, '--nats-token-file', big],
    ]) {
      const { code, err } = await cirrus(argv, env);
      assert.equal(code, 1, argv.join(' '));
      assert.match(
        err,
        /^error\[FILE_TOO_LARGE\]: .*big\.nk is 2048 bytes, above the 1024-byte limit\n {2}hint: .*secretFileMaxBytes/,
      );
    }
  });

  it('--app keeps ARTIFACT_NOT_FOUND for a missing manifest and MANIFEST_INVALID for one above manifestMaxBytes', async () => {
    const missing = await cirrus(['up', '--app', join(dir.path, 'missing.yaml')]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.err,
      /^error\[ARTIFACT_NOT_FOUND\]: application file .*missing\.yaml does not exist/,
    );

    const large = join(dir.path, 'large.yaml');
    await writeFile(large, `# ${'x'.repeat(2048)}\n`);
    const refused = await cirrus(['up', '--app', large], { CIRRUS_LIMIT_MANIFEST_MAX_BYTES: '1024' });
    assert.equal(refused.code, 1);
    assert.match(
      refused.err,
      /^error\[MANIFEST_INVALID\]: .*large\.yaml is 2051 bytes, above the 1024-byte limit/,
    );
    assert.match(refused.err, /hint: split the application or raise manifestMaxBytes/);
  });

  it('a seed file keeps its checks: missing is FILE_NOT_FOUND, readable by others INSECURE_PERMISSIONS', async () => {
    const missing = await cirrus(['up', '--host-seed', join(dir.path, 'missing.nk')]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.err,
      /^error\[FILE_NOT_FOUND\]: the host seed file .*missing\.nk does not exist\n {2}hint: .*cirrus keys gen/,
    );

    const open = join(dir.path, 'host.nk');
    await writeSeedFile(open, Nkey.create('server'));
    await chmod(open, 0o644);
    const readable = await cirrus(['up', '--host-seed', open]);
    assert.equal(readable.code, 1);
    assert.match(
      readable.err,
      /^error\[INSECURE_PERMISSIONS\]: the host seed: .*host\.nk is readable by other users \(mode 644\)/,
    );
  });
});
