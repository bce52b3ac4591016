/**
 * `cirrus new component|provider NAME`: a TypeScript project, copied from packages/cli/templates/ with
 * its name and the Cirrus version filled in, that builds, runs and passes its own test as it is.
 */
import { access, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { DirectoryNotEmptyError, parseWit, UsageError } from '@cirrus/protocol';
import cli from '../../package.json' with { type: 'json' };
import { addFlags, flagValues } from '../args.ts';
import type { FlagSpecs } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { commandGroup, runs } from '../program.ts';
import type { Invocation } from '../program.ts';

type Kind = 'component' | 'provider';

const TEMPLATES = fileURLToPath(new URL('../../templates/', import.meta.url));

/**
 * The name becomes the directory, the npm package, the WIT package and world, the application and its
 * component: lowercase words joined by dashes, each starting with a letter, is what all of them accept.
 */
const NAME = /^[a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*$/;
const MAX_NAME_LENGTH = 64;
const NAME_RULE = `1-${MAX_NAME_LENGTH} lowercase letters, digits and dashes, each word starting with a letter, e.g. "hello-http"`;

/** Stored without their dot, so that git and npm do not act on them inside the templates folder. */
const DOTFILES: Readonly<Record<string, string>> = { gitignore: '.gitignore' };

function checkName(name: string): string {
  if (name.length > MAX_NAME_LENGTH || !NAME.test(name)) {
    throw new UsageError(`${JSON.stringify(name)} is not a valid project name`, { hint: `use ${NAME_RULE}` });
  }
  // What is left for the WIT parser to refuse is a keyword.
  try {
    parseWit(`package example:${name};\nworld ${name} {}\n`);
  } catch {
    throw new UsageError(`${JSON.stringify(name)} is a WIT keyword, which cannot name a world`, {
      hint: `choose another name, e.g. "${name}-app"`,
    });
  }
  return name;
}

/** A new directory, or an empty one: anything else is refused, so that nothing is ever overwritten. */
async function checkTarget(dir: string): Promise<void> {
  const found = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (found === undefined) return;
  if (!found.isDirectory()) {
    throw new DirectoryNotEmptyError(`${dir} exists and is not a directory`, {
      hint: 'give another directory with --dir',
    });
  }
  if ((await readdir(dir)).length > 0) {
    throw new DirectoryNotEmptyError(`${dir} is not empty`, {
      hint: 'give another directory with --dir, or move its files out of the way',
    });
  }
}

async function templateFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(dir, join(entry.parentPath, entry.name)));
  }
  return out.sort();
}

/**
 * The node_modules that holds this CLI: the monorepo's in a checkout. A generated project links to it
 * until the packages are published.
 */
async function cliModules(): Promise<string | undefined> {
  let dir = fileURLToPath(new URL('../../', import.meta.url));
  for (;;) {
    const modules = join(dir, 'node_modules');
    const holdsCli = await access(join(modules, '@cirrus', 'cli')).then(
      () => true,
      () => false,
    );
    if (holdsCli) return modules;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

async function createProject(kind: Kind, name: string, dir: string, context: CommandContext): Promise<void> {
  await checkTarget(dir);
  const source = join(TEMPLATES, kind);
  const files = await templateFiles(source);
  for (const file of files) {
    const text = (await readFile(join(source, file), 'utf8'))
      .replaceAll('__NAME__', name)
      .replaceAll('__CIRRUS_VERSION__', cli.version);
    const target = join(dir, DOTFILES[file] ?? file);
    await mkdir(dirname(target), { recursive: true });
    // `wx`: a file that appeared since the check is left alone, and the command fails.
    await writeFile(target, text, { flag: 'wx' });
  }
  const shown = relative(process.cwd(), dir) || '.';
  const modules = await cliModules();
  context.print(`created ${kind} ${name} in ${shown}/ (${files.length} files); next:`);
  context.print(`  cd ${shown}`);
  if (modules !== undefined) {
    context.print(`  ln -s ${modules} node_modules   # the @cirrus packages, until they are published`);
  }
  if (kind === 'component') {
    context.print('  npm run build && npm test');
    context.print('  npx cirrus up --app app.yaml');
  } else {
    context.print('  npm test');
  }
}

const NEW_FLAGS = {
  dir: { value: 'DIR', description: 'where to create the project; new or empty', default: './NAME' },
} as const satisfies FlagSpecs;

const KINDS: readonly [Kind, string, string][] = [
  [
    'component',
    'create a TypeScript HTTP component project',
    'Creates a TypeScript component project: a WIT world exporting wasi:http/incoming-handler, a handler answering with a greeting, a manifest deploying it behind the built-in HTTP server on 127.0.0.1:8000, and a test that deploys the built component and sends it a request.',
  ],
  [
    'provider',
    'create a TypeScript capability provider project',
    'Creates a capability provider project written with @cirrus/provider-sdk: the WIT interface it serves, the provider program, and a test that starts it as a host does and calls it over wRPC.',
  ],
];

export function newCommand(invocation: Invocation): Command {
  const subcommands = KINDS.map(([kind, summary, description]) => {
    const command = new Command(kind)
      .summary(summary)
      .description(description)
      .argument('<NAME>', `the project's name: ${NAME_RULE}`);
    addFlags(command, NEW_FLAGS);
    return runs(command, invocation, async () => {
      const name = checkName(command.args[0] as string);
      const values = flagValues(command, NEW_FLAGS);
      await createProject(kind, name, resolve(values.dir ?? name), invocation.context);
      return 0;
    });
  });
  return commandGroup('new', 'create a component or provider project from a template', subcommands);
}
