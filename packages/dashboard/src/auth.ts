/**
 * Who may use the dashboard. The URL the host prints carries a random token; opening it trades the
 * token for a session cookie (HttpOnly, SameSite=Strict) and a redirect that drops the token from the
 * address bar. Scripts may send the token as a bearer instead. A request that changes state with the
 * cookie must also carry the session's CSRF token in a header and come from the dashboard's own
 * origin: a cookie alone proves only that the browser holds it, not that the page asked.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { DashboardForbiddenError, DashboardUnauthorizedError } from '@cirrus/protocol';

const TOKEN_BYTES = 32;
export const CSRF_HEADER = 'x-cirrus-csrf';

export interface Session {
  id: string;
  csrf: string;
  expiresAtMs: number;
}

function randomToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/** Compares secrets in constant time; digests first so that lengths do not leak either. */
function sameSecret(a: string, b: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

export interface SessionsOptions {
  /** The access token; a random one when left out. */
  token?: string;
  /** The cookie's name: one per dashboard port, as browsers share cookies across a host's ports. */
  cookieName: string;
  ttlMs: number;
  max: number;
  now: () => number;
}

export class Sessions {
  readonly token: string;
  readonly cookieName: string;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  /** In creation order: the first is the oldest, ended first when there are too many. */
  readonly #byId = new Map<string, Session>();

  constructor(options: SessionsOptions) {
    this.token = options.token ?? randomToken();
    this.cookieName = options.cookieName;
    this.#ttlMs = options.ttlMs;
    this.#max = options.max;
    this.#now = options.now;
  }

  tokenMatches(candidate: string): boolean {
    return sameSecret(candidate, this.token);
  }

  open(): Session {
    while (this.#byId.size >= this.#max) {
      const oldest = this.#byId.keys().next().value as string;
      this.#byId.delete(oldest);
    }
    const session: Session = {
      id: randomToken(),
      csrf: randomToken(),
      expiresAtMs: this.#now() + this.#ttlMs,
    };
    this.#byId.set(session.id, session);
    return session;
  }

  /** `Set-Cookie` for a session: no `Expires`, so it also ends with the browser session. */
  cookie(session: Session): string {
    return `${this.cookieName}=${session.id}; HttpOnly; SameSite=Strict; Path=/`;
  }

  /** The session the request's cookie names, if it is still valid. */
  fromCookie(req: IncomingMessage): Session | undefined {
    const id = readCookie(req.headers.cookie, this.cookieName);
    if (id === undefined) return undefined;
    const session = this.#byId.get(id);
    if (session === undefined) return undefined;
    if (session.expiresAtMs <= this.#now()) {
      this.#byId.delete(id);
      return undefined;
    }
    return session;
  }

  /**
   * How the request proves itself: by its session cookie, or by the token as a bearer. Throws
   * DASHBOARD_UNAUTHORIZED for neither.
   */
  authenticate(req: IncomingMessage): { session: Session } | { bearer: true } {
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const match = /^Bearer (\S+)$/.exec(auth);
      if (match !== null && this.tokenMatches(match[1] as string)) return { bearer: true };
      throw new DashboardUnauthorizedError('the bearer token is not this dashboard’s token', {
        hint: 'use the token in the URL the host printed at start (`cirrus ui` prints it again)',
      });
    }
    const session = this.fromCookie(req);
    if (session !== undefined) return { session };
    throw new DashboardUnauthorizedError('no dashboard session', {
      hint: 'open the URL the host printed at start, with its token (`cirrus ui` prints it again)',
    });
  }
}

/**
 * Refuses a request unless a page of `origin` made it, as far as the browser tells: no
 * `Sec-Fetch-Site` other than same-origin, no other `Origin`. `what` names who may, for the hint.
 */
export function checkFromOrigin(req: IncomingMessage, origin: string, what: string): void {
  const fetchSite = req.headers['sec-fetch-site'];
  if (fetchSite !== undefined && fetchSite !== 'same-origin') {
    throw new DashboardForbiddenError(`a request from another site (${String(fetchSite)}) was refused`, {
      hint: `only ${what} may send it`,
    });
  }
  const from = req.headers.origin;
  if (from !== undefined && from !== origin) {
    throw new DashboardForbiddenError(`a request from ${JSON.stringify(from)} was refused`, {
      hint: `only ${what} (${origin}) may send it`,
    });
  }
}

/**
 * Refuses a state-changing request made with the cookie unless the page made it: the browser does
 * not report another site as its origin, and the CSRF header matches the session's.
 */
export function checkSameOrigin(req: IncomingMessage, session: Session, origin: string): void {
  checkFromOrigin(req, origin, 'the dashboard page itself');
  const csrf = req.headers[CSRF_HEADER];
  if (typeof csrf !== 'string' || !sameSecret(csrf, session.csrf)) {
    throw new DashboardForbiddenError(`the request lacks this session's ${CSRF_HEADER} header`, {
      hint: `send the csrf value of GET /api/session in the ${CSRF_HEADER} header`,
    });
  }
}

/** The value of cookie `name` in a Cookie header, if present once. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let found: string | undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    if (found !== undefined) return undefined;
    found = part.slice(eq + 1).trim();
  }
  return found;
}
