/**
 * @cirrus/dashboard: the web dashboard a host serves on loopback. It sees the lattice only as a
 * client does (the control interface, the wadm API and the lattice events), so one dashboard shows
 * every host of the lattice, Cirrus or wasmCloud.
 */
export { DEFAULT_DASHBOARD_PORT, startDashboard } from './server.ts';
export type { Dashboard, DashboardMount, DashboardOptions, MountAccess } from './server.ts';
export type * from './api-types.ts';
