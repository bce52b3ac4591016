/**
 * The dashboard's HTTP server, on loopback only: the page and its assets, the JSON API over the
 * lattice, the live event stream, and the actions. Every response forbids framing, sniffing and any
 * script but the page's own; every API call needs a session (auth.ts).
 */
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createWadmClient } from '@cirrus/apps';
import { createControlClient } from '@cirrus/control-client';
import type { LatticeConnection } from '@cirrus/lattice';
import {
  AddressInUseError,
  DashboardBusyError,
  DashboardForbiddenError,
  DashboardNotFoundError,
  DEFAULT_LIMITS,
  InvalidAddressError,
  InvalidArgumentError,
  PayloadTooLargeError,
  silentLogger,
  toErrorJSON,
} from '@cirrus/protocol';
import type { ErrorJSON, Limits, Logger } from '@cirrus/protocol';
import { parseAction, runAction } from './actions.ts';
import type { ActionContext } from './actions.ts';
import type { ApiError, ConfigValues, DashboardEvent, SessionInfo } from './api-types.ts';
import { checkFromOrigin, checkSameOrigin, Sessions } from './auth.ts';
import { LatticeView } from './lattice-view.ts';
import { MetricsWatch } from './metrics-watch.ts';

export interface DashboardOptions {
  connection: LatticeConnection;
  lattice: string;
  /** Loopback only (default 127.0.0.1:4000; port 0 picks a free one). */
  host?: string;
  port?: number;
  /** The access token; a random one when left out. */
  token?: string;
  /** The control topic prefix of the lattice's hosts (default wasmbus.ctl). */
  topicPrefix?: string;
  limits?: Limits;
  logger?: Logger;
  now?: () => number;
  /** Where the built page is (default: the package's dist/). */
  assetsDir?: string;
  /** Pages served under paths of their own on the dashboard's address (the browser host's `/host`). */
  mounts?: readonly DashboardMount[];
}

/** What a mounted page learns of a request besides the request itself. */
export interface MountAccess {
  /** The request carries a dashboard session or its bearer token. */
  signedIn: boolean;
  /** The dashboard's origin (`http://127.0.0.1:4000`). */
  origin: string;
  /** DASHBOARD_FORBIDDEN unless a page of this origin sent the request; `what` names who may. */
  checkFromOrigin(what: string): void;
}

/**
 * A page served under `prefix` (`/host` answers `/host` and `/host/…`): it answers its own requests,
 * and its websocket upgrades if it takes any. The dashboard has already refused a foreign Host header,
 * and answers an error a request throws as it answers its own API's.
 */
export interface DashboardMount {
  prefix: string;
  request(req: IncomingMessage, res: ServerResponse, url: URL, access: MountAccess): Promise<void>;
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer, access: MountAccess): void;
}

export interface Dashboard {
  /** What to open: the page, with the token that starts a session. */
  readonly url: string;
  readonly origin: string;
  readonly token: string;
  close(): Promise<void>;
}

export const DEFAULT_DASHBOARD_PORT = 4000;
const STALE_AFTER_MS = 90_000;
/** How long a snapshot waits for the application manager's list before showing it unavailable. */
const SNAPSHOT_APPS_TIMEOUT_MS = 500;
const KEEPALIVE_MS = 15_000;
/** Charts move within the 2 s the page promises, and cover the last minute. */
const METRICS_INTERVAL_MS = 2_000;
const METRICS_WINDOW = 30;

/** The page's own script and style, nothing inline, nothing from elsewhere. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
};

const STATUS_BY_CODE: Record<string, number> = {
  DASHBOARD_UNAUTHORIZED: 401,
  DASHBOARD_FORBIDDEN: 403,
  DASHBOARD_NOT_FOUND: 404,
  DASHBOARD_BUSY: 503,
  INVALID_ARGUMENT: 400,
  NKEY_MALFORMED: 400,
  NKEY_WRONG_TYPE: 400,
  NOT_WASM: 400,
  NOT_A_COMPONENT: 400,
  MALFORMED_COMPONENT: 400,
  ARTIFACT_TOO_LARGE: 413,
  INVALID_ID: 400,
  MANIFEST_PARSE_ERROR: 400,
  MANIFEST_INVALID: 400,
  PAYLOAD_TOO_LARGE: 413,
  HOST_NOT_FOUND: 404,
  APP_NOT_FOUND: 404,
  LINK_NOT_FOUND: 404,
  CONFIG_NOT_FOUND: 404,
  NO_RESPONDERS: 504,
  REQUEST_TIMEOUT: 504,
};

function isLoopback(host: string): boolean {
  return host === 'localhost' || (isIP(host) !== 0 && (host === '::1' || host.startsWith('127.')));
}

/** The files of the built page, by the name they are served under. */
async function loadAssets(dir: string): Promise<Map<string, { type: string; body: Buffer }>> {
  const assets = new Map<string, { type: string; body: Buffer }>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return assets;
  }
  for (const name of names) {
    const type = CONTENT_TYPES[extname(name)];
    if (type !== undefined) assets.set(name, { type, body: await readFile(join(dir, name)) });
  }
  return assets;
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) {
    throw new InvalidAddressError(`the dashboard only listens on loopback, not on ${host}`, {
      hint:
        'it serves plain HTTP with a bearer token: keep it on 127.0.0.1 and reach it from elsewhere ' +
        'through an SSH tunnel (ssh -L 4000:127.0.0.1:4000 host) or a proxy that terminates TLS',
    });
  }
  const limits = options.limits ?? DEFAULT_LIMITS;
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const control = createControlClient({
    connection: options.connection,
    lattice: options.lattice,
    timeoutMs: limits.controlRequestTimeoutMs,
    scatterMs: limits.controlScatterWindowMs,
    waitTimeoutMs: limits.controlWaitTimeoutMs,
    ...(options.topicPrefix === undefined ? {} : { topicPrefix: options.topicPrefix }),
  });
  const wadm = createWadmClient(options.connection, options.lattice, limits.controlRequestTimeoutMs);
  const assets = await loadAssets(options.assetsDir ?? fileURLToPath(new URL('../dist/', import.meta.url)));
  const view = new LatticeView({
    lattice: options.lattice,
    control,
    wadm: createWadmClient(options.connection, options.lattice, SNAPSHOT_APPS_TIMEOUT_MS),
    wadmOnce: createWadmClient(options.connection, options.lattice, SNAPSHOT_APPS_TIMEOUT_MS, {
      waitForManager: false,
    }),
    staleAfterMs: STALE_AFTER_MS,
    now,
    logger,
  });
  const metrics = new MetricsWatch({
    control,
    hosts: () => view.recentHosts(),
    intervalMs: METRICS_INTERVAL_MS,
    window: METRICS_WINDOW,
    now,
  });
  const context: ActionContext = { control, wadm, limits };
  const streams = new Set<ServerResponse>();

  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_DASHBOARD_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await view.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new AddressInUseError(`${host}:${options.port ?? DEFAULT_DASHBOARD_PORT} is already in use`, {
        hint: 'another program (or another cirrus up) serves there: pick another port, or port 0 for any free one',
        cause: err,
      });
    }
    throw err;
  });
  const { port } = server.address() as AddressInfo;
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const origin = `http://${authority}`;
  const sessions = new Sessions({
    ...(options.token === undefined ? {} : { token: options.token }),
    cookieName: `cirrus_dashboard_${port}`,
    ttlMs: limits.dashboardSessionTtlMs,
    max: limits.dashboardSessionsMax,
    now,
  });
  const allowedHosts = new Set([authority, `localhost:${port}`]);

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  const sendJson = (res: ServerResponse, status: number, value: unknown): void =>
    send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
  const sendError = (res: ServerResponse, err: unknown): void => {
    const json: ErrorJSON = toErrorJSON(err, 'CONTROL_REQUEST_FAILED');
    const body: ApiError = { error: json };
    sendJson(res, STATUS_BY_CODE[json.code] ?? 502, body);
  };

  const readBody = async (req: IncomingMessage): Promise<unknown> => {
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      throw new InvalidArgumentError(
        `an action must be sent as application/json, not ${JSON.stringify(type)}`,
        {
          hint: 'set Content-Type: application/json',
        },
      );
    }
    const max = limits.dashboardRequestMaxBytes;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      if (size > max) {
        throw new PayloadTooLargeError(`the action is larger than ${max} bytes`, {
          hint: 'raise dashboardRequestMaxBytes (CIRRUS_LIMIT_DASHBOARD_REQUEST_MAX_BYTES) for larger manifests',
        });
      }
      chunks.push(chunk);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    } catch (err) {
      throw new InvalidArgumentError(`the action is not JSON: ${(err as Error).message}`, {
        hint: 'send one JSON object',
      });
    }
  };

  const openStream = (req: IncomingMessage, res: ServerResponse): void => {
    if (streams.size >= limits.dashboardEventStreamsMax) {
      throw new DashboardBusyError(`${streams.size} event streams are open already`, {
        hint: 'close other dashboard tabs, or raise dashboardEventStreamsMax',
      });
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.write('retry: 2000\n\n');
    streams.add(res);
    const send = (message: DashboardEvent): void => void res.write(`data: ${JSON.stringify(message)}\n\n`);
    const stopEvents = view.listen((event) => send({ event }));
    const stopMetrics = metrics.listen((report) => send({ metrics: report }));
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEPALIVE_MS);
    const end = (): void => {
      clearInterval(keepAlive);
      stopEvents();
      stopMetrics();
      streams.delete(res);
    };
    req.once('close', end);
    res.once('close', end);
  };

  const api = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const who = sessions.authenticate(req);
    const route = `${req.method ?? ''} ${url.pathname}`;
    switch (route) {
      case 'GET /api/session': {
        const info: SessionInfo = {
          lattice: options.lattice,
          csrf: 'session' in who ? who.session.csrf : '',
        };
        sendJson(res, 200, info);
        return;
      }
      case 'GET /api/lattice':
        sendJson(res, 200, await view.snapshot());
        return;
      case 'GET /api/config': {
        const name = url.searchParams.get('name');
        if (name === null || name === '') {
          throw new InvalidArgumentError('which config? ?name= is missing', {
            hint: 'GET /api/config?name=NAME',
          });
        }
        const values = await control.getConfig(name);
        const body: ConfigValues = { name, ...(values === undefined ? {} : { values }) };
        sendJson(res, 200, body);
        return;
      }
      case 'GET /api/events':
        openStream(req, res);
        return;
      case 'POST /api/actions': {
        if ('session' in who) checkSameOrigin(req, who.session, origin);
        const action = parseAction(await readBody(req));
        const result = await runAction(action, context);
        logger.info('dashboard action', { kind: action.kind, message: result.message });
        sendJson(res, 200, result);
        return;
      }
      default:
        throw new DashboardNotFoundError(`no ${route} in the dashboard API`, {
          hint: 'the API: GET /api/session, /api/lattice, /api/config?name=, /api/events; POST /api/actions',
        });
    }
  };

  const signedIn = (req: IncomingMessage): boolean => {
    try {
      sessions.authenticate(req);
      return true;
    } catch {
      return false;
    }
  };
  const accessOf = (req: IncomingMessage): MountAccess => ({
    signedIn: signedIn(req),
    origin,
    checkFromOrigin: (what) => checkFromOrigin(req, origin, what),
  });
  const mountOf = (url: URL): DashboardMount | undefined =>
    options.mounts?.find((m) => url.pathname === m.prefix || url.pathname.startsWith(`${m.prefix}/`));

  const page = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    const token = url.searchParams.get('token');
    if (url.pathname === '/' && token !== null) {
      if (!sessions.tokenMatches(token)) {
        send(
          res,
          401,
          'text/plain; charset=utf-8',
          'DASHBOARD_UNAUTHORIZED: this is not the dashboard’s token\n',
        );
        return;
      }
      const session = sessions.open();
      // `next` may name a mounted page of this origin (`/host?nats=…`), nothing else.
      const next = new URL(url.searchParams.get('next') ?? '/', origin);
      const location =
        next.origin === origin && mountOf(next) !== undefined ? `${next.pathname}${next.search}` : '/';
      // 303 to the bare page: the token leaves the address bar and the history.
      res.writeHead(303, {
        ...SECURITY_HEADERS,
        'set-cookie': sessions.cookie(session),
        location,
        'cache-control': 'no-store',
      });
      res.end();
      return;
    }
    const name = url.pathname === '/' ? 'index.html' : url.pathname.slice('/assets/'.length);
    const asset = url.pathname === '/' || url.pathname.startsWith('/assets/') ? assets.get(name) : undefined;
    if (req.method !== 'GET' || asset === undefined) {
      const missing =
        url.pathname === '/'
          ? 'the dashboard page is not built (npm run build -w packages/dashboard)'
          : `no ${url.pathname} here`;
      send(res, 404, 'text/plain; charset=utf-8', `DASHBOARD_NOT_FOUND: ${missing}\n`);
      return;
    }
    send(res, 200, asset.type, asset.body);
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    let url: URL | undefined;
    try {
      url = new URL(req.url ?? '/', origin);
    } catch {
      // Not a URL: refused below.
    }
    const mount = url === undefined ? undefined : mountOf(url);
    if (!allowedHosts.has(req.headers.host ?? '') || mount?.upgrade === undefined) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    mount.upgrade(req, socket, head, accessOf(req));
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const hostHeader = req.headers.host ?? '';
    // A page on another name that resolves here (DNS rebinding) is not this dashboard's origin.
    if (!allowedHosts.has(hostHeader)) {
      sendError(
        res,
        new DashboardForbiddenError(`requests for host ${JSON.stringify(hostHeader)} are refused`, {
          hint: `open ${origin}/`,
        }),
      );
      return;
    }
    let url: URL;
    try {
      // The request target is whatever the client sent: an absolute form may not parse.
      url = new URL(req.url ?? '/', origin);
    } catch {
      sendError(
        res,
        new InvalidArgumentError('the request target is not a URL', { hint: `open ${origin}/` }),
      );
      return;
    }
    const mount = mountOf(url);
    if (mount !== undefined) {
      mount.request(req, res, url, accessOf(req)).catch((err: unknown) => {
        if (res.headersSent) res.destroy();
        else sendError(res, err);
      });
      return;
    }
    if (!url.pathname.startsWith('/api/')) {
      page(req, res, url);
      return;
    }
    api(req, res, url).catch((err: unknown) => {
      if (res.headersSent) res.destroy();
      else sendError(res, err);
    });
  });

  return {
    url: `${origin}/?token=${sessions.token}`,
    origin,
    token: sessions.token,
    async close() {
      for (const res of streams) res.end();
      await view.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
