export { blobstoreProvider } from './provider.ts';
export { blobstoreBinding } from './wire.ts';
