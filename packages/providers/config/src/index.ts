export { configProvider } from './provider.ts';
