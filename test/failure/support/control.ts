/** Control-client sessions on a NATS lattice, or on a `cirrus up` through its local endpoint. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createControlClient } from '@cirrus/control-client';
import type { ControlClient } from '@cirrus/control-client';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import type { CirrusProcess } from './processes.ts';

export interface ControlSession {
  client: ControlClient;
  connection: NatsLatticeConnection;
  close(): Promise<void>;
}

export interface ControlSessionOptions {
  lattice?: string;
  /** How long `pingHosts` collects replies (default 2 s, the CLI's). */
  scatterMs?: number;
  /** Deadline of single-reply requests (default 2 s). */
  timeoutMs?: number;
}

/** A control client on a NATS lattice (`url` of a nats-server). */
export async function controlOverNats(
  url: string,
  options: ControlSessionOptions = {},
): Promise<ControlSession> {
  const connection = await connectNats({ servers: url, name: 'failure-suite' });
  return session(connection, options);
}

/** A control client on the embedded lattice of a `cirrus up`, through its local endpoint file. */
export async function controlOverLocalEndpoint(
  host: CirrusProcess,
  options: ControlSessionOptions = {},
): Promise<ControlSession> {
  const lattice = options.lattice ?? 'default';
  const file = join(host.stateDir, `local-lattice-${encodeURIComponent(lattice)}.json`);
  const endpoint = JSON.parse(await readFile(file, 'utf8')) as { url: string; token: string };
  const connection = await connectNats({
    servers: endpoint.url,
    name: 'failure-suite',
    credentials: { type: 'token', token: endpoint.token },
  });
  return session(connection, options);
}

function session(connection: NatsLatticeConnection, options: ControlSessionOptions): ControlSession {
  const client = createControlClient({
    connection,
    ...(options.lattice === undefined ? {} : { lattice: options.lattice }),
    ...(options.scatterMs === undefined ? {} : { scatterMs: options.scatterMs }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  return { client, connection, close: () => connection.close() };
}

/**
 * Routes HTTP requests on 127.0.0.1:`port` from the HTTP server provider `serverId` to
 * `componentId`: a named config and a `wasi:http/incoming-handler` link named after the component.
 * With `host`, only requests for that Host header, so several components can share the address.
 */
export async function routeHttp(
  client: Pick<ControlClient, 'putConfig' | 'putLink'>,
  route: { serverId: string; componentId: string; port: number; host?: string },
): Promise<void> {
  const config = `${route.serverId}-${route.componentId}`;
  await client.putConfig(config, {
    address: `127.0.0.1:${route.port}`,
    ...(route.host === undefined ? {} : { host: route.host }),
  });
  await client.putLink({
    source_id: route.serverId,
    target: route.componentId,
    name: route.componentId,
    wit_namespace: 'wasi',
    wit_package: 'http',
    interfaces: ['incoming-handler'],
    source_config: [config],
    target_config: [],
  });
}
