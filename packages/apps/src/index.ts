export {
  API_VERSION,
  checkManifest,
  DEFAULT_SPREAD_WEIGHT,
  manifestInvalid,
  parseManifest,
  wadmId,
} from './manifest.ts';
export type {
  AppComponent,
  AppLink,
  AppScaler,
  AppSpread,
  AppManifest,
  ManifestCheck,
  ManifestLimits,
  NamedConfigRef,
  ParseOptions,
} from './manifest.ts';
export { APP_SPEC, MANAGED_BY, planDeployment } from './plan.ts';
export type { DeploymentPlan } from './plan.ts';
export type { Problem } from './yaml-view.ts';
export { aggregateStatus, reconcile, spreadShares } from './reconcile.ts';
export type {
  AppState,
  AppStatus,
  ObservedComponent,
  ObservedHost,
  ObservedLattice,
  ObservedProvider,
  Reconciliation,
  ReconcileCommand,
  ScalerStatus,
  StatusInfo,
  StatusType,
  WorkloadFailure,
} from './reconcile.ts';
export { observedHost, observeLattice } from './observe.ts';
export { createAppManager } from './manager.ts';
export { awaitDeployed, putAndDeploy } from './wadm-deploy.ts';
export type { DeployOptions } from './wadm-deploy.ts';
export type { AppManager, AppManagerLimits, AppManagerOptions } from './manager.ts';
export { MANIFEST_BUCKET } from './manifest-store.ts';
export { serveWadmApi, WADM_QUEUE } from './wadm-api.ts';
export type { WadmApi, WadmApiOptions } from './wadm-api.ts';
export { LEASE_BUCKET, startApplicationService } from './service.ts';
export type { ApplicationService, ApplicationServiceOptions } from './service.ts';
export { withImages } from './manifest-images.ts';
export { createWadmClient } from './wadm-client.ts';
export type {
  WadmClient,
  WadmClientOptions,
  WadmModelSummary,
  WadmPutReply,
  WadmStatus,
} from './wadm-client.ts';
export { STATE_BUCKET, wadmStateDocuments, wadmStateWriter } from './wadm-state.ts';
