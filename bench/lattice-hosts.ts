/**
 * Hosts for the parts that need several: `cirrus up --nats` processes of their own on one
 * nats-server, found by name, and hello routed from one host's HTTP server.
 */
import { join } from 'node:path';
import type { ControlClient } from '@cirrus/control-client';
import { waitFor } from '@cirrus/testing';
import { ChildServer, HarnessError, ROOT } from './lib.ts';

const CIRRUS_BIN = join(ROOT, 'node_modules', '.bin', 'cirrus');

/** A `cirrus up --nats` process named `name`, with the cache directory under `dir` all hosts share. */
export function startHost(
  dir: string,
  natsUrl: string,
  lattice: string,
  name: string,
  extraArgs: readonly string[] = [],
): ChildServer {
  return ChildServer.startNode(`host ${name}`, [
    CIRRUS_BIN,
    'up',
    '--nats',
    natsUrl,
    '--lattice',
    lattice,
    '--name',
    name,
    '--cache-dir',
    join(dir, 'cache'),
    ...extraArgs,
  ]);
}

/** The ids of the hosts named `names`, once they all answer a ping. */
export async function hostIds(
  control: ControlClient,
  names: readonly string[],
  hosts: readonly ChildServer[],
): Promise<string[]> {
  return waitFor(
    async () => {
      for (const host of hosts) {
        if (host.exitCode !== undefined) {
          throw new HarnessError(`${host.name} exited (${host.exitCode})\n${host.outputTail()}`);
        }
      }
      const seen = await control.pingHosts();
      const ids = names.map((name) => seen.find((h) => h.friendly_name === name)?.id);
      return ids.every((id) => id !== undefined) ? ids : undefined;
    },
    60_000,
    `hosts ${names.join(', ')} to answer a ping`,
  );
}

/** Starts an HTTP server provider on `hostId` and routes 127.0.0.1:`port` to the component `hello`. */
export async function routeHello(control: ControlClient, hostId: string, port: number): Promise<void> {
  const provider = `web-${port}`;
  await control.startProvider({
    hostId,
    providerRef: 'wasmcloud+builtin://http-server',
    providerId: provider,
  });
  await control.putConfig(`listen-${port}`, { address: `127.0.0.1:${port}` });
  await control.putLink({
    source_id: provider,
    target: 'hello',
    name: 'default',
    wit_namespace: 'wasi',
    wit_package: 'http',
    interfaces: ['incoming-handler'],
    source_config: [`listen-${port}`],
    target_config: [],
  });
}
