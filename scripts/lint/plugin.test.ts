/**
 * The project's lint rules (`cirrus/no-cycle`, `cirrus/boundaries`) and the import scan they share
 * with scripts/check-deps.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';
import plugin from './plugin.ts';
import { packageName, ROOT, scanText } from './modules.ts';

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;

const tester = new RuleTester({ languageOptions: { parser: tseslint.parser } });
const rules = plugin.rules!;

describe('the import scan', () => {
  it('finds every kind of module reference, type-only ones included', () => {
    const { refs } = scanText(
      'x.ts',
      [
        "import type { A } from './a.ts';",
        "import { type B, c } from './b.ts';",
        "export type { D } from './d.ts';",
        "export * from './e.ts';",
        "export * as ns from './f.ts';",
        "import './g.ts';",
        "const h = await import('./h.ts');",
        "type I = import('./i.ts').I;",
        "const j = import.meta.resolve('j-package');",
        "const k = `import('./not-code.ts')`;",
        "// import './comment.ts';",
      ].join('\n'),
    );
    assert.deepEqual(
      refs.map((r) => [r.specifier, r.kind]),
      [
        ['./a.ts', 'static'],
        ['./b.ts', 'static'],
        ['./d.ts', 'static'],
        ['./e.ts', 'static'],
        ['./f.ts', 'static'],
        ['./g.ts', 'static'],
        ['./h.ts', 'dynamic'],
        ['./i.ts', 'type'],
        ['j-package', 'resolve'],
      ],
    );
  });

  it('names packages, not paths, built-ins or WIT interfaces', () => {
    assert.equal(packageName('@cirrus/host'), '@cirrus/host');
    assert.equal(packageName('@cirrus/runtime/in-thread'), '@cirrus/runtime');
    assert.equal(packageName('yaml'), 'yaml');
    assert.equal(
      packageName('@bytecodealliance/jco-transpile/wasm-tools'),
      '@bytecodealliance/jco-transpile',
    );
    for (const notPackage of ['./x.ts', '../x.ts', 'node:fs', 'fs', 'wasi:http/types@0.2.12', '/abs.ts']) {
      assert.equal(packageName(notPackage), undefined, notPackage);
    }
  });
});

describe('cirrus/no-cycle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cirrus-no-cycle-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'leaf.ts'), 'export const leaf = 1;\n');
  writeFileSync(join(dir, 'back.ts'), "import { a } from './a.ts';\nexport const back = a;\n");
  writeFileSync(join(dir, 'middle.ts'), "export * from './back.ts';\n");
  writeFileSync(join(dir, 'types-back.ts'), "import type { A } from './a.ts';\nexport type T = A;\n");
  writeFileSync(join(dir, 'lazy-back.ts'), "export const load = () => import('./a.ts');\n");
  // The linted file is read from the test's code, but must exist for the others' imports of it.
  const a = join(dir, 'a.ts');
  writeFileSync(a, 'export const a = 1;\n');

  tester.run('no-cycle', rules['no-cycle']!, {
    valid: [
      { filename: a, code: "import { leaf } from './leaf.ts';\nexport const a = leaf;" },
      { filename: a, code: "import { missing } from './missing.ts';\nexport const a = missing;" },
      { filename: a, code: "import { x } from 'some-package';\nexport const a = x;" },
    ],
    invalid: [
      {
        filename: a,
        code: "import { back } from './back.ts';\nexport const a = back;",
        errors: [{ messageId: 'cycle', data: { path: `this file → ${join(dir, 'back.ts')} → this file` } }],
      },
      {
        // Through a re-export, and reported on the import that starts the cycle only.
        filename: a,
        code: "import { leaf } from './leaf.ts';\nexport { back } from './middle.ts';\nexport const a = leaf;",
        errors: [{ messageId: 'cycle', line: 2 }],
      },
      {
        // Type-only imports count, on either side.
        filename: a,
        code: "import type { T } from './types-back.ts';\nexport type A = T;",
        errors: [{ messageId: 'cycle' }],
      },
      {
        filename: a,
        code: "import { load } from './lazy-back.ts';\nexport const a = load;",
        errors: [{ messageId: 'cycle' }],
      },
    ],
  });
});

describe('cirrus/boundaries', () => {
  const settings = {
    cirrus: {
      layers: {
        protocol: ['packages/protocol'],
        lattice: ['packages/lattice'],
        runtime: ['packages/runtime'],
        providers: ['packages/providers/*'],
        host: ['packages/host'],
        'control-client': ['packages/control-client'],
        testing: ['packages/testing'],
      },
    },
  };
  const at = (path: string): string => join(ROOT, path);
  const controlClient = [{ may: ['protocol', 'lattice'], who: 'The control-client layer' }];

  tester.run('boundaries', rules.boundaries!, {
    valid: [
      {
        filename: at('packages/control-client/src/x.ts'),
        code: "import '@cirrus/lattice';",
        options: controlClient,
        settings,
      },
      {
        filename: at('packages/control-client/src/x.ts'),
        code: "import './client.ts';",
        options: controlClient,
        settings,
      },
      {
        filename: at('packages/control-client/src/x.ts'),
        code: "import 'yaml';",
        options: controlClient,
        settings,
      },
      // A package's own name, and a declared subpath entry.
      {
        filename: at('packages/runtime/src/x.ts'),
        code: "import '@cirrus/runtime';",
        options: [{ may: [] }],
        settings,
      },
      {
        filename: at('bench/x.ts'),
        code: "import '@cirrus/runtime/in-thread';",
        options: [{ may: '*' }],
        settings,
      },
      { filename: at('bench/x.ts'), code: "import './lib.ts';", options: [{ may: '*' }], settings },
      {
        filename: at('test/failure/x.ts'),
        code: "import '@cirrus/host';",
        options: [{ may: '*' }],
        settings,
      },
    ],
    invalid: [
      {
        filename: at('packages/control-client/test/x.ts'),
        code: "import { createHost } from '@cirrus/host';",
        options: controlClient,
        settings,
        errors: [{ messageId: 'layer' }],
      },
      {
        filename: at('packages/control-client/src/x.ts'),
        code: "import type { Fuzz } from '@cirrus/testing';",
        options: controlClient,
        settings,
        errors: [{ messageId: 'layer' }],
      },
      {
        filename: at('test/failure/x.ts'),
        code: "import { pool } from '@cirrus/runtime/src/pool.ts';",
        options: [{ may: '*' }],
        settings,
        errors: [{ messageId: 'internals' }],
      },
      {
        filename: at('bench/x.ts'),
        code: "import { pool } from '../packages/runtime/src/pool.ts';",
        options: [{ may: '*' }],
        settings,
        errors: [{ messageId: 'byPath' }],
      },
      {
        filename: at('packages/cli/test/x.ts'),
        code: "import '../../../examples/policy-service/src/service.ts';",
        options: [{ may: '*' }],
        settings,
        errors: [{ messageId: 'byPath' }],
      },
      {
        filename: at('packages/cli/test/x.ts'),
        code: "import '../../../test/failure/support.ts';",
        options: [{ may: '*' }],
        settings,
        errors: [{ messageId: 'outside' }],
      },
      {
        // A layer folder that is not a workspace (yet) is a package of its own all the same.
        filename: at('packages/providers/not-yet/src/x.ts'),
        code: "import '../../../host/src/index.ts';\nimport '../../other/src/index.ts';\nimport './own.ts';",
        options: [{ may: ['protocol'] }],
        settings,
        errors: [
          { messageId: 'byPath', line: 1 },
          { messageId: 'byPath', line: 2 },
        ],
      },
    ],
  });
});
