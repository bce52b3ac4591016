/**
 * `cirrus build`: a TypeScript component project → a WebAssembly component. The sources are bundled
 * with esbuild (WIT imports stay external), the standard WASI 0.2 WIT packages come from the
 * installed toolchain, and the engine's componentizer does the rest: componentize-js
 * (StarlingMonkey) or componentize-qjs (QuickJS, see build-engines.ts). The result is skipped when
 * neither the bundle, the WIT files nor the toolchain changed.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { appendCustomSection, BuildFailedError, SOURCE_MAP_SECTION, UsageError } from '@cirrus/protocol';
import { addFlags, flagValues, oneOf } from '../args.ts';
import type { FlagSpecs } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { runs } from '../program.ts';
import type { Invocation } from '../program.ts';
import { componentizeQuickJs, ENGINES, shiftedWit, TEXT_CODING_PRELUDE } from './build-engines.ts';
import type { Engine } from './build-engines.ts';

/** The `cirrus` field of a component project's package.json. */
export interface ProjectConfig {
  /** Entry module (TypeScript or JavaScript) exporting the world's exports. */
  source: string;
  /** Directory with the project's own WIT (world.wit); WASI packages are provided. */
  wit: string;
  world: string;
  /** Where the component is written. */
  output: string;
  /** The JavaScript engine (default `starlingmonkey`). */
  engine?: Engine;
}

export interface Project extends ProjectConfig {
  dir: string;
  buildDir: string;
}

const WASI_VERSION_DIR = '0.2.12';

/** The project in `dir` (an absolute path), from the `cirrus` field of its package.json. */
export async function readProject(dir: string): Promise<Project> {
  let pkg: { cirrus?: Partial<ProjectConfig> };
  try {
    pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as typeof pkg;
  } catch {
    throw new UsageError(`${dir} has no readable package.json`, {
      hint: 'run cirrus build in a component project directory',
    });
  }
  const config = pkg.cirrus;
  const missing = (['source', 'wit', 'world', 'output'] as const).filter(
    (k) => typeof config?.[k] !== 'string',
  );
  if (config === undefined || missing.length > 0) {
    throw new UsageError(`${join(dir, 'package.json')} needs a "cirrus" field with ${missing.join(', ')}`, {
      hint: 'e.g. "cirrus": {"source": "src/component.ts", "wit": "wit", "world": "hello", "output": "build/hello.wasm"}',
    });
  }
  const project = config as ProjectConfig;
  oneOf(project.engine, ENGINES, `"engine" in ${join(dir, 'package.json')}`, 'starlingmonkey');
  return { ...project, dir, buildDir: join(dir, dirname(project.output)) };
}

async function packageVersion(specifier: string): Promise<{ root: string; version: string }> {
  let dir = dirname(fileURLToPath(import.meta.resolve(specifier)));
  for (;;) {
    try {
      const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version: string;
      };
      if (pkg.name === specifier) return { root: dir, version: pkg.version };
    } catch {
      // keep walking up until the package root
    }
    const parent = dirname(dir);
    if (parent === dir) throw new BuildFailedError(`cannot locate the installed ${specifier} package`);
    dir = parent;
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else out.push(path);
  }
  return out.sort();
}

/** Builds `<buildDir>/wit`: the project's WIT plus links to the toolchain's WASI packages. */
async function assembleWit(project: Project, jcoRoot: string): Promise<string> {
  const source = join(project.dir, project.wit);
  const target = join(project.buildDir, 'wit');
  await rm(target, { recursive: true, force: true });
  await mkdir(join(target, 'deps'), { recursive: true });
  for (const file of await listFiles(source)) {
    const rel = relative(source, file);
    await mkdir(dirname(join(target, rel)), { recursive: true });
    await writeFile(join(target, rel), await readFile(file));
  }
  const wasiDir = join(jcoRoot, 'lib', 'wit', 'builtin', WASI_VERSION_DIR);
  for (const pkg of await readdir(wasiDir)) {
    const link = join(target, 'deps', pkg);
    const exists = await stat(link).then(
      () => true,
      () => false,
    );
    if (!exists) await symlink(join(wasiDir, pkg), link, 'dir');
  }
  return target;
}

interface EsbuildMessage {
  text: string;
  /** `line` counts from 1, `column` from 0. */
  location?: { file: string; line: number; column: number } | null;
}

/** `src/component.ts:12:5: message`, the form editors and terminals turn into a link (columns from 1). */
function located(message: EsbuildMessage): string {
  const at = message.location;
  return at == null ? message.text : `${at.file}:${at.line}:${at.column + 1}: ${message.text}`;
}

/** The bundle the engine runs, and its source map (v3, its sources relative to the project). */
interface Bundle {
  js: string;
  map: string;
}

/** The bundle's name, as the engine's stack frames end. */
const BUNDLE_FILE = 'component.js';

async function bundle(project: Project, engine: Engine): Promise<Bundle> {
  const { build } = await import('esbuild');
  const outfile = join(project.buildDir, BUNDLE_FILE);
  const result = await build({
    entryPoints: [join(project.dir, project.source)],
    ...(engine === 'quickjs' ? { banner: { js: TEXT_CODING_PRELUDE } } : {}),
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    write: false,
    outfile,
    sourcemap: 'external',
    sourcesContent: false,
    logLevel: 'silent',
    // Locations in messages are then relative to the project, whatever directory the build runs in.
    absWorkingDir: project.dir,
    plugins: [
      {
        name: 'wit-imports',
        setup(b) {
          b.onResolve({ filter: /^[a-z][a-z0-9-]*:[a-z][a-z0-9-]*\// }, (args) => ({
            path: args.path,
            external: true,
          }));
        },
      },
    ],
  }).catch((err: unknown) => {
    const errors = (err as { errors?: EsbuildMessage[] }).errors ?? [];
    throw new BuildFailedError(
      errors.length === 0 ? `bundling failed: ${String(err)}` : errors.map(located).join('\n'),
      { hint: 'fix the source error and build again' },
    );
  });
  const js = result.outputFiles.find((file) => file.path === outfile);
  const map = result.outputFiles.find((file) => file.path === `${outfile}.map`);
  if (js === undefined || map === undefined) throw new BuildFailedError('bundling produced no output');
  const payload = JSON.parse(map.text) as { sources: string[]; file?: string };
  payload.file = BUNDLE_FILE;
  payload.sources = payload.sources.map((source) => relative(project.dir, resolve(project.buildDir, source)));
  return { js: js.text, map: JSON.stringify(payload) };
}

function progress(context: CommandContext, label: string): () => void {
  const started = Date.now();
  context.print(`${label}…`);
  const timer = setInterval(
    () => context.print(`  ${label}: ${Math.round((Date.now() - started) / 1000)} s`),
    10_000,
  );
  return () => {
    clearInterval(timer);
    context.print(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  };
}

export interface BuildResult {
  output: string;
  skipped: boolean;
}

export interface BuildOptions {
  force?: boolean;
  /** Overrides the project's engine. */
  engine?: Engine;
  /** Overrides the project's output (a path, relative to the current directory). */
  output?: string;
}

export async function buildProject(
  dir: string,
  options: BuildOptions,
  context: CommandContext,
): Promise<BuildResult> {
  const project = await readProject(resolve(dir));
  const engine = options.engine ?? project.engine ?? 'starlingmonkey';
  const output = options.output === undefined ? join(project.dir, project.output) : resolve(options.output);
  // One stamp per output, so that builds of a project with both engines do not undo each other.
  const stampPath = join(dirname(output), `.cirrus-build-${basename(output)}.json`);
  const [componentize, jco] = await Promise.all([
    packageVersion(engine === 'quickjs' ? 'componentize-qjs' : '@bytecodealliance/componentize-js'),
    packageVersion('@bytecodealliance/jco'),
  ]);
  const engineName = engine === 'quickjs' ? 'componentize-qjs' : 'componentize-js';

  const { js, map } = await bundle(project, engine);
  const hash = createHash('sha256');
  hash.update(`${engineName}@${componentize.version} jco@${jco.version} world=${project.world}\n`);
  hash.update(js);
  for (const file of await listFiles(join(project.dir, project.wit))) {
    hash.update(relative(project.dir, file));
    hash.update(await readFile(file));
  }
  const digest = hash.digest('hex');
  const previous = await readFile(stampPath, 'utf8').then(
    (text) => (JSON.parse(text) as { digest?: string }).digest,
    () => undefined,
  );
  const outputExists = await stat(output).then(
    () => true,
    () => false,
  );
  if (options.force !== true && outputExists && previous === digest) {
    context.print(`${relative(process.cwd(), output) || output} is up to date`);
    return { output, skipped: true };
  }

  await mkdir(project.buildDir, { recursive: true });
  await mkdir(dirname(output), { recursive: true });
  const witPath = await assembleWit(project, jco.root);
  await writeTypes(project, witPath);

  const done = progress(
    context,
    `componentizing ${basename(project.dir)} (${engineName} ${componentize.version}, usually ${engine === 'quickjs' ? '1-3' : '15-40'} s)`,
  );
  let component: Uint8Array;
  try {
    if (engine === 'quickjs') {
      const shifted = join(project.buildDir, 'wit-quickjs');
      await rm(shifted, { recursive: true, force: true });
      await shiftedWit(witPath, shifted);
      component = await componentizeQuickJs(js, shifted, project.world);
    } else {
      const bundlePath = join(project.buildDir, BUNDLE_FILE);
      await writeFile(bundlePath, js);
      // StarlingMonkey reports an uncaught exception with frames in the bundle: the host maps them
      // back through this (docs/observability.md). QuickJS writes no stack to map.
      component = appendCustomSection(
        await componentizeStarlingMonkey(bundlePath, witPath, project.world),
        SOURCE_MAP_SECTION,
        new TextEncoder().encode(map),
      );
    }
  } finally {
    done();
  }
  const temp = `${output}.tmp-${process.pid}`;
  await writeFile(temp, component);
  await rename(temp, output);
  await writeFile(stampPath, JSON.stringify({ digest, builtAt: new Date().toISOString() }));
  context.print(
    `wrote ${relative(process.cwd(), output) || output} (${(component.byteLength / 1024 / 1024).toFixed(1)} MiB)`,
  );
  return { output, skipped: false };
}

async function componentizeStarlingMonkey(
  bundlePath: string,
  witPath: string,
  world: string,
): Promise<Uint8Array> {
  const { componentize } = (await import('@bytecodealliance/componentize-js')) as {
    componentize: (opts: {
      sourcePath: string;
      witPath: string;
      worldName: string;
    }) => Promise<{ component: Uint8Array }>;
  };
  try {
    return (await componentize({ sourcePath: bundlePath, witPath, worldName: world })).component;
  } catch (err) {
    throw new BuildFailedError(
      `componentize-js failed: ${err instanceof Error ? err.message : String(err)}`,
      { hint: 'check that the source exports what the WIT world declares' },
    );
  }
}

/** Guest type declarations for the world, so editors and tsc know the WIT imports. */
async function writeTypes(project: Project, witPath: string): Promise<void> {
  const { generateGuestTypes } = await import('@bytecodealliance/jco-transpile');
  const files = await generateGuestTypes(witPath, { worldName: project.world, guest: true });
  const typesDir = join(project.buildDir, 'types');
  await rm(typesDir, { recursive: true, force: true });
  for (const [name, bytes] of Object.entries(files)) {
    const path = join(typesDir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
  }
}

const BUILD_FLAGS = {
  force: { description: 'rebuild even when the bundle, the WIT files and the toolchain are unchanged' },
  engine: {
    value: 'ENGINE',
    description: `the JavaScript engine: ${ENGINES.join(' or ')} (overrides the project's "engine")`,
    default: 'starlingmonkey',
  },
  output: {
    value: 'FILE',
    short: 'o',
    description: 'where to write the component (overrides the project\'s "output")',
  },
} as const satisfies FlagSpecs;

export function buildCommand(invocation: Invocation): Command {
  const command = new Command('build')
    .summary('build a TypeScript component project into a component')
    .description(
      'Builds a TypeScript (or JavaScript) component project into a WebAssembly component: bundles it with esbuild, writes TypeScript declarations for its WIT world, and runs the engine\'s componentizer (componentize-js for StarlingMonkey, componentize-qjs for QuickJS). The project\'s package.json needs a "cirrus" field: {"source", "wit", "world", "output"}, and may name an "engine".',
    )
    .argument('[PROJECT_DIR]', 'the component project (default: the current directory)');
  addFlags(command, BUILD_FLAGS);
  return runs(command, invocation, async () => {
    const values = flagValues(command, BUILD_FLAGS);
    await buildProject(
      command.args[0] ?? '.',
      {
        force: values.force === true,
        ...(values.engine === undefined
          ? {}
          : { engine: oneOf(values.engine, ENGINES, '--engine', 'starlingmonkey') }),
        ...(values.output === undefined ? {} : { output: values.output }),
      },
      invocation.context,
    );
    return 0;
  });
}
