/**
 * The browser entry of the NATS adapter (the `browser` condition of this package's exports): the API
 * of the Node entry, over websocket only, with nothing from Node. Credentials are given inline (a
 * `.creds` file's text as `{ type: 'creds' }`), since there are no files to read.
 */
import { InvalidArgumentError } from '@cirrus/protocol';
import { connectWith } from './connect.ts';
import type { NatsConnectOptions } from './connect.ts';
import type { NatsLatticeConnection } from './connection.ts';
import { websocketDialer } from './websocket.ts';

export type { NatsConnectOptions, NatsTlsOptions } from './connect.ts';
export type { NatsLatticeConnection, NatsStatus } from './connection.ts';
export type { NatsCredentials } from './nats-auth.ts';

/**
 * Connects to the websocket listener of a NATS server (`ws://`, `wss://`); rejects as the Node entry's
 * `connectNats` does, and with INVALID_ARGUMENT for a TCP URL.
 */
export async function connectNats(options: NatsConnectOptions): Promise<NatsLatticeConnection> {
  const websocket = websocketDialer(undefined);
  return connectWith(options, (kind, servers, prefix) => {
    if (kind === 'tcp') {
      throw new InvalidArgumentError(
        `${prefix}a browser reaches NATS over websocket only, not at ${servers.join(', ')}`,
        {
          hint: "use a ws:// or wss:// URL of the server's websocket listener (websocket { listen } in nats-server's configuration)",
        },
      );
    }
    return websocket;
  });
}
