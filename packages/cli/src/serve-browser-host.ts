/**
 * `cirrus up`'s browser host: the pages at `/host` on the dashboard's address, served with this
 * host's lattice, limits, claims rules and signed-invocation settings, its transpiler and cache, and
 * its embedded lattice when it runs one.
 */
import { browserHostPages } from '@cirrus/browser-host';
import type { BrowserHostPages, BrowserHostServing } from '@cirrus/browser-host';
import { issueHostCredential } from '@cirrus/host';
import type { HostOptions, SignedInvocationOptions } from '@cirrus/host';
import type { Limits, Logger } from '@cirrus/protocol';
import { createBrowserTranspiler } from '@cirrus/runtime';
import type { LocalEndpointHandle } from './host-backend.ts';

export function browserHostMount(options: {
  lattice: string;
  cacheDir: string;
  limits: Limits;
  logger: Logger;
  identity: Pick<HostOptions, 'requireSigned' | 'allowedIssuers'>;
  signing: SignedInvocationOptions | undefined;
  /** The embedded lattice's endpoint; undefined on NATS or with --no-local-endpoint. */
  endpoint: LocalEndpointHandle | undefined;
}): BrowserHostPages {
  const { limits, logger, endpoint } = options;
  return browserHostPages({
    lattice: options.lattice,
    transpiler: createBrowserTranspiler({ cacheDir: options.cacheDir, logger }),
    limits,
    requireSigned: options.identity.requireSigned ?? false,
    allowedIssuers: options.identity.allowedIssuers ?? [],
    ...(endpoint === undefined ? {} : { embedded: endpoint }),
    ...browserSigning(options.signing, limits),
    logger,
  });
}

/**
 * What browser hosts served here are told of signed invocations: to require them when this host
 * does, and, when this host signs with a cluster seed, credentials it issues them for their keys.
 */
function browserSigning(
  options: SignedInvocationOptions | undefined,
  limits: Limits,
): Pick<BrowserHostServing, 'signedInvocations'> {
  if (options === undefined) return {};
  const { clusterSeed } = options;
  return {
    signedInvocations: {
      require: options.require === true,
      clusterIssuers: [
        ...(options.clusterIssuers ?? []),
        ...(clusterSeed === undefined ? [] : [clusterSeed.publicKey]),
      ],
      ...(options.sign === true && clusterSeed !== undefined
        ? {
            issue: (hostId: string) =>
              issueHostCredential(clusterSeed, hostId, limits.hostCredentialLifetimeMs),
          }
        : {}),
    },
  };
}
