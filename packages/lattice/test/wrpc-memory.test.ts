import { createMemoryLattice } from '../src/index.ts';
import { wrpcHttpSuite } from './wrpc-http-suite.ts';
import { wrpcStreamSuite } from './wrpc-streams-suite.ts';
import type { WrpcSetup } from './wrpc-kit.ts';

const setup: WrpcSetup = async ({ maxPayload }) => {
  const lattice = createMemoryLattice(maxPayload === undefined ? {} : { maxPayload });
  return {
    connect: async () => lattice.connect(),
    teardown: () => lattice.close(),
    subscriptionCount: () => lattice.subscriptionCount,
  };
};

wrpcStreamSuite('in-memory', setup);
wrpcHttpSuite('in-memory', setup);
