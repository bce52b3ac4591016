/**
 * What a Node host serves for browser hosts, under `/host` on its dashboard's address: the page and
 * its scripts, the bootstrap the page starts from, a transpiler (a tab sends a component's bytes and
 * gets jco's bindings back), and, for a signed-in dashboard session, the host's embedded lattice
 * over websocket.
 *
 * The page must be cross-origin isolated: instances block on shared memory while the host answers
 * their imports, and SharedArrayBuffer needs COOP and COEP. So every response here carries both,
 * and components must come from servers that allow the page's origin (CORS).
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  ArtifactTooLargeError,
  DashboardNotFoundError,
  DashboardUnauthorizedError,
  InvalidArgumentError,
  PayloadTooLargeError,
} from '@cirrus/protocol';
import type { Limits, Logger } from '@cirrus/protocol';
import type { BrowserTranspiler } from '@cirrus/runtime';
import { TRANSPILED_MEDIA_TYPE } from '@cirrus/runtime';
import { BOOTSTRAP_PATH, CREDENTIAL_PATH, LATTICE_SOCKET_PATH, TRANSPILE_PATH } from './bootstrap.ts';
import type { BrowserHostBootstrap } from './bootstrap.ts';

export const BROWSER_HOST_PREFIX = '/host';
/** A credential request is a host id: anything much larger is not one. */
const JSON_MAX_BYTES = 4096;

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

/**
 * Instances import their bindings from blob: URLs and compile WebAssembly; the page talks to NATS
 * servers anywhere (ws:, wss:) and fetches components from anywhere (http:, https:).
 */
const HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self' blob: 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; " +
    "img-src 'self' data:; connect-src 'self' ws: wss: http: https:; base-uri 'none'; form-action 'none'; " +
    "frame-ancestors 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const ASSETS: Record<string, { file: string; type: string }> = {
  [BROWSER_HOST_PREFIX]: { file: 'index.html', type: 'text/html; charset=utf-8' },
  [`${BROWSER_HOST_PREFIX}/app.js`]: { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  [`${BROWSER_HOST_PREFIX}/worker.js`]: { file: 'worker.js', type: 'text/javascript; charset=utf-8' },
  [`${BROWSER_HOST_PREFIX}/app.css`]: { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/** The part of a request the dashboard tells a mounted page (see @cirrus/dashboard's MountAccess). */
export interface PageAccess {
  signedIn: boolean;
  origin: string;
  checkFromOrigin(what: string): void;
}

export interface BrowserHostServing {
  /** The lattice of the serving host. */
  lattice: string;
  transpiler: BrowserTranspiler;
  /** The serving host's limits: tabs run with them, and componentMaxBytes bounds an upload. */
  limits: Limits;
  requireSigned?: boolean;
  allowedIssuers?: readonly string[];
  /**
   * The serving host's signed invocations: tabs require them when it does, and, when it can issue
   * credentials (it holds a cluster seed), a signed-in session's tab gets one for its own key.
   */
  signedInvocations?: {
    require: boolean;
    clusterIssuers: readonly string[];
    issue?: (hostId: string) => string;
  };
  /** The serving host's embedded lattice, when it runs one: tabs of a signed-in session join it. */
  embedded?: {
    token: string;
    acceptWebSocket(request: IncomingMessage, socket: Duplex, head: Uint8Array): void;
  };
  logger: Logger;
  /** Where the built page is (default: the package's dist/). */
  assetsDir?: string;
}

/** The pages at `/host`, in the shape @cirrus/dashboard mounts. */
export interface BrowserHostPages {
  prefix: string;
  request(req: IncomingMessage, res: ServerResponse, url: URL, access: PageAccess): Promise<void>;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, access: PageAccess): void;
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  res.writeHead(status, { ...HEADERS, 'content-type': type });
  res.end(body);
}

async function readLimited(req: IncomingMessage, max: number, tooLarge: () => Error): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > max) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A small JSON request body (a host id). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const bytes = await readLimited(
    req,
    JSON_MAX_BYTES,
    () => new PayloadTooLargeError(`a request body here is at most ${JSON_MAX_BYTES} bytes`),
  );
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch {
    throw new InvalidArgumentError('the request body is not JSON', { hint: 'send {"hostId": "N…"}' });
  }
}

function componentTooLarge(max: number): ArtifactTooLargeError {
  return new ArtifactTooLargeError(`the component is larger than the ${max}-byte limit`, {
    hint: 'shrink the component, or raise componentMaxBytes on the serving host',
  });
}

export function browserHostPages(options: BrowserHostServing): BrowserHostPages {
  const dir = options.assetsDir ?? DIST;
  const { logger } = options;
  /** Each file read once; a file not there yet (a page not built) is looked for again next time. */
  const read = new Map<string, Promise<Buffer>>();
  const asset = (file: string): Promise<Buffer> => {
    let found = read.get(file);
    if (found === undefined) {
      found = readFile(join(dir, file));
      read.set(file, found);
      found.catch(() => read.delete(file));
    }
    return found;
  };

  const bootstrap = async (access: PageAccess): Promise<BrowserHostBootstrap> => ({
    lattice: options.lattice,
    limits: options.limits,
    transpiler: { endpoint: TRANSPILE_PATH, fingerprint: await options.transpiler.fingerprint() },
    workerUrl: `${BROWSER_HOST_PREFIX}/worker.js`,
    requireSigned: options.requireSigned ?? false,
    allowedIssuers: [...(options.allowedIssuers ?? [])],
    signedInvocations: {
      require: options.signedInvocations?.require ?? false,
      clusterIssuers: [...(options.signedInvocations?.clusterIssuers ?? [])],
      sign: options.signedInvocations?.issue !== undefined && access.signedIn,
    },
    ...(options.embedded !== undefined && access.signedIn
      ? {
          embedded: {
            url: `${access.origin.replace(/^http/, 'ws')}${LATTICE_SOCKET_PATH}`,
            token: options.embedded.token,
          },
        }
      : {}),
  });

  const handle = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    access: PageAccess,
  ): Promise<void> => {
    const route = `${req.method ?? ''} ${url.pathname}`;
    if (route === `GET ${BOOTSTRAP_PATH}`) {
      send(res, 200, 'application/json; charset=utf-8', JSON.stringify(await bootstrap(access)));
      return;
    }
    if (route === `POST ${TRANSPILE_PATH}`) {
      access.checkFromOrigin(`the page at ${BROWSER_HOST_PREFIX}`);
      const type = req.headers['content-type'] ?? '';
      if (!/^application\/wasm\s*(;|$)/i.test(type)) {
        throw new InvalidArgumentError(
          `a component is sent as application/wasm, not ${JSON.stringify(type)}`,
        );
      }
      const max = options.limits.componentMaxBytes;
      const bytes = await readLimited(req, max, () => componentTooLarge(max));
      const started = performance.now();
      const transpiled = await options.transpiler.transpile(bytes);
      logger.debug('component transpiled for a browser host', {
        bytes: bytes.byteLength,
        ms: Math.round(performance.now() - started),
      });
      send(res, 200, TRANSPILED_MEDIA_TYPE, transpiled);
      return;
    }
    if (route === `POST ${CREDENTIAL_PATH}`) {
      access.checkFromOrigin(`the page at ${BROWSER_HOST_PREFIX}`);
      const issue = options.signedInvocations?.issue;
      if (!access.signedIn || issue === undefined) {
        throw new DashboardUnauthorizedError(
          'credentials are issued to a dashboard session of a host that signs',
          {
            hint: 'sign in to the dashboard first; the serving host needs --sign-invocations with --cluster-seed',
          },
        );
      }
      const { hostId } = (await readJson(req)) as { hostId?: unknown };
      if (typeof hostId !== 'string') throw new InvalidArgumentError('which host? `hostId` is missing');
      const credential = issue(hostId);
      logger.info('host credential issued to a browser host', { host_id: hostId });
      send(res, 200, 'application/json; charset=utf-8', JSON.stringify({ credential }));
      return;
    }
    const file = ASSETS[url.pathname];
    if (req.method !== 'GET' || file === undefined) {
      throw new DashboardNotFoundError(`no ${route} here`, {
        hint: `open ${BROWSER_HOST_PREFIX}?nats=<websocket URL>&lattice=<name>`,
      });
    }
    let body: Buffer;
    try {
      body = await asset(file.file);
    } catch {
      throw new DashboardNotFoundError('the browser host page is not built', {
        hint: 'npm run build -w packages/browser-host',
      });
    }
    send(res, 200, file.type, body);
  };

  return {
    prefix: BROWSER_HOST_PREFIX,
    request: handle,
    upgrade(req, socket, head, access) {
      const path = new URL(req.url ?? '/', access.origin).pathname;
      const refusal =
        path !== LATTICE_SOCKET_PATH || options.embedded === undefined
          ? '404 DASHBOARD_NOT_FOUND'
          : !access.signedIn
            ? '401 DASHBOARD_UNAUTHORIZED'
            : undefined;
      if (refusal !== undefined) {
        socket.end(`HTTP/1.1 ${refusal}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
        return;
      }
      options.embedded?.acceptWebSocket(req, socket, head);
    },
  };
}
