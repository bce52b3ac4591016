/** In a browser (the `browser` export condition): the key-value wire binding only; the provider itself runs on Node hosts. */
export { keyValueBinding } from './wire.ts';
