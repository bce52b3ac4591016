import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { afterDelay, everyDelay } from '../src/delay-queue.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('delay queue', () => {
  it('runs timeouts of one delay in order, not before they are due, and skips cancelled ones', async () => {
    const ran: string[] = [];
    const started = performance.now();
    const at: number[] = [];
    afterDelay(30, () => (ran.push('a'), at.push(performance.now() - started)));
    const cancelB = afterDelay(30, () => ran.push('b'));
    await sleep(10);
    afterDelay(30, () => (ran.push('c'), at.push(performance.now() - started)));
    cancelB();
    cancelB();
    await sleep(80);
    assert.deepEqual(ran, ['a', 'c']);
    assert.ok((at[0] as number) >= 29, `a ran after ${at[0]} ms`);
    assert.ok((at[1] as number) >= 39, `c ran after ${at[1]} ms`);
  });

  it('keeps delays apart, and repeats until cancelled', async () => {
    const ran: string[] = [];
    afterDelay(40, () => ran.push('long'));
    afterDelay(5, () => ran.push('short'));
    let ticks = 0;
    const stop = everyDelay(10, () => {
      ticks += 1;
      if (ticks === 3) stop();
    });
    await sleep(90);
    assert.deepEqual(ran, ['short', 'long']);
    assert.equal(ticks, 3);
  });

  it('a timeout that throws does not keep the others from running', async () => {
    const ran: string[] = [];
    const uncaught: unknown[] = [];
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', (err) => uncaught.push(err));
    try {
      afterDelay(15, () => {
        throw new Error('boom');
      });
      afterDelay(15, () => ran.push('after'));
      await sleep(50);
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const listener of listeners) process.on('uncaughtException', listener);
    }
    assert.deepEqual(ran, ['after']);
    assert.equal(uncaught.length, 1);
  });

  it('with every timeout cancelled, nothing keeps the process alive', () => {
    const module = fileURLToPath(new URL('../src/delay-queue.ts', import.meta.url));
    const script = `import { afterDelay } from ${JSON.stringify(module)};
      const cancels = [];
      for (let i = 0; i < 1000; i++) cancels.push(afterDelay(60_000, () => process.exit(3)));
      for (const cancel of cancels) cancel();`;
    const began = performance.now();
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 });
    assert.equal(child.status, 0, child.stderr.toString());
    assert.ok(performance.now() - began < 10_000);
  });
});
