/**
 * `cirrus up` with a policy service: the flags reach the host (what the service permits deploys and
 * serves, what it denies fails the deployment), and misuse of the flags is a usage error. The service
 * is the example in examples/policy-service, run as its own process as a user runs it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { freePort, startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { main } from '../src/index.ts';
import { harness, ownDirs } from './support.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Starts `node examples/policy-service/src/main.ts` (the environment's policy settings left out) and
 * waits until it answers on `topic`.
 */
async function startPolicyService(
  natsUrl: string,
  topic: string,
  flags: string[],
): Promise<{ stop(): Promise<void> }> {
  const env = { ...process.env };
  for (const name of ['NATS_URL', 'POLICY_TOPIC', 'ALLOWED_ISSUERS', 'ALLOW_UNSIGNED']) delete env[name];
  const child = spawn(
    process.execPath,
    [join(ROOT, 'examples/policy-service/src/main.ts'), '--nats', natsUrl, '--topic', topic, ...flags],
    { stdio: ['ignore', 'ignore', 'pipe'], env },
  );
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr.setEncoding('utf8');
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.includes(`answering on ${topic}`)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the policy service exited (${code}): ${stderr}`)));
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await withDeadline(exited, 10_000, 'the policy service to exit').catch(async () => {
      child.kill('SIGKILL');
      await exited;
    });
  };
  try {
    await withDeadline(ready, 30_000, 'the policy service to start');
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}

describe('cirrus up --policy-topic', () => {
  let dir: TempDir;
  let nats: NatsServer;
  let manifest: string;
  let port: number;

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    port = await freePort();
    const text = (await readFile(join(ROOT, 'examples/hello/app.yaml'), 'utf8'))
      .replace('./build/hello.wasm', join(ROOT, 'examples/hello/build/hello.wasm'))
      .replace('127.0.0.1:8000', `127.0.0.1:${port}`);
    manifest = join(dir.path, 'app.yaml');
    await writeFile(manifest, text);
  });

  after(async () => {
    await nats?.stop();
    await dir?.remove();
  });

  it('refuses policy flags without --policy-topic, and a bad timeout, as usage errors', async () => {
    const h = harness(ownDirs(dir.path));
    assert.equal(await main(['up', '--policy-changes-topic', 'policy.changes'], h.context), 2);
    assert.equal(await main(['up', '--policy-timeout-ms', '500'], h.context), 2);
    assert.equal(await main(['up', '--policy-topic', 'policy', '--policy-timeout-ms', '1s'], h.context), 2);
    assert.equal(await main(['up', '--policy-topic', 'policy', '--policy-timeout-ms', '0'], h.context), 2);
    assert.match(
      h.err.join('\n'),
      /error\[USAGE_ERROR\]: --policy-changes-topic and --policy-timeout-ms need --policy-topic/,
    );
    assert.match(
      h.err.join('\n'),
      /--policy-timeout-ms must be whole milliseconds from 1 to 600000, got "1s"/,
    );
  });

  it('deploys and serves what the service permits', async () => {
    const service = await startPolicyService(nats.url, 'cli.policy.open', ['--allow-unsigned']);
    try {
      const h = harness(ownDirs(dir.path));
      const running = main(
        [
          'up',
          '--nats',
          nats.url,
          '--policy-topic',
          'cli.policy.open',
          '--policy-timeout-ms',
          '2000',
          '--app',
          manifest,
        ],
        h.context,
      );
      await waitFor(() => h.out.some((l) => l.startsWith('Serving ')), 60_000, 'the banner').catch(
        (err: unknown) => {
          throw new Error(`${String(err)}\n${h.err.join('\n')}`, { cause: err });
        },
      );
      const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(response.status, 200);
      assert.match(await response.text(), /^Hello from Cirrus!/);
      assert.ok(h.err.some((l) => l.includes('policy service in use')));
      h.signals.emit('SIGINT', 'SIGINT');
      assert.equal(await withDeadline(running, 15_000, 'cirrus up to exit'), 0);
    } finally {
      await service.stop();
    }
  });

  it('fails the deployment when the service denies it', async () => {
    const service = await startPolicyService(nats.url, 'cli.policy.closed', []);
    try {
      const h = harness(ownDirs(dir.path));
      const code = await withDeadline(
        main(['up', '--nats', nats.url, '--policy-topic', 'cli.policy.closed', '--app', manifest], h.context),
        30_000,
        'cirrus up to fail',
      );
      assert.equal(code, 1);
      assert.match(
        h.err.join('\n'),
        /error\[APP_FAILED\]: application hello failed: .*POLICY_DENIED: the policy service denied starting .*unsigned artifacts are not allowed/,
      );
    } finally {
      await service.stop();
    }
  });
});
