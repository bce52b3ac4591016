export { API_VERSION, checkManifest, manifestInvalid, parseManifest, wadmId } from './manifest.ts';
export type {
  AppComponent,
  AppLink,
  AppManifest,
  ManifestCheck,
  ManifestLimits,
  NamedConfigRef,
  ParseOptions,
} from './manifest.ts';
export { APP_SPEC, MANAGED_BY, planDeployment } from './plan.ts';
export type { DeploymentPlan } from './plan.ts';
export type { Problem } from './yaml-view.ts';
