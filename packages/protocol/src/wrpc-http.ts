import { parseWit } from './wit-parser.ts';
import type { WitDocument } from './wit-parser.ts';
import type { WitFunction, WitInterface, WitType } from './wit-types.ts';

/**
 * `wrpc:http@0.1.0`, the HTTP interfaces wasmCloud 1.x puts on the lattice (wrpc-interface-http
 * 0.33/0.34, wasmCloud 1.9): a component exporting `wasi:http/incoming-handler@0.2.x` is served as
 * `wrpc:http/incoming-handler@0.1.0` `handle`, and `wasi:http/outgoing-handler` imports are invoked as
 * `wrpc:http/outgoing-handler@0.1.0` `handle`. As published (github.com/wrpc/http, `wit/types.wit`
 * and `wit/handler.wit`):
 *
 *     interface types {
 *       use wasi:http/types@0.2.0.{error-code as wasi-error-code, method as wasi-method,
 *                                  request-options as wasi-request-options, scheme as wasi-scheme};
 *       use wasi:clocks/monotonic-clock@0.2.0.{duration};
 *       type error-code = wasi-error-code;
 *       type method = wasi-method;
 *       type scheme = wasi-scheme;
 *       type fields = list<tuple<string, list<list<u8>>>>;
 *       record request-options { connect-timeout: option<duration>, first-byte-timeout: option<duration>,
 *                                between-bytes-timeout: option<duration> }
 *       record request { body: stream<u8>, trailers: future<option<fields>>, method: method,
 *                        path-with-query: option<string>, scheme: option<scheme>,
 *                        authority: option<string>, headers: fields }
 *       record response { body: stream<u8>, trailers: future<option<fields>>, status: u16,
 *                         headers: fields }
 *     }
 *     interface incoming-handler {
 *       handle: func(request: request) -> result<response, error-code>;
 *     }
 *     interface outgoing-handler {
 *       handle: func(request: request, options: option<request-options>) -> result<response, error-code>;
 *     }
 *
 * The WIT parser here takes no `use`, so each interface below declares what it uses in place: the
 * `wasi:http/types@0.2.0` variants `method`, `scheme` and `error-code` (with its payload records) and
 * `duration` (`u64` nanoseconds) copied unchanged. Encodings depend only on the structure, so the
 * values are byte for byte those of a 1.x peer.
 */

export const WRPC_HTTP_INCOMING_HANDLER = 'wrpc:http/incoming-handler@0.1.0';
export const WRPC_HTTP_OUTGOING_HANDLER = 'wrpc:http/outgoing-handler@0.1.0';

const TYPES = `
  // wasi:clocks/monotonic-clock@0.2.0
  type duration = u64;

  // wasi:http/types@0.2.0
  variant method { get, head, post, put, delete, connect, options, trace, patch, other(string) }

  variant scheme { HTTP, HTTPS, other(string) }

  record DNS-error-payload { rcode: option<string>, info-code: option<u16> }

  record TLS-alert-received-payload { alert-id: option<u8>, alert-message: option<string> }

  record field-size-payload { field-name: option<string>, field-size: option<u32> }

  variant error-code {
    DNS-timeout,
    DNS-error(DNS-error-payload),
    destination-not-found,
    destination-unavailable,
    destination-IP-prohibited,
    destination-IP-unroutable,
    connection-refused,
    connection-terminated,
    connection-timeout,
    connection-read-timeout,
    connection-write-timeout,
    connection-limit-reached,
    TLS-protocol-error,
    TLS-certificate-error,
    TLS-alert-received(TLS-alert-received-payload),
    HTTP-request-denied,
    HTTP-request-length-required,
    HTTP-request-body-size(option<u64>),
    HTTP-request-method-invalid,
    HTTP-request-URI-invalid,
    HTTP-request-URI-too-long,
    HTTP-request-header-section-size(option<u32>),
    HTTP-request-header-size(option<field-size-payload>),
    HTTP-request-trailer-section-size(option<u32>),
    HTTP-request-trailer-size(field-size-payload),
    HTTP-response-incomplete,
    HTTP-response-header-section-size(option<u32>),
    HTTP-response-header-size(field-size-payload),
    HTTP-response-body-size(option<u64>),
    HTTP-response-trailer-section-size(option<u32>),
    HTTP-response-trailer-size(field-size-payload),
    HTTP-response-transfer-coding(option<string>),
    HTTP-response-content-coding(option<string>),
    HTTP-response-timeout,
    HTTP-upgrade-failed,
    HTTP-protocol-error,
    loop-detected,
    configuration-error,
    internal-error(option<string>),
  }

  // wrpc:http/types@0.1.0
  type fields = list<tuple<string, list<list<u8>>>>;

  record request-options {
    connect-timeout: option<duration>,
    first-byte-timeout: option<duration>,
    between-bytes-timeout: option<duration>,
  }

  record request {
    body: stream<u8>,
    trailers: future<option<fields>>,
    method: method,
    path-with-query: option<string>,
    scheme: option<scheme>,
    authority: option<string>,
    headers: fields,
  }

  record response {
    body: stream<u8>,
    trailers: future<option<fields>>,
    status: u16,
    headers: fields,
  }
`;

/** The `wrpc:http@0.1.0` package as the parser here reads it (see above). */
export const WRPC_HTTP_WIT = `package wrpc:http@0.1.0;

interface types {${TYPES}}

interface incoming-handler {${TYPES}
  handle: func(request: request) -> result<response, error-code>;
}

interface outgoing-handler {${TYPES}
  handle: func(request: request, options: option<request-options>) -> result<response, error-code>;
}
`;

let parsed: WitDocument | undefined;

function wrpcHttp(name: string): WitInterface {
  parsed ??= parseWit(WRPC_HTTP_WIT);
  return parsed.interfaces.find((i) => i.name === name) as WitInterface;
}

/** `wrpc:http/types@0.1.0`: `request`, `response`, `fields`, `error-code`, `request-options`, … */
export function wrpcHttpTypes(): ReadonlyMap<string, WitType> {
  return wrpcHttp('types').types;
}

/** `wrpc:http/incoming-handler@0.1.0` `handle`: `func(request) -> result<response, error-code>`. */
export function wrpcHttpIncomingHandle(): WitFunction {
  return wrpcHttp('incoming-handler').functions.get('handle') as WitFunction;
}

/**
 * `wrpc:http/outgoing-handler@0.1.0` `handle`:
 * `func(request, option<request-options>) -> result<response, error-code>`.
 */
export function wrpcHttpOutgoingHandle(): WitFunction {
  return wrpcHttp('outgoing-handler').functions.get('handle') as WitFunction;
}
