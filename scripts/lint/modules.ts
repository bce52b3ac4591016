/**
 * The module graph of the repository, for the lint rules in `plugin.ts` and for
 * `scripts/check-deps.ts`: the workspaces (from the root package.json, so a new one is picked up
 * without a change here), what a file imports (read with the TypeScript parser, type-only imports
 * included), and where an import specifier leads (a file of this repository, or outside it).
 *
 * Everything read from disk is cached by modification time, so an editor's long-running ESLint sees
 * changes, and a lint run parses each file once.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '..', '..');

export interface Manifest {
  name?: string;
  version?: string;
  main?: string;
  exports?: unknown;
  workspaces?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

export interface Workspace {
  name: string;
  version: string;
  /** Absolute path of its folder. */
  dir: string;
  /** Its folder relative to the root, with `/` (`packages/host`). */
  folder: string;
  manifest: Manifest;
}

/** One module reference in a file. */
export interface ModuleRef {
  specifier: string;
  /**
   * `import`/`export … from` (type-only included), `import('x')` or `require('x')`, an import type
   * `import('x').T`, `import.meta.resolve('x')` or `require.resolve('x')`.
   */
  kind: 'static' | 'dynamic' | 'type' | 'resolve';
  /** 1-based. */
  line: number;
}

export interface FileScan {
  refs: ModuleRef[];
  /** Every string literal in the file (a dependency named in one counts as used: `packageRoot('x')`). */
  strings: Set<string>;
}

const SOURCE = /\.(?:[cm]?ts|tsx|[cm]?js|jsx)$/;

/** Whether a path is a module this repository's tooling reads (TypeScript or JavaScript). */
export function isSource(path: string): boolean {
  return SOURCE.test(path);
}

// ── files, cached by modification time ──────────────────────────────────────────────────────────

interface Stamp {
  mtimeMs: number;
  size: number;
}

function stampOf(path: string): Stamp | undefined {
  try {
    const s = statSync(path);
    return s.isFile() ? { mtimeMs: s.mtimeMs, size: s.size } : undefined;
  } catch {
    return undefined;
  }
}

const scans = new Map<string, Stamp & { scan: FileScan }>();

/** What a file on disk refers to (an empty scan for a file that does not exist). */
export function scanFile(path: string): FileScan {
  const stamp = stampOf(path);
  if (stamp === undefined) return { refs: [], strings: new Set() };
  const cached = scans.get(path);
  if (cached?.mtimeMs === stamp.mtimeMs && cached.size === stamp.size) return cached.scan;
  const scan = scanText(path, readFileSync(path, 'utf8'));
  scans.set(path, { ...stamp, scan });
  return scan;
}

/** What a module's text refers to: imports and re-exports (type-only too), `import()`, import types. */
export function scanText(fileName: string, text: string): FileScan {
  const source = ts.createSourceFile(
    fileName,
    text,
    { languageVersion: ts.ScriptTarget.Latest, jsDocParsingMode: ts.JSDocParsingMode.ParseNone },
    false,
    scriptKind(fileName),
  );
  const refs: ModuleRef[] = [];
  const strings = new Set<string>();
  const add = (literal: ts.Node, kind: ModuleRef['kind']): void => {
    if (!ts.isStringLiteralLike(literal)) return;
    const line = source.getLineAndCharacterOfPosition(literal.getStart(source)).line + 1;
    refs.push({ specifier: literal.text, kind, line });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      if (node.moduleSpecifier !== undefined) add(node.moduleSpecifier, 'static');
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, 'static');
    } else if (ts.isImportTypeNode(node)) {
      if (ts.isLiteralTypeNode(node.argument)) add(node.argument.literal, 'type');
    } else if (ts.isCallExpression(node) && node.arguments[0] !== undefined) {
      const callee = node.expression;
      const loads =
        callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require');
      if (loads) add(node.arguments[0], 'dynamic');
      else if (isResolveCall(callee)) add(node.arguments[0], 'resolve');
    } else if (ts.isStringLiteralLike(node)) {
      strings.add(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { refs, strings };
}

/** `import.meta.resolve`, `require.resolve`. */
function isResolveCall(callee: ts.Expression): boolean {
  if (!ts.isPropertyAccessExpression(callee) || callee.name.text !== 'resolve') return false;
  const target = callee.expression;
  return (
    (ts.isIdentifier(target) && target.text === 'require') ||
    (ts.isMetaProperty(target) && target.keywordToken === ts.SyntaxKind.ImportKeyword)
  );
}

function scriptKind(fileName: string): ts.ScriptKind {
  if (/\.[cm]?js$/.test(fileName)) return ts.ScriptKind.JS;
  if (fileName.endsWith('.jsx')) return ts.ScriptKind.JSX;
  if (fileName.endsWith('.tsx')) return ts.ScriptKind.TSX;
  return ts.ScriptKind.TS;
}

// ── workspaces ──────────────────────────────────────────────────────────────────────────────────

function readManifest(dir: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

/** A glob of folder names (`*` within one segment) as a regular expression over `/`-paths. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/\/+$/, '')
    .split('/')
    .map((segment) => segment.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*'))
    .join('/');
  return new RegExp(`^${body}$`);
}

/** Folders (relative to `root`, with `/`) matching a glob with `*` segments; `**` is not supported. */
function expandFolders(root: string, glob: string): string[] {
  let found = [''];
  for (const segment of glob.replace(/\/+$/, '').split('/')) {
    const next: string[] = [];
    const pattern = globToRegExp(segment);
    for (const base of found) {
      if (!segment.includes('*')) {
        next.push(base === '' ? segment : `${base}/${segment}`);
        continue;
      }
      let entries: string[] = [];
      try {
        entries = readdirSync(join(root, base), { withFileTypes: true })
          .filter((e) => e.isDirectory() && e.name !== 'node_modules' && pattern.test(e.name))
          .map((e) => e.name)
          .sort();
      } catch {
        // a folder that does not exist (yet) has no workspaces
      }
      for (const name of entries) next.push(base === '' ? name : `${base}/${name}`);
    }
    found = next;
  }
  return found;
}

let workspaceCache: { stamp: string; list: Workspace[] } | undefined;

/**
 * The root's workspaces: its `workspaces` globs expanded, each folder with a package.json that has a
 * name. Re-read when the root package.json or a workspace's package.json changes.
 */
export function workspaces(root: string = ROOT): Workspace[] {
  const rootManifest = readManifest(root) ?? {};
  const folders = (rootManifest.workspaces ?? []).flatMap((glob) => expandFolders(root, glob));
  const stamp = [root, ...folders]
    .map((folder) => {
      const s = stampOf(join(root, folder, 'package.json'));
      return `${folder}:${s?.mtimeMs ?? '-'}`;
    })
    .join('|');
  if (workspaceCache?.stamp === stamp) return workspaceCache.list;
  const list: Workspace[] = [];
  for (const folder of [...new Set(folders)]) {
    const dir = join(root, folder);
    const manifest = readManifest(dir);
    if (manifest?.name === undefined) continue;
    list.push({ name: manifest.name, version: manifest.version ?? '', dir, folder, manifest });
  }
  workspaceCache = { stamp, list };
  return list;
}

/** The workspace a file belongs to (the innermost one whose folder holds it), if any. */
export function workspaceOf(path: string, list: Workspace[] = workspaces()): Workspace | undefined {
  let best: Workspace | undefined;
  for (const ws of list) {
    if (path.startsWith(ws.dir + sep) && (best === undefined || ws.dir.length > best.dir.length)) best = ws;
  }
  return best;
}

// ── specifiers ──────────────────────────────────────────────────────────────────────────────────

const BUILTINS = new Set(builtinModules);

export function isRelative(specifier: string): boolean {
  return specifier === '.' || specifier === '..' || specifier.startsWith('./') || specifier.startsWith('../');
}

/**
 * The package a bare specifier names (`@scope/name` or `name`), or undefined for a relative or
 * absolute path, a Node built-in, or a scheme (`node:fs`, `wasi:http/types@0.2.12`, `file:…`).
 */
export function packageName(specifier: string): string | undefined {
  if (isRelative(specifier) || isAbsolute(specifier) || specifier.startsWith('#')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  if (name === undefined || name.includes(':') || BUILTINS.has(name)) return undefined;
  if (specifier.startsWith('@') && parts.length < 2) return undefined;
  return name;
}

/** The file an entry of `exports` (or `main`) points to, preferring the conditions Node uses. */
function exportTarget(manifest: Manifest, subpath: string): string | undefined {
  const { exports } = manifest;
  const pick = (value: unknown): string | undefined => {
    if (typeof value === 'string') return value;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    const conditions = value as Record<string, unknown>;
    for (const key of ['import', 'node', 'default', 'types']) {
      const found = pick(conditions[key]);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  if (exports === undefined) return subpath === '.' ? (manifest.main ?? 'index.js') : subpath;
  if (
    typeof exports === 'string' ||
    (typeof exports === 'object' && exports !== null && !hasSubpaths(exports))
  ) {
    return subpath === '.' ? pick(exports) : undefined;
  }
  return pick((exports as Record<string, unknown>)[subpath]);
}

function hasSubpaths(exports: object): boolean {
  return Object.keys(exports).some((key) => key.startsWith('.'));
}

/** Whether `subpath` (`.` or `./x`) is a public entry of a package. */
export function isPublicEntry(manifest: Manifest, subpath: string): boolean {
  if (manifest.exports === undefined) return subpath === '.';
  return exportTarget(manifest, subpath) !== undefined;
}

/** The file a path names, trying what TypeScript would: itself, `.js` → `.ts`, `.ts`, `/index.ts`. */
function existingFile(path: string): string | undefined {
  const candidates = [path];
  if (/\.[cm]?js$/.test(path)) candidates.push(path.replace(/js$/, 'ts'));
  if (!SOURCE.test(path)) candidates.push(`${path}.ts`, join(path, 'index.ts'));
  return candidates.find((candidate) => stampOf(candidate) !== undefined);
}

/**
 * Where a specifier in `from` leads: an absolute path of a file in this repository (relative paths,
 * and workspace packages through their `exports`), or undefined for anything else (npm packages,
 * Node built-ins, schemes, files that do not exist).
 */
export function resolveSpecifier(
  specifier: string,
  from: string,
  list: Workspace[] = workspaces(),
): string | undefined {
  if (isRelative(specifier) || isAbsolute(specifier)) {
    const path = existingFile(resolve(dirname(from), specifier));
    return path !== undefined && !path.split(sep).includes('node_modules') ? path : undefined;
  }
  const name = packageName(specifier);
  const ws = name === undefined ? undefined : list.find((w) => w.name === name);
  if (ws === undefined || name === undefined) return undefined;
  const target = exportTarget(ws.manifest, `.${specifier.slice(name.length)}`);
  return target === undefined ? undefined : existingFile(join(ws.dir, target));
}

/** A path for messages: relative to the root, with `/` (absolute when outside the root). */
export function display(path: string, root: string = ROOT): string {
  const inside = relative(root, path);
  return inside.startsWith('..') || isAbsolute(inside) ? path : inside.split(sep).join('/');
}

/** The modules a module imports (type-only, dynamic and import types included), as resolved files. */
export function importedFiles(path: string, list: Workspace[] = workspaces()): string[] {
  const scan = scanFile(path);
  const cached = resolved.get(scan);
  if (cached !== undefined && cached.list === list) return cached.files;
  const out = new Set<string>();
  for (const ref of scan.refs) {
    if (ref.kind === 'resolve') continue;
    const target = resolveSpecifier(ref.specifier, path, list);
    if (target !== undefined && isSource(target)) out.add(target);
  }
  const files = [...out];
  resolved.set(scan, { list, files });
  return files;
}

// Kept while the file's scan is (a changed file gets a new scan) and the workspaces are unchanged.
const resolved = new WeakMap<FileScan, { list: Workspace[]; files: string[] }>();
