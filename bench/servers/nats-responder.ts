/**
 * Baseline for part F: a nats.js client in a process of its own that answers every request on a
 * subject with a fixed number of bytes, as a host serving a call would.
 *
 *   node bench/servers/nats-responder.ts --servers URL --subject SUBJECT --bytes N
 *
 * Prints `ready` once its subscription is in place on the server.
 */
import { connect } from '@nats-io/transport-node';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { servers: { type: 'string' }, subject: { type: 'string' }, bytes: { type: 'string' } },
});
if (values.servers === undefined || values.subject === undefined || values.bytes === undefined) {
  process.stderr.write(
    'usage: node bench/servers/nats-responder.ts --servers URL --subject SUBJECT --bytes N\n',
  );
  process.exit(2);
}
const answer = new Uint8Array(Number(values.bytes));
const nc = await connect({ servers: values.servers, name: 'bench-raw-responder' });
nc.subscribe(values.subject, {
  callback: (_err, msg) => {
    msg.respond(answer);
  },
});
await nc.flush();
process.stdout.write('ready\n');
const stop = (): void => void nc.close().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
