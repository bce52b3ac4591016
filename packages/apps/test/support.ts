/** What the manifest tests share: the opening lines of a manifest, and reading a thrown report. */
import assert from 'node:assert/strict';
import type { CirrusError } from '@cirrus/protocol';
import type { Problem } from '../src/index.ts';

/** Lines 1-6 of most manifests in the tests; the first component starts at line 7. */
export const HEAD = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: demo
spec:
  components:
`;

/** The error `fn` throws; fails the test when it returns. */
export function thrown(fn: () => unknown): CirrusError {
  try {
    fn();
  } catch (err) {
    return err as CirrusError;
  }
  assert.fail('expected parseManifest to throw');
}

/** The problems a MANIFEST_PARSE_ERROR or MANIFEST_INVALID lists in its details. */
export function problemsOf(err: CirrusError): Problem[] {
  const problems = err.details?.['problems'];
  assert.ok(Array.isArray(problems), 'details.problems is a list');
  return problems as Problem[];
}
