export { hostAllowed, httpClientProvider, parseAllowedHosts } from './provider.ts';
export { httpClientBinding } from './wire.ts';
