export { DEFAULT_HTTP_ADDRESS, httpServerProvider } from './provider.ts';
