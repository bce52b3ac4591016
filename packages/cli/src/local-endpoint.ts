/**
 * The local endpoint file: how `cirrus up` tells other `cirrus` commands on the same machine where its
 * embedded lattice is served and with which token. The token is a secret, so the file lives in a
 * directory only the user can enter, is readable by the user only, and is refused when it is not.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  CirrusError,
  DEFAULT_LATTICE,
  InsecurePermissionsError,
  InvalidArgumentError,
  LocalEndpointUnavailableError,
} from '@cirrus/protocol';
import { makeDirectories } from '@cirrus/runtime';

type Env = Readonly<Record<string, string | undefined>>;

/** What a client needs to reach the lattice of a running `cirrus up`. */
export interface LocalEndpointRecord {
  readonly url: string;
  readonly token: string;
  readonly lattice: string;
  readonly hostId: string;
}

export interface LocalEndpointInfo extends LocalEndpointRecord {
  /** The process serving the endpoint; a file whose process is gone is stale. */
  readonly pid: number;
}

/** Deletes the endpoint file if it still belongs to the process that wrote it. */
export type LocalEndpointRemover = () => Promise<void>;

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** Permission bits for group and others: none may be set on the file or the directory. */
const SHARED_BITS = 0o077;
/** Windows has no POSIX modes; the user profile directory is private there already. */
const POSIX = process.platform !== 'win32';

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** `$CIRRUS_STATE_DIR`, else `$XDG_STATE_HOME/cirrus`, else `~/.local/state/cirrus` (HOME first). */
export function localStateDir(env: Env): string {
  const explicit = nonEmpty(env['CIRRUS_STATE_DIR']);
  if (explicit !== undefined) return explicit;
  const xdg = nonEmpty(env['XDG_STATE_HOME']);
  if (xdg !== undefined) return join(xdg, 'cirrus');
  return join(nonEmpty(env['HOME']) ?? homedir(), '.local', 'state', 'cirrus');
}

/** The file for one lattice; the name is encoded so that no lattice name can reach another path. */
export function localEndpointFile(env: Env, lattice: string = DEFAULT_LATTICE): string {
  return join(localStateDir(env), `local-lattice-${encodeURIComponent(lattice)}.json`);
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Creates the state directory user-only, and tightens it when it already exists with wider modes. */
async function privateDir(dir: string): Promise<void> {
  await makeDirectories(dir, { mode: DIR_MODE });
  if (!POSIX) return;
  const info = await stat(dir);
  if (info.uid !== process.getuid?.()) {
    throw new InsecurePermissionsError(`${dir} belongs to another user`, {
      hint: 'set CIRRUS_STATE_DIR to a directory of your own',
    });
  }
  if ((info.mode & SHARED_BITS) !== 0) await chmod(dir, DIR_MODE);
}

/**
 * Writes the endpoint file atomically (a user-only temporary file renamed over the old one, so a
 * reader never sees half a file) and returns its remover.
 */
export async function writeLocalEndpoint(env: Env, info: LocalEndpointInfo): Promise<LocalEndpointRemover> {
  try {
    return await writeRecord(env, info);
  } catch (err) {
    if (err instanceof CirrusError) throw err;
    throw new LocalEndpointUnavailableError(
      `cannot write the local endpoint file under ${localStateDir(env)}: ${(err as Error).message}`,
      {
        hint: 'set CIRRUS_STATE_DIR (or XDG_STATE_HOME) to a directory you can write, or start with --no-local-endpoint',
        cause: err,
      },
    );
  }
}

async function writeRecord(env: Env, info: LocalEndpointInfo): Promise<LocalEndpointRemover> {
  return writePrivateRecord(env, localEndpointFile(env, info.lattice), {
    url: info.url,
    token: info.token,
    lattice: info.lattice,
    hostId: info.hostId,
    pid: info.pid,
  });
}

/**
 * Writes a user-only JSON file in the state directory, atomically (a user-only temporary file renamed
 * over the old one, so a reader never sees half a file), and returns its remover, which deletes the
 * file only while it still names this process: another `cirrus up` may have replaced it since.
 */
export async function writePrivateRecord<T extends { readonly pid: number }>(
  env: Env,
  file: string,
  record: T,
): Promise<LocalEndpointRemover> {
  await privateDir(localStateDir(env));
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    // 'wx': never follow or reuse something already at the temporary name.
    const handle = await open(temp, 'wx', FILE_MODE);
    try {
      await handle.writeFile(`${JSON.stringify(record, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return async () => {
    const current = await readJson(file).catch(() => undefined);
    if ((current as { pid?: unknown } | undefined)?.pid === record.pid) await rm(file, { force: true });
  };
}

/** The JSON in `file`, or undefined when there is no file; anything unparsable is undefined too. */
async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/**
 * A user-only record the state directory holds for a running process: undefined when there is no
 * file or its process is gone. Throws INSECURE_PERMISSIONS for a file others could read or planted.
 */
export async function readPrivateRecord(file: string): Promise<unknown> {
  if (!(await assertPrivate(file))) return undefined;
  const record = await readJson(file);
  const pid = (record as { pid?: unknown } | null | undefined)?.pid;
  if (
    record === undefined ||
    (typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 0 && !isAlive(pid))
  )
    return undefined;
  return record;
}

function checkRecord(file: string, parsed: unknown): LocalEndpointInfo {
  const r = parsed as Partial<Record<keyof LocalEndpointInfo, unknown>> | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    typeof r.url !== 'string' ||
    typeof r.token !== 'string' ||
    typeof r.lattice !== 'string' ||
    typeof r.hostId !== 'string' ||
    typeof r.pid !== 'number' ||
    !Number.isSafeInteger(r.pid) ||
    r.pid <= 0
  ) {
    throw new InvalidArgumentError(`${file} is not a local endpoint file`, {
      hint: 'delete it; `cirrus up` writes a new one when it starts',
    });
  }
  return { url: r.url, token: r.token, lattice: r.lattice, hostId: r.hostId, pid: r.pid };
}

/** Refuses a file another user could have read (the token may be known) or planted. */
async function assertPrivate(file: string): Promise<boolean> {
  let info;
  try {
    info = await lstat(file);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  if (!info.isFile()) {
    throw new InsecurePermissionsError(`${file} is not a regular file`, {
      hint: 'remove it; `cirrus up` writes a new one when it starts',
    });
  }
  if (!POSIX) return true;
  if (info.uid !== process.getuid?.()) {
    throw new InsecurePermissionsError(`${file} belongs to another user`, {
      hint: 'remove it; `cirrus up` writes a new one when it starts',
    });
  }
  if ((info.mode & SHARED_BITS) !== 0) {
    throw new InsecurePermissionsError(
      `${file} is readable by other users (mode ${(info.mode & 0o777).toString(8)})`,
      { hint: `run: chmod 600 ${file}` },
    );
  }
  return true;
}

function isAlive(pid: number): boolean {
  try {
    // Signal 0 checks that the process exists without touching it.
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else; it is still alive.
    return errnoCode(err) === 'EPERM';
  }
}

/**
 * The endpoint of the running `cirrus up` for `lattice`, or undefined when there is none (no file, or
 * the process that wrote it is gone). Throws INSECURE_PERMISSIONS for a file others could read.
 */
export async function readLocalEndpoint(
  env: Env,
  lattice: string = DEFAULT_LATTICE,
): Promise<LocalEndpointRecord | undefined> {
  const file = localEndpointFile(env, lattice);
  const parsed = await readPrivateRecord(file);
  if (parsed === undefined) return undefined;
  const record = checkRecord(file, parsed);
  return { url: record.url, token: record.token, lattice: record.lattice, hostId: record.hostId };
}
