/**
 * WebCrypto takes only views of a plain ArrayBuffer: browsers throw on a SharedArrayBuffer-backed
 * view, and the DOM's types say so. Bytes of any other backing are copied first.
 */
export function webCryptoBytes(view: Uint8Array): Uint8Array<ArrayBuffer> {
  return view.buffer instanceof ArrayBuffer ? (view as Uint8Array<ArrayBuffer>) : new Uint8Array(view);
}
