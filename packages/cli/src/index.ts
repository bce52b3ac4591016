export { main, formatError } from './main.ts';
export type { CommandContext } from './context.ts';
export { processContext } from './context.ts';
export { buildProject } from './commands/build.ts';
export type { BuildResult, ProjectConfig } from './commands/build.ts';
