import { InvalidAddressError, RouteConflictError } from '@cirrus/protocol';

/** Where a request goes: its authority, and its path with and without the query. */
export interface RequestTarget {
  authority: string;
  pathWithQuery: string;
  path: string;
}

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)([^#]*)/i;

/**
 * Reads a request target (RFC 9112 §3.2). In absolute-form (`GET http://x/y`, as sent to proxies)
 * the authority comes from the target and the Host header is ignored, as the RFC requires of an
 * origin server; routing and the component then see `/y` and `x` as if the client had sent
 * origin-form. Anything but origin-form or absolute-form (`*`, a bare word) is not a resource this
 * server has: undefined.
 */
export function requestTarget(
  url: string,
  hostHeader: string | undefined,
  fallbackAuthority: string,
): RequestTarget | undefined {
  if (url.startsWith('/')) {
    const query = url.indexOf('?');
    return {
      authority: hostHeader ?? fallbackAuthority,
      pathWithQuery: url,
      path: query === -1 ? url : url.slice(0, query),
    };
  }
  const absolute = ABSOLUTE_FORM.exec(url);
  if (absolute === null) return undefined;
  // User info is not part of an HTTP authority (RFC 9110 §4.2.4); what follows it names the host.
  const authority = (absolute[1] ?? '').replace(/^.*@/, '');
  const rest = absolute[2] ?? '';
  const pathWithQuery = rest.startsWith('/') ? rest : `/${rest}`;
  const query = pathWithQuery.indexOf('?');
  return {
    authority: authority === '' ? (hostHeader ?? fallbackAuthority) : authority,
    pathWithQuery,
    path: query === -1 ? pathWithQuery : pathWithQuery.slice(0, query),
  };
}

/**
 * Which component answers a request: routes on one listener are keyed by an optional Host name and a
 * path prefix. Several components can share a listener; the longest matching prefix wins, and a
 * route for a specific host beats a route for any host.
 */
export interface Route {
  /** Lower-case host name without port, or undefined for any host. */
  host: string | undefined;
  /** Normalised prefix: leading slash, no trailing slash except for the root. */
  path: string;
  componentId: string;
  /** Identifies the link that created the route. */
  key: string;
}

export function normalisePath(path: string | undefined): string {
  if (path === undefined || path === '' || path === '/') return '/';
  const withSlash = path.startsWith('/') ? path : `/${path}`;
  return withSlash.length > 1 && withSlash.endsWith('/') ? withSlash.replace(/\/+$/, '') || '/' : withSlash;
}

export function normaliseHost(host: string | undefined): string | undefined {
  if (host === undefined || host === '') return undefined;
  const lower = host.toLowerCase();
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    return end === -1 ? lower : lower.slice(0, end + 1);
  }
  const colon = lower.lastIndexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47);
}

export class RouteTable {
  readonly #routes: Route[] = [];

  get size(): number {
    return this.#routes.length;
  }

  /** Adds or replaces the route of `route.key`; ROUTE_CONFLICT if another link holds the same spot. */
  put(route: Route): void {
    const clash = this.#routes.find(
      (r) => r.key !== route.key && r.host === route.host && r.path === route.path,
    );
    if (clash !== undefined) {
      const where = `${route.host ?? '*'}${route.path}`;
      throw new RouteConflictError(`${where} is already routed to ${clash.componentId}`, {
        hint: 'give the link a different path or host in its config, or remove the other link',
      });
    }
    this.remove(route.key);
    this.#routes.push(route);
    this.#routes.sort(
      (a, b) => b.path.length - a.path.length || Number(b.host !== undefined) - Number(a.host !== undefined),
    );
  }

  remove(key: string): Route | undefined {
    const at = this.#routes.findIndex((r) => r.key === key);
    if (at === -1) return undefined;
    return this.#routes.splice(at, 1)[0];
  }

  /** `hostHeader` as sent (may carry a port); `path` without the query. */
  match(hostHeader: string | undefined, path: string): Route | undefined {
    const host = normaliseHost(hostHeader);
    return this.#routes.find((r) => (r.host === undefined || r.host === host) && prefixMatches(r.path, path));
  }
}

export interface ListenAddress {
  host: string;
  port: number;
  /** Canonical `host:port` (IPv6 in brackets). */
  key: string;
}

/** Parses `127.0.0.1:8000`, `[::1]:8080`, `localhost:80` or `:8000` (all interfaces). */
export function parseAddress(address: string): ListenAddress {
  const bad = (): never => {
    throw new InvalidAddressError(`${JSON.stringify(address)} is not a listen address`, {
      hint: 'use host:port, e.g. 127.0.0.1:8000, [::1]:8000 or 0.0.0.0:8080',
    });
  };
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(address.trim());
  if (match === null) return bad();
  const port = Number(match[3]);
  if (port > 65_535) return bad();
  const v6 = match[1];
  const host = v6 ?? (match[2] === '' || match[2] === undefined ? '0.0.0.0' : match[2]);
  return { host, port, key: v6 === undefined ? `${host}:${port}` : `[${v6}]:${port}` };
}
