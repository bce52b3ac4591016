/**
 * The dashboard's HTTP API, as the page sees it: every JSON body the server sends or accepts. The
 * page imports these types only (no code), so this file stays free of runtime imports but types.
 *
 * Routes (all need a session: the cookie set by `GET /?token=…`, or `Authorization: Bearer <token>`):
 *   GET  /api/session            → SessionInfo
 *   GET  /api/lattice            → LatticeSnapshot
 *   GET  /api/config?name=NAME   → ConfigValues (values are sent only when asked for)
 *   GET  /api/events             → text/event-stream of DashboardEvent, one `data:` line each
 *   POST /api/actions            ← Action, → ActionResult (or ApiError with a 4xx/5xx status)
 * A POST with the cookie must carry `X-Cirrus-CSRF: <SessionInfo.csrf>` and come from the page's own
 * origin; one with the bearer token needs neither.
 */
import type { CloudEvent, HostInfo, HostInventory, Link, StringMap } from '@cirrus/protocol';
import type { WadmModelSummary } from '@cirrus/apps';

/** Every failure: the stable code of docs/errors.md, what was wrong and how to fix it. */
export interface ApiError {
  error: {
    code: string;
    message: string;
    hint?: string;
    /** For MANIFEST_INVALID and MANIFEST_PARSE_ERROR: `problems`, each `{ line, message, fix }`. */
    details?: Record<string, unknown>;
  };
}

export interface SessionInfo {
  lattice: string;
  /** Goes in the `X-Cirrus-CSRF` header of every POST made with the session cookie. */
  csrf: string;
}

/** A part of the snapshot that could not be read, in place of its value. */
export interface Unavailable {
  unavailable: { code: string; message: string };
}

export interface HostView {
  info: HostInfo;
  /** When the host's last heartbeat (or ping reply) was seen, ms since the epoch. */
  lastSeenMs: number;
  /** No heartbeat for three intervals: the host may be gone. */
  stale: boolean;
  inventory: HostInventory | Unavailable;
}

export interface ProviderHealth {
  hostId: string;
  providerId: string;
  healthy: boolean;
  /** When the last health event came, ms since the epoch. */
  atMs: number;
}

export interface LatticeSnapshot {
  lattice: string;
  takenAtMs: number;
  hosts: HostView[];
  links: Link[] | Unavailable;
  /** Component claims as hosts report them (`claims.get`): `sub` is the component's public key. */
  claims: StringMap[] | Unavailable;
  /** Names of the named configs the dashboard knows: referenced by links or seen set. */
  configs: string[];
  providerHealth: ProviderHealth[];
  /** The application manager's models; unavailable while no manager answers. */
  apps: WadmModelSummary[] | Unavailable;
}

export interface ConfigValues {
  name: string;
  /** Undefined when no config has that name. */
  values?: StringMap;
}

/**
 * What `/api/events` streams: each lattice event as it came, and every few seconds while a page
 * listens, the request figures of the running components.
 */
export type DashboardEvent = { event: CloudEvent } | { metrics: MetricsReport };

/** One interval between two readings of the hosts' counters. */
export interface MetricsPoint {
  /** The end of the interval, ms since the epoch. */
  atMs: number;
  ratePerSecond: number;
  /** Invocations that failed in the interval. */
  errors: number;
  /** Latency percentiles of the interval's invocations, in ms; absent when there were none. */
  p50Ms?: number;
  p95Ms?: number;
  p99Ms?: number;
}

export interface ComponentMetrics {
  componentId: string;
  /** The hosts that run it and report figures. */
  hostIds: string[];
  /** Oldest first; the last is the latest interval. */
  points: MetricsPoint[];
  /** Failures over the whole window, by error code. */
  errorsByCode: Record<string, number>;
}

export interface MetricsReport {
  atMs: number;
  /** The time between readings. */
  intervalMs: number;
  /** Summed over every host that runs the component. */
  components: ComponentMetrics[];
  /** Hosts whose figures could not be read (a wasmCloud host does not report them). */
  unavailable: { hostId: string; code: string; message: string }[];
}

export type Action =
  | {
      kind: 'scale-component';
      hostId: string;
      componentRef: string;
      componentId: string;
      count: number;
    }
  | { kind: 'start-provider'; hostId: string; providerRef: string; providerId: string }
  | { kind: 'stop-provider'; hostId: string; providerId: string }
  | { kind: 'put-link'; link: Link }
  | {
      kind: 'delete-link';
      sourceId: string;
      namespace: string;
      package: string;
      name: string;
    }
  | { kind: 'put-config'; name: string; values: StringMap }
  | { kind: 'delete-config'; name: string }
  | { kind: 'put-app'; manifest: string }
  | { kind: 'deploy-app'; name: string; version?: string }
  | { kind: 'undeploy-app'; name: string };

export interface ActionResult {
  ok: true;
  /** The host's or manager's answer, to show as it is. */
  message: string;
}
