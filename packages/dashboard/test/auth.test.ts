/**
 * Sessions and the cookie they travel in: expiry, the cap on sessions kept, and a Cookie header read
 * strictly (a name given twice is no session: a cookie set for another path or port could shadow it).
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { readCookie, Sessions } from '../src/auth.ts';

const withCookie = (cookie: string): IncomingMessage => ({ headers: { cookie } }) as IncomingMessage;

describe('dashboard sessions', () => {
  it('reads one cookie by name, and none when the name comes twice', () => {
    assert.equal(readCookie('a=1; b=2', 'b'), '2');
    assert.equal(readCookie('a=1', 'b'), undefined);
    assert.equal(readCookie('b=1; b=2', 'b'), undefined);
    assert.equal(readCookie(undefined, 'b'), undefined);
  });

  it('ends a session at its expiry, and the oldest when there are too many', () => {
    let now = 1_000;
    const sessions = new Sessions({ cookieName: 'c', ttlMs: 100, max: 2, now: () => now });
    const first = sessions.open();
    const second = sessions.open();
    assert.equal(sessions.fromCookie(withCookie(`c=${first.id}`))?.id, first.id);
    const third = sessions.open();
    assert.equal(sessions.fromCookie(withCookie(`c=${first.id}`)), undefined, 'the oldest went');
    assert.equal(sessions.fromCookie(withCookie(`c=${second.id}`))?.id, second.id);
    now += 100;
    assert.equal(sessions.fromCookie(withCookie(`c=${third.id}`)), undefined, 'expired');
  });

  it('compares the token whole', () => {
    const sessions = new Sessions({
      token: 'secret-token',
      cookieName: 'c',
      ttlMs: 100,
      max: 2,
      now: Date.now,
    });
    assert.ok(sessions.tokenMatches('secret-token'));
    assert.ok(!sessions.tokenMatches('secret-toke'));
    assert.ok(!sessions.tokenMatches(''));
    assert.throws(
      () => sessions.authenticate({ headers: { authorization: 'Bearer nope' } } as IncomingMessage),
      {
        code: 'DASHBOARD_UNAUTHORIZED',
      },
    );
  });
});
