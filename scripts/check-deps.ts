/**
 * Every package declares what it imports, and nothing else. For each workspace (the root
 * package.json's `workspaces`, so a new one is checked without a change here):
 *
 * - every package its files import (type-only imports, `import()` and `import.meta.resolve` too) is
 *   listed: in `dependencies` when its sources import it, in `devDependencies` (or `dependencies`)
 *   when only its tests do (files under `test/`, or `*.test.ts`);
 * - a package only its tests import is not in `dependencies`;
 * - every listed package is imported, or named in a string (`packageRoot('@scope/tool')`);
 * - a workspace package is listed with its exact version (`"@cirrus/protocol": "0.1.0"`).
 *
 * The root's own files (test/, bench/, scripts/, eslint.config.js) must have what they import listed
 * in the root's devDependencies, or be a workspace; the root's devDependencies are the toolchain too
 * (tsc, eslint, prettier, node), so they are not checked for use.
 *
 * Run: node scripts/check-deps.ts (a step of `npm test`, after lint).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { display, isSource, packageName, ROOT, scanFile, workspaces } from './lint/modules.ts';
import type { Manifest, Workspace } from './lint/modules.ts';

interface Use {
  /** `path:line`, for messages. */
  where: string;
  test: boolean;
}

/** A package's files: its folder without node_modules, build output, hidden folders and nested packages. */
function filesOf(dir: string, skip: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        if (entry.name === 'node_modules' || entry.name === 'build' || entry.name.startsWith('.')) continue;
        if (skip.has(path) || hasManifest(path)) continue;
        walk(path);
      } else if (entry.isFile() && isSource(entry.name) && entry.name !== 'package.json') {
        out.push(path);
      }
    }
  };
  walk(dir);
  return out.sort();
}

function hasManifest(dir: string): boolean {
  try {
    return readdirSync(dir).includes('package.json');
  } catch {
    return false;
  }
}

function isTestFile(dir: string, path: string): boolean {
  const parts = relative(dir, path).split(sep);
  return parts[0] === 'test' || /\.test\.[cm]?[jt]sx?$/.test(path);
}

/** The packages a package's files import, with where. */
function usesOf(
  dir: string,
  files: string[],
  self: string | undefined,
): { uses: Map<string, Use[]>; strings: Set<string> } {
  const uses = new Map<string, Use[]>();
  const strings = new Set<string>();
  for (const file of files) {
    const scan = scanFile(file);
    for (const s of scan.strings) strings.add(s);
    for (const ref of scan.refs) {
      const name = packageName(ref.specifier);
      if (name === undefined || name === self) continue;
      const list = uses.get(name) ?? [];
      list.push({ where: `${display(file)}:${ref.line}`, test: isTestFile(dir, file) });
      uses.set(name, list);
    }
  }
  return { uses, strings };
}

/** The version to suggest: a workspace's own, else the one installed. */
function versionOf(name: string, all: Workspace[]): string {
  const target = all.find((w) => w.name === name);
  if (target !== undefined) return target.version;
  try {
    return (
      (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as Manifest)
        .version ?? ''
    );
  } catch {
    return '<version>';
  }
}

const FIELDS = ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'] as const;

function declared(manifest: Manifest, field: (typeof FIELDS)[number]): Record<string, string> {
  return manifest[field] ?? {};
}

function checkWorkspace(ws: Workspace, all: Workspace[], problems: string[]): number {
  const nested = new Set(all.filter((w) => w !== ws).map((w) => w.dir));
  const files = filesOf(ws.dir, nested);
  const { uses, strings } = usesOf(ws.dir, files, ws.name);
  const manifest = `${ws.folder}/package.json`;
  const names = (field: (typeof FIELDS)[number]): Set<string> =>
    new Set(Object.keys(declared(ws.manifest, field)));
  const deps = names('dependencies');
  const dev = names('devDependencies');
  const runtime = new Set([...deps, ...names('peerDependencies'), ...names('optionalDependencies')]);
  const add = (name: string, field: string): string => `add "${name}": "${versionOf(name, all)}" to ${field}`;

  for (const [name, list] of [...uses].sort(([a], [b]) => a.localeCompare(b))) {
    const source = list.find((u) => !u.test);
    if (source !== undefined) {
      if (runtime.has(name)) continue;
      problems.push(
        dev.has(name)
          ? `${manifest}: ${name} is in devDependencies, but ${source.where} (not a test) imports it: move it to dependencies`
          : `${manifest}: ${source.where} imports ${name}, which is not listed: ${add(name, 'dependencies')}`,
      );
    } else if (deps.has(name)) {
      problems.push(`${manifest}: only tests import ${name} (${list[0]!.where}): move it to devDependencies`);
    } else if (!dev.has(name) && !runtime.has(name)) {
      problems.push(
        `${manifest}: ${list[0]!.where} imports ${name}, which is not listed: ${add(name, 'devDependencies')}`,
      );
    }
  }

  for (const field of FIELDS) {
    for (const [name, version] of Object.entries(declared(ws.manifest, field))) {
      const target = all.find((w) => w.name === name);
      if (target !== undefined && version !== target.version) {
        problems.push(
          `${manifest}: ${field} lists ${name} as "${version}": give its exact version "${target.version}"`,
        );
      }
    }
  }
  for (const name of deps) {
    if (dev.has(name))
      problems.push(`${manifest}: ${name} is in both dependencies and devDependencies: keep one`);
  }
  for (const [field, listed] of [
    ['dependencies', deps],
    ['devDependencies', dev],
  ] as const) {
    for (const name of listed) {
      const named = strings.has(name) || [...strings].some((s) => s.startsWith(`${name}/`));
      const typesOf = name.startsWith('@types/')
        ? name.slice('@types/'.length).replace(/^(.+)__(.+)$/, '@$1/$2')
        : undefined;
      if (uses.has(name) || named || (typesOf !== undefined && uses.has(typesOf))) continue;
      problems.push(`${manifest}: ${field} lists ${name}, which nothing in ${ws.folder} imports: remove it`);
    }
  }
  return files.length;
}

function checkRoot(all: Workspace[], problems: string[]): number {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
  const files = filesOf(ROOT, new Set(all.map((w) => w.dir)));
  const { uses } = usesOf(ROOT, files, manifest.name);
  const listed = new Set(FIELDS.flatMap((field) => Object.keys(declared(manifest, field))));
  for (const [name, list] of [...uses].sort(([a], [b]) => a.localeCompare(b))) {
    if (listed.has(name) || all.some((w) => w.name === name)) continue;
    problems.push(
      `package.json: ${list[0]!.where} imports ${name}, which is not listed: add "${name}": "${versionOf(name, all)}" to devDependencies`,
    );
  }
  return files.length;
}

const problems: string[] = [];
const all = workspaces();
let files = 0;
for (const ws of all) files += checkWorkspace(ws, all, problems);
files += checkRoot(all, problems);

if (problems.length > 0) {
  for (const problem of problems) process.stderr.write(`✖ ${problem}\n`);
  process.stderr.write(
    `\n${problems.length} dependency problem(s) in ${all.length} workspaces and the root.\n`,
  );
  process.exit(1);
}
process.stdout.write(
  `Dependencies: ${all.length} workspaces list exactly the packages they import, and the root lists what its own files import (${files} files).\n`,
);
