export { serveLattice } from './local-endpoint.ts';
export type { LocalEndpoint, ServeLatticeOptions } from './local-endpoint.ts';
