/**
 * What the failure suite (test/failure) shares: `cirrus up` as a real process with its log kept, the
 * `cirrus` command run to completion, what /proc says about a process (open fds, threads, RSS,
 * children, zombies), an HTTP load loop that counts every outcome, and control-client connections.
 */
export * from './support/processes.ts';
export * from './support/proc.ts';
export * from './support/http-loop.ts';
export * from './support/control.ts';
