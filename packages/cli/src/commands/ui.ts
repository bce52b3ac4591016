/** `cirrus ui`: the URL of the dashboard the `cirrus up` on this machine serves, printed or opened. */
import { spawn } from 'node:child_process';
import { Command } from 'commander';
import { DEFAULT_LATTICE, HostNotFoundError } from '@cirrus/protocol';
import { readDashboardUrl } from '../dashboard-file.ts';
import { runs } from '../program.ts';
import type { Invocation } from '../program.ts';

/** The desktop's way to open a URL in the default browser. */
function opener(): string {
  if (process.platform === 'darwin') return 'open';
  if (process.platform === 'win32') return 'explorer';
  return 'xdg-open';
}

export function uiCommand(invocation: Invocation): Command {
  const { context } = invocation;
  const command = new Command('ui')
    .summary('print (or open) the URL of the dashboard of the host running here')
    .description(
      'Prints the URL, token included, of the web dashboard that `cirrus up` serves on this machine for the lattice; with --open, opens it in the default browser.',
    )
    .option('--lattice <NAME>', 'lattice name', DEFAULT_LATTICE)
    .option('--open', 'open the URL in the default browser');
  return runs(command, invocation, async () => {
    const { lattice, open } = command.opts<{ lattice: string; open?: boolean }>();
    const url = await readDashboardUrl(context.env, lattice);
    if (url === undefined) {
      throw new HostNotFoundError(
        `no cirrus up serves a dashboard for lattice "${lattice}" on this machine`,
        {
          hint: 'start one with cirrus up (the dashboard is on unless --no-dashboard)',
        },
      );
    }
    context.print(url);
    if (open === true) {
      const child = spawn(opener(), [url], { detached: true, stdio: 'ignore' });
      child.on('error', (err) =>
        context.log(`could not open a browser (${err.message}); open the URL above`),
      );
      child.unref();
    }
    return 0;
  });
}
