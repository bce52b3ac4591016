/** `.creds` files from disk, for the Node entry (a browser gives the file's text instead). */
import { readFile } from 'node:fs/promises';
import { invalid, parseCreds } from '../nats-auth.ts';
import type { NatsCreds } from '../nats-auth.ts';
import { reasonOf } from '../nats-errors.ts';

/** The JWT and the seed of a `.creds` file: the first two `-----BEGIN …-----` blocks, in that order. */
export async function readNatsCredsFile(path: string): Promise<NatsCreds> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return invalid(
      `cannot read the NATS creds file ${path}: ${reasonOf(err)}`,
      'check the path and that this user may read the file',
      err,
    );
  }
  return parseCreds(text, path);
}
