/**
 * The dashboard file: how `cirrus up` tells `cirrus ui` on the same machine which URL opens its
 * dashboard. The URL carries the dashboard's token, so the file is as private as the local endpoint
 * file, and goes when the host stops.
 */
import { join } from 'node:path';
import { DEFAULT_LATTICE, InvalidArgumentError } from '@cirrus/protocol';
import { localStateDir, readPrivateRecord, writePrivateRecord } from './local-endpoint.ts';
import type { LocalEndpointRemover } from './local-endpoint.ts';

type Env = Readonly<Record<string, string | undefined>>;

export function dashboardFile(env: Env, lattice: string = DEFAULT_LATTICE): string {
  return join(localStateDir(env), `dashboard-${encodeURIComponent(lattice)}.json`);
}

export function writeDashboardFile(env: Env, lattice: string, url: string): Promise<LocalEndpointRemover> {
  return writePrivateRecord(env, dashboardFile(env, lattice), { url, lattice, pid: process.pid });
}

/** The URL of the dashboard a running `cirrus up` serves for `lattice`, if one does. */
export async function readDashboardUrl(
  env: Env,
  lattice: string = DEFAULT_LATTICE,
): Promise<string | undefined> {
  const file = dashboardFile(env, lattice);
  const record = await readPrivateRecord(file);
  if (record === undefined) return undefined;
  const url: unknown =
    typeof record === 'object' && record !== null && 'url' in record ? record.url : undefined;
  if (typeof url !== 'string' || !url.startsWith('http://')) {
    throw new InvalidArgumentError(`${file} is not a dashboard file`, {
      hint: 'delete it; `cirrus up` writes a new one when it starts',
    });
  }
  return url;
}
