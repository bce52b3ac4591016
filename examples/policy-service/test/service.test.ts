/**
 * The example policy service's decisions: components and providers signed by an allowed issuer are
 * permitted; other issuers, expired claims and unsigned artifacts are denied, unsigned ones unless
 * told otherwise. (packages/cli/test/policy.test.ts runs it as a process in front of real hosts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PolicyClaims, PolicyRequest } from '@cirrus/protocol';
import { decide } from '../src/service.ts';

const TRUSTED = 'ATRUSTED';
const options = { servers: [], topic: 't', allowedIssuers: [TRUSTED] };

function startComponent(claims: PolicyClaims | null): PolicyRequest {
  return {
    requestId: 'r1',
    kind: 'startComponent',
    version: 'v1',
    request: { componentId: 'c', imageRef: 'file:///c.wasm', maxInstances: 1, annotations: {}, claims },
    host: { publicKey: 'N', lattice: 'default', labels: {} },
  };
}

function claimsBy(issuer: string, expired = false): PolicyClaims {
  return { publicKey: 'MCOMPONENT', issuer, issuedAt: '1', expiresAt: null, expired };
}

describe('the example policy service', () => {
  it('permits what an allowed issuer signed', () => {
    assert.deepEqual(decide(startComponent(claimsBy(TRUSTED)), options), {
      requestId: 'r1',
      permitted: true,
    });
  });

  it('denies another issuer, and expired claims, saying why', () => {
    assert.deepEqual(decide(startComponent(claimsBy('ASTRANGER')), options), {
      requestId: 'r1',
      permitted: false,
      message: 'issuer ASTRANGER is not allowed',
    });
    assert.deepEqual(decide(startComponent(claimsBy(TRUSTED, true)), options), {
      requestId: 'r1',
      permitted: false,
      message: 'the claims of MCOMPONENT have expired',
    });
  });

  it('permits unsigned artifacts only when told to', () => {
    const request: PolicyRequest = {
      requestId: 'r1',
      kind: 'startProvider',
      version: 'v1',
      request: { providerId: 'kv', imageRef: 'wasmcloud+builtin://keyvalue', annotations: {}, claims: null },
      host: { publicKey: 'N', lattice: 'default', labels: {} },
    };
    assert.deepEqual(decide(request, options), {
      requestId: 'r1',
      permitted: false,
      message: 'unsigned artifacts are not allowed',
    });
    assert.deepEqual(decide(request, { ...options, allowUnsigned: true }), {
      requestId: 'r1',
      permitted: true,
    });
  });
});
