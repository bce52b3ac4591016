/**
 * Worker side of outgoing HTTP: a complete request goes to the host as one linked import call on
 * `wasi:http/outgoing-handler`, which the host routes through the component's link to an
 * http-client provider. The call does not block the worker: other instances on it run while the
 * request is out. A host-side failure becomes an error-code for the guest instead of a trap: a
 * component without network access should see its request refused, not crash.
 */
import type { HttpClientResult } from './http-types.ts';
import type { LinkedImports } from './linked-imports.ts';
import type { OutgoingHttpTransport } from './wasi/http.ts';

const OUTGOING_HANDLER = 'wasi:http/outgoing-handler';

export function linkedHttpTransport(linked: LinkedImports, maxBodyBytes: number): OutgoingHttpTransport {
  return {
    maxBodyBytes,
    send(request, done) {
      linked.callHostLater(OUTGOING_HANDLER, 'handle', [request], (reply) => {
        if (reply.ok) {
          done(reply.value as HttpClientResult);
          return;
        }
        // The host has logged which link to add; to the guest, no link means no permission.
        const { code, message } = reply.error;
        done(
          code === 'LINK_NOT_FOUND'
            ? { tag: 'err', val: { tag: 'HTTP-request-denied' } }
            : { tag: 'err', val: { tag: 'internal-error', val: `${code}: ${message}` } },
        );
      });
    },
  };
}
