/**
 * The built-in HTTP client provider: serves `wasi:http/outgoing-handler` to the components linked to
 * it. A component reaches only the hosts its link allows (`allowed_hosts` in the link's target
 * config); without that key it reaches nothing. The instance hands over a complete request and gets
 * back the complete response, bounded in size and time by the host's limits.
 *
 * Components on other hosts reach the provider over wRPC (`wrpc:http/outgoing-handler@0.1.0`, served
 * here under the provider id): the request is made here, with the same link allow-list and limits.
 *
 * The allow-list is also what keeps a component away from the host's own endpoints (the HTTP
 * server's listeners, a local lattice endpoint, cloud metadata addresses): they are reachable only
 * when a link names them.
 */
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { HttpClientDeniedError, InvalidArgumentError } from '@cirrus/protocol';
import type { Limits, Logger } from '@cirrus/protocol';
import { httpRequestFailed, serveHttpHandle } from '@cirrus/lattice';
import type { HttpHandler, Subscription } from '@cirrus/lattice';
import type { HttpClientRequest, HttpClientResult, HttpErrorCode } from '@cirrus/runtime';
import { providerServeOptions } from '@cirrus/provider-core';
import type {
  BuiltinProvider,
  CallSource,
  CapabilityProvider,
  ExportHandlers,
  ImportSource,
  ProviderContext,
  ResolvedLink,
} from '@cirrus/provider-core';
import { collectBody, flatFields, OUTGOING_HANDLER } from './wire.ts';

/** Link config key: comma-separated hosts a component may reach. */
const ALLOWED_HOSTS_KEY = 'allowed_hosts';

/** One entry of an allow-list: any host, a host, or every subdomain of a domain; any port or one. */
export interface HostPattern {
  /** Canonical host name or IP literal (IPv6 in brackets); for a wildcard, the domain under it. */
  host: string;
  kind: 'any' | 'exact' | 'subdomains';
  port: number | undefined;
}

const ENTRY = /^(\*|\*\.[^:[\]]+|\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/;

/** Lower case, IDN to punycode, IPv4 in dotted decimal, as the URL parser writes a host. */
function canonicalHost(host: string): string | undefined {
  if (/[/?#@\\\s%*]/.test(host)) return undefined;
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return undefined;
  }
}

function parseEntry(entry: string): HostPattern {
  const match = ENTRY.exec(entry.toLowerCase());
  const invalid = (): InvalidArgumentError =>
    new InvalidArgumentError(`${ALLOWED_HOSTS_KEY} entry ${JSON.stringify(entry)} is not a host`, {
      hint: 'write host, host:port, [ipv6]:port, *.domain or *, separated by commas',
    });
  if (match === null) throw invalid();
  const [, name = '', portText] = match;
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && (port < 1 || port > 65_535)) throw invalid();
  if (name === '*') return { host: '', kind: 'any', port };
  const wildcard = name.startsWith('*.');
  const host = canonicalHost(wildcard ? name.slice(2) : name);
  if (host === undefined || host === '') throw invalid();
  return { host, kind: wildcard ? 'subdomains' : 'exact', port };
}

/** The allow-list of a link's `allowed_hosts`; empty (nothing allowed) when it is missing or blank. */
export function parseAllowedHosts(value: string | undefined): HostPattern[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map(parseEntry);
}

/** Whether `host` (canonical, as the URL parser writes it) on `port` matches an entry. */
export function hostAllowed(patterns: readonly HostPattern[], host: string, port: number): boolean {
  return patterns.some((p) => {
    if (p.port !== undefined && p.port !== port) return false;
    if (p.kind === 'any') return true;
    if (p.kind === 'exact') return host === p.host;
    return host.endsWith(`.${p.host}`);
  });
}

/** Where a request goes, from the guest's scheme and authority. */
interface Destination {
  tls: boolean;
  /** As in the allow-list: canonical, IPv6 in brackets. */
  host: string;
  port: number;
  /** What the `host` header says: the host, and the port unless it is the scheme's default. */
  authority: string;
}

function destination(request: HttpClientRequest): Destination | HttpErrorCode {
  // wasi:http leaves a missing scheme to the host; HTTPS is the safe guess.
  const scheme = (request.scheme ?? 'https').toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return { tag: 'HTTP-request-URI-invalid' };
  const authority = request.authority ?? '';
  // Credentials in the authority are refused rather than turned into a header the guest did not write.
  if (authority === '' || /[/?#@\\\s]/.test(authority)) return { tag: 'HTTP-request-URI-invalid' };
  let url: URL;
  try {
    url = new URL(`${scheme}://${authority}`);
  } catch {
    return { tag: 'HTTP-request-URI-invalid' };
  }
  const tls = scheme === 'https';
  const port = url.port === '' ? (tls ? 443 : 80) : Number(url.port);
  return { tls, host: url.hostname, port, authority: url.host };
}

/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1): they must not be
 * forwarded in either direction. `host` and `content-length` are set from the request itself.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Raw `[name, value, …]` headers without hop-by-hop ones, nor those the `connection` header names. */
function endToEnd(raw: readonly string[], drop: ReadonlySet<string> = new Set()): string[] {
  const named = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== 'connection') continue;
    for (const token of (raw[i + 1] as string).split(',')) named.add(token.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(name) || named.has(name) || drop.has(name)) continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

const SET_BY_CLIENT = new Set(['host', 'content-length']);
/** Methods Node sends without a body unless told a length; the others get `content-length: 0`. */
const BODILESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE']);

const NAME_ERRORS = new Set(['ENOTFOUND', 'EAI_NONAME', 'EAI_NODATA', 'EAI_AGAIN', 'EAI_FAIL']);
const CERTIFICATE_ERRORS = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT|ERR_TLS_CERT)/;

/** A socket or protocol failure as the wasi:http error-code that names it. */
function errorCode(err: unknown): HttpErrorCode {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code !== 'string') return { tag: 'internal-error', val: message };
  if (NAME_ERRORS.has(code)) return { tag: 'DNS-error', val: { rcode: code, infoCode: undefined } };
  switch (code) {
    case 'ECONNREFUSED':
      return { tag: 'connection-refused' };
    case 'ECONNRESET':
    case 'EPIPE':
      return { tag: 'connection-terminated' };
    case 'ETIMEDOUT':
      return { tag: 'connection-timeout' };
    case 'EHOSTUNREACH':
    case 'EHOSTDOWN':
      return { tag: 'destination-unavailable' };
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return { tag: 'destination-IP-unroutable' };
    case 'HPE_HEADER_OVERFLOW':
      return { tag: 'HTTP-response-header-section-size', val: undefined };
    case 'EPROTO':
      return { tag: 'TLS-protocol-error' };
  }
  if (CERTIFICATE_ERRORS.test(code)) return { tag: 'TLS-certificate-error' };
  if (code.startsWith('ERR_SSL_')) return { tag: 'TLS-protocol-error' };
  if (code.startsWith('HPE_')) return { tag: 'HTTP-protocol-error' };
  return { tag: 'internal-error', val: `${code}: ${message}` };
}

/** The guest's timeout if it asked for a shorter one than the limit. */
function capped(requested: number | undefined, limit: number): number {
  return requested === undefined ? limit : Math.max(1, Math.min(requested, limit));
}

interface Exchange {
  destination: Destination;
  method: string;
  path: string;
  headers: string[];
  body: Uint8Array;
  connectMs: number;
  firstByteMs: number;
  betweenBytesMs: number;
  /** The whole exchange: the calling instance stops waiting at its invocation deadline anyway. */
  totalMs: number;
  maxResponseBytes: number;
}

/**
 * One request on Node's HTTP client with wasi:http's three timeouts: connecting (TCP and TLS), the
 * response head once connected, and each pause in the body. Redirects are not followed: the guest
 * sees the 3xx and decides, and a hop to another host could not slip past the allow-list.
 */
function perform(
  exchange: Exchange,
  agents: { http: http.Agent; https: https.Agent },
): Promise<HttpClientResult> {
  const { destination: to } = exchange;
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let request: http.ClientRequest | undefined;
    const deadline = setTimeout(() => fail({ tag: 'HTTP-response-timeout' }), exchange.totalMs);
    const settle = (result: HttpClientResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(deadline);
      resolve(result);
    };
    const fail = (code: HttpErrorCode): void => {
      if (settled) return;
      settle({ tag: 'err', val: code });
      request?.destroy();
    };
    const arm = (ms: number, code: HttpErrorCode): void => {
      clearTimeout(timer);
      if (!settled) timer = setTimeout(() => fail(code), ms);
    };
    const onResponse = (response: IncomingMessage): void => {
      // These responses have no body, whatever length they declare.
      const bodiless =
        exchange.method === 'HEAD' || response.statusCode === 204 || response.statusCode === 304;
      const declared = Number(response.headers['content-length']);
      if (!bodiless && declared > exchange.maxResponseBytes) {
        fail({ tag: 'HTTP-response-body-size', val: BigInt(declared) });
        return;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      arm(exchange.betweenBytesMs, { tag: 'connection-read-timeout' });
      response.on('data', (chunk: Buffer) => {
        if (settled) return;
        total += chunk.byteLength;
        if (total > exchange.maxResponseBytes) {
          fail({ tag: 'HTTP-response-body-size', val: undefined });
          return;
        }
        chunks.push(chunk);
        arm(exchange.betweenBytesMs, { tag: 'connection-read-timeout' });
      });
      response.on('end', () => {
        // A fresh buffer: Node's small chunks share a pool with other connections' bytes, and a
        // typed array crosses to the instance with its whole backing buffer.
        const body = new Uint8Array(total);
        let offset = 0;
        for (const chunk of chunks) {
          body.set(chunk, offset);
          offset += chunk.byteLength;
        }
        settle({
          tag: 'ok',
          val: { status: response.statusCode ?? 502, headers: endToEnd(response.rawHeaders), body },
        });
      });
      response.on('error', () => fail({ tag: 'HTTP-response-incomplete' }));
      response.on('close', () => {
        if (!response.complete) fail({ tag: 'HTTP-response-incomplete' });
      });
    };
    // Node adds no `host` header of its own when the headers come as a raw list.
    const headers = ['host', to.authority, ...exchange.headers];
    if (exchange.body.byteLength > 0 || !BODILESS.has(exchange.method)) {
      headers.push('content-length', String(exchange.body.byteLength));
    }
    try {
      request = (to.tls ? https : http).request({
        host: to.host.replace(/^\[(.*)\]$/, '$1'),
        port: to.port,
        method: exchange.method,
        path: exchange.path,
        headers,
        agent: to.tls ? agents.https : agents.http,
      });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      settle({
        tag: 'err',
        val: code === 'ERR_UNESCAPED_CHARACTERS' ? { tag: 'HTTP-request-URI-invalid' } : errorCode(err),
      });
      return;
    }
    arm(exchange.connectMs, { tag: 'connection-timeout' });
    request.on('socket', (socket: Socket) => {
      const connected = (): void => arm(exchange.firstByteMs, { tag: 'connection-read-timeout' });
      if (socket.connecting) socket.once(to.tls ? 'secureConnect' : 'connect', connected);
      else connected();
    });
    request.on('response', onResponse);
    request.on('error', (err) => fail(errorCode(err)));
    request.end(exchange.body);
  });
}

/** Denials logged per link and host, so a component retrying in a loop does not flood the log. */
const MAX_REPORTED_DENIALS = 1024;

class HttpClientProvider implements CapabilityProvider {
  readonly #providerId: string;
  readonly #logger: Logger;
  readonly #limits: Limits;
  /** Allow-list of each link to this provider, by `source|link name`. */
  readonly #links = new Map<string, HostPattern[]>();
  readonly #reported = new Set<string>();
  readonly #agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };
  /** Components on other hosts reach this provider over wRPC. */
  readonly #served: Subscription;

  constructor(context: ProviderContext) {
    this.#providerId = context.providerId;
    this.#logger = context.logger;
    this.#limits = context.limits;
    this.#served = serveHttpHandle(context.connection, {
      ...providerServeOptions(context),
      handlerInterface: 'outgoing-handler',
      handler: this.#serveRemote,
    });
  }

  /** A request from a component on another host, made as one from a component here. */
  readonly #serveRemote: HttpHandler = async (request, caller) => {
    const body = await collectBody(request.body, this.#limits.httpClientMaxRequestBodyBytes);
    if (body === undefined) throw httpRequestFailed({ tag: 'HTTP-request-body-size', val: undefined });
    const result = await this.#send(
      {
        method: request.method,
        scheme: request.scheme,
        authority: request.authority,
        pathWithQuery: request.pathWithQuery,
        headers: flatFields(request.headers),
        body,
        connectTimeoutMs: caller.requestOptions?.connectTimeoutMs,
        firstByteTimeoutMs: caller.requestOptions?.firstByteTimeoutMs,
        betweenBytesTimeoutMs: caller.requestOptions?.betweenBytesTimeoutMs,
      },
      caller,
    );
    if (result.tag === 'err') throw httpRequestFailed(result.val);
    return { status: result.val.status, headers: result.val.headers, body: result.val.body };
  };

  async receiveLinkAsTarget(link: ResolvedLink): Promise<void> {
    const key = `${link.source_id}|${link.name}`;
    this.#forgetDenials(key);
    // A malformed new allow-list must not leave the previous one in force.
    this.#links.delete(key);
    this.#links.set(key, parseAllowedHosts(link.target_config[ALLOWED_HOSTS_KEY]));
  }

  async deleteLinkAsTarget(link: ResolvedLink): Promise<void> {
    const key = `${link.source_id}|${link.name}`;
    this.#links.delete(key);
    this.#forgetDenials(key);
  }

  readonly exports: ExportHandlers<ImportSource> = {
    [OUTGOING_HANDLER]: {
      handle: (source: ImportSource, request: HttpClientRequest) => this.#send(request, source),
    },
  };

  async #send(request: HttpClientRequest, source: CallSource): Promise<HttpClientResult> {
    const err = (val: HttpErrorCode): HttpClientResult => ({ tag: 'err', val });
    const to = destination(request);
    if (!('host' in to)) return err(to);
    const key = `${source.sourceId}|${source.linkName}`;
    if (!hostAllowed(this.#links.get(key) ?? [], to.host, to.port)) {
      this.#reportDenial(key, source, to);
      return err({ tag: 'HTTP-request-denied' });
    }
    if (request.method.toUpperCase() === 'CONNECT') return err({ tag: 'HTTP-request-method-invalid' });
    const path = request.pathWithQuery ?? '/';
    if (!path.startsWith('/') && !(path === '*' && request.method === 'OPTIONS')) {
      return err({ tag: 'HTTP-request-URI-invalid' });
    }
    const limits = this.#limits;
    if (request.body.byteLength > limits.httpClientMaxRequestBodyBytes) {
      return err({ tag: 'HTTP-request-body-size', val: BigInt(request.body.byteLength) });
    }
    return perform(
      {
        destination: to,
        method: request.method,
        path,
        headers: endToEnd(request.headers, SET_BY_CLIENT),
        body: request.body,
        connectMs: capped(request.connectTimeoutMs, limits.httpClientConnectTimeoutMs),
        firstByteMs: capped(request.firstByteTimeoutMs, limits.httpClientFirstByteTimeoutMs),
        betweenBytesMs: capped(request.betweenBytesTimeoutMs, limits.httpClientBetweenBytesTimeoutMs),
        totalMs: limits.invocationTimeoutMs,
        maxResponseBytes: limits.httpClientMaxResponseBodyBytes,
      },
      this.#agents,
    );
  }

  #reportDenial(key: string, source: CallSource, to: Destination): void {
    const target = `${to.host}:${to.port}`;
    const reported = `${key}|${target}`;
    if (this.#reported.has(reported)) return;
    if (this.#reported.size >= MAX_REPORTED_DENIALS) this.#reported.clear();
    this.#reported.add(reported);
    const why = this.#links.has(key)
      ? `not in the ${ALLOWED_HOSTS_KEY} of its link to ${this.#providerId}`
      : `${this.#providerId} has not received its link`;
    const denied = new HttpClientDeniedError(`${source.sourceId} may not reach ${target}: ${why}`, {
      hint: `add ${to.host} (or ${target}) to ${ALLOWED_HOSTS_KEY} in the link's target config and put the link again`,
    });
    this.#logger.warn(denied.message, {
      code: denied.code,
      component: source.sourceId,
      link: source.linkName,
      hint: denied.hint,
    });
  }

  #forgetDenials(key: string): void {
    for (const reported of this.#reported) {
      if (reported.startsWith(`${key}|`)) this.#reported.delete(reported);
    }
  }

  async shutdown(): Promise<void> {
    this.#served.unsubscribe();
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }
}

export const httpClientProvider: BuiltinProvider = {
  name: 'HTTP Client',
  async start(context) {
    return new HttpClientProvider(context);
  },
};
