const MAX_RANDOM_BYTES = 64 * 1024 * 1024;
const CHUNK = 65_536;

function bytes(len: bigint): Uint8Array {
  if (len > BigInt(MAX_RANDOM_BYTES)) {
    throw new Error(`wasi:random request for ${len} bytes exceeds ${MAX_RANDOM_BYTES}`);
  }
  const out = new Uint8Array(Number(len));
  for (let offset = 0; offset < out.byteLength; offset += CHUNK) {
    crypto.getRandomValues(out.subarray(offset, Math.min(out.byteLength, offset + CHUNK)));
  }
  return out;
}

function u64(): bigint {
  return crypto.getRandomValues(new BigUint64Array(1))[0] ?? 0n;
}

export const random = { getRandomBytes: bytes, getRandomU64: u64 };
export const insecure = { getInsecureRandomBytes: bytes, getInsecureRandomU64: u64 };
export const insecureSeed = { insecureSeed: (): [bigint, bigint] => [u64(), u64()] };
