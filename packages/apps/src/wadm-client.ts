/**
 * A client of the wadm API (`wadm.api.<lattice>.model.*`): what `cirrus app` sends, usable against
 * Cirrus's application manager or a wadm 0.2x. Replies come back as wadm shapes them; `notfound` is
 * APP_NOT_FOUND and `error` APP_REQUEST_FAILED, with the manager's message. No manager answering
 * within the deadline is NO_RESPONDERS.
 */
import {
  AppNotFoundError,
  AppRequestFailedError,
  InvalidArgumentError,
  isValidToken,
  NoRespondersError,
} from '@cirrus/protocol';
import type { LatticeConnection } from '@cirrus/lattice';

export interface WadmModelSummary {
  name: string;
  version: string;
  description?: string;
  deployed_version?: string;
  detailed_status: WadmStatus;
  status: string;
}

export interface WadmStatus {
  status: { type: string; message?: string };
  scalers?: { id: string; kind: string; name: string; status: { type: string; message?: string } }[];
  version?: string;
}

export interface WadmPutReply {
  result: 'created' | 'newversion';
  name: string;
  current_version: string;
  total_versions: number;
  message: string;
}

export interface WadmClient {
  put(manifest: string): Promise<WadmPutReply>;
  list(): Promise<WadmModelSummary[]>;
  get(name: string, version?: string): Promise<Record<string, unknown>>;
  versions(name: string): Promise<{ version: string; deployed: boolean }[]>;
  deploy(name: string, version?: string): Promise<{ version?: string; message: string }>;
  undeploy(name: string): Promise<{ message: string }>;
  status(name: string): Promise<WadmStatus>;
  delete(
    name: string,
    version?: string,
  ): Promise<{ result: 'deleted' | 'noop'; message: string; undeploy: boolean }>;
}

const encoder = new TextEncoder();

/** Between two tries of a request nobody answered. */
const NO_MANAGER_RETRY_MS = 100;

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

export interface WadmClientOptions {
  /**
   * Ask again while nobody answers, until the deadline (the default): a manager taking over the
   * lease answers within moments. False: NO_RESPONDERS at once, for a caller that only looks.
   */
  waitForManager?: boolean;
}

export function createWadmClient(
  connection: LatticeConnection,
  lattice: string,
  timeoutMs: number,
  options: WadmClientOptions = {},
): WadmClient {
  const waitForManager = options.waitForManager ?? true;
  const call = async (op: string, body?: string | object): Promise<Record<string, unknown>> => {
    const data =
      body === undefined ? undefined : encoder.encode(typeof body === 'string' ? body : JSON.stringify(body));
    // While the lease changes hands nobody serves the API for a moment: asked again until the
    // deadline, a request finds the manager that takes over.
    const deadline = performance.now() + timeoutMs;
    let answer;
    for (;;) {
      try {
        answer = await connection.request(`wadm.api.${lattice}.${op}`, data, {
          timeoutMs: Math.max(1, Math.ceil(deadline - performance.now())),
        });
        break;
      } catch (err) {
        if (!(err instanceof NoRespondersError)) throw err;
        if (waitForManager && performance.now() + NO_MANAGER_RETRY_MS < deadline) {
          await new Promise((resolve) => setTimeout(resolve, NO_MANAGER_RETRY_MS));
          continue;
        }
        throw new NoRespondersError(`no application manager answers on lattice ${lattice}`, {
          hint: 'start a host with cirrus up (without --no-app-manager) on this lattice, or check --lattice and --nats',
          cause: err,
        });
      }
    }
    const reply = answer.json<Record<string, unknown>>();
    const message = text(reply['message']);
    if (reply['result'] === 'notfound') {
      throw new AppNotFoundError(message, { hint: 'cirrus app list shows the applications of this lattice' });
    }
    if (reply['result'] === 'error') {
      throw new AppRequestFailedError(
        `the application manager refused ${op.split('.').slice(0, 2).join('.')}: ${message}`,
      );
    }
    return reply;
  };
  const named = (op: string, name: string): string => {
    if (!isValidToken(name)) {
      throw new InvalidArgumentError(`${JSON.stringify(name)} is not an application name`, {
        hint: 'application names hold letters, digits, "-" and "_"',
      });
    }
    return `${op}.${name}`;
  };
  const versioned = (version: string | undefined): object | undefined =>
    version === undefined ? undefined : { version };
  return {
    put: async (manifest) => (await call('model.put', manifest)) as unknown as WadmPutReply,
    list: async () => ((await call('model.get'))['models'] ?? []) as WadmModelSummary[],
    get: async (name, version) =>
      (await call(named('model.get', name), versioned(version)))['manifest'] as Record<string, unknown>,
    versions: async (name) =>
      ((await call(named('model.versions', name)))['versions'] ?? []) as {
        version: string;
        deployed: boolean;
      }[],
    deploy: async (name, version) => {
      const reply = await call(named('model.deploy', name), versioned(version));
      return {
        message: text(reply['message']),
        ...(typeof reply['version'] === 'string' ? { version: reply['version'] } : {}),
      };
    },
    undeploy: async (name) => ({
      message: text((await call(named('model.undeploy', name), {}))['message']),
    }),
    status: async (name) => (await call(named('model.status', name)))['status'] as WadmStatus,
    delete: async (name, version) =>
      (await call(named('model.del', name), versioned(version))) as unknown as {
        result: 'deleted' | 'noop';
        message: string;
        undeploy: boolean;
      },
  };
}
