/** The wRPC suites any adapter runs over its connections (`@cirrus/lattice/wrpc-contract`). */
export { wrpcHttpSuite } from './wrpc-http-suite.ts';
export { wrpcStreamSuite } from './wrpc-streams-suite.ts';
export type { WrpcSetup } from './wrpc-kit.ts';
