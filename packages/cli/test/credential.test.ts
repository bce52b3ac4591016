/**
 * Host credentials from the command line: `cirrus credential issue` with a cluster seed file,
 * `cirrus credential inspect`, and `cirrus up` signing and requiring signed invocations with them.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeHostCredential, Nkey } from '@cirrus/protocol';
import { tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { main } from '../src/index.ts';
import { writeSeedFile } from '../src/seed-files.ts';
import { harness, ownDirs } from './support.ts';

describe('cirrus credential', () => {
  let dir: TempDir;
  const cluster = Nkey.create('cluster');
  const host = Nkey.create('server');
  let clusterFile: string;
  let hostFile: string;

  before(async () => {
    dir = await tempDir();
    clusterFile = join(dir.path, 'cluster.nk');
    hostFile = join(dir.path, 'host.nk');
    await writeSeedFile(clusterFile, cluster);
    await writeSeedFile(hostFile, host);
  });

  after(async () => {
    await dir.remove();
  });

  async function issue(...args: string[]): Promise<string> {
    const h = harness(ownDirs(dir.path));
    assert.equal(
      await main(['credential', 'issue', '--cluster-seed', clusterFile, ...args], h.context),
      0,
      h.err.join('\n'),
    );
    assert.equal(h.out.length, 1);
    return h.out[0] as string;
  }

  it('issues a credential for a host key, named by its public key or its seed file', async () => {
    const before = Math.floor(Date.now() / 1000);
    const byKey = decodeHostCredential(await issue('--host', host.publicKey, '--expires', '2h')).claims;
    assert.equal(byKey.sub, host.publicKey);
    assert.equal(byKey.iss, cluster.publicKey);
    assert.ok(byKey.exp >= before + 7200 && byKey.exp <= before + 7201, String(byKey.exp - before));
    const bySeed = decodeHostCredential(await issue('--host-seed', hostFile)).claims;
    assert.equal(bySeed.sub, host.publicKey);
    assert.ok(bySeed.exp >= before + 30 * 86_400, 'thirty days by default');
  });

  it('refuses to issue without a cluster seed, a host, or with a bad lifetime', async () => {
    for (const args of [
      ['credential', 'issue', '--host', host.publicKey],
      ['credential', 'issue', '--cluster-seed', clusterFile],
      ['credential', 'issue', '--cluster-seed', clusterFile, '--host', host.publicKey, '--expires', '1y'],
    ]) {
      const h = harness(ownDirs(dir.path));
      assert.equal(await main(args, h.context), 2, args.join(' '));
      assert.match(h.err.join('\n'), /error\[USAGE_ERROR\]/);
    }
    const h = harness(ownDirs(dir.path));
    assert.equal(
      await main(['credential', 'issue', '--cluster-seed', hostFile, '--host', host.publicKey], h.context),
      1,
    );
    assert.match(h.err.join('\n'), /error\[NKEY_WRONG_TYPE\]/);
  });

  it('inspects a credential and refuses a forged one', async () => {
    const jwt = await issue('--host', host.publicKey);
    const file = join(dir.path, 'host.jwt');
    await writeFile(file, `${jwt}\n`);
    const h = harness(ownDirs(dir.path));
    assert.equal(await main(['credential', 'inspect', file], h.context), 0, h.err.join('\n'));
    assert.match(
      h.out.join('\n'),
      new RegExp(`host +${host.publicKey}[^]*cluster +${cluster.publicKey}[^]*valid`),
    );
    const [header, claims, signature] = jwt.split('.') as [string, string, string];
    const forged = Buffer.from(signature, 'base64url');
    forged[3] = (forged[3] as number) ^ 0x10;
    await writeFile(file, `${header}.${claims}.${forged.toString('base64url')}`);
    const bad = harness(ownDirs(dir.path));
    assert.equal(await main(['credential', 'inspect', file], bad.context), 1);
    assert.match(bad.err.join('\n'), /error\[INVOCATION_CREDENTIAL_INVALID\]/);
  });

  it('cirrus up signs with an offline credential and requires signatures of the cluster', async () => {
    const file = join(dir.path, 'up.jwt');
    await writeFile(file, await issue('--host', host.publicKey));
    const h = harness(ownDirs(dir.path));
    const running = main(
      [
        'up',
        '--no-local-endpoint',
        '--log-format',
        'json',
        '--host-seed',
        hostFile,
        '--sign-invocations',
        '--host-credential',
        file,
        '--require-signed-invocations',
        '--cluster-issuer',
        cluster.publicKey,
      ],
      h.context,
    );
    await waitFor(() => h.out.some((l) => l.includes('is up')), 20_000, 'the host to come up');
    const logged = h.err.join('\n');
    assert.match(logged, /"msg":"signing invocations"/);
    assert.match(logged, new RegExp(`"msg":"refusing unsigned invocations".*${cluster.publicKey}`));
    h.signals.emit('SIGTERM', 'SIGTERM');
    assert.equal(await withDeadline(running, 20_000, 'cirrus up to stop'), 0);
  });

  it('cirrus up refuses signing without a credential, and a credential for another host', async () => {
    const other = join(dir.path, 'other.jwt');
    await writeFile(other, await issue('--host', Nkey.create('server').publicKey));
    for (const [args, code] of [
      [['--sign-invocations'], 'INVALID_ARGUMENT'],
      [['--require-signed-invocations'], 'INVALID_ARGUMENT'],
      [['--cluster-issuer', host.publicKey], 'NKEY_WRONG_TYPE'],
      [
        ['--sign-invocations', '--host-seed', hostFile, '--host-credential', other],
        'INVOCATION_CREDENTIAL_INVALID',
      ],
    ] as const) {
      const h = harness(ownDirs(dir.path));
      assert.equal(await main(['up', '--no-local-endpoint', ...args], h.context), 1, args.join(' '));
      assert.match(h.err.join('\n'), new RegExp(`error\\[${code}\\]`));
    }
  });
});
