/**
 * The NATS adapter of the lattice port, for lattices that span machines: over TCP (`nats://`,
 * `tls://`) or a server's websocket listener (`ws://`, `wss://`). A browser bundle gets browser.ts
 * instead (the `browser` condition of this package's exports): the same API over websocket only.
 */
import { connectWith } from './connect.ts';
import type { NatsConnectOptions } from './connect.ts';
import type { NatsLatticeConnection } from './connection.ts';
import { readNatsCredsFile } from './node/creds-file.ts';
import { tcpDialer } from './node/tcp.ts';
import { websocketDialer } from './websocket.ts';

export { readNatsCredsFile };
export type { NatsConnectOptions, NatsTlsOptions } from './connect.ts';
export type { NatsLatticeConnection, NatsStatus } from './connection.ts';
export type { NatsCredentials } from './nats-auth.ts';

/**
 * Connects to NATS; rejects saying what failed: INVALID_ARGUMENT (the options, e.g. websocket and TCP
 * URLs mixed), LATTICE_CREDENTIALS_INVALID (before connecting), LATTICE_AUTH_FAILED,
 * LATTICE_CONNECT_REFUSED, LATTICE_TLS_FAILED or LATTICE_CONNECT_FAILED. A `tls://` server URL
 * requires TLS, as it does for the Go and Rust clients.
 */
export async function connectNats(options: NatsConnectOptions): Promise<NatsLatticeConnection> {
  const websocket = websocketDialer(readNatsCredsFile);
  return connectWith(options, (kind) => (kind === 'websocket' ? websocket : tcpDialer));
}
