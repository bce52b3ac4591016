/**
 * The page's only way to the server. Every failure becomes an ApiFailure carrying the server's code,
 * message and hint, so views can show them as they came instead of a generic "request failed".
 */
import type {
  Action,
  ActionResult,
  ApiError,
  ConfigValues,
  LatticeSnapshot,
  SessionInfo,
} from '../src/api-types.ts';

export class ApiFailure extends Error {
  readonly status: number;
  readonly code: string;
  readonly hint: string | undefined;

  constructor(status: number, code: string, message: string, hint?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

/** Set by the app: a 401 anywhere means the session is gone, which changes the whole page. */
let unauthorizedListener: ((failure: ApiFailure) => void) | undefined;

export function onUnauthorized(listener: (failure: ApiFailure) => void): void {
  unauthorizedListener = listener;
}

/** Kept in memory only: the cookie is HttpOnly, and the CSRF token must not outlive the page. */
let csrfToken: string | undefined;

function isApiError(body: unknown): body is ApiError {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false;
  const error = body.error;
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    typeof error.code === 'string' &&
    'message' in error &&
    typeof error.message === 'string'
  );
}

export function describeFailure(error: unknown): ApiFailure {
  if (error instanceof ApiFailure) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ApiFailure(0, 'UI_ERROR', message);
}

async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiFailure(
      0,
      'NETWORK',
      'The dashboard server did not answer.',
      'Check that `cirrus up` is still running, then try again.',
    );
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  if (response.status === 401) {
    const failure = isApiError(body)
      ? new ApiFailure(401, body.error.code, body.error.message, body.error.hint)
      : new ApiFailure(401, 'UNAUTHORIZED', 'This page has no session.');
    unauthorizedListener?.(failure);
    throw failure;
  }
  if (!response.ok) {
    if (isApiError(body)) {
      throw new ApiFailure(response.status, body.error.code, body.error.message, body.error.hint);
    }
    throw new ApiFailure(response.status, `HTTP_${response.status}`, response.statusText || 'Request failed');
  }
  if (body === undefined) {
    throw new ApiFailure(response.status, 'BAD_RESPONSE', `The server's answer to ${path} was not JSON.`);
  }
  return body as T;
}

export async function getSession(): Promise<SessionInfo> {
  const session = await request<SessionInfo>('/api/session');
  csrfToken = session.csrf;
  return session;
}

export function getLattice(): Promise<LatticeSnapshot> {
  return request<LatticeSnapshot>('/api/lattice');
}

export function getConfig(name: string): Promise<ConfigValues> {
  return request<ConfigValues>(`/api/config?name=${encodeURIComponent(name)}`);
}

export async function postAction(action: Action): Promise<ActionResult> {
  if (csrfToken === undefined) await getSession();
  return request<ActionResult>('/api/actions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Cirrus-CSRF': csrfToken ?? '' },
    body: JSON.stringify(action),
  });
}
