/**
 * Fuzzing a real local endpoint over raw TCP: byte streams (a CONNECT with the token and random
 * operations, hostile ones and garbage among them, or garbage alone) written in random pieces never
 * make the server fail (its error hook stays silent and it keeps listening); a client the server
 * refuses gets `-ERR` and is closed. Afterwards a proper client with the token still connects and
 * does a request/reply with an in-process responder.
 */
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { DeadlineError, fc, fuzzAsync, waitFor, withDeadline } from '@cirrus/testing';
import { createMemoryLattice, encodeText } from '@cirrus/lattice';
import type { LatticeConnection, MemoryLattice } from '@cirrus/lattice';
import { serveLattice } from '../src/index.ts';
import type { LocalEndpoint } from '../src/index.ts';
import { clientStream, splitAt, TOKEN } from './nats-client-stream.ts';

const MAX_CONTROL_LINE = 512;
/** How long a stream that the server did not close gets to be answered before the client leaves. */
const SETTLE_MS = 150;

/** A raw client: writes pieces, collects what comes back, notices when the server closes. */
async function openRaw(
  port: number,
): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const socket = tcpConnect({ host: '127.0.0.1', port });
  let text = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  await withDeadline(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    2000,
    'raw TCP connect',
  );
  return { socket, received: () => text, closed: () => closed };
}

function write(socket: Socket, data: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.write(data, () => resolve());
  });
}

describe('local endpoint under fuzzing over raw sockets', () => {
  let lattice: MemoryLattice;
  let endpoint: LocalEndpoint;
  let responder: LatticeConnection;
  const failures: unknown[] = [];

  before(async () => {
    lattice = createMemoryLattice({ maxPayload: 64 * 1024 });
    endpoint = await serveLattice(lattice, {
      token: TOKEN,
      maxControlLineBytes: MAX_CONTROL_LINE,
      onError: (err) => failures.push(err),
    });
    responder = lattice.connect();
    responder.subscribe('svc.echo', { callback: (msg) => msg.respond(msg.data) });
    await responder.flush();
  });

  after(async () => {
    await responder.close();
    await endpoint.close();
    await lattice.close();
  });

  it('random byte streams in random pieces never fail the server, and a proper client still gets answers', async () => {
    await fuzzAsync(
      fc.asyncProperty(
        clientStream(MAX_CONTROL_LINE),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (stream, cuts) => {
          const client = await openRaw(endpoint.port);
          try {
            await waitFor(() => client.received().includes('\r\n'), 2000, 'INFO from the endpoint');
            for (const piece of splitAt(stream, cuts)) await write(client.socket, piece);
            // A final PING: a session still reading control lines answers it; others close or wait.
            const pongs = client.received().split('PONG\r\n').length;
            await write(client.socket, encodeText('\r\nPING\r\n'));
            try {
              await waitFor(
                () => client.closed() || client.received().split('PONG\r\n').length > pongs,
                SETTLE_MS,
                'PONG or close',
              );
            } catch (err) {
              if (!(err instanceof DeadlineError)) throw err;
            }
            if (client.closed()) {
              assert.match(client.received(), /-ERR '[^'\r\n]+'\r\n$/, 'a refused client is told why');
            }
            assert.deepEqual(failures, [], 'the endpoint reported no failure of its own');
          } finally {
            client.socket.destroy();
          }
        },
      ),
      60,
    );

    const nc = await connect({ servers: endpoint.url, token: TOKEN, reconnect: false });
    try {
      const reply = await nc.request('svc.echo', encodeText('still here'), { timeout: 2000 });
      assert.equal(reply.string(), 'still here');
    } finally {
      await nc.close();
    }
    await waitFor(() => endpoint.connectionCount === 0, 2000, 'every fuzzing client gone');
    assert.deepEqual(failures, []);
  });
});
