import { createMemoryLattice } from '../src/index.ts';
import { latticeContract } from './contract.ts';

latticeContract('in-memory', async () => {
  const lattice = createMemoryLattice({ maxPayload: 64 * 1024 });
  return {
    connect: async () => lattice.connect(),
    teardown: () => lattice.close(),
  };
});
