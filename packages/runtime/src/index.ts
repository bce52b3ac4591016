export { createBrowserTranspiler, createComponentRuntime, defaultCacheDir } from './node-runtime.ts';
export type { BrowserTranspiler } from './node-runtime.ts';
export { TRANSPILED_MEDIA_TYPE } from './browser/transpiler.ts';
export * from './api.ts';
export { checkRegularFile, makeDirectories, readRegularFile, readRegularTextFile } from './files.ts';
export type { DirectoryOps, RegularFileOptions } from './files.ts';
