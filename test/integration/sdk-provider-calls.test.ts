/**
 * A provider written with the SDK calls a component that runs on a host, over wRPC, as 1.x providers
 * do: the host serves the component's exports under `<lattice>.<component id>`, and the SDK's
 * `invoke` reaches them with the interface's own name and types.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import type { HostData } from '@cirrus/protocol';
import { runProvider } from '@cirrus/provider-sdk';
import { startNatsServer, tempDir } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';

const GREETER = fileURLToPath(
  new URL('../../packages/testing/fixtures/greeter/build/greeter.wasm', import.meta.url),
);

function providerHostData(url: string): HostData {
  return {
    host_id: 'NHOST',
    lattice_rpc_prefix: 'default',
    link_name: 'default',
    lattice_rpc_user_jwt: '',
    lattice_rpc_user_seed: '',
    lattice_rpc_url: url,
    provider_key: 'caller',
    env_values: {},
    instance_id: 'i-1',
    link_definitions: [],
    cluster_issuers: [],
    config: {},
    secrets: {},
    host_xkey_public_key: '',
    provider_xkey_private_key: '',
    default_rpc_timeout_ms: 5000,
    structured_logging: true,
    log_level: 'info',
    otel_config: {
      enable_observability: false,
      protocol: 'Http',
      additional_ca_paths: [],
      trace_level: 'info',
    },
  };
}

describe('a provider written with the SDK calling a component', () => {
  let dir: TempDir;
  let nats: NatsServer;
  let hostConnection: NatsLatticeConnection;
  let host: Host;

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    hostConnection = await connectNats({ servers: nats.url, name: 'host' });
    host = await createHost({
      lattice: hostConnection,
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
    });
    await host.scaleComponent({ componentRef: GREETER, componentId: 'greeter', count: 1 });
  });

  after(async () => {
    await host?.stop();
    await hostConnection?.close();
    await nats?.stop();
    await dir?.remove();
  });

  it('invokes the export of a component on a host, typed by the WIT it imports', async () => {
    const conn = await connectNats({ servers: nats.url, name: 'sdk-provider' });
    const provider = await runProvider({
      name: 'caller',
      imports: 'package example:greeter@0.1.0; interface greet { greet: func(name: string) -> string; }',
      hostData: providerHostData(nats.url),
      connection: conn,
      exitOnShutdown: false,
      writeLog: () => undefined,
    });
    try {
      const reply = await provider.invoke('greeter', 'example:greeter/greet@0.1.0', 'greet', ['Hedy']);
      assert.match(String(reply), /^Hello, Hedy! \(call \d+\)$/);
    } finally {
      await provider.stop();
      await conn.close();
    }
  });
});
