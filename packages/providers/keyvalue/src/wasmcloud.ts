/**
 * Stand-ins for wasmCloud's key-value providers, which `ghcr.io/wasmcloud/keyvalue-nats` and
 * `ghcr.io/wasmcloud/keyvalue-redis` start: the built-in provider reading the link and provider config
 * of those 1.x providers, so that their manifests deploy unchanged. Keys are matched in any case:
 * keyvalue-redis does so itself, and the providers' READMEs write some keys in upper case.
 */
import type { StringMap } from '@cirrus/protocol';
import { InvalidArgumentError } from '@cirrus/protocol';
import type { BuiltinProvider } from '@cirrus/provider-core';
import { DEFAULT_REDIS_URL } from './backends/index.ts';
import type { NatsServerSpec } from './backends/index.ts';
import { createKeyValueProvider } from './provider.ts';
import type { LinkSettings } from './provider.ts';

/** A config map with lower-case keys; of keys that differ only in case, the last one given wins. */
function lowerKeys(config: StringMap): Map<string, string> {
  return new Map(Object.entries(config).map(([key, value]) => [key.toLowerCase(), value]));
}

/** keyvalue-nats keys that configure the provider's own NATS connection. */
const NATS_CONNECTION_KEYS = ['js_domain', 'client_jwt', 'client_seed', 'tls_ca', 'tls_ca_file'];

/**
 * keyvalue-nats: `bucket` is the JetStream bucket of every identifier a component opens (that
 * provider takes the identifier as the link's name); `cluster_uri` a NATS server of the link's own,
 * reached with `client_jwt` + `client_seed`, `tls_ca_file` and `js_domain`. Without `cluster_uri`
 * the host's lattice connection serves, where wasmCloud's provider would connect to the local NATS
 * its host runs on. The link's keys override the provider's, one by one, as in wasmCloud. A missing
 * bucket is always created, so `enable_bucket_auto_create` needs no reading.
 */
export function keyValueNatsSettings(linkConfig: StringMap, providerConfig: StringMap): LinkSettings {
  const config = new Map([...lowerKeys(providerConfig), ...lowerKeys(linkConfig)]);
  const bucket = config.get('bucket')?.trim() || undefined;
  const servers = config.get('cluster_uri')?.trim() || undefined;
  if (servers === undefined) {
    const ignored = NATS_CONNECTION_KEYS.filter((key) => config.has(key)).map(
      (key) => `${key} (without cluster_uri the link uses the host's lattice connection)`,
    );
    return { backend: { kind: 'nats' }, bucket, ignored };
  }
  if (config.has('tls_ca')) {
    throw new InvalidArgumentError(
      'keyvalue-nats link config tls_ca (a CA certificate inline) is not supported',
      {
        hint: 'save the CA certificate as a PEM file on the host and give its path as tls_ca_file',
      },
    );
  }
  const jwt = config.get('client_jwt');
  const seed = config.get('client_seed');
  if ((jwt === undefined) !== (seed === undefined)) {
    throw new InvalidArgumentError(
      'keyvalue-nats link config needs both client_jwt and client_seed, or neither',
      {
        hint: 'give the user JWT with the seed that signs for it',
      },
    );
  }
  const server: NatsServerSpec = {
    servers,
    credentials: jwt === undefined || seed === undefined ? undefined : { jwt, seed },
    caFile: config.get('tls_ca_file'),
    jsDomain: config.get('js_domain'),
  };
  return { backend: { kind: 'nats', server }, bucket };
}

/** keyvalue-redis's connection settings per link, and what the host's limits do in their place. */
const REDIS_TIMING_KEYS: ReadonlyMap<string, string> = new Map([
  ['backend_reconnect_num_retries', 'a lost connection is retried for as long as it takes'],
  ['backend_reconnect_max_delay_ms', "the host's kvRedisReconnectWaitMs applies"],
  ['backend_connection_timeout_ms', "the host's kvRedisConnectTimeoutMs applies"],
  ['backend_response_timeout_ms', "the host's kvRedisCommandTimeoutMs applies"],
]);

/**
 * keyvalue-redis: the link's `URL`, else the provider's (its default connection, which
 * `DISABLE_DEFAULT_CONNECTION` in either config refuses), else `redis://127.0.0.1:6379`. Keys are
 * stored as they are, since that provider ignores bucket identifiers. `SHARE_CONNECTIONS_BY_URL`
 * needs no reading: links with the same URL always share a connection here.
 */
export function keyValueRedisSettings(linkConfig: StringMap, providerConfig: StringMap): LinkSettings {
  const link = lowerKeys(linkConfig);
  const provider = lowerKeys(providerConfig);
  let url = link.get('url');
  if (url === undefined) {
    if (link.has('disable_default_connection') || provider.has('disable_default_connection')) {
      throw new InvalidArgumentError(
        'keyvalue-redis link has no URL, and DISABLE_DEFAULT_CONNECTION is set',
        {
          hint: 'give the link config a URL, e.g. redis://127.0.0.1:6379, or drop DISABLE_DEFAULT_CONNECTION',
        },
      );
    }
    url = provider.get('url') ?? DEFAULT_REDIS_URL;
  }
  const ignored = [...link.keys()].flatMap((key) => {
    const instead = REDIS_TIMING_KEYS.get(key);
    return instead === undefined ? [] : [`${key.toUpperCase()} (${instead})`];
  });
  return { backend: { kind: 'redis', url, prefixKeys: false }, ignored };
}

export const keyValueNatsProvider: BuiltinProvider = createKeyValueProvider({
  name: 'Key-Value NATS',
  settings: keyValueNatsSettings,
});

export const keyValueRedisProvider: BuiltinProvider = createKeyValueProvider({
  name: 'Key-Value Redis',
  settings: keyValueRedisSettings,
});
