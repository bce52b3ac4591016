/**
 * The benchmarks' way into an in-process host's components: a built-in provider that keeps the
 * host's component calls, so requests reach a component the way the HTTP server provider hands
 * them over, without sockets.
 */
import type { ComponentCalls } from '@cirrus/provider-core';
import type { BUILTIN_PROVIDERS } from '@cirrus/providers';
import type { HttpRequestHead } from '@cirrus/runtime';
import { HarnessError, ResponseCollector } from './lib.ts';
import type { Call } from './sequential.ts';

export const HEAD: HttpRequestHead = {
  method: 'GET',
  pathWithQuery: '/bench',
  scheme: 'http',
  authority: 'bench',
  headers: [],
};

/** A provider whose only job is to hand the benchmark the host's way into its components. */
export function driver(): { provider: (typeof BUILTIN_PROVIDERS)[string]; calls: () => ComponentCalls } {
  let captured: ComponentCalls | undefined;
  return {
    provider: {
      name: 'bench driver',
      async start(context) {
        captured = context.components;
        return { shutdown: async () => undefined };
      },
    },
    calls: () => {
      if (captured === undefined) throw new HarnessError('the bench driver provider did not start');
      return captured;
    },
  };
}

/** One request to `componentId`; fails the run unless it answers 200 with a body. */
export function hostCall(calls: ComponentCalls, componentId: string): Call {
  return async () => {
    const sink = new ResponseCollector();
    await calls.handleHttp(componentId, HEAD, null, sink);
    if (sink.status !== 200 || sink.bytes === 0) {
      throw new HarnessError(`${componentId} answered status ${sink.status} with ${sink.bytes} bytes`);
    }
  };
}
