/**
 * The wadm API (`wadm.api.<lattice>.model.*`), wire-compatible with wadm 0.2x so that wash and
 * `@wasmcloud/lattice-client-core` drive Cirrus unchanged: versions are put into the
 * `wadm_manifests` bucket, `deploy` hands one to the application manager, `status` reports what the
 * manager last saw, and every status change is published on `wadm.status.<lattice>.<name>`.
 *
 * Replies are JSON with a `result` and a `message`; a request that cannot be served is
 * `{"result":"error","message":…}` with the Cirrus error code in the message, never a dropped
 * request.
 */
import { parse } from 'yaml';
import { CirrusError, describeError, InvalidArgumentError } from '@cirrus/protocol';
import type { Logger } from '@cirrus/protocol';
import type { LatticeConnection, Msg, Subscription } from '@cirrus/lattice';
import type { AppManager } from './manager.ts';
import { parseManifest } from './manifest.ts';
import type { AppManifest } from './manifest.ts';
import { MANIFEST_BUCKET, ManifestStore } from './manifest-store.ts';
import type { StoredApp, StoredManifest } from './manifest-store.ts';
import type { AppStatus } from './reconcile.ts';

export interface WadmApiOptions {
  connection: LatticeConnection;
  lattice: string;
  manager: AppManager;
  logger: Logger;
  /** Reads a manifest within the host's limits (default: the default limits). */
  parse?: (text: string) => AppManifest;
}

export interface WadmApi {
  /** Deploys again what the bucket says is deployed (a manager taking over does this first). */
  restore(): Promise<void>;
  /** Publishes the status of every application whose status changed since the last call. */
  publishStatus(): void;
  stop(): Promise<void>;
}

/** wadm's queue group: several API servers on a lattice share its requests. */
export const WADM_QUEUE = 'wadm_server';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** wadm's status document for one application. */
function statusDocument(status: AppStatus | undefined, version: string): Record<string, unknown> {
  if (status === undefined) return { status: { type: 'undeployed', message: '' }, scalers: [], version };
  return {
    status: { type: status.status.type, message: status.status.message ?? '' },
    scalers: status.scalers.map((s) => ({
      id: s.id,
      kind: s.kind,
      name: s.name,
      status: { type: s.status.type, message: s.status.message ?? '' },
    })),
    version,
  };
}

/** A version name for a manifest that gives none: time-ordered, as wadm's ULIDs are. */
function newVersion(): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let time = Date.now();
  let out = '';
  for (let i = 0; i < 10; i += 1) {
    out = (alphabet[time % 32] as string) + out;
    time = Math.floor(time / 32);
  }
  const random = crypto.getRandomValues(new Uint8Array(16));
  for (const byte of random) out += alphabet[byte % 32] as string;
  return out;
}

function latestVersion(app: StoredApp): string | undefined {
  const versions = Object.keys(app.manifests);
  return versions[versions.length - 1];
}

function versionOf(body: Uint8Array): string | undefined {
  if (body.length === 0) return undefined;
  try {
    const parsed = JSON.parse(decoder.decode(body)) as { version?: unknown };
    return typeof parsed.version === 'string' && parsed.version !== '' ? parsed.version : undefined;
  } catch {
    return undefined;
  }
}

export async function serveWadmApi(options: WadmApiOptions): Promise<WadmApi> {
  const { connection, lattice, manager, logger } = options;
  const parseText = options.parse ?? ((text: string) => parseManifest(text));
  const store = new ManifestStore(await connection.kv(MANIFEST_BUCKET), lattice);
  const prefix = `wadm.api.${lattice}.`;
  const published = new Map<string, string>();

  const manifestOf = (stored: StoredManifest): AppManifest => parseText(JSON.stringify(stored));

  /**
   * The components of `manifest` that refer to a shared application's component which is not
   * deployed: an application marked shared, deployed, with a component of that name and kind.
   */
  const missingShared = async (manifest: AppManifest): Promise<string[]> => {
    const missing: string[] = [];
    for (const component of manifest.components) {
      if (component.shared === undefined) continue;
      const { app, component: wanted } = component.shared;
      const other = await store.get(app);
      const deployed =
        other?.deployed_version === null || other?.deployed_version === undefined
          ? undefined
          : other.manifests[other.deployed_version];
      const theirs = deployed === undefined ? undefined : manifestOf(deployed);
      const found =
        theirs?.shared === true &&
        theirs.components.some(
          (c) => c.name === wanted && c.kind === component.kind && c.shared === undefined,
        );
      if (!found) missing.push(`${component.name} (${app}/${wanted})`);
    }
    return missing;
  };

  const summary = async (name: string): Promise<Record<string, unknown> | undefined> => {
    const app = await store.get(name);
    if (app === undefined) return undefined;
    const version = latestVersion(app) ?? '';
    const metadata = (app.manifests[version]?.['metadata'] ?? {}) as { annotations?: Record<string, string> };
    const status = statusDocument(manager.status(name), app.deployed_version ?? version);
    return {
      name,
      version,
      description: metadata.annotations?.['description'],
      deployed_version: app.deployed_version ?? undefined,
      detailed_status: status,
      status: (status['status'] as { type: string }).type,
    };
  };

  const handlers: Record<string, (name: string | undefined, body: Uint8Array) => Promise<unknown>> = {
    async put(_name, body) {
      const text = decoder.decode(body);
      const manifest = parseText(text);
      const document = parse(text) as StoredManifest;
      const version = manifest.version ?? newVersion();
      const metadata = (document['metadata'] ??= {}) as { annotations?: Record<string, string> };
      metadata.annotations = { ...metadata.annotations, version };
      let created = false;
      const stored = await store.update(manifest.name, (current) => {
        if (current?.manifests[version] !== undefined) {
          throw new InvalidArgumentError(`version ${version} of ${manifest.name} already exists`, {
            hint: 'give the new version another metadata.annotations.version',
          });
        }
        created = current === undefined;
        const app = current ?? { manifests: {}, deployed_version: null };
        app.manifests[version] = document;
        return app;
      });
      return {
        result: created ? 'created' : 'newversion',
        name: manifest.name,
        current_version: version,
        total_versions: Object.keys(stored?.manifests ?? {}).length,
        message: `put version ${version} of ${manifest.name}`,
      };
    },
    async get(name, body) {
      if (name === undefined) {
        const models = (await Promise.all((await store.names()).map(summary))).filter((m) => m !== undefined);
        return { result: 'success', message: `${models.length} applications`, models };
      }
      const app = await store.get(name);
      if (app === undefined) return { result: 'notfound', message: `no application ${name}` };
      const version = versionOf(body) ?? latestVersion(app) ?? '';
      const manifest = app.manifests[version];
      if (manifest === undefined) return { result: 'notfound', message: `no version ${version} of ${name}` };
      return { result: 'success', message: `version ${version} of ${name}`, manifest };
    },
    async list() {
      return (await Promise.all((await store.names()).map(summary))).filter((m) => m !== undefined);
    },
    async versions(name) {
      const app = name === undefined ? undefined : await store.get(name);
      if (name === undefined || app === undefined)
        return { result: 'notfound', message: `no application ${name ?? ''}` };
      return {
        result: 'success',
        message: `${Object.keys(app.manifests).length} versions of ${name}`,
        versions: Object.keys(app.manifests).map((version) => ({
          version,
          deployed: version === app.deployed_version,
        })),
      };
    },
    async deploy(name, body) {
      if (name === undefined) return { result: 'error', message: 'name the application to deploy' };
      let requested = versionOf(body);
      const before = await store.get(name);
      const wanted =
        before === undefined
          ? undefined
          : before.manifests[
              requested === undefined || requested === 'latest' ? (latestVersion(before) ?? '') : requested
            ];
      const missing = wanted === undefined ? [] : await missingShared(manifestOf(wanted));
      if (missing.length > 0) {
        return {
          result: 'error',
          message: `Application contains shared components that are not deployed in other applications: ${missing.join(', ')}`,
        };
      }
      let chosen: StoredManifest | undefined;
      const stored = await store.update(name, (current) => {
        if (current === undefined) return undefined;
        if (requested === undefined || requested === 'latest') requested = latestVersion(current);
        chosen = requested === undefined ? undefined : current.manifests[requested];
        if (chosen !== undefined) current.deployed_version = requested ?? null;
        return current;
      });
      if (stored === undefined) return { result: 'notfound', message: `no application ${name}`, name };
      if (chosen === undefined) {
        return { result: 'notfound', message: `no version ${requested ?? ''} of ${name}`, name };
      }
      void manager.deploy(manifestOf(chosen));
      return {
        result: 'acknowledged',
        message: `deploying version ${requested} of ${name}`,
        name,
        version: requested,
      };
    },
    async undeploy(name) {
      if (name === undefined) return { result: 'error', message: 'name the application to undeploy' };
      const stored = await store.update(name, (current) => {
        if (current !== undefined) current.deployed_version = null;
        return current;
      });
      if (stored === undefined) return { result: 'notfound', message: `no application ${name}`, name };
      void manager.undeploy(name);
      return { result: 'acknowledged', message: `undeploying ${name}`, name };
    },
    async del(name, body) {
      if (name === undefined) return { result: 'error', message: 'name the application to delete' };
      const version = versionOf(body);
      let undeploy = false;
      let found = false;
      await store.update(name, (current) => {
        if (current === undefined) return undefined;
        if (version === undefined) {
          found = true;
          undeploy = current.deployed_version !== null;
          return undefined;
        }
        if (current.manifests[version] === undefined) return current;
        found = true;
        delete current.manifests[version];
        if (current.deployed_version === version) {
          undeploy = true;
          current.deployed_version = null;
        }
        return Object.keys(current.manifests).length === 0 ? undefined : current;
      });
      if (undeploy) void manager.undeploy(name);
      return found
        ? {
            result: 'deleted',
            message: `deleted ${version === undefined ? 'every version' : `version ${version}`} of ${name}`,
            undeploy,
          }
        : { result: 'noop', message: `nothing to delete of ${name}`, undeploy: false };
    },
    async status(name) {
      const app = name === undefined ? undefined : await store.get(name);
      if (name === undefined || app === undefined)
        return { result: 'notfound', message: `no application ${name ?? ''}` };
      const version = app.deployed_version ?? latestVersion(app) ?? '';
      return {
        result: 'ok',
        message: `status of ${name}`,
        status: statusDocument(manager.status(name), version),
      };
    },
    async history() {
      return { result: 'error', message: 'history is not supported' };
    },
  };

  const serve = async (msg: Msg): Promise<void> => {
    // <lattice>.model.<operation>[.<name>]: anything longer is refused, as wadm does.
    const parts = msg.subject.slice(prefix.length).split('.');
    const [category, operation, name, ...extra] = parts;
    const handler = category === 'model' && operation !== undefined ? handlers[operation] : undefined;
    let reply: unknown;
    if (handler === undefined || extra.length > 0) {
      reply = { result: 'error', message: `unknown wadm API request ${msg.subject}` };
    } else {
      try {
        reply = await handler(name, msg.data);
      } catch (err) {
        const message = err instanceof CirrusError ? `${err.code}: ${err.message}` : describeError(err);
        reply = { result: 'error', message };
      }
    }
    if (msg.reply !== undefined) connection.publish(msg.reply, encoder.encode(JSON.stringify(reply)));
  };

  const subscription: Subscription = connection.subscribe(`${prefix}>`, {
    queue: WADM_QUEUE,
    // A manager standing by still answers what was routed to it: what it stores, the next one
    // restores, where a request dropped would time out at its client.
    drainOnUnsubscribe: true,
    callback: (msg) => {
      void serve(msg).catch((err: unknown) =>
        logger.warn('wadm API request failed', { subject: msg.subject, error: describeError(err) }),
      );
    },
  });

  return {
    async restore() {
      for (const name of await store.names()) {
        const app = await store.get(name);
        const manifest =
          app?.deployed_version === null ? undefined : app?.manifests[app.deployed_version ?? ''];
        if (manifest !== undefined) await manager.deploy(manifestOf(manifest));
      }
    },
    publishStatus() {
      const managed = new Set(manager.list());
      for (const name of managed) {
        const version = manager.manifest(name)?.version ?? '';
        const document = JSON.stringify(statusDocument(manager.status(name), version));
        if (published.get(name) === document) continue;
        published.set(name, document);
        connection.publish(`wadm.status.${lattice}.${name}`, encoder.encode(document));
      }
      // An application removed is forgotten by the manager: its last word is that it is undeployed.
      for (const name of published.keys()) {
        if (managed.has(name)) continue;
        published.delete(name);
        connection.publish(
          `wadm.status.${lattice}.${name}`,
          encoder.encode(JSON.stringify(statusDocument(undefined, ''))),
        );
      }
    },
    async stop() {
      subscription.unsubscribe();
      await connection.flush().catch(() => undefined);
    },
  };
}
