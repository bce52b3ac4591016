export { loggingProvider } from './provider.ts';
