/**
 * `npm test`: every check the project has, in the order that fails fastest. Installs the system
 * programs the tests start (when missing), builds the components the integration tests use (skipped
 * when their sources are unchanged), then types, lint (import cycles and layering included), the
 * dependencies each package declares, format, and the test files. Extra arguments are passed to
 * `node --test` (e.g. a file or --test-name-pattern).
 */
import { spawn } from 'node:child_process';

interface Step {
  name: string;
  command: string;
  args: string[];
}

const extra = process.argv.slice(2);
// The failure suite's slow tier (test/failure/slow) runs separately: `npm run test:slow`, which CI runs too.
const testFiles = extra.some((a) => !a.startsWith('-'))
  ? []
  : [
      'packages/*/test/**/*.test.ts',
      'packages/providers/*/test/**/*.test.ts',
      'test/failure/*.test.ts',
      'test/integration/*.test.ts',
      'scripts/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
    ];

/** Component projects the tests run, built first (each is skipped when its sources are unchanged). */
const COMPONENTS = [
  'examples/hello',
  'examples/counter',
  'packages/testing/fixtures/probe',
  'packages/testing/fixtures/imports-probe',
  'packages/testing/fixtures/greeter',
  'packages/testing/fixtures/greet-client',
  'packages/testing/fixtures/blobs',
  'packages/testing/fixtures/fetcher',
  'packages/testing/fixtures/counter-resource',
  'packages/testing/fixtures/counter-user',
];

const QUICKJS_EXAMPLES = ['hello', 'counter'];

const steps: Step[] = [
  // Tests start real servers (nats-server, redis-server); a fresh machine has none until this installs them.
  { name: 'system dependencies', command: 'node', args: ['scripts/ensure-deps.ts'] },
  ...COMPONENTS.map((dir) => ({ name: `build ${dir}`, command: 'cirrus', args: ['build', dir] })),
  // The examples with the second engine too: the same tests run against both (packages/cli/test/engines.test.ts).
  ...QUICKJS_EXAMPLES.map((name) => ({
    name: `build examples/${name} (QuickJS)`,
    command: 'cirrus',
    args: [
      'build',
      `examples/${name}`,
      '--engine',
      'quickjs',
      '--output',
      `examples/${name}/build/${name}-quickjs.wasm`,
    ],
  })),
  // The dashboard's page, which its server serves and the browser tests load.
  { name: 'build the dashboard page', command: 'node', args: ['packages/dashboard/scripts/build-ui.ts'] },
  // The browser host's page and worker, which `cirrus up` serves at /host and the browser tests open.
  { name: 'build the browser host', command: 'node', args: ['packages/browser-host/scripts/build.ts'] },
  { name: 'typecheck', command: 'tsc', args: ['-p', 'tsconfig.json'] },
  {
    name: 'typecheck the dashboard page',
    command: 'tsc',
    args: ['-p', 'packages/dashboard/ui/tsconfig.json'],
  },
  {
    name: 'typecheck the browser host page',
    command: 'tsc',
    args: ['-p', 'packages/browser-host/tsconfig.json'],
  },
  ...COMPONENTS.map((dir) => ({ name: `typecheck ${dir}`, command: 'tsc', args: ['-p', dir] })),
  { name: 'lint', command: 'eslint', args: ['.'] },
  { name: 'dependencies', command: 'node', args: ['scripts/check-deps.ts'] },
  { name: 'format', command: 'prettier', args: ['--check', '--log-level', 'warn', '.'] },
  {
    name: 'tests',
    command: 'node',
    args: ['--test', '--test-concurrency=2', '--test-timeout=180000', ...testFiles, ...extra],
  },
];

function run(step: Step): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(step.command, step.args, { stdio: 'inherit', env: process.env });
    child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
    child.on('error', () => resolve(127));
  });
}

const started = Date.now();
for (const step of steps) {
  const stepStarted = Date.now();
  process.stdout.write(`\n── ${step.name}\n`);
  const code = await run(step);
  const seconds = ((Date.now() - stepStarted) / 1000).toFixed(1);
  if (code !== 0) {
    process.stdout.write(`\n✖ ${step.name} failed (exit ${code}, ${seconds} s)\n`);
    process.exit(code);
  }
  process.stdout.write(`✔ ${step.name} (${seconds} s)\n`);
}
process.stdout.write(`\nAll checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
