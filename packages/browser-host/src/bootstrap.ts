import type { Limits } from '@cirrus/protocol';

/** What the page at `/host` is told by the host that serves it (GET /host/api/bootstrap). */
export interface BrowserHostBootstrap {
  /** The serving host's limits (deadlines, sizes, counts), which the tab's host runs with too. */
  limits: Limits;
  /** The serving host's lattice: the tab's default. */
  lattice: string;
  /** Where the tab's runtime has components transpiled, and the transpiler build it keeps results under. */
  transpiler: { endpoint: string; fingerprint: string };
  /** The instance worker's script. */
  workerUrl: string;
  /** The serving host's rules for components, which the tab applies too. */
  requireSigned: boolean;
  allowedIssuers: string[];
  /**
   * Signed invocations as the serving host has them: whether the tab must require them (and from
   * which clusters), and whether the serving host issues the tab a credential to sign its own with
   * (a signed-in dashboard session of a host that holds a cluster seed).
   */
  signedInvocations: { require: boolean; clusterIssuers: string[]; sign: boolean };
  /**
   * The serving host's embedded lattice over websocket, with the token its endpoint asks for; given to
   * a signed-in dashboard session only.
   */
  embedded?: { url: string; token: string };
}

export const BOOTSTRAP_PATH = '/host/api/bootstrap';
export const TRANSPILE_PATH = '/host/api/transpile';
export const LATTICE_SOCKET_PATH = '/host/lattice';
export const CREDENTIAL_PATH = '/host/api/credential';
