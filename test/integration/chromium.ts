/**
 * The browser the dashboard tests drive: the system's Chromium (Debian package `chromium`, which
 * `node scripts/ensure-deps.ts` installs), headless, through playwright-core.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { withDeadline } from '@cirrus/testing';

/** Where ensure-deps looks: `chromium` on PATH, else the Debian package's /usr/bin/chromium. */
function findChromium(): string {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== '');
  for (const candidate of [...dirs.map((dir) => join(dir, 'chromium')), '/usr/bin/chromium']) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(
    'the dashboard browser tests need Chromium, and there is no `chromium` on PATH or at /usr/bin/chromium: ' +
      'run `node scripts/ensure-deps.ts` (it installs the Debian package chromium)',
  );
}

export function launchChromium(): Promise<Browser> {
  const executablePath = findChromium();
  return withDeadline(
    chromium.launch({ executablePath, headless: true }),
    20_000,
    `Chromium (${executablePath}) to start`,
  );
}
