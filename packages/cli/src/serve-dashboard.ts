/**
 * `cirrus up`'s dashboard: its flags, and serving it once the host runs (the URL logged and written
 * to the user-only file `cirrus ui` reads).
 */
import { DEFAULT_DASHBOARD_PORT, startDashboard } from '@cirrus/dashboard';
import type { DashboardMount } from '@cirrus/dashboard';
import type { LatticeConnection } from '@cirrus/lattice';
import { AddressInUseError, describeError } from '@cirrus/protocol';
import type { Limits, Logger } from '@cirrus/protocol';
import { BROWSER_HOST_PREFIX } from '@cirrus/browser-host';
import { hostPort } from './args.ts';
import type { FlagSpecs, FlagValues } from './args.ts';
import { writeDashboardFile } from './dashboard-file.ts';

export const DASHBOARD_FLAGS = {
  dashboard: {
    value: 'ADDR',
    description: 'where the web dashboard listens: a loopback HOST:PORT (port 0 picks a free one)',
    default: `127.0.0.1:${DEFAULT_DASHBOARD_PORT}`,
  },
  'no-dashboard': { description: 'do not serve the web dashboard' },
} as const satisfies FlagSpecs;

export interface DashboardSetting {
  host: string;
  port: number;
  /** Given by flag: it must start there. The default address may be another host's already. */
  explicit: boolean;
}

/** The flags, checked before anything starts; undefined with --no-dashboard. */
export function dashboardSetting(values: FlagValues<typeof DASHBOARD_FLAGS>): DashboardSetting | undefined {
  // Commander pairs --dashboard ADDR with --no-dashboard: the last one given wins, false for --no-dashboard.
  const flag = values.dashboard as string | boolean | undefined;
  if (flag === false || values['no-dashboard'] === true) return undefined;
  const text = typeof flag === 'string' ? flag : `127.0.0.1:${DEFAULT_DASHBOARD_PORT}`;
  const { host, port } = hostPort(
    text,
    '--dashboard',
    `127.0.0.1:${DEFAULT_DASHBOARD_PORT}, or --no-dashboard`,
  );
  // The dashboard itself refuses a host off loopback.
  return { host, port, explicit: typeof flag === 'string' };
}

export interface ServedDashboard {
  /** Removes the file and stops the server. */
  close(): Promise<void>;
}

/**
 * Starts the dashboard, writes its URL for `cirrus ui`, then logs it (the file first: whoever reads
 * the log line can run `cirrus ui` at once). Undefined when the default address is in use.
 */
export async function serveDashboard(
  setting: DashboardSetting,
  options: {
    connection: LatticeConnection;
    lattice: string;
    limits: Limits;
    logger: Logger;
    env: Readonly<Record<string, string | undefined>>;
    /** Served beside the dashboard (the browser host's pages). */
    mounts?: readonly DashboardMount[];
  },
): Promise<ServedDashboard | undefined> {
  const { logger } = options;
  let dashboard;
  try {
    dashboard = await startDashboard({
      connection: options.connection,
      lattice: options.lattice,
      host: setting.host,
      port: setting.port,
      limits: options.limits,
      logger,
      ...(options.mounts === undefined ? {} : { mounts: options.mounts }),
    });
  } catch (err) {
    if (setting.explicit || !(err instanceof AddressInUseError)) throw err;
    logger.warn('dashboard not started: its address is in use', {
      address: `${setting.host}:${setting.port}`,
      hint: 'another cirrus up may serve it; pick another with --dashboard 127.0.0.1:PORT, or --no-dashboard',
    });
    return undefined;
  }
  const removeFile = await writeDashboardFile(options.env, options.lattice, dashboard.url).catch(
    (err: unknown) => {
      logger.warn('cirrus ui will not find the dashboard', { error: describeError(err) });
      return undefined;
    },
  );
  logger.info('dashboard', { url: dashboard.url });
  if (options.mounts?.some((m) => m.prefix === BROWSER_HOST_PREFIX)) {
    logger.info('browser host', { url: `${dashboard.origin}${BROWSER_HOST_PREFIX}` });
  }
  return {
    async close() {
      await removeFile?.();
      await dashboard.close();
    },
  };
}
