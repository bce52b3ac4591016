import { startNatsServer } from '@cirrus/testing';
import { connectNats } from '../src/index.ts';
import { wrpcHttpSuite } from './wrpc-http-suite.ts';
import { wrpcStreamSuite } from './wrpc-streams-suite.ts';
import type { WrpcSetup } from './wrpc-kit.ts';

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
