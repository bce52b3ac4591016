import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INVOCATION_DURATION_BOUNDS_SECONDS, parseHostMetrics } from '../src/index.ts';

const buckets = (): number[] => new Array<number>(INVOCATION_DURATION_BOUNDS_SECONDS.length + 1).fill(0);

const valid = () => ({
  host_id: 'NHOST',
  started_at_ms: 1,
  at_ms: 2,
  duration_bounds_seconds: [...INVOCATION_DURATION_BOUNDS_SECONDS],
  components: [
    {
      component_id: 'hello',
      invocations: { ok: 3 },
      duration: { counts: buckets(), sum_seconds: 0.5 },
      pool: { max_instances: 1, instances: 1, busy: 0, waiting: 0 },
    },
  ],
  providers: [{ provider_id: 'kv', invocations: {}, duration: { counts: buckets(), sum_seconds: 0 } }],
  lattice: { messages_in: 1, messages_out: 1, bytes_in: 1, bytes_out: 1 },
  process: { cpu_user_seconds: 1, cpu_system_seconds: 1, resident_bytes: 1, heap_used_bytes: 1 },
});

describe('parseHostMetrics', () => {
  it('takes a well-formed reply as it is', () => {
    assert.deepEqual(parseHostMetrics(valid()), valid());
  });

  const broken: [string, (m: ReturnType<typeof valid>) => unknown, RegExp][] = [
    ['not an object', () => 'metrics', /host metrics is not an object/],
    [
      'a negative count',
      (m) => ({ ...m, components: [{ ...m.components[0], invocations: { ok: -1 } }] }),
      /invocations\.ok/,
    ],
    ['a string for a number', (m) => ({ ...m, at_ms: '2' }), /at_ms/],
    [
      'an infinite sum',
      (m) => ({ ...m, lattice: { ...m.lattice, bytes_in: Infinity } }),
      /lattice\.bytes_in/,
    ],
    [
      'a histogram with a bucket missing',
      (m) => ({ ...m, providers: [{ ...m.providers[0], duration: { counts: [0], sum_seconds: 0 } }] }),
      /providers\[0\]\.duration\.counts has 1 buckets/,
    ],
    [
      'an empty component id',
      (m) => ({ ...m, components: [{ ...m.components[0], component_id: '' }] }),
      /component_id/,
    ],
    ['components not a list', (m) => ({ ...m, components: {} }), /components is not a list/],
  ];
  for (const [what, damage, message] of broken) {
    it(`refuses ${what} with INVALID_ARGUMENT`, () => {
      assert.throws(() => parseHostMetrics(damage(valid())), { code: 'INVALID_ARGUMENT', message });
    });
  }
});
