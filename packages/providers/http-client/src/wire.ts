/**
 * wasi:http/outgoing-handler across hosts (§4.5): a component's outgoing request whose http-client
 * link target runs elsewhere goes out as `wrpc:http/outgoing-handler@0.1.0` `handle`, the body as a
 * `stream<u8>` under the transport's flow control, and the response body streams back. The host
 * running the provider serves that instance (see the provider), so the request is made there with
 * the link's allow-list and the provider's limits.
 */
import { describeError, HttpRequestFailedError } from '@cirrus/protocol';
import { httpErrorCodeOf, invokeHttpHandle } from '@cirrus/lattice';
import type { HttpRequestOptions } from '@cirrus/lattice';
import type { HttpClientRequest, HttpClientResult, HttpErrorCode, ImportCall } from '@cirrus/runtime';
import type { CallSource, CrossHostOptions, WireBinding } from '@cirrus/provider-core';

export const OUTGOING_HANDLER = 'wasi:http/outgoing-handler';

/**
 * The whole body, or undefined once it grows past `maxBytes` (the sender is then told to stop). A
 * fresh buffer: stream chunks may be views of larger buffers.
 */
export async function collectBody(
  chunks: AsyncIterable<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array | undefined> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of chunks) {
    total += chunk.byteLength;
    if (total > maxBytes) return undefined;
    parts.push(chunk);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    body.set(part, offset);
    offset += part.byteLength;
  }
  return body;
}

/** `[name, value]` pairs as the flat list the runtime and the provider use. */
export function flatFields(pairs: readonly (readonly [string, string])[]): string[] {
  return pairs.flatMap(([name, value]) => [name, value]);
}

function requestOptions(request: HttpClientRequest): HttpRequestOptions | undefined {
  const { connectTimeoutMs, firstByteTimeoutMs, betweenBytesTimeoutMs } = request;
  if (
    connectTimeoutMs === undefined &&
    firstByteTimeoutMs === undefined &&
    betweenBytesTimeoutMs === undefined
  ) {
    return undefined;
  }
  return { connectTimeoutMs, firstByteTimeoutMs, betweenBytesTimeoutMs };
}

/** Carries a component's outgoing HTTP requests to an http-client provider on another host. */
export const httpClientBinding: WireBinding = {
  interfaces: [OUTGOING_HANDLER],
  invoke: remoteOutgoingRequest,
};

async function remoteOutgoingRequest(
  options: CrossHostOptions,
  targetId: string,
  call: ImportCall,
  source: CallSource,
): Promise<HttpClientResult> {
  if (call.fn !== 'handle' || call.resource !== undefined) {
    throw new Error(`${OUTGOING_HANDLER}#${call.fn} is not served across hosts`);
  }
  const request = call.args[0] as HttpClientRequest;
  const { limits } = options;
  const fail = (val: HttpErrorCode): HttpClientResult => ({ tag: 'err', val });
  // The guest waits for the whole response: the exchange, body included, ends at the deadline.
  const deadline = AbortSignal.timeout(limits.invocationTimeoutMs);
  let headReceived = false;
  try {
    const response = await invokeHttpHandle(options.connection, {
      lattice: options.lattice,
      targetId,
      handler: 'outgoing-handler',
      request: {
        method: request.method,
        pathWithQuery: request.pathWithQuery,
        scheme: request.scheme,
        authority: request.authority,
        headers: request.headers,
        body: request.body,
      },
      requestOptions: requestOptions(request),
      sourceId: source.sourceId,
      linkName: source.linkName,
      timeoutMs: limits.invocationTimeoutMs,
      maxBytes: limits.wrpcMaxValueBytes,
      signal: deadline,
      streamLimits: limits,
      sign: options.sign,
    });
    headReceived = true;
    const body = await collectBody(response.body, limits.httpClientMaxResponseBodyBytes);
    if (body === undefined) return fail({ tag: 'HTTP-response-body-size', val: undefined });
    return { tag: 'ok', val: { status: response.status, headers: flatFields(response.headers), body } };
  } catch (err) {
    const code = err instanceof HttpRequestFailedError ? httpErrorCodeOf(err) : undefined;
    if (code !== undefined) return fail(code);
    options.logger?.warn('outgoing HTTP request across hosts failed', {
      source: source.sourceId,
      target: targetId,
      error: describeError(err),
    });
    if (deadline.aborted) return fail({ tag: 'HTTP-response-timeout' });
    if (headReceived) return fail({ tag: 'HTTP-response-incomplete' });
    return fail({ tag: 'internal-error', val: describeError(err) });
  }
}
