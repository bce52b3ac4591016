/** In a browser (the `browser` export condition): the HTTP client wire binding only; the provider itself runs on Node hosts. */
export { httpClientBinding } from './wire.ts';
