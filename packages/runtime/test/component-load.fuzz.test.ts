/**
 * Fuzzing the whole component load (read, check, verify claims, transpile, compile, decode types)
 * with mutated small components, signed and unsigned: each load gives a prepared component or a
 * Cirrus error, within a time bound, and the runtime keeps loading good components afterwards. Every
 * load transpiles, so the number of cases is small; the parsers are fuzzed at depth on their own.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isCirrusError, Nkey, signComponent } from '@cirrus/protocol';
import { assemble, fc, fuzzAsync, tempDir, TRAP_WAT, UNKNOWN_IMPORT_WAT } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createComponentRuntime } from '../src/index.ts';
import type { ComponentRuntime } from '../src/index.ts';
import { flip, mutate, mutation } from './wasm-mutations.ts';

const ACCOUNT = Nkey.fromSeed('SAALBMHP7I7WSP7VHNRD5LZ2XMMN4WNT2OFVPHSNB5XF3X3ACESDILXIXM');
const MODULE = Nkey.fromSeed('SMAOMRMHDXQ2JMQVDPCE3GUMEUOVKLNPMJQTRQEPV2YZO2FPTZLJ5TGA74');
/** A load transpiles the component; on a busy machine that may take seconds, never this long. */
const TIME_BOUND_MS = 30_000;

describe('component loading under fuzzing', () => {
  let dir: TempDir;
  let runtime: ComponentRuntime;
  const bases: Uint8Array[] = [];
  let good: string;
  let loads = 0;

  before(async () => {
    dir = await tempDir();
    runtime = createComponentRuntime({ cacheDir: join(dir.path, 'cache') });
    const trap = await assemble(TRAP_WAT);
    const signed = await signComponent(trap, { issuer: ACCOUNT, subject: MODULE, name: 'trap' });
    bases.push(trap, signed.bytes, await assemble(UNKNOWN_IMPORT_WAT));
    good = join(dir.path, 'good.wasm');
    await writeFile(good, trap);
  });

  after(async () => {
    await runtime.close();
    await dir.remove();
  });

  it('a mutated component loads or is refused with a Cirrus error, and good ones still load', async () => {
    await fuzzAsync(
      fc.asyncProperty(
        fc.nat(),
        // Mostly byte flips, which keep sizes intact and so reach the transpiler and the compiler.
        fc.oneof(
          { weight: 3, arbitrary: fc.array(flip, { minLength: 1, maxLength: 2 }) },
          { weight: 1, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 2 }) },
        ),
        async (pick, mutations) => {
          const bytes = mutations.reduce((b, m) => mutate(b, m), bases[pick % bases.length] as Uint8Array);
          const file = join(dir.path, `case-${(loads += 1)}.wasm`);
          await writeFile(file, bytes);
          const began = performance.now();
          try {
            const prepared = await runtime.load(file, { allowFileLoad: true });
            assert.equal(prepared.sizeBytes, bytes.length);
          } catch (err) {
            assert.ok(isCirrusError(err), `load threw ${String(err)} instead of a Cirrus error`);
          }
          const elapsed = performance.now() - began;
          assert.ok(elapsed < TIME_BOUND_MS, `load took ${Math.round(elapsed)} ms`);
        },
      ),
      8,
    );
    const prepared = await runtime.load(good, { allowFileLoad: true });
    assert.ok(prepared.exports.some((name) => name.startsWith('wasi:http/incoming-handler')));
  });
});
