/** How built-in providers serve their wire forms to components on other hosts. */
import type { WrpcServeOptions } from '@cirrus/lattice';
import type { ProviderContext } from './contract.ts';

/** What every wRPC instance a built-in provider serves shares: its id's queue group and the host's limits. */
export type ProviderServeOptions = Omit<WrpcServeOptions, 'instance' | 'handlers'>;

/**
 * How a built-in provider serves its wire forms to components on other hosts (`wrpcServe`,
 * `serveHttpHandle`): under its id, in that id's queue group, checked as the host checks invocations.
 */
export function providerServeOptions(context: ProviderContext): ProviderServeOptions {
  return {
    lattice: context.lattice,
    id: context.providerId,
    logger: context.logger,
    maxBytes: context.limits.wrpcMaxValueBytes,
    maxPayload: context.connection.maxPayload,
    timeoutMs: context.limits.invocationTimeoutMs,
    streamLimits: context.limits,
    verify: context.verifyInvocation,
    observe: context.observe,
  };
}
