import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sourceLocator } from '../src/source-map.ts';

/**
 * What `cirrus build` embeds for src/component.ts (bundled by esbuild to component.js):
 *   export function handle(request: Request): string {     // line 5
 *     if (request.path === '/throw') {
 *       throw new Error('asked to throw');                   // line 7, the bundle's line 4
 */
const MAP = {
  version: 3,
  file: 'component.js',
  sources: ['src/component.ts'],
  mappings:
    ';AAIO,SAAS,OAAO,SAA0B;AAC/C,MAAI,QAAQ,SAAS,UAAU;AAC7B,UAAM,IAAI,MAAM,gBAAgB;AAAA,EAClC;AACA,SAAO;AACT;',
  names: [],
};

const section = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

/** What StarlingMonkey writes to stderr for an uncaught exception. */
const STDERR = [
  'a line the component printed before',
  'asked to throw',
  'Stack:',
  '  handle@project/build/component.js:4:11',
  '  export_incomingHandler_0_2_12$handle@/tmp/9823a86275d9/sources/initializer.js:6628:15',
  '',
  'Redirecting call to abort() to mozalloc_abort',
];

describe('sourceLocator', () => {
  it('maps the first frame in the bundle to the TypeScript file, line, column and function', () => {
    const locate = sourceLocator(section(MAP));
    assert.deepEqual(locate?.(STDERR), {
      file: 'src/component.ts',
      line: 7,
      column: 11,
      function: 'handle',
      message: 'asked to throw',
    });
  });

  it('finds nothing in output without a frame of the bundle', () => {
    const locate = sourceLocator(section(MAP));
    assert.equal(locate?.(['boom', 'Stack:', '  run@/tmp/other.js:1:1']), undefined);
    assert.equal(locate?.([]), undefined);
  });

  it('has no locator without a map, or with one it cannot use', () => {
    assert.equal(sourceLocator(undefined), undefined);
    assert.equal(sourceLocator(new TextEncoder().encode('not json')), undefined);
    assert.equal(sourceLocator(section({ ...MAP, version: 2 })), undefined);
    assert.equal(sourceLocator(section({ ...MAP, file: undefined })), undefined);
  });
});
