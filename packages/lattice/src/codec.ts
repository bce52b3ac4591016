const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const EMPTY: Uint8Array = new Uint8Array(0);

export function encodeText(text: string): Uint8Array {
  return encoder.encode(text);
}

export function decodeText(data: Uint8Array): string {
  return decoder.decode(data);
}

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decodeJson<T = unknown>(data: Uint8Array): T {
  return JSON.parse(decoder.decode(data)) as T;
}
