/**
 * The host log stays bounded under a flood of identical lines (an overloaded listener answering
 * every request with 503 once wrote 126k lines in 10 s), and says how many lines it left out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '@cirrus/testing';
import { createLogger } from '../src/index.ts';

interface Line {
  level: string;
  msg: string;
  code?: string;
  left_out?: number;
}

function recorder(): { lines: Line[]; write: (line: string) => void } {
  const lines: Line[] = [];
  return { lines, write: (line) => lines.push(JSON.parse(line) as Line) };
}

describe('host log repeat limit', () => {
  it('writes the first lines of a kind per window, then one line with the number left out', async () => {
    const { lines, write } = recorder();
    const logger = createLogger({ format: 'json', write, repeatLimit: { lines: 5, windowMs: 100 } });
    for (let i = 0; i < 1000; i++) logger.error('request failed', { code: 'AT_CAPACITY', status: 503 });
    assert.equal(lines.length, 5);
    const summary = await waitFor(() => lines[5], 2000, 'the summary line');
    assert.equal(summary.msg, 'request failed (repeated lines left out)');
    assert.equal(summary.level, 'error');
    assert.equal(summary.code, 'AT_CAPACITY');
    assert.equal(summary.left_out, 995);
    logger.error('request failed', { code: 'AT_CAPACITY' });
    assert.equal(lines.length, 7, 'a new window writes again');
  });

  it('counts kinds apart: another code, level or message is not held back by a flood', () => {
    const { lines, write } = recorder();
    const logger = createLogger({ format: 'json', write, repeatLimit: { lines: 2, windowMs: 60_000 } });
    for (let i = 0; i < 100; i++) logger.error('request failed', { code: 'AT_CAPACITY' });
    logger.error('request failed', { code: 'DEADLINE_EXCEEDED' });
    logger.warn('request failed', { code: 'AT_CAPACITY' });
    logger.child({ component: 'other' }).error('request failed', { code: 'AT_CAPACITY' });
    logger.info('host stopped');
    assert.deepEqual(
      lines.slice(2).map((l) => `${l.level} ${l.msg} ${l.code ?? ''}`),
      [
        'error request failed DEADLINE_EXCEEDED',
        'warn request failed AT_CAPACITY',
        'error request failed AT_CAPACITY',
        'info host stopped ',
      ],
    );
  });

  it('writes every line when the limit is off', () => {
    const { lines, write } = recorder();
    const logger = createLogger({ format: 'json', write, repeatLimit: false });
    for (let i = 0; i < 100; i++) logger.info('same');
    assert.equal(lines.length, 100);
  });
});
