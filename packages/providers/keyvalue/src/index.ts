export { keyValueProvider } from './provider.ts';
export { keyValueNatsProvider, keyValueRedisProvider } from './wasmcloud.ts';
export { keyValueBinding } from './wire.ts';
