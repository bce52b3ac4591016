import { startNatsServer } from '@cirrus/testing';
import { wrpcHttpSuite, wrpcStreamSuite } from '@cirrus/lattice/wrpc-contract';
import type { WrpcSetup } from '@cirrus/lattice/wrpc-contract';
import { connectNats } from '../src/index.ts';

const setup: WrpcSetup = async ({ maxPayload }) => {
  const server = await startNatsServer(
    maxPayload === undefined ? {} : { config: `max_payload: ${maxPayload}` },
  );
  return {
    connect: () => connectNats({ servers: server.url }),
    teardown: () => server.stop(),
  };
};

wrpcStreamSuite('NATS', setup);
wrpcHttpSuite('NATS', setup);
