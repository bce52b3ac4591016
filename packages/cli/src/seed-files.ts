/**
 * Seed files (`.nk`): one nkey seed and a newline, the format wash keeps in `~/.wash/keys`. They are
 * written user-only (0600) and never over an existing file unless asked, and read only when no other
 * user can read them, as ssh treats private keys. Errors name the file, never its content.
 */
import { randomBytes } from 'node:crypto';
import { chmod, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FileExistsError, FileNotFoundError, InsecurePermissionsError, Nkey } from '@cirrus/protocol';
import type { NkeyType } from '@cirrus/protocol';
import { checkRegularFile, readRegularTextFile } from '@cirrus/runtime';

const FILE_MODE = 0o600;
/** Permission bits for group and others: none may be set on a seed file. */
const SHARED_BITS = 0o077;
/** Windows has no POSIX modes. */
const POSIX = process.platform !== 'win32';

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Writes `key`'s seed to `file` with mode 0600. Without `force` an existing file is refused with
 * FILE_EXISTS (it may hold the only copy of another key); with it, the file is replaced atomically.
 */
export async function writeSeedFile(
  file: string,
  key: Nkey,
  options: { force?: boolean } = {},
): Promise<void> {
  const content = `${key.exportSeed()}\n`;
  if (options.force !== true) {
    let handle;
    try {
      handle = await open(file, 'wx', FILE_MODE);
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') {
        throw new FileExistsError(`${file} already exists; it may hold another key`, {
          hint: 'choose another file with --output, or replace it with --force',
        });
      }
      throw err;
    }
    try {
      await handle.writeFile(content);
    } finally {
      await handle.close();
    }
    return;
  }
  // The temporary name is unguessable and created exclusively, so nobody can have it open already.
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', FILE_MODE);
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
  try {
    if (POSIX) await chmod(temp, FILE_MODE);
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

/**
 * Reads the seed in `file` as a key of one of `types`. Refuses with INSECURE_PERMISSIONS a file that
 * other users may read, NKEY_MALFORMED or NKEY_WRONG_TYPE a file holding no seed or another type, and
 * with the FILE_* codes anything but a regular file of at most `maxBytes`, without blocking on it.
 */
export async function readSeedFile(
  file: string,
  types: NkeyType | readonly NkeyType[],
  what: string,
  maxBytes: number,
): Promise<Nkey> {
  const options = { what: `${what} file`, maxBytes, limitName: 'secretFileMaxBytes' };
  try {
    await checkRegularFile(file, options);
  } catch (err) {
    if (err instanceof FileNotFoundError) {
      throw new FileNotFoundError(err.message, {
        hint: 'check the path, or create a key with: cirrus keys gen <type> --output FILE',
      });
    }
    throw err;
  }
  const info = await stat(file);
  if (POSIX && (info.mode & SHARED_BITS) !== 0) {
    throw new InsecurePermissionsError(
      `${what}: ${file} is readable by other users (mode ${(info.mode & 0o777).toString(8)})`,
      { hint: `run: chmod 600 ${file}` },
    );
  }
  return Nkey.fromSeed(await readRegularTextFile(file, options), types, `${what} (${file})`);
}
