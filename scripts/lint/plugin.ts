/**
 * The project's own lint rules (`cirrus/…` in eslint.config.js), which make the lint prove the
 * architecture:
 *
 * - `no-cycle`: no module reaches itself through its imports. Type-only imports, `import()` and
 *   import types count: a type-only cycle still couples the two modules (neither can move or change
 *   alone), and breaking it costs no more than breaking any other cycle.
 * - `boundaries`: a file imports another package only by name, through a public entry (never by path,
 *   never `@cirrus/x/src/…`), and only from the layers its options allow (the table in
 *   eslint.config.js).
 *
 * The graph comes from `modules.ts`: the file being linted from its syntax tree, every other file
 * from disk (cached by modification time).
 */
import type { ESLint, Rule } from 'eslint';
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import {
  display,
  globToRegExp,
  importedFiles,
  isPublicEntry,
  isRelative,
  isSource,
  packageName,
  resolveSpecifier,
  ROOT,
  workspaceOf,
  workspaces,
} from './modules.ts';
import type { Workspace } from './modules.ts';

/** The string literal of a module reference, as ESLint's parser gives it. */
interface Literal {
  type: string;
  value?: unknown;
}

type Visit = (node: Rule.Node, specifier: string) => void;

/** Visitors for every module reference: imports and re-exports, `import()`, import types, `import x = require()`. */
function moduleReferences(visit: Visit): Rule.RuleListener {
  const literal = (node: Rule.Node, source: Literal | null | undefined): void => {
    if (source?.type === 'Literal' && typeof source.value === 'string') visit(node, source.value);
  };
  return {
    ImportDeclaration: (node) => literal(node, node.source),
    ExportAllDeclaration: (node) => literal(node, node.source),
    ExportNamedDeclaration: (node) => literal(node, node.source),
    ImportExpression: (node) => literal(node, node.source),
    TSImportType: (node: Rule.Node) => {
      const argument = (node as unknown as { argument?: { type: string; literal?: Literal } }).argument;
      if (argument?.type === 'TSLiteralType') literal(node, argument.literal);
    },
    TSExternalModuleReference: (node: Rule.Node) =>
      literal(node, (node as unknown as { expression?: Literal }).expression),
  };
}

// ── no-cycle ────────────────────────────────────────────────────────────────────────────────────

/** The shortest import path from `start` to `goal` (both included), if there is one. */
function importPath(start: string, goal: string, list: Workspace[]): string[] | undefined {
  const parent = new Map<string, string | undefined>([[start, undefined]]);
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const current = queue[i]!;
    if (current === goal) {
      const path = [current];
      for (let p = parent.get(current); p !== undefined; p = parent.get(p)) path.unshift(p);
      return path;
    }
    for (const next of importedFiles(current, list)) {
      if (!parent.has(next)) {
        parent.set(next, current);
        queue.push(next);
      }
    }
  }
  return undefined;
}

/** The files among `starts` from which `goal` can be reached. */
function reaching(starts: Iterable<string>, goal: string, list: Workspace[]): Set<string> {
  // Walk forward from the starts (not past the goal), then back from the goal over the edges seen.
  const importers = new Map<string, string[]>();
  const seen = new Set<string>(starts);
  const queue = [...seen];
  for (let i = 0; i < queue.length; i++) {
    const current = queue[i]!;
    if (current === goal) continue;
    for (const next of importedFiles(current, list)) {
      const back = importers.get(next);
      if (back === undefined) importers.set(next, [current]);
      else back.push(current);
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  const reach = new Set<string>([goal]);
  const back = [goal];
  for (let i = 0; i < back.length; i++) {
    for (const previous of importers.get(back[i]!) ?? []) {
      if (!reach.has(previous)) {
        reach.add(previous);
        back.push(previous);
      }
    }
  }
  return reach;
}

const noCycle: Rule.RuleModule = {
  meta: {
    type: 'problem',
    docs: { description: 'Disallow import cycles between modules (type-only imports included).' },
    schema: [],
    messages: {
      cycle:
        'Import cycle: {{path}}. Move what both sides need into a module that neither imports back (type-only imports count too).',
    },
  },
  create(context) {
    const file = context.physicalFilename;
    if (!isAbsolute(file)) return {};
    const list = workspaces();
    const edges: { node: Rule.Node; target: string }[] = [];
    return {
      ...moduleReferences((node, specifier) => {
        const target = resolveSpecifier(specifier, file, list);
        if (target !== undefined && target !== file && isSource(target)) edges.push({ node, target });
      }),
      'Program:exit'() {
        if (edges.length === 0) return;
        const cyclic = reaching(
          edges.map((e) => e.target),
          file,
          list,
        );
        for (const { node, target } of edges) {
          if (!cyclic.has(target)) continue;
          const path = importPath(target, file, list) ?? [target, file];
          context.report({
            node,
            messageId: 'cycle',
            data: { path: [file, ...path].map((p) => (p === file ? 'this file' : display(p))).join(' → ') },
          });
        }
      },
    };
  },
};

// ── boundaries ──────────────────────────────────────────────────────────────────────────────────

export interface BoundaryOptions {
  /** The layers this file may import ('*': any package, through its public entry). */
  may: string[] | '*';
  /** Who imports, for messages (`@cirrus/host`, `@cirrus/host's tests`). */
  who?: string;
}

/** `settings.cirrus.layers`: the folders (globs relative to the root) that make up each layer. */
export type LayerFolders = Record<string, string[]>;

/** Which layer a folder (relative to the root) belongs to, by the layer table's globs. */
function layerOf(folder: string, layers: LayerFolders): string | undefined {
  for (const [layer, globs] of Object.entries(layers)) {
    if (globs.some((glob) => globToRegExp(glob).test(folder))) return layer;
  }
  return undefined;
}

/**
 * What owns a path: its workspace, else a layer folder it is in (one not yet made a workspace), else
 * the root (`test/`, `bench/`, `scripts/`): a key, and a name for messages.
 */
function ownerOf(path: string, list: Workspace[], layers: LayerFolders): { key: string; name: string } {
  const ws = workspaceOf(path, list);
  if (ws !== undefined) return { key: ws.folder, name: ws.name };
  const parts = display(path).split('/');
  for (let n = parts.length - 1; n > 0; n--) {
    const folder = parts.slice(0, n).join('/');
    if (layerOf(folder, layers) !== undefined) return { key: folder, name: folder };
  }
  return { key: '', name: 'the root' };
}

const boundaries: Rule.RuleModule = {
  meta: {
    type: 'problem',
    docs: { description: 'Import other packages by name, through a public entry, from allowed layers only.' },
    schema: [
      {
        type: 'object',
        properties: {
          may: { oneOf: [{ type: 'array', items: { type: 'string' } }, { enum: ['*'] }] },
          who: { type: 'string' },
        },
        required: ['may'],
        additionalProperties: false,
      },
    ],
    messages: {
      byPath:
        "Import other packages by name, through a public entry, never by path: '{{specifier}}' reaches into the files of {{target}}.",
      outside: "A package imports nothing outside its folder: '{{specifier}}' is in {{target}}.",
      internals: "Import {{target}} through its public entry, not its internals: '{{specifier}}'.",
      layer: '{{who}} may import {{allowed}}: not {{target}} (the {{layer}} layer).',
      unlayered: '{{who}} may import {{allowed}}: not {{target}}, which is in no layer.',
    },
  },
  create(context) {
    const file = context.physicalFilename;
    if (!isAbsolute(file)) return {};
    const options = (context.options[0] ?? { may: '*' }) as BoundaryOptions;
    const settings = (context.settings as { cirrus?: { layers?: LayerFolders } }).cirrus;
    const layers = settings?.layers ?? {};
    const list = workspaces();
    const self = ownerOf(file, list, layers);
    const who = options.who ?? self.name;
    const allowed = options.may === '*' ? 'any package' : options.may.join(', ') || 'no other package';

    return moduleReferences((node, specifier) => {
      if (isRelative(specifier) || isAbsolute(specifier)) {
        const path = resolveSpecifier(specifier, file, list) ?? resolve(dirname(file), specifier);
        if (!path.startsWith(ROOT + sep) || path.split(sep).includes('node_modules')) return;
        const target = ownerOf(path, list, layers);
        if (target.key === self.key) return;
        const messageId = target.key === '' ? 'outside' : 'byPath';
        context.report({
          node,
          messageId,
          data: { specifier, target: target.key === '' ? display(path) : target.name },
        });
        return;
      }
      const name = packageName(specifier);
      const target = name === undefined ? undefined : list.find((ws) => ws.name === name);
      if (target === undefined || name === undefined) return;
      const subpath = `.${specifier.slice(name.length)}`;
      if (!isPublicEntry(target.manifest, subpath)) {
        context.report({ node, messageId: 'internals', data: { specifier, target: name } });
        return;
      }
      if (options.may === '*' || target.folder === self.key) return;
      const layer = layerOf(target.folder, layers);
      if (layer !== undefined && options.may.includes(layer)) return;
      context.report({
        node,
        messageId: layer === undefined ? 'unlayered' : 'layer',
        data: { who, allowed, target: name, layer: layer ?? '' },
      });
    });
  },
};

const plugin: ESLint.Plugin = {
  meta: { name: 'cirrus' },
  rules: { 'no-cycle': noCycle, boundaries },
};

export default plugin;
