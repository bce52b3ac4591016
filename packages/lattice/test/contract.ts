/**
 * The lattice adapter contract. Every adapter (in-memory, NATS) runs this same suite; a behaviour
 * that differs between them is a bug in one of them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { take, withDeadline } from '@cirrus/testing';
import type { LatticeConnection, Msg } from '../src/index.ts';
import { decodeText, encodeJson, encodeText } from '../src/index.ts';

export interface ContractTarget {
  connect(): Promise<LatticeConnection>;
  teardown(): Promise<void>;
}

const text = (s: string): Uint8Array => encodeText(s);
const unique = (): string => `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

export function latticeContract(adapter: string, setup: () => Promise<ContractTarget>): void {
  describe(`lattice contract: ${adapter}`, () => {
    let target: ContractTarget;
    let a: LatticeConnection;
    let b: LatticeConnection;

    before(async () => {
      target = await setup();
      a = await target.connect();
      b = await target.connect();
    });

    after(async () => {
      await a.close();
      await b.close();
      await target.teardown();
    });

    it('delivers a published message with its headers to a subscriber on another connection', async () => {
      const subject = `${unique()}.greet`;
      const sub = b.subscribe(subject);
      await b.flush();
      a.publish(subject, text('hello'), { headers: { 'source-id': 'alpha' } });
      const [msg] = await take(sub, 1, 2000, 'message');
      assert.equal(decodeText((msg as Msg).data), 'hello');
      assert.equal(msg?.headers?.['source-id'], 'alpha');
      assert.equal(msg?.subject, subject);
      sub.unsubscribe();
    });

    it('keeps publish order for one subscription', async () => {
      const subject = `${unique()}.seq`;
      const sub = b.subscribe(subject);
      await b.flush();
      for (let i = 0; i < 50; i++) a.publish(subject, text(String(i)));
      const got = await take(sub, 50, 2000, 'ordered messages');
      assert.deepEqual(
        got.map((m) => m.string()),
        Array.from({ length: 50 }, (_, i) => String(i)),
      );
      sub.unsubscribe();
    });

    it('hands out messages across successive iterations of one subscription without losing any', async () => {
      const subject = `${unique()}.iter`;
      const sub = b.subscribe(subject);
      await b.flush();
      for (let i = 0; i < 4; i++) a.publish(subject, text(String(i)));
      const first = await take(sub, 2, 2000, 'first iteration');
      const second = await take(sub, 2, 2000, 'second iteration');
      assert.deepEqual(
        [...first, ...second].map((m) => m.string()),
        ['0', '1', '2', '3'],
      );
      sub.unsubscribe();
    });

    it('matches * to exactly one token and > to one or more trailing tokens', async () => {
      const root = unique();
      const star = b.subscribe(`${root}.*.evt`);
      const rest = b.subscribe(`${root}.>`);
      await b.flush();
      a.publish(`${root}.x.evt`, text('1'));
      a.publish(`${root}.x.y.evt`, text('2'));
      a.publish(`${root}`, text('3'));
      a.publish(`${root}.z`, text('4'));
      const starred = await take(star, 1, 2000, 'star match');
      const rested = await take(rest, 3, 2000, 'tail match');
      assert.deepEqual(
        starred.map((m) => m.string()),
        ['1'],
      );
      assert.deepEqual(rested.map((m) => m.string()).sort(), ['1', '2', '4']);
      star.unsubscribe();
      rest.unsubscribe();
    });

    it('delivers each message to exactly one member of a queue group and to every plain subscriber', async () => {
      const subject = `${unique()}.work`;
      const counts = { q1: 0, q2: 0, plain: 0 };
      const q1 = a.subscribe(subject, { queue: 'workers', callback: () => counts.q1++ });
      const q2 = b.subscribe(subject, { queue: 'workers', callback: () => counts.q2++ });
      const plain = b.subscribe(subject, { callback: () => counts.plain++ });
      await a.flush();
      await b.flush();
      for (let i = 0; i < 40; i++) a.publish(subject, text(String(i)));
      const deadline = Date.now() + 2000;
      while ((counts.q1 + counts.q2 < 40 || counts.plain < 40) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal(counts.q1 + counts.q2, 40, 'queue group received each message once');
      assert.equal(counts.plain, 40);
      assert.ok(counts.q1 > 0 && counts.q2 > 0, `both members got work (${counts.q1}/${counts.q2})`);
      q1.unsubscribe();
      q2.unsubscribe();
      plain.unsubscribe();
    });

    it('ends a subscription after max messages and after unsubscribe', async () => {
      const subject = `${unique()}.max`;
      const sub = b.subscribe(subject, { max: 2 });
      await b.flush();
      for (let i = 0; i < 5; i++) a.publish(subject, text(String(i)));
      const got: string[] = [];
      await withDeadline(
        (async () => {
          for await (const m of sub) got.push(m.string());
        })(),
        2000,
        'subscription end after max',
      );
      assert.deepEqual(got, ['0', '1']);
      await withDeadline(sub.closed, 1000, 'closed promise');

      const other = b.subscribe(`${subject}.other`);
      other.unsubscribe();
      await withDeadline(other.closed, 1000, 'closed after unsubscribe');
    });

    it('answers a request with a reply that carries headers', async () => {
      const subject = `${unique()}.echo`;
      const sub = b.subscribe(subject, {
        callback: (m) => m.respond(text(`echo:${m.string()}`), { headers: { answered: 'yes' } }),
      });
      await b.flush();
      const reply = await a.request(subject, text('ping'), { timeoutMs: 2000 });
      assert.equal(reply.string(), 'echo:ping');
      assert.equal(reply.headers?.['answered'], 'yes');
      sub.unsubscribe();
    });

    it('fails a request at once with NO_RESPONDERS when nobody listens', async () => {
      const started = Date.now();
      await assert.rejects(a.request(`${unique()}.nobody`, text('x'), { timeoutMs: 5000 }), (err) => {
        assert.equal(codeOf(err), 'NO_RESPONDERS');
        return true;
      });
      assert.ok(Date.now() - started < 1000, 'no-responders is reported before the timeout');
    });

    it('answers a publish with a reply subject that reaches nobody with a message without reply', async () => {
      const inbox = a.newInbox();
      const sub = a.subscribe(inbox, { max: 1 });
      await a.flush();
      const started = Date.now();
      a.publish(`${unique()}.nobody`, text('x'), { reply: inbox });
      const status = await withDeadline(
        sub[Symbol.asyncIterator]().next(),
        2000,
        'the no-responders answer on the reply subject',
      );
      assert.equal(status.done, false);
      assert.equal(status.value?.reply, undefined);
      assert.equal(status.value?.data.byteLength, 0);
      assert.ok(Date.now() - started < 1000);
    });

    it('fails a request with REQUEST_TIMEOUT at its deadline when the responder is silent', async () => {
      const subject = `${unique()}.silent`;
      const sub = b.subscribe(subject, { callback: () => {} });
      await b.flush();
      const started = Date.now();
      await assert.rejects(a.request(subject, text('x'), { timeoutMs: 150 }), (err) => {
        assert.equal(codeOf(err), 'REQUEST_TIMEOUT');
        return true;
      });
      const took = Date.now() - started;
      assert.ok(took >= 140 && took < 1000, `timed out after ${took} ms`);
      sub.unsubscribe();
    });

    it('gathers every reply to a scatter request until its deadline', async () => {
      const subject = `${unique()}.ping`;
      const subs = [a, b, b].map((conn, i) =>
        conn.subscribe(subject, { callback: (m) => m.respond(encodeJson({ i })) }),
      );
      await a.flush();
      await b.flush();
      const replies: Msg[] = [];
      const started = Date.now();
      for await (const m of a.requestMany(subject, undefined, { maxWaitMs: 300 })) replies.push(m);
      assert.equal(replies.length, 3);
      assert.ok(Date.now() - started < 2000);
      const limited: Msg[] = [];
      for await (const m of a.requestMany(subject, undefined, { maxWaitMs: 2000, maxMessages: 2 }))
        limited.push(m);
      assert.equal(limited.length, 2);
      for (const s of subs) s.unsubscribe();
    });

    it('rejects malformed subjects with INVALID_SUBJECT', () => {
      for (const bad of ['', 'a..b', '.a', 'a.', 'a b', 'a.*', 'a.>']) {
        assert.throws(
          () => a.publish(bad, text('x')),
          (err) => codeOf(err) === 'INVALID_SUBJECT',
          bad,
        );
      }
      for (const bad of ['a.>.b', 'a..b', '']) {
        assert.throws(
          () => a.subscribe(bad),
          (err) => codeOf(err) === 'INVALID_SUBJECT',
          bad,
        );
      }
    });

    it('rejects a message larger than max payload with PAYLOAD_TOO_LARGE', () => {
      const big = new Uint8Array(a.maxPayload + 1);
      assert.throws(
        () => a.publish(`${unique()}.big`, big),
        (err) => codeOf(err) === 'PAYLOAD_TOO_LARGE',
      );
    });

    describe('key-value buckets', () => {
      it('puts, gets, deletes and lists keys, with increasing revisions', async () => {
        const kv = await a.kv(`B_${unique()}`);
        const r1 = await kv.put('COMPONENT_a', encodeJson({ url: 'x', links: [] }));
        const r2 = await kv.put('COMPONENT_b', text('2'));
        assert.ok(r2 > r1);
        const got = await kv.get('COMPONENT_a');
        assert.deepEqual(got?.json(), { url: 'x', links: [] });
        assert.equal(got?.operation, 'PUT');
        assert.equal(await kv.get('missing'), null);
        assert.deepEqual((await kv.keys()).sort(), ['COMPONENT_a', 'COMPONENT_b']);
        await kv.delete('COMPONENT_a');
        assert.equal(await kv.get('COMPONENT_a'), null);
        assert.deepEqual(await kv.keys(), ['COMPONENT_b']);
      });

      it('shares a bucket between connections', async () => {
        const name = `S_${unique()}`;
        const kvA = await a.kv(name);
        const kvB = await b.kv(name);
        await kvA.put('k', text('from-a'));
        assert.equal((await kvB.get('k'))?.string(), 'from-a');
      });

      it('watches with replay: current values first, then live puts and deletes in order', async () => {
        const kv = await a.kv(`W_${unique()}`);
        await kv.put('one', text('1'));
        await kv.put('two', text('2'));
        await kv.delete('two');
        const watch = await (await b.kv(kv.name)).watch();
        await withDeadline(watch.replayed, 2000, 'replay');
        await kv.put('three', text('3'));
        await kv.delete('one');
        const seen = await take(watch, 3, 2000, 'watch entries');
        assert.deepEqual(
          seen.map((e) => `${e.operation}:${e.key}`),
          ['PUT:one', 'PUT:three', 'DEL:one'],
        );
        watch.stop();
      });

      it('watches without replay: only changes made after the watch started', async () => {
        const kv = await a.kv(`N_${unique()}`);
        await kv.put('old', text('1'));
        const watch = await kv.watch({ replay: false });
        await withDeadline(watch.replayed, 2000, 'replay');
        await kv.put('new', text('2'));
        const [entry] = await take(watch, 1, 2000, 'live entry');
        assert.equal(entry?.key, 'new');
        assert.equal(entry?.string(), '2');
        watch.stop();
      });

      it('updates a key only at the revision the caller read, and tells a lost race by null', async () => {
        const kv = await a.kv(`C_${unique()}`);
        const created = await kv.update('n', text('1'), 0);
        assert.ok(created !== null && created > 0);
        assert.equal(await kv.update('n', text('x'), 0), null, 'creating an existing key loses');
        const next = await kv.update('n', text('2'), created);
        assert.ok(next !== null && next > created);
        assert.equal(await kv.update('n', text('stale'), created), null, 'a stale revision loses');
        assert.equal((await kv.get('n'))?.string(), '2');
        // A deleted key has no value again: revision 0 creates it (NATS keeps a delete marker).
        await kv.delete('n');
        assert.ok((await kv.update('n', text('3'), 0)) !== null);
        assert.equal((await (await b.kv(kv.name)).get('n'))?.string(), '3');
        const racers = await Promise.all(
          [a, b].map(async (conn) => (await conn.kv(kv.name)).update('race', text('r'), 0)),
        );
        assert.equal(racers.filter((r) => r !== null).length, 1, 'exactly one of two creators wins');
      });

      it('lists only the keys that match a whole-token filter', async () => {
        const kv = await a.kv(`L_${unique()}`);
        await kv.put('claims.M1', text('1'));
        await kv.put('claims.M2', text('2'));
        await kv.put('COMPONENT_x', text('3'));
        assert.deepEqual((await kv.keys('claims.*')).sort(), ['claims.M1', 'claims.M2']);
      });

      it('filters a watch by whole-token key patterns', async () => {
        const kv = await a.kv(`F_${unique()}`);
        const watch = await kv.watch({ key: 'claims.*' });
        await withDeadline(watch.replayed, 2000, 'replay');
        await kv.put('COMPONENT_x', text('c'));
        await kv.put('claims.M1', text('m'));
        const [entry] = await take(watch, 1, 2000, 'filtered entry');
        assert.equal(entry?.key, 'claims.M1');
        watch.stop();
        await assert.rejects(kv.watch({ key: 'CLAIMS_*' }), (err) => codeOf(err) === 'INVALID_KEY');
      });

      it('rejects invalid keys and bucket names with INVALID_KEY', async () => {
        const kv = await a.kv(`K_${unique()}`);
        for (const bad of ['', 'a b', '.a', 'a.', 'a*b']) {
          await assert.rejects(kv.put(bad, text('x')), (err) => codeOf(err) === 'INVALID_KEY', bad);
        }
        await assert.rejects(a.kv('bad.name'), (err) => codeOf(err) === 'INVALID_KEY');
      });
    });

    it('refuses to publish on a closed connection with LATTICE_CLOSED and ends its subscriptions', async () => {
      const c = await target.connect();
      const sub = c.subscribe(`${unique()}.x`);
      await c.close();
      assert.equal(c.isClosed, true);
      await withDeadline(sub.closed, 2000, 'subscription closed with connection');
      assert.throws(
        () => c.publish('a.b', text('x')),
        (err) => codeOf(err) === 'LATTICE_CLOSED',
      );
    });
  });
}
