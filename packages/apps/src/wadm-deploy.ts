/**
 * Putting a manifest, deploying it and following it until it runs, through the wadm API: what
 * `cirrus up --app` does, so that an application it starts is one the lattice's manager keeps.
 */
import { AppFailedError, AppRequestFailedError, limitEnvName, RequestTimeoutError } from '@cirrus/protocol';
import { parse } from 'yaml';
import type { AppManifest } from './manifest.ts';
import type { WadmClient, WadmStatus } from './wadm-client.ts';

export interface DeployOptions {
  /** How long the application may take to be deployed. */
  deadlineMs: number;
  /** Between two status requests (default 100 ms). */
  pollMs?: number;
}

/** The words of the scalers in `state` (those not deployed when it is undefined). */
function scalerMessages(status: WadmStatus, state?: string): string {
  const said = (status.scalers ?? [])
    .filter((s) => (state === undefined ? s.status.type !== 'deployed' : s.status.type === state))
    .filter((s) => s.status.message !== undefined && s.status.message !== '')
    .map((s) => `${s.kind} ${s.name}: ${s.status.message ?? ''}`);
  return said.length === 0 ? (status.status.message ?? '') : said.join('; ');
}

/** A stored manifest and the text about to be put are the same version when they read the same. */
function sameDocument(stored: Record<string, unknown>, text: string, version: string): boolean {
  const document = parse(text) as { metadata?: { annotations?: Record<string, string> } };
  const metadata = (document.metadata ??= {});
  metadata.annotations = { ...metadata.annotations, version };
  return JSON.stringify(stored) === JSON.stringify(document);
}

/**
 * Puts `text` (whose parsed form is `manifest`) and deploys that version. A version already stored
 * with the same content is deployed as it is, so that starting the same manifest again is not an
 * error; one stored with other content is refused, as the manager refuses it.
 */
export async function putAndDeploy(client: WadmClient, text: string, manifest: AppManifest): Promise<string> {
  let version: string;
  try {
    version = (await client.put(text)).current_version;
  } catch (err) {
    if (!(err instanceof AppRequestFailedError) || manifest.version === undefined) throw err;
    const stored = await client.get(manifest.name, manifest.version).catch(() => undefined);
    if (stored === undefined || !sameDocument(stored, text, manifest.version)) throw err;
    version = manifest.version;
  }
  await client.deploy(manifest.name, version);
  return version;
}

/**
 * Resolves once the application is deployed. A `failed` status ends the wait with APP_FAILED and
 * the scalers' messages; no verdict within the deadline is REQUEST_TIMEOUT. A status request that
 * times out is made again within that deadline.
 */
export async function awaitDeployed(
  client: WadmClient,
  name: string,
  options: DeployOptions,
): Promise<WadmStatus> {
  const until = performance.now() + options.deadlineMs;
  for (;;) {
    let status: WadmStatus;
    try {
      status = await client.status(name);
    } catch (err) {
      // A manager busy past one request's timeout (its host loading a large component, say) has
      // not given a verdict: asked again until the deadline of the whole wait.
      if (!(err instanceof RequestTimeoutError) || performance.now() >= until) throw err;
      continue;
    }
    if (status.status.type === 'deployed') return status;
    if (status.status.type === 'failed') {
      throw new AppFailedError(`application ${name} failed: ${scalerMessages(status, 'failed')}`, {
        hint: `cirrus app status ${name} shows every scaler; fix the cause and deploy again`,
      });
    }
    if (performance.now() >= until) {
      throw new RequestTimeoutError(
        `application ${name} was not deployed within ${options.deadlineMs} ms (${status.status.type}: ${scalerMessages(status)})`,
        {
          hint: `cirrus app status ${name} shows what it waits for; a slow start may need a longer wait (${limitEnvName('controlWaitTimeoutMs')})`,
        },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100));
  }
}
