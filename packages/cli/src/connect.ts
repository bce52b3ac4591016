/**
 * Which lattice a management command talks to: `--nats URL` when given, else the NATS endpoint of the
 * local host that `cirrus up` advertises, else a clear error. The one test seam is `injectLattice`,
 * which lets tests hand a command an in-memory lattice without touching NATS.
 */
import type { LatticeConnection } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsSettings } from './nats-flags.ts';
import { DEFAULT_LATTICE, NoLatticeError } from '@cirrus/protocol';
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
