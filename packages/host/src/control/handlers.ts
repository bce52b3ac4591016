/**
 * One thin handler per control operation: parse the body (`@cirrus/protocol` control parsers), call
 * the host core, say what to reply. Operations that take a while (scale, update, provider start, host
 * stop) return their work separately in `after`, so the server acknowledges before doing it, as 1.x
 * hosts do; their outcome travels as events, which the core publishes.
 */
import {
  decodeControlBody,
  failure,
  ok,
  parseComponentAuction,
  parseConfigName,
  parseConfigPut,
  parseDeleteLink,
  parseEmptyRequest,
  parseLabelDelete,
  parseLabelPut,
  parseProviderAuction,
  parsePutLink,
  parseRegistryPut,
  parseScaleComponent,
  parseStartProvider,
  parseStopHost,
  parseStopProvider,
  parseUpdateComponent,
  ProviderNotRunningError,
  satisfiesConstraints,
} from '@cirrus/protocol';
import type { CtlResponse, HostInfo, Logger } from '@cirrus/protocol';
import type { ScaleComponentCommand, UpdateComponentCommand } from '../components.ts';
import type { Host, LinkDeletionTarget } from '../host-api.ts';
import type { StartProviderCommand } from '../providers/manager.ts';

/**
 * The parts of a host the control interface drives. `deleteLink` also says whether the link's source
 * had a spec, which picks the 1.x reply text.
 */
export type ControlledHost = Pick<
  Host,
  | 'id'
  | 'friendlyName'
  | 'latticeName'
  | 'labels'
  | 'inventory'
  | 'metrics'
  | 'scaleComponent'
  | 'updateComponent'
  | 'startProvider'
  | 'stopProvider'
  | 'hasProvider'
  | 'putLink'
  | 'links'
  | 'claims'
  | 'putConfig'
  | 'getConfig'
  | 'deleteConfig'
  | 'putLabel'
  | 'deleteLabel'
  | 'putRegistryCredentials'
  | 'stop'
> & {
  /** Deletes a link; false when its source had no spec (the 1.x reply says so). */
  removeLink(target: LinkDeletionTarget): Promise<boolean>;
};

export interface HandlerContext {
  host: ControlledHost;
  maxInstances: number;
  logger: Logger;
}

export interface Outcome {
  /** The reply; undefined means stay silent (the request is for another host, or it does not qualify). */
  reply: CtlResponse<unknown> | undefined;
  /** Work started once the reply is on its way; the server logs its failure. */
  after?: { what: string; run: () => Promise<void> };
}

/** What the token after the verb must be. */
type ArgKind = 'none' | 'host' | 'name';

type Handler = (ctx: HandlerContext, body: Uint8Array, arg: string | undefined) => Promise<Outcome> | Outcome;

interface Route {
  arg: ArgKind;
  handle: Handler;
}

const reply = (response: CtlResponse<unknown>): Outcome => ({ reply: response });
const SILENT: Outcome = { reply: undefined };

function hostInfo(host: ControlledHost): HostInfo {
  const inventory = host.inventory();
  return {
    id: host.id,
    friendly_name: host.friendlyName,
    labels: inventory.labels,
    lattice: host.latticeName,
    uptime_seconds: inventory.uptime_seconds,
    uptime_human: inventory.uptime_human,
    version: inventory.version,
  };
}

function scaleComponent(ctx: HandlerContext, body: Uint8Array): Outcome {
  const { host } = ctx;
  const request = parseScaleComponent(body, { hostId: host.id, maxInstances: ctx.maxInstances });
  const id = request.component_id;
  const running = host.inventory().components.find((c) => c.id === id);
  // Like 1.x: scaling still happens when the reference differs; the ack says what becomes of the ref.
  let message = '';
  if (running !== undefined && running.image_ref !== request.component_ref && request.count > 0) {
    message =
      request.allow_update === true
        ? `component ${id} runs ${running.image_ref}, not ${request.component_ref}: it will be scaled and moved to the new reference`
        : `component ${id} runs ${running.image_ref}, not ${request.component_ref}: it will be scaled but keep its reference; use component update (or allow_update) to change it`;
  }
  const command: ScaleComponentCommand = {
    componentRef: request.component_ref,
    componentId: id,
    count: request.count,
    config: request.config ?? [],
    ...(request.annotations === undefined ? {} : { annotations: request.annotations }),
    ...(request.allow_update === undefined ? {} : { allowUpdate: request.allow_update }),
  };
  return {
    reply: ok(message),
    after: { what: `scale component ${id}`, run: () => host.scaleComponent(command) },
  };
}

function updateComponent(ctx: HandlerContext, body: Uint8Array): Outcome {
  const { host } = ctx;
  const request = parseUpdateComponent(body, { hostId: host.id });
  const id = request.component_id;
  const running = host.inventory().components.find((c) => c.id === id);
  if (running === undefined) return reply(failure(`component ${id} not found`));
  const next = request.new_component_ref;
  if (running.image_ref === next) return reply(ok(`component ${id} already updated to ${next}`));
  const command: UpdateComponentCommand = {
    componentId: id,
    newComponentRef: next,
    ...(request.annotations === undefined ? {} : { annotations: request.annotations }),
  };
  return {
    reply: ok(`component ${id} updating from ${running.image_ref} to ${next}`),
    after: { what: `update component ${id}`, run: () => host.updateComponent(command) },
  };
}

function startProvider(ctx: HandlerContext, body: Uint8Array): Outcome {
  const { host } = ctx;
  const request = parseStartProvider(body, { hostId: host.id });
  const id = request.provider_id;
  if (host.hasProvider(id)) return reply(failure('provider with that ID is already running'));
  const command: StartProviderCommand = {
    providerId: id,
    providerRef: request.provider_ref,
    config: request.config ?? [],
    ...(request.annotations === undefined ? {} : { annotations: request.annotations }),
  };
  return {
    reply: ok('successfully started provider'),
    after: { what: `start provider ${id}`, run: () => host.startProvider(command) },
  };
}

/**
 * `provider.start` without a host id (lattice-client-core 0.2.3). Every host hears it, so only the
 * host named in the body answers; anything unreadable is left to the others as well.
 */
function startProviderUnaddressed(ctx: HandlerContext, body: Uint8Array): Outcome {
  let value: unknown;
  try {
    value = decodeControlBody(body);
  } catch {
    return SILENT;
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    (value as { host_id?: unknown }).host_id !== ctx.host.id
  ) {
    return SILENT;
  }
  return startProvider(ctx, body);
}

async function stopProvider(ctx: HandlerContext, body: Uint8Array): Promise<Outcome> {
  const request = parseStopProvider(body, { hostId: ctx.host.id });
  try {
    await ctx.host.stopProvider(request.provider_id);
  } catch (err) {
    if (err instanceof ProviderNotRunningError) return reply(failure('provider with that ID is not running'));
    throw err;
  }
  return reply(ok('successfully stopped provider'));
}

function stopHost(ctx: HandlerContext, body: Uint8Array): Outcome {
  const request = parseStopHost(body, { hostId: ctx.host.id });
  const options = request.timeout === undefined ? {} : { timeoutMs: request.timeout };
  return {
    reply: ok('successfully handled stop host'),
    after: { what: 'stop host', run: () => ctx.host.stop(options) },
  };
}

function componentAuction(ctx: HandlerContext, body: Uint8Array): Outcome {
  const { host } = ctx;
  const request = parseComponentAuction(body);
  if (!satisfiesConstraints(request.constraints, host.labels())) return SILENT;
  if (host.inventory().components.some((c) => c.id === request.component_id)) return SILENT;
  return reply(ok('', { ...request, host_id: host.id }));
}

function providerAuction(ctx: HandlerContext, body: Uint8Array): Outcome {
  const { host } = ctx;
  const request = parseProviderAuction(body);
  if (!satisfiesConstraints(request.constraints, host.labels())) return SILENT;
  if (host.hasProvider(request.provider_id)) return SILENT;
  return reply(ok('', { ...request, host_id: host.id }));
}

/** Keyed by `<noun>.<verb>`. */
const ROUTES: Readonly<Record<string, readonly Route[]>> = {
  'host.ping': [
    {
      arg: 'none',
      handle: ({ host }, body) => {
        parseEmptyRequest(body, 'host ping request');
        return reply(ok('', hostInfo(host)));
      },
    },
  ],
  'host.get': [
    {
      arg: 'host',
      handle: ({ host }, body) => {
        parseEmptyRequest(body, 'host inventory request');
        return reply(ok('', host.inventory()));
      },
    },
  ],
  // A Cirrus addition: what the host has counted, for the dashboard and `cirrus get metrics`.
  'host.metrics': [
    {
      arg: 'host',
      handle: ({ host }, body) => {
        parseEmptyRequest(body, 'host metrics request');
        return reply(ok('', host.metrics()));
      },
    },
  ],
  'host.stop': [{ arg: 'host', handle: stopHost }],
  'component.scale': [{ arg: 'host', handle: scaleComponent }],
  'component.update': [{ arg: 'host', handle: updateComponent }],
  'component.auction': [{ arg: 'none', handle: componentAuction }],
  'provider.start': [
    { arg: 'host', handle: startProvider },
    { arg: 'none', handle: startProviderUnaddressed },
  ],
  'provider.stop': [{ arg: 'host', handle: stopProvider }],
  'provider.auction': [{ arg: 'none', handle: providerAuction }],
  'label.put': [
    {
      arg: 'host',
      handle: ({ host }, body) => {
        const { key, value } = parseLabelPut(body);
        host.putLabel(key, value);
        return reply(ok('successfully put label'));
      },
    },
  ],
  'label.del': [
    {
      arg: 'host',
      handle: ({ host }, body) =>
        reply(
          ok(
            host.deleteLabel(parseLabelDelete(body).key)
              ? 'successfully deleted label'
              : 'successfully deleted label (no such label)',
          ),
        ),
    },
  ],
  'link.put': [
    {
      arg: 'none',
      handle: async ({ host }, body) => {
        await host.putLink(parsePutLink(body));
        return reply(ok('successfully set link'));
      },
    },
  ],
  'link.del': [
    {
      arg: 'none',
      handle: async ({ host }, body) =>
        reply(
          ok(
            (await host.removeLink(parseDeleteLink(body)))
              ? 'successfully deleted link'
              : "successfully deleted link (spec doesn't exist)",
          ),
        ),
    },
  ],
  'link.get': [
    {
      arg: 'none',
      handle: ({ host }, body) => {
        parseEmptyRequest(body, 'link list request');
        return reply(ok('', host.links()));
      },
    },
  ],
  'claims.get': [
    {
      arg: 'none',
      handle: ({ host }, body) => {
        parseEmptyRequest(body, 'claims request');
        return reply(ok('', host.claims()));
      },
    },
  ],
  'config.put': [
    {
      arg: 'name',
      handle: async ({ host }, body, arg) => {
        const { name, values } = parseConfigPut(arg, body);
        await host.putConfig(name, values);
        return reply(ok('successfully put config'));
      },
    },
  ],
  'config.get': [
    {
      arg: 'name',
      handle: async ({ host }, body, arg) => {
        parseEmptyRequest(body, 'config get request');
        const values = await host.getConfig(parseConfigName(arg));
        // 1.x answers a missing config with success and no response, which clients rely on.
        return reply(values === undefined ? ok('Configuration not found') : ok('', values));
      },
    },
  ],
  'config.del': [
    {
      arg: 'name',
      handle: async ({ host }, body, arg) => {
        parseEmptyRequest(body, 'config delete request');
        await host.deleteConfig(parseConfigName(arg));
        return reply(ok('successfully deleted config'));
      },
    },
  ],
  'registry.put': [
    {
      arg: 'none',
      handle: ({ host }, body) => {
        host.putRegistryCredentials(parseRegistryPut(body));
        return reply(ok('successfully put registries'));
      },
    },
  ],
};

/**
 * Handles the tokens after the control prefix. Throws what the parsers or the host throw; the server
 * turns that into a `success:false` reply.
 */
export async function handleControlRequest(
  ctx: HandlerContext,
  tokens: readonly string[],
  body: Uint8Array,
): Promise<Outcome> {
  const [noun, verb, arg, ...extra] = tokens;
  const routes = noun === undefined || verb === undefined ? undefined : ROUTES[`${noun}.${verb}`];
  const route = routes?.find((r) => (r.arg === 'none' ? arg === undefined : arg !== undefined));
  if (route === undefined || extra.length > 0) return reply(failure('unsupported subject'));
  // A per-host subject only reaches the host it names; anything else is not for us to answer.
  if (route.arg === 'host' && arg !== ctx.host.id) return SILENT;
  return route.handle(ctx, body, arg);
}
