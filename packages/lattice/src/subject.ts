import { InvalidArgumentError, InvalidKeyError, InvalidSubjectError } from '@cirrus/protocol';

const WHITESPACE = /\s/;

function tokensOf(subject: string, kind: string): string[] {
  if (typeof subject !== 'string' || subject.length === 0 || WHITESPACE.test(subject)) {
    throw new InvalidSubjectError(`${kind} ${JSON.stringify(subject)} is not a valid subject`, {
      hint: 'subjects are non-empty dot-separated tokens without whitespace, e.g. "wasmbus.evt.default.host_started"',
    });
  }
  const tokens = subject.split('.');
  if (tokens.some((t) => t.length === 0)) {
    throw new InvalidSubjectError(`${kind} ${JSON.stringify(subject)} has an empty token`, {
      hint: 'remove leading, trailing or doubled dots',
    });
  }
  return tokens;
}

/** Non-empty tokens without whitespace, none of them a wildcard: what nearly every publish is. */
const PLAIN_SUBJECT = /^(?:[^\s.]+\.)*[^\s.]+$/;
const WILDCARD_TOKEN = /(?:^|\.)[*>](?:\.|$)/;

/** Validates a subject to publish to: no wildcards. */
export function assertPublishSubject(subject: string): void {
  // Checked on every message sent: one pass for the common case, the detailed checks for a report.
  if (typeof subject === 'string' && PLAIN_SUBJECT.test(subject) && !WILDCARD_TOKEN.test(subject)) return;
  const tokens = tokensOf(subject, 'publish subject');
  if (tokens.some((t) => t === '*' || t === '>')) {
    throw new InvalidSubjectError(`cannot publish to wildcard subject ${JSON.stringify(subject)}`, {
      hint: 'wildcards (*, >) are only allowed when subscribing',
    });
  }
}

/** Validates a subscription subject: `*` matches one token, `>` the rest and must come last. */
export function subscriptionTokens(subject: string): string[] {
  const tokens = tokensOf(subject, 'subscription subject');
  tokens.forEach((t, i) => {
    if (t === '>' && i !== tokens.length - 1) {
      throw new InvalidSubjectError(`'>' must be the last token in ${JSON.stringify(subject)}`, {
        hint: 'use "a.b.>" to match everything below a.b',
      });
    }
  });
  return tokens;
}

export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    const t = f[i];
    if (t === '>') return s.length > i;
    if (i >= s.length) return false;
    if (t !== '*' && t !== s[i]) return false;
  }
  return f.length === s.length;
}

const KV_KEY = /^[-/_=.a-zA-Z0-9]+$/;
const BUCKET = /^[a-zA-Z0-9_-]+$/;

export function assertKvKey(key: string): void {
  if (typeof key !== 'string' || !KV_KEY.test(key) || key.startsWith('.') || key.endsWith('.')) {
    throw new InvalidKeyError(`key ${JSON.stringify(key)} is not a valid key-value key`, {
      hint: 'keys use letters, digits and - / _ = . and neither start nor end with a dot',
    });
  }
}

export function assertKvFilter(filter: string): void {
  if (filter === '>') return;
  const tokens = subscriptionTokens(filter);
  for (const t of tokens) {
    if (t !== '*' && t !== '>' && !KV_KEY.test(t)) {
      throw new InvalidKeyError(`key filter ${JSON.stringify(filter)} is not valid`, {
        hint: 'use a key, or a key pattern with * and > tokens',
      });
    }
  }
}

export function assertBucketName(name: string): void {
  if (typeof name !== 'string' || !BUCKET.test(name)) {
    throw new InvalidKeyError(`bucket name ${JSON.stringify(name)} is not valid`, {
      hint: 'bucket names use letters, digits, - and _ only',
    });
  }
}

/** A revision a compare-and-swap may expect: 0 (no value) or one a get or put returned. */
export function assertRevision(revision: number): void {
  if (!Number.isSafeInteger(revision) || revision < 0) {
    throw new InvalidArgumentError(`revision ${String(revision)} is not valid`, {
      hint: 'pass the revision of the entry that was read, or 0 when the key had no value',
    });
  }
}
