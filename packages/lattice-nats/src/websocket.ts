/**
 * The websocket transport: nats.js's own, over the platform's `WebSocket` (browsers, Node 24). It needs
 * nothing from Node, so the browser entry uses it alone.
 */
import { InvalidArgumentError } from '@cirrus/protocol';
import { wsconnect } from '@nats-io/nats-core';
import type { Dialer } from './connect.ts';
import type { CredsReader } from './nats-auth.ts';

/** NATS over websocket; `readCredsFile` reads `.creds` files where there are files (Node). */
export function websocketDialer(readCredsFile: CredsReader | undefined): Dialer {
  return {
    kind: 'websocket',
    readCredsFile,
    unreachableHint:
      "check that the server's websocket listener runs at that address (websocket { listen } in nats-server's configuration) and that the URL says wss:// where it has TLS",
    async settings(options, prefix) {
      if (options.tls !== undefined) {
        throw new InvalidArgumentError(`${prefix}TLS options do not apply to a websocket connection`, {
          hint: "use a wss:// URL: the platform's WebSocket makes the TLS connection and checks the server's certificate against the system's CAs",
        });
      }
      return {};
    },
    dial: (options) => wsconnect(options),
    connectError: async () => undefined,
    laterError: () => undefined,
  };
}
