export { keyValueProvider } from './provider.ts';
export { keyValueBinding } from './wire.ts';
