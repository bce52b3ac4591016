import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeadlineExceededError, INVOCATION_DURATION_BOUNDS_SECONDS } from '@cirrus/protocol';
import { InvocationTally } from '../src/metrics.ts';

describe('InvocationTally', () => {
  it('puts each duration in the first bucket whose bound it does not exceed', () => {
    const tally = new InvocationTally();
    tally.record(0.0001, 'ok');
    tally.record(0.00011, 'ok');
    tally.record(31, 'DEADLINE_EXCEEDED');
    const { invocations, duration } = tally.snapshot();
    assert.deepEqual(invocations, { ok: 2, DEADLINE_EXCEEDED: 1 });
    assert.equal(duration.counts.length, INVOCATION_DURATION_BOUNDS_SECONDS.length + 1);
    assert.equal(duration.counts[0], 1);
    assert.equal(duration.counts[1], 1);
    assert.equal(duration.counts.at(-1), 1);
    assert.ok(Math.abs(duration.sum_seconds - 31.00021) < 1e-9);
  });

  it('times calls that resolve, reject or throw, and passes their outcome on', async () => {
    const tally = new InvocationTally();
    assert.equal(await tally.time(async () => 7), 7);
    await assert.rejects(
      tally.time(() => Promise.reject(new DeadlineExceededError('too slow'))),
      DeadlineExceededError,
    );
    await assert.rejects(
      tally.time(() => {
        throw new Error('synchronous');
      }),
      /synchronous/,
    );
    assert.deepEqual(tally.snapshot().invocations, { ok: 1, DEADLINE_EXCEEDED: 1, INTERNAL: 1 });
    assert.equal(
      tally.snapshot().duration.counts.reduce((a, b) => a + b, 0),
      3,
    );
  });
});
