/**
 * Watching a project's sources for `cirrus dev`: every directory of the tree but build output,
 * dependencies and editors' files, with bursts of changes (an editor's save) taken as one.
 */
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';

/** An editor saving a file writes, renames and touches it: one build for the whole burst. */
const DEBOUNCE_MS = 150;

/** Changes under the project that are not its sources: build output, dependencies, editors' files. */
export function ignored(path: string, buildDir: string): boolean {
  const parts = path.split(sep);
  const name = parts.at(-1) ?? '';
  return (
    (buildDir !== '' && (path === buildDir || path.startsWith(`${buildDir}${sep}`))) ||
    parts.includes('node_modules') ||
    // .git, and the hidden files editors keep beside the one being edited (.x.swp, .#x).
    parts.some((part) => part.startsWith('.')) ||
    /~$|^#.*#$|\.(?:swp|swx|swo|tmp|bak)$|^4913$|___jb_(?:tmp|old)___$/.test(name)
  );
}

/**
 * Watches a directory tree with a watcher per directory. Node's recursive watch on Linux follows each
 * file by its inode, so it goes deaf to a file that an editor saves by renaming a new one over it
 * (vim, VS Code, sed -i); a directory's watcher reports its entries whatever their inode.
 */
export class TreeWatcher {
  readonly #root: string;
  readonly #skip: (path: string) => boolean;
  readonly #onChange: () => void;
  readonly #onError: (err: unknown) => void;
  /** By path relative to the root ('' for the root). */
  readonly #watchers = new Map<string, FSWatcher>();
  #closed = false;

  constructor(
    root: string,
    skip: (path: string) => boolean,
    onChange: () => void,
    onError: (err: unknown) => void,
  ) {
    this.#root = root;
    this.#skip = skip;
    this.#onChange = onChange;
    this.#onError = onError;
  }

  /** Watches `dir` (relative to the root) and every directory under it that is not skipped. */
  async add(dir: string): Promise<void> {
    if (this.#closed || this.#watchers.has(dir)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(join(this.#root, dir), (_event, name) => this.#changed(dir, name));
    } catch (err) {
      // Gone since it was seen: nothing to watch.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#onError(err);
      return;
    }
    watcher.on('error', (err) => {
      this.#forget(dir);
      this.#onError(err);
    });
    this.#watchers.set(dir, watcher);
    const entries = await readdir(join(this.#root, dir), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && !this.#skip(path)) await this.add(path);
    }
  }

  #changed(dir: string, name: string | null): void {
    const path = name === null ? dir : join(dir, name);
    if (name !== null && this.#skip(path)) return;
    this.#onChange();
    // A directory that appeared needs a watcher of its own; one that went, no longer.
    void stat(join(this.#root, path)).then(
      (found) => (found.isDirectory() ? this.add(path) : undefined),
      () => this.#forget(path),
    );
  }

  #forget(path: string): void {
    for (const [dir, watcher] of this.#watchers) {
      if (dir === path || dir.startsWith(`${path}${sep}`)) {
        watcher.close();
        this.#watchers.delete(dir);
      }
    }
  }

  close(): void {
    this.#closed = true;
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
  }
}

/** File changes, debounced: `next` resolves once a burst of them has ended. */
export class Changes {
  #timer: NodeJS.Timeout | undefined;
  #pending = false;
  #wake: (() => void) | undefined;

  note(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#pending = true;
      this.#wake?.();
    }, DEBOUNCE_MS);
  }

  /** True once there are changes (taking them), false once `signal` is aborted. */
  async next(signal: AbortSignal): Promise<boolean> {
    while (!this.#pending && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener('abort', done);
          this.#wake = undefined;
          resolve();
        };
        this.#wake = done;
        signal.addEventListener('abort', done);
      });
    }
    if (signal.aborted) return false;
    this.#pending = false;
    return true;
  }

  close(): void {
    clearTimeout(this.#timer);
  }
}
