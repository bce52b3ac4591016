// Lint: type-aware rules (an un-awaited promise is the commonest way to lose an error in an async
// host) and the package layering, so imports keep pointing one way.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Which workspace packages each package may import (lower layers never import higher ones). */
const LAYERS = {
  protocol: [],
  lattice: ['protocol'],
  runtime: ['protocol'],
  host: ['protocol', 'lattice', 'runtime'],
  apps: ['protocol'],
  'control-client': ['protocol', 'lattice'],
  cli: ['protocol', 'lattice', 'runtime', 'host', 'apps', 'control-client'],
  testing: ['protocol', 'lattice'],
  'provider-sdk': ['protocol', 'lattice'],
};
const ALL = Object.keys(LAYERS);

function layerRule(name) {
  const forbidden = ALL.filter((other) => other !== name && !LAYERS[name].includes(other));
  const patterns = [
    {
      group: forbidden.map((p) => `@cirrus/${p}`),
      message: `@cirrus/${name} may only depend on: ${LAYERS[name].map((p) => `@cirrus/${p}`).join(', ') || 'nothing'}.`,
    },
    { group: ['@cirrus/*/*'], message: 'Import a package through its public entry, not its internals.' },
    { group: ['../../*/src/*', '../../../packages/*'], message: 'Import other packages by name.' },
  ];
  if (name === 'protocol') {
    patterns.push({
      group: ['node:*'],
      message: '@cirrus/protocol is pure and browser-safe: no Node modules.',
    });
  }
  if (name !== 'testing') {
    patterns.push({ group: ['@cirrus/testing'], message: 'Only tests use @cirrus/testing.' });
  }
  if (name === 'runtime' || name === 'protocol') {
    // nkeys is a key codec and Ed25519, no messaging: protocol encodes and checks identities with it.
    const allowed = name === 'protocol' ? ['!@nats-io/nkeys'] : [];
    patterns.push({
      group: ['@nats-io/*', ...allowed, 'nats', 'nats.ws'],
      message: `@cirrus/${name} knows nothing about NATS.`,
    });
  }
  return {
    files: [`packages/${name}/src/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', { patterns }] },
  };
}

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/build/**',
      '.scratch/**',
      '.cache/**',
      'eslint.config.js',
      'packages/cli/bin/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/require-await': 'off',
      'no-restricted-syntax': [
        'error',
        {
          selector: 'TSEnumDeclaration',
          message: 'Use a union of string literals (enums are not erasable).',
        },
      ],
    },
  },
  ...ALL.map(layerRule),
);
