// Lint: type-aware rules (an un-awaited promise is the commonest way to lose an error in an async
// host), and the architecture: no import cycles anywhere, and the package layering, so imports keep
// pointing one way (the rules are in scripts/lint/plugin.ts).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import cirrus from './scripts/lint/plugin.ts';

/**
 * The layers: the folders (globs; ones that do not exist yet are fine) that make up each, and which
 * layers its sources may import. A package's tests may import what its sources may, plus testing and
 * the layers in `testsMay` (a real NATS connection for the tests of layers whose sources take any
 * lattice). test/, bench/, scripts/ and examples/ may import any package, through its public entry.
 */
const LAYERS = {
  protocol: { folders: ['packages/protocol'], may: [] },
  lattice: { folders: ['packages/lattice'], may: ['protocol'] },
  'lattice-nats': { folders: ['packages/lattice-nats'], may: ['protocol', 'lattice'] },
  'local-endpoint': {
    folders: ['packages/local-endpoint'],
    may: ['protocol', 'lattice'],
    testsMay: ['lattice-nats'],
  },
  runtime: { folders: ['packages/runtime'], may: ['protocol'] },
  providers: {
    folders: ['packages/providers/*'],
    may: ['protocol', 'lattice', 'lattice-nats', 'runtime', 'providers'],
  },
  host: {
    folders: ['packages/host'],
    may: ['protocol', 'lattice', 'runtime', 'providers'],
    testsMay: ['lattice-nats'],
  },
  apps: { folders: ['packages/apps'], may: ['protocol', 'lattice', 'control-client'] },
  'control-client': { folders: ['packages/control-client'], may: ['protocol', 'lattice'] },
  dashboard: { folders: ['packages/dashboard'], may: ['protocol', 'lattice', 'control-client', 'apps'] },
  'browser-host': {
    folders: ['packages/browser-host'],
    may: ['protocol', 'lattice', 'lattice-nats', 'runtime', 'providers', 'host'],
  },
  telemetry: { folders: ['packages/telemetry'], may: ['protocol'] },
  cli: {
    folders: ['packages/cli'],
    may: [
      'protocol',
      'lattice',
      'lattice-nats',
      'local-endpoint',
      'runtime',
      'providers',
      'host',
      'apps',
      'control-client',
      'dashboard',
      'browser-host',
      'telemetry',
    ],
  },
  testing: { folders: ['packages/testing'], may: ['protocol', 'lattice'] },
  'provider-sdk': {
    folders: ['packages/provider-sdk'],
    may: ['protocol', 'lattice', 'lattice-nats', 'providers', 'telemetry'],
  },
  examples: { folders: ['examples/*'], may: '*' },
};

/** Enums are TypeScript syntax with runtime semantics: Node's type stripping cannot run them. */
const NO_ENUMS = {
  selector: 'TSEnumDeclaration',
  message: 'Use a union of string literals (enums are not erasable).',
};

/** Node's types, which describe values a browser does not have. */
const NO_NODE_TYPES = {
  selector: "TSQualifiedName[left.name='NodeJS']",
  message: 'Browser-safe code has no NodeJS types: e.g. ReturnType<typeof setTimeout> for a timer.',
};

/** Node's globals, which a browser does not have. */
const NODE_GLOBALS = [
  {
    name: 'Buffer',
    message: 'Browser-safe code has no Buffer: use Uint8Array, TextEncoder and TextDecoder.',
  },
  { name: 'process', message: 'Browser-safe code has no process: take what it needs as options.' },
];

/** Rules for one layer's folders: its sources, and everything else in them (tests, fixtures). */
function layerRules([name, { folders, may, testsMay = [] }]) {
  if (may === '*') return [];
  const sources = folders.map((folder) => `${folder}/src/**/*.ts`);
  const patterns = [];
  const browserSafe = name === 'protocol' || name === 'lattice';
  if (browserSafe) {
    patterns.push({
      group: ['node:*'],
      message:
        name === 'protocol'
          ? '@cirrus/protocol is pure and browser-safe: no Node modules.'
          : 'The lattice core is browser-safe: no Node modules (Node-only adapters live in lattice-nats and local-endpoint).',
    });
  }
  if (name === 'runtime' || name === 'protocol') {
    // nkeys is a key codec and Ed25519, no messaging: protocol encodes and checks identities with it.
    const allowed = name === 'protocol' ? ['!@nats-io/nkeys'] : [];
    patterns.push({
      group: ['@nats-io/*', ...allowed, 'nats', 'nats.ws'],
      message: `@cirrus/${name} knows nothing about NATS.`,
    });
  }
  return [
    {
      files: sources,
      rules: {
        'cirrus/boundaries': ['error', { may, who: `The ${name} layer` }],
        ...(patterns.length > 0 ? { 'no-restricted-imports': ['error', { patterns }] } : {}),
        ...(browserSafe
          ? {
              'no-restricted-globals': ['error', ...NODE_GLOBALS],
              'no-restricted-syntax': ['error', NO_ENUMS, NO_NODE_TYPES],
            }
          : {}),
      },
    },
    {
      files: folders.map((folder) => `${folder}/**/*.ts`),
      ignores: sources,
      rules: {
        'cirrus/boundaries': [
          'error',
          { may: [...new Set([...may, name, 'testing', ...testsMay])], who: `The ${name} layer's tests` },
        ],
      },
    },
  ];
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
      'packages/dashboard/dist/**',
      'packages/browser-host/dist/**',
      // Its WIT imports have types only once a project made from it is built; packages/cli/test/new.test.ts
      // type-checks such a project instead.
      'packages/cli/templates/component/src/**',
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
      'no-restricted-syntax': ['error', NO_ENUMS],
    },
  },
  {
    plugins: { cirrus },
    settings: {
      cirrus: { layers: Object.fromEntries(Object.entries(LAYERS).map(([name, l]) => [name, l.folders])) },
    },
    rules: {
      'cirrus/no-cycle': 'error',
      'cirrus/boundaries': ['error', { may: '*' }],
    },
  },
  ...Object.entries(LAYERS).flatMap(layerRules),
  {
    // The websocket path of the NATS adapter is what a browser bundle gets (src/browser.ts): only the
    // Node entry (src/index.ts) and src/node/ may use Node.
    files: ['packages/lattice-nats/src/**/*.ts'],
    ignores: ['packages/lattice-nats/src/index.ts', 'packages/lattice-nats/src/node/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', '@nats-io/transport-node', './node/*', '../node/*'],
              message:
                'This module is in the browser bundle of @cirrus/lattice-nats: Node-only code lives in src/node/ and is imported by src/index.ts alone.',
            },
          ],
        },
      ],
      'no-restricted-globals': ['error', ...NODE_GLOBALS],
      'no-restricted-syntax': ['error', NO_ENUMS, NO_NODE_TYPES],
    },
  },
  {
    // The templates of `cirrus new` are the projects it writes, which import what a user's project would.
    files: ['packages/cli/templates/**/*.ts'],
    rules: { 'cirrus/boundaries': ['error', { may: '*' }] },
  },
  {
    // Lattice data reaches the dashboard page from anyone who can publish on the lattice: it is
    // rendered as text only, never parsed as HTML.
    files: ['packages/dashboard/ui/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']",
          message: 'Render lattice data as text: no dangerouslySetInnerHTML.',
        },
        {
          selector: 'MemberExpression[property.name=/^(innerHTML|outerHTML)$/]',
          message: 'Render lattice data as text: no innerHTML or outerHTML.',
        },
        {
          selector: 'CallExpression[callee.property.name=/^(insertAdjacentHTML|write|writeln)$/]',
          message: 'Render lattice data as text: no HTML insertion.',
        },
      ],
    },
  },
);
