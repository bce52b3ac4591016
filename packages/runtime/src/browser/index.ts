/**
 * `@cirrus/runtime` in a browser (the package's `browser` export condition): the same runtime, on
 * the browser's platform (runtime.ts).
 */
export { createComponentRuntime } from './runtime.ts';
export type { BrowserRuntimeOptions } from './runtime.ts';
export type { ServedTranspilerOptions } from './transpiler.ts';
export * from '../api.ts';
