/**
 * @cirrus/browser-host: a Cirrus host in a browser tab. The tab's code is the page bundle (src/page,
 * built into dist/); this entry is what a Node host serves it with, at `/host` on its dashboard's
 * address.
 */
export { BROWSER_HOST_PREFIX, browserHostPages } from './server.ts';
export type { BrowserHostPages, BrowserHostServing, PageAccess } from './server.ts';
export type { BrowserHostBootstrap } from './bootstrap.ts';
