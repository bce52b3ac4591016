/**
 * Following a deployment through the wadm API, as `cirrus up --app` does: a status request that
 * times out is asked again, `failed` ends the wait with the failed scalers' words, and the whole
 * wait has a deadline.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestTimeoutError } from '@cirrus/protocol';
import { awaitDeployed } from '../src/index.ts';
import type { WadmClient, WadmStatus } from '../src/index.ts';

/** A client whose status answers come from `answers`, in order; the last one repeats. */
function clientAnswering(answers: (WadmStatus | Error)[]): WadmClient {
  let next = 0;
  const status = async (): Promise<WadmStatus> => {
    const answer = answers[Math.min(next++, answers.length - 1)] as WadmStatus | Error;
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { status } as unknown as WadmClient;
}

const state = (type: string, scalers: WadmStatus['scalers'] = []): WadmStatus => ({
  status: { type },
  scalers,
});

describe('awaitDeployed', () => {
  it('asks again after a status request timed out, and resolves once deployed', async () => {
    const client = clientAnswering([
      new RequestTimeoutError('request to wadm.api.default.model.status.shop timed out after 2000 ms'),
      state('reconciling'),
      state('deployed'),
    ]);
    const status = await awaitDeployed(client, 'shop', { deadlineMs: 5_000, pollMs: 1 });
    assert.equal(status.status.type, 'deployed');
  });

  it('ends with APP_FAILED and the failed scalers’ messages', async () => {
    const client = clientAnswering([
      state('failed', [
        {
          id: 'a',
          kind: 'SpreadScaler',
          name: 'api',
          status: { type: 'failed', message: 'POLICY_DENIED: no' },
        },
        {
          id: 'b',
          kind: 'LinkScaler',
          name: 'api → kv',
          status: { type: 'reconciling', message: 'putting' },
        },
      ]),
    ]);
    await assert.rejects(awaitDeployed(client, 'shop', { deadlineMs: 5_000, pollMs: 1 }), {
      code: 'APP_FAILED',
      message: 'application shop failed: SpreadScaler api: POLICY_DENIED: no',
    });
  });

  it('ends with REQUEST_TIMEOUT at its deadline, saying what it waits for', async () => {
    const client = clientAnswering([
      state('waiting', [
        {
          id: 'a',
          kind: 'SpreadScaler',
          name: 'api',
          status: { type: 'waiting', message: 'no host has zone=east' },
        },
      ]),
    ]);
    await assert.rejects(awaitDeployed(client, 'shop', { deadlineMs: 50, pollMs: 5 }), (err: Error) => {
      assert.equal((err as { code?: string }).code, 'REQUEST_TIMEOUT');
      assert.match(
        err.message,
        /not deployed within 50 ms \(waiting: SpreadScaler api: no host has zone=east\)/,
      );
      return true;
    });
  });
});
