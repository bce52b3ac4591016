import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Sublist } from '../src/sublist.ts';
import { subjectMatches } from '../src/subject.ts';

describe('subject index', () => {
  const cases: [filter: string, subject: string, matches: boolean][] = [
    ['a.b.c', 'a.b.c', true],
    ['a.b.c', 'a.b', false],
    ['a.*.c', 'a.b.c', true],
    ['a.*.c', 'a.b.d', false],
    ['a.*', 'a.b.c', false],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['>', 'a', true],
    ['*.*', 'a.b', true],
    ['wasmbus.ctl.v1.default.component.*.NHOST', 'wasmbus.ctl.v1.default.component.scale.NHOST', true],
  ];

  for (const [filter, subject, expected] of cases) {
    it(`${filter} ${expected ? 'matches' : 'does not match'} ${subject}`, () => {
      assert.equal(subjectMatches(filter, subject), expected);
      const list = new Sublist<string>();
      list.insert(filter, 'x');
      assert.equal(list.match(subject).length, expected ? 1 : 0);
    });
  }

  it('forgets removed subscriptions and prunes empty branches', () => {
    const list = new Sublist<number>();
    list.insert('a.b', 1);
    list.insert('a.>', 2);
    list.insert('a.*', 3);
    assert.deepEqual([...list.match('a.b')].sort(), [1, 2, 3]);
    list.remove('a.b', 1);
    list.remove('a.>', 2);
    assert.deepEqual([...list.match('a.b')], [3]);
    list.remove('a.*', 3);
    assert.equal(list.size, 0);
    assert.deepEqual([...list.match('a.b')], []);
  });
});
