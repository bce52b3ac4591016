/**
 * Worker side of outgoing HTTP: a complete request goes to the host as one linked import call on
 * `wasi:http/outgoing-handler`, which the host routes through the component's link to an
 * http-client provider. A host-side failure becomes an error-code for the guest instead of a trap:
 * a component without network access should see its request refused, not crash.
 */
import type { HttpClientResult } from './http-types.ts';
import { LinkedImportFailure } from './linked-imports.ts';
import type { LinkedImports } from './linked-imports.ts';
import type { OutgoingHttpTransport } from './wasi/http.ts';

const OUTGOING_HANDLER = 'wasi:http/outgoing-handler';

export function linkedHttpTransport(linked: LinkedImports, maxBodyBytes: number): OutgoingHttpTransport {
  return {
    maxBodyBytes,
    send(request) {
      try {
        return linked.callHost(OUTGOING_HANDLER, 'handle', [request]) as HttpClientResult;
      } catch (err) {
        if (!(err instanceof LinkedImportFailure)) throw err;
        // The host has logged which link to add; to the guest, no link means no permission.
        if (err.error.code === 'LINK_NOT_FOUND') return { tag: 'err', val: { tag: 'HTTP-request-denied' } };
        return { tag: 'err', val: { tag: 'internal-error', val: `${err.error.code}: ${err.error.message}` } };
      }
    },
  };
}
