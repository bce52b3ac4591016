/**
 * Which lattice a management command talks to: `--nats URL` when given, else the NATS endpoint of the
 * local host that `cirrus up` advertises, else a clear error. The one test seam is `injectLattice`,
 * which lets tests hand a command an in-memory lattice without touching NATS.
 */
import { connectNats } from '@cirrus/lattice';
import type { LatticeConnection, NatsCredentials } from '@cirrus/lattice';
import type { NatsSettings } from './nats-flags.ts';
import { DEFAULT_LATTICE, InvalidArgumentError, NoLatticeError } from '@cirrus/protocol';
import type { Limits } from '@cirrus/protocol';
import type { CommandContext } from './context.ts';
import { readLocalEndpoint } from './local-endpoint.ts';

export interface LatticeTarget {
  /** `--nats URL` with its credentials and TLS settings (the `--nats-…` flags). */
  nats?: NatsSettings | undefined;
  /** `--lattice NAME`; default: the local host's lattice, else `default`. */
  lattice?: string | undefined;
}

export interface LatticeSession {
  connection: LatticeConnection;
  lattice: string;
  /** Where the connection goes, for messages (`nats://127.0.0.1:4222`, `the local host`). */
  via: string;
  close(): Promise<void>;
}

type Connector = () => LatticeConnection | Promise<LatticeConnection>;

// Keyed by context so that tests running side by side each get their own lattice, and nothing
// global changes for the real binary.
const injected = new WeakMap<CommandContext, Connector>();

/** Test seam: commands run with `context` connect through `connector` instead of NATS. */
export function injectLattice(context: CommandContext, connector: Connector): void {
  injected.set(context, connector);
}

/**
 * Splits credentials out of a NATS URL (`nats://user:pass@host`, `nats://token@host`), because the
 * NATS client takes them as options and would otherwise send none. A `tls://` scheme stays: it
 * requires TLS. Errors never quote the text, which may hold a secret.
 */
export function parseNatsUrl(
  text: string,
  flagName = '--nats',
): { servers: string[]; credentials?: NatsCredentials } {
  let credentials: NatsCredentials | undefined;
  const servers = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(part) ? part : `nats://${part}`;
      let url: URL;
      try {
        url = new URL(withScheme);
      } catch {
        throw new InvalidArgumentError(`a server given to ${flagName} is not a URL`, {
          hint: `e.g. ${flagName} nats://127.0.0.1:4222`,
        });
      }
      if (url.username !== '') {
        const user = decodeURIComponent(url.username);
        const password = decodeURIComponent(url.password);
        credentials = url.password === '' ? { type: 'token', token: user } : { type: 'user', user, password };
        url.username = '';
        url.password = '';
      }
      return url.href.replace(/\/$/, '');
    });
  if (servers.length === 0) {
    throw new InvalidArgumentError(`${flagName} needs a URL`, {
      hint: `e.g. ${flagName} nats://127.0.0.1:4222`,
    });
  }
  return credentials === undefined ? { servers } : { servers, credentials };
}

/** Opens the connection a command uses; the caller closes it with `session.close()`. */
export async function connectLattice(
  target: LatticeTarget,
  context: CommandContext,
  limits: Limits,
): Promise<LatticeSession> {
  const session = (connection: LatticeConnection, lattice: string, via: string): LatticeSession => ({
    connection,
    lattice,
    via,
    close: () => connection.close(),
  });

  const connector = injected.get(context);
  if (connector !== undefined) {
    return session(await connector(), target.lattice ?? DEFAULT_LATTICE, 'the injected lattice');
  }

  if (target.nats !== undefined) {
    const { servers, credentials, tls } = target.nats;
    const connection = await connectNats({
      servers,
      name: 'cirrus-cli',
      limits,
      ...(credentials === undefined ? {} : { credentials }),
      ...(tls === undefined ? {} : { tls }),
    });
    return session(connection, target.lattice ?? DEFAULT_LATTICE, servers.join(', '));
  }

  // `cirrus up` advertises one endpoint file per lattice; without --lattice, the default one.
  const local = await readLocalEndpoint(context.env, target.lattice ?? DEFAULT_LATTICE);
  if (local !== undefined) {
    const connection = await connectNats({
      servers: local.url,
      name: 'cirrus-cli',
      // Errors then say whose endpoint refused or failed (e.g. at its connection limit).
      label: 'local lattice endpoint',
      limits,
      credentials: { type: 'token', token: local.token },
    });
    return session(connection, local.lattice, `the local host (${local.url})`);
  }

  throw new NoLatticeError('no lattice to talk to', {
    hint: 'start a host with `npm start` / `cirrus up`, or pass --nats URL',
  });
}
