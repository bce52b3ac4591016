/**
 * Downloads component bytes over http(s), on any platform: the size limit is enforced while reading
 * (a huge download is cut off, not buffered), and the fetch has a deadline.
 */
import { ArtifactFetchFailedError, ArtifactTooLargeError } from '@cirrus/protocol';
import type { ArtifactLoadOptions } from './runtime.ts';

export function tooLarge(ref: string, maxBytes: number): ArtifactTooLargeError {
  return new ArtifactTooLargeError(`${ref} is larger than the ${maxBytes}-byte limit`, {
    hint: 'shrink the component (strip debug info, optimise) or raise componentMaxBytes',
  });
}

export async function fetchLimited(url: URL, ref: string, options: ArtifactLoadOptions): Promise<Uint8Array> {
  let response: Response;
  try {
    const deadline = AbortSignal.timeout(options.fetchTimeoutMs);
    const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal]);
    response = await fetch(url, { signal, redirect: 'follow' });
  } catch (err) {
    const reason =
      (err as Error).name === 'TimeoutError' ? `timed out after ${options.fetchTimeoutMs} ms` : String(err);
    throw new ArtifactFetchFailedError(`cannot download ${ref}: ${reason}`, {
      hint: 'check the URL and that the server is reachable from this host',
    });
  }
  if (!response.ok) {
    throw new ArtifactFetchFailedError(
      `cannot download ${ref}: HTTP ${response.status} ${response.statusText}`,
      {
        hint: 'check the URL',
      },
    );
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    await response.body?.cancel();
    throw tooLarge(ref, options.maxBytes);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of (response.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (total > options.maxBytes) throw tooLarge(ref, options.maxBytes);
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof ArtifactTooLargeError) throw err;
    throw new ArtifactFetchFailedError(`download of ${ref} failed after ${total} bytes: ${String(err)}`, {
      hint: 'retry; the connection was interrupted or timed out',
    });
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return bytes;
}
