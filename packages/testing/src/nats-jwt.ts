/**
 * Decentralised NATS auth for tests (what `nsc` sets up): an operator, a system account, and an
 * application account with JetStream enabled, whose JWTs a server preloads into a memory resolver;
 * users of that account come as `.creds` files. `strangerCreds` signs a user with an account the
 * operator never signed, which the server refuses.
 *
 * JWTs are `base64url(header).base64url(claims).base64url(ed25519 signature)` with the header
 * `{"typ":"JWT","alg":"ed25519-nkey"}`, signed by the issuer's nkey.
 */
import { createHash } from 'node:crypto';
import { nkeys } from '@nats-io/transport-node';
import type { NatsOperatorConfig } from './nats-server.ts';

type KeyPair = ReturnType<typeof nkeys.createUser>;

const HEADER = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' })).toString('base64url');
const UNLIMITED = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
};
const JETSTREAM = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

function sign(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims: Record<string, unknown> = {
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  claims['jti'] = createHash('sha256')
    .update(JSON.stringify(claims))
    .digest('hex')
    .slice(0, 52)
    .toUpperCase();
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = Buffer.from(issuer.sign(new TextEncoder().encode(`${HEADER}.${payload}`))).toString(
    'base64url',
  );
  return `${HEADER}.${payload}.${signature}`;
}

function credsFile(jwt: string, user: KeyPair): string {
  const seed = new TextDecoder().decode(user.getSeed());
  return [
    '-----BEGIN NATS USER JWT-----',
    jwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    seed,
    '------END USER NKEY SEED------',
    '',
  ].join('\n');
}

export interface NatsUserCreds {
  /** The user's public key (`U…`). */
  readonly publicKey: string;
  readonly seed: string;
  readonly jwt: string;
  /** The text of a `.creds` file. */
  readonly creds: string;
}

export interface NatsOperator {
  /** For `startNatsServer({ operator })`. */
  readonly config: NatsOperatorConfig;
  /** Public key of the application account. */
  readonly account: string;
  /** A new user of the application account. */
  user(name: string): NatsUserCreds;
  /** A user signed by an account the operator did not sign: refused by the server. */
  strangerCreds(name: string): NatsUserCreds;
}

function userOf(account: KeyPair, name: string): NatsUserCreds {
  const user = nkeys.createUser();
  const jwt = sign(account, user.getPublicKey(), name, {
    type: 'user',
    pub: {},
    sub: {},
    subs: -1,
    data: -1,
    payload: -1,
  });
  return {
    publicKey: user.getPublicKey(),
    seed: new TextDecoder().decode(user.getSeed()),
    jwt,
    creds: credsFile(jwt, user),
  };
}

export function createNatsOperator(): NatsOperator {
  const operator = nkeys.createOperator();
  const system = nkeys.createAccount();
  const account = nkeys.createAccount();
  const operatorJwt = sign(operator, operator.getPublicKey(), 'cirrus-test', {
    type: 'operator',
    system_account: system.getPublicKey(),
  });
  const accounts: Record<string, string> = {
    [system.getPublicKey()]: sign(operator, system.getPublicKey(), 'SYS', {
      type: 'account',
      limits: UNLIMITED,
    }),
    [account.getPublicKey()]: sign(operator, account.getPublicKey(), 'app', {
      type: 'account',
      limits: { ...UNLIMITED, ...JETSTREAM },
    }),
  };
  return {
    config: { operatorJwt, systemAccount: system.getPublicKey(), accounts },
    account: account.getPublicKey(),
    user: (name) => userOf(account, name),
    strangerCreds: (name) => userOf(nkeys.createAccount(), name),
  };
}
