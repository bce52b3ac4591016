/**
 * The credentials a NATS connection proves itself with, checked before the first byte goes out (a seed
 * that is no user seed, a creds file without its two blocks), and described for error messages by kind,
 * origin and public identity: never by the secret itself. Files are read by the caller's reader
 * (node/creds-file.ts), so that credentials given inline work where there is no file system.
 */
import { LatticeCredentialsInvalidError } from '@cirrus/protocol';
import type { Authenticator, ConnectionOptions } from '@nats-io/nats-core';
import { jwtAuthenticator, nkeyAuthenticator, nkeys } from '@nats-io/nats-core';
import { reasonOf } from './nats-errors.ts';

/** How the connection proves who it is. The server's `authorization`/`accounts` decide what it may do. */
export type NatsCredentials = (
  | { readonly type: 'token'; readonly token: string }
  | { readonly type: 'user'; readonly user: string; readonly password: string }
  /** An nkey user: the seed (`SU…`) signs the server's nonce; the seed never leaves the process. */
  | { readonly type: 'nkey'; readonly seed: string }
  /** A decentralised-auth user JWT with the seed that signs for it. */
  | { readonly type: 'jwt'; readonly jwt: string; readonly seed: string }
  /** A `.creds` file (user JWT + seed), as `nsc` writes it. Not in a browser: give its text as `creds`. */
  | { readonly type: 'credsFile'; readonly path: string }
  /** The text of a `.creds` file. */
  | { readonly type: 'creds'; readonly creds: string }
) & {
  /** Where the secret came from (a file, an environment variable), named in errors instead of it. */
  readonly source?: string;
};

/** The user JWT and seed of a `.creds` file. */
export interface NatsCreds {
  readonly jwt: string;
  readonly seed: string;
}

/** Reads the `.creds` file at a path; undefined where there are no files to read. */
export type CredsReader = (path: string) => Promise<NatsCreds>;

/** Credentials ready for nats.js, with what error messages may say about them. */
export interface PreparedCredentials {
  readonly options: Partial<ConnectionOptions>;
  /** E.g. `the nkey seed from /etc/cirrus/host.nk (user UD…)`. */
  readonly description: string;
  /** What to check when the server refuses them. */
  readonly hint: string;
}

/** The claims of a user JWT that explain a refusal; none of them is secret. */
interface UserClaims {
  sub?: string;
  iss?: string;
  exp?: number;
  nats?: { issuer_account?: string };
}

const NO_CREDENTIALS: PreparedCredentials = {
  options: {},
  description: 'a connection without credentials',
  hint:
    'the server requires credentials: give a creds file, an nkey seed, a token, or a user and password ' +
    '(cirrus: --nats-creds, --nats-nkey, --nats-token-file, or --nats-user with --nats-password-file)',
};

export function invalid(message: string, hint: string, cause?: unknown): never {
  throw new LatticeCredentialsInvalidError(message, cause === undefined ? { hint } : { hint, cause });
}

/** Runs `check` with `prefix` (naming the connection) put before the message of what it throws. */
async function prefixed<T>(prefix: string, check: () => T | Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (err) {
    if (err instanceof LatticeCredentialsInvalidError && prefix !== '') {
      throw new LatticeCredentialsInvalidError(`${prefix}${err.message}`, {
        hint: err.hint,
        cause: err.cause,
      });
    }
    throw err;
  }
}

const from = (source: string | undefined): string => (source === undefined ? '' : ` from ${source}`);

/** The public key of a user seed; refuses anything else without echoing it. */
function userPublicKey(seed: string, what: string): string {
  const text = seed.trim();
  if (text.startsWith('SA') || text.startsWith('SO')) {
    invalid(
      `${what} is an ${text.startsWith('SA') ? 'account' : 'operator'} seed, not a user seed`,
      'connect with a user seed (SU…): the account or operator key signs users, it does not connect',
    );
  }
  if (!text.startsWith('SU')) {
    invalid(
      `${what} is not an nkey user seed (SU…)`,
      'check the file: it should hold one line starting with SU',
    );
  }
  try {
    const pair = nkeys.fromSeed(new TextEncoder().encode(text));
    const key = pair.getPublicKey();
    pair.clear();
    return key;
  } catch (err) {
    return invalid(
      `${what} is not a valid nkey user seed (${reasonOf(err)})`,
      'the seed is damaged: copy it again, or create a new user',
      err,
    );
  }
}

/** Decodes (without verifying: that is the server's job) what a refusal message can name. */
function userClaims(jwt: string, what: string): UserClaims {
  const parts = jwt.trim().split('.');
  if (parts.length !== 3) invalid(`${what} holds no user JWT (three dot-separated parts)`, JWT_HINT);
  try {
    const claims: unknown = JSON.parse(decodeBase64Url(parts[1] ?? ''));
    if (typeof claims !== 'object' || claims === null) throw new Error('the claims are not an object');
    return claims;
  } catch (err) {
    return invalid(`${what} holds a JWT whose claims are not JSON`, JWT_HINT, err);
  }
}

const JWT_HINT = 'generate the user again (nsc generate creds), or check that the whole file was copied';

/** UTF-8 text from base64url (JWT segments carry no padding). */
function decodeBase64Url(text: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('the claims are not base64url');
  const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'));
  return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/**
 * The JWT and the seed of a `.creds` file's text: the first two `-----BEGIN …-----` blocks, in that
 * order. `what` names the text in errors (the file's path).
 */
export function parseCreds(text: string, what: string): NatsCreds {
  const blocks = [
    ...text.matchAll(/-{3,}[^\n]*?-{3,}\r?\n\s*([^\s-][^\r\n]*)\r?\n\s*-{3,}[^\n]*?-{3,}/g),
  ].map((m) => (m[1] ?? '').trim());
  const [jwt, seed] = blocks;
  if (jwt === undefined || seed === undefined) {
    invalid(
      `${what} is not a NATS creds file: it needs a user JWT block and a user seed block`,
      'use the .creds file that nsc (or your account server) generated for the user',
    );
  }
  return { jwt, seed };
}

function describeJwtUser(claims: UserClaims, publicKey: string): string {
  const account = claims.nats?.issuer_account ?? claims.iss;
  const parts = [`user ${claims.sub ?? publicKey}`];
  if (account !== undefined) parts.push(`account ${account}`);
  if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) {
    parts.push(`expired ${new Date(claims.exp * 1000).toISOString()}`);
  }
  return parts.join(', ');
}

function jwtCredentials(jwt: string, seed: string, description: string): PreparedCredentials {
  const publicKey = userPublicKey(seed, `the seed of ${description}`);
  const claims = userClaims(jwt, description);
  if (claims.sub !== undefined && claims.sub !== publicKey) {
    invalid(
      `the seed of ${description} does not belong to its JWT (JWT user ${claims.sub}, seed user ${publicKey})`,
      'the JWT and the seed must be of the same user: use the pair from one creds file',
    );
  }
  const authenticator: Authenticator = jwtAuthenticator(jwt.trim(), new TextEncoder().encode(seed.trim()));
  return {
    options: { authenticator },
    description: `${description} (${describeJwtUser(claims, publicKey)})`,
    hint:
      "the server must trust the JWT's account (operator mode, with the account JWT in its resolver), and the " +
      'user must be neither expired nor revoked',
  };
}

/**
 * Checks credentials and turns them into nats.js options; throws LATTICE_CREDENTIALS_INVALID, its
 * message starting with `prefix`.
 */
export async function prepareCredentials(
  credentials: NatsCredentials | undefined,
  prefix: string,
  readCredsFile: CredsReader | undefined,
): Promise<PreparedCredentials> {
  return prefixed(prefix, () => prepare(credentials, readCredsFile));
}

async function prepare(
  credentials: NatsCredentials | undefined,
  readCredsFile: CredsReader | undefined,
): Promise<PreparedCredentials> {
  if (credentials === undefined) return NO_CREDENTIALS;
  const source = credentials.source;
  switch (credentials.type) {
    case 'token':
      if (credentials.token === '')
        invalid(`the NATS token${from(source)} is empty`, 'give the token itself');
      return {
        options: { token: credentials.token },
        description: `the token${from(source)}`,
        hint: "the token must be the one in the server's authorization block",
      };
    case 'user':
      return {
        options: { user: credentials.user, pass: credentials.password },
        description: `user ${JSON.stringify(credentials.user)} with the password${from(source)}`,
        hint: "the user and password must match an entry of the server's authorization users",
      };
    case 'nkey': {
      const what = `the nkey seed${from(source)}`;
      const publicKey = userPublicKey(credentials.seed, what);
      return {
        options: { authenticator: nkeyAuthenticator(new TextEncoder().encode(credentials.seed.trim())) },
        description: `${what} (user ${publicKey})`,
        hint: `the server's authorization users must list { nkey: ${publicKey} }`,
      };
    }
    case 'jwt':
      return jwtCredentials(credentials.jwt, credentials.seed, `the user JWT and seed${from(source)}`);
    case 'credsFile': {
      if (readCredsFile === undefined) {
        invalid(
          `the NATS creds file ${credentials.path} cannot be read here: there is no file system`,
          "give the file's text instead ({ type: 'creds', creds })",
        );
      }
      const { jwt, seed } = await readCredsFile(credentials.path);
      return jwtCredentials(jwt, seed, `the creds file ${source ?? credentials.path}`);
    }
    case 'creds': {
      const what = `the creds${from(source)}`;
      const { jwt, seed } = parseCreds(credentials.creds, what);
      return jwtCredentials(jwt, seed, what);
    }
  }
}
