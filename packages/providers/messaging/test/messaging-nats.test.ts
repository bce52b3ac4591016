/**
 * Links written for wasmCloud's messaging-nats provider (`ghcr.io/wasmcloud/messaging-nats`, which
 * starts this one): its `subscriptions` are served on the lattice's connection, its keys for a NATS
 * connection of the link's own are named in a warning, and its JetStream `consumers` are refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import type { LogFields, Logger, StringMap } from '@cirrus/protocol';
import type { CapabilityProvider, ResolvedLink } from '@cirrus/provider-core';
import { createMessagingProvider } from '../src/provider.ts';
import type { BrokerMessage } from '../src/provider.ts';

function recordingLogger(warnings: LogFields[]): Logger {
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (message, fields) => warnings.push({ message, ...fields }),
    error: () => {},
    child: () => logger,
  };
  return logger;
}

function handlerLink(sourceConfig: StringMap): ResolvedLink {
  return {
    source_id: 'nats',
    target: 'echo',
    name: 'default',
    wit_namespace: 'wasmcloud',
    wit_package: 'messaging',
    interfaces: ['handler'],
    source_config: sourceConfig,
    target_config: {},
  };
}

function consumerLink(targetConfig: StringMap): ResolvedLink {
  return {
    source_id: 'echo',
    target: 'nats',
    name: 'default',
    wit_namespace: 'wasmcloud',
    wit_package: 'messaging',
    interfaces: ['consumer'],
    source_config: {},
    target_config: targetConfig,
  };
}

/** Waits for `check` to hold, polling: deliveries happen after the publish returns. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (const started = Date.now(); !check(); await new Promise((resolve) => setTimeout(resolve, 10))) {
    if (Date.now() - started > 2_000) throw new Error(`${what}: not within 2 s`);
  }
}

async function withProvider(
  work: (provider: CapabilityProvider, delivered: BrokerMessage[], warnings: LogFields[]) => Promise<void>,
): Promise<void> {
  const lattice = createMemoryLattice();
  const connection = lattice.connect();
  const delivered: BrokerMessage[] = [];
  const warnings: LogFields[] = [];
  const provider = await createMessagingProvider({
    delivery: () => ({ deliver: async (_, message) => void delivered.push(message) }),
  }).start({
    providerId: 'nats',
    hostId: 'host',
    lattice: 'default',
    connection,
    config: {},
    logger: recordingLogger(warnings),
    limits: resolveLimits(),
    components: {
      handleHttp: () => Promise.reject(new Error('not used')),
      invoke: () => Promise.reject(new Error('not used')),
    },
  });
  try {
    await work(provider, delivered, warnings);
  } finally {
    await provider.shutdown();
    await connection.close();
    await lattice.close();
  }
}

describe('messaging-nats link config', () => {
  it('subscribes to its subscriptions (queue groups too) and names the connection keys it does not honour', async () => {
    await withProvider(async (provider, delivered, warnings) => {
      await provider.receiveLinkAsSource?.(
        handlerLink({
          SUBSCRIPTIONS: 'wasmcloud.echo,work.tasks|workers',
          cluster_uris: 'nats://127.0.0.1:4222,nats://127.0.0.1:5222',
          client_jwt: 'eyJ0',
          client_seed: 'SUAM',
        }),
      );
      const publish = provider.exports?.['wasmcloud:messaging/consumer']?.['publish'];
      assert.ok(publish !== undefined);
      const source = {
        sourceId: 'echo',
        linkName: 'default',
        componentConfig: async () => ({}),
        invocation: 1,
      };
      for (const subject of ['wasmcloud.echo', 'work.tasks']) {
        const message: BrokerMessage = { subject, body: new TextEncoder().encode('hi'), replyTo: undefined };
        assert.deepEqual(await publish(source, message as never), { tag: 'ok', val: undefined });
      }
      await until(() => delivered.length === 2, 'two deliveries');
      assert.deepEqual(delivered.map((m) => m.subject).sort(), ['wasmcloud.echo', 'work.tasks']);
      assert.deepEqual(
        warnings.map((w) => w['ignored']),
        ['cluster_uris, client_jwt, client_seed'],
      );
      assert.match(String(warnings[0]?.['message']), /lattice's connection/);
    });
  });

  it('names the connection keys of a consumer link too', async () => {
    await withProvider(async (provider, _, warnings) => {
      await provider.receiveLinkAsTarget?.(
        consumerLink({ subscriptions: 'wasmcloud.echo', CLUSTER_URIS: 'nats://other:4222' }),
      );
      assert.deepEqual(
        warnings.map((w) => [w['component'], w['ignored']]),
        [['echo', 'CLUSTER_URIS']],
      );
    });
  });

  it('refuses JetStream consumers with INVALID_ARGUMENT, as messaging-nats does', async () => {
    await withProvider(async (provider) => {
      const consumers = JSON.stringify([{ stream: 'ORDERS', consumer: 'worker' }]);
      for (const receive of [
        () => provider.receiveLinkAsSource?.(handlerLink({ subscriptions: 'a.b', consumers })),
        () => provider.receiveLinkAsTarget?.(consumerLink({ consumers })),
      ]) {
        await assert.rejects(Promise.resolve().then(receive), (err) => {
          assert.equal((err as { code?: string }).code, 'INVALID_ARGUMENT');
          return true;
        });
      }
    });
  });
});
