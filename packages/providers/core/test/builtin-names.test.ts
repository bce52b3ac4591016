/**
 * Which built-in a provider reference starts: `wasmcloud+builtin://<name>`, or one of wasmCloud's
 * published provider images that a built-in replaces, with or without `oci://` and a tag.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtinName } from '../src/builtin-names.ts';

describe('builtinName', () => {
  it('takes the name after wasmcloud+builtin://', () => {
    assert.equal(builtinName('wasmcloud+builtin://keyvalue'), 'keyvalue');
    assert.equal(builtinName('wasmcloud+builtin://keyvalue-redis'), 'keyvalue-redis');
  });

  it("maps wasmCloud's provider images to the built-ins that replace them", () => {
    const images: [string, string][] = [
      ['http-server', 'http-server'],
      ['http-client', 'http-client'],
      ['blobstore-fs', 'blobstore'],
      ['keyvalue-nats', 'keyvalue-nats'],
      ['keyvalue-redis', 'keyvalue-redis'],
      ['messaging-nats', 'messaging'],
    ];
    for (const [image, builtin] of images) {
      for (const ref of [
        `ghcr.io/wasmcloud/${image}`,
        `ghcr.io/wasmcloud/${image}:0.30.0`,
        `oci://ghcr.io/wasmcloud/${image}:0.4.1`,
        `oci://ghcr.io/wasmcloud/${image}`,
        `ghcr.io/wasmcloud/${image}:canary-2024_01`,
      ]) {
        assert.equal(builtinName(ref), builtin, ref);
      }
    }
  });

  it('leaves other references alone', () => {
    for (const ref of [
      'ghcr.io/wasmcloud/sqldb-postgres:0.10.0',
      'ghcr.io/wasmcloud/components/http-keyvalue-counter-rust:0.1.0',
      'ghcr.io/wasmcloud/keyvalue-natsx:0.4.1',
      'ghcr.io/wasmcloud/keyvalue-nats:0.4.1/extra',
      'ghcr.io/wasmcloud/constructor',
      'ghcr.io/wasmcloud/keyvalue-redis@sha256:0123',
      'docker.io/wasmcloud/keyvalue-redis:0.30.0',
      'https://ghcr.io/wasmcloud/keyvalue-redis:0.30.0',
      'file:///tmp/keyvalue-redis',
      'keyvalue-redis',
    ]) {
      assert.equal(builtinName(ref), undefined, ref);
    }
  });
});
