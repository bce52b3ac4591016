import type { Link, StringMap } from '@cirrus/protocol';
import type { AppManifest, NamedConfigRef } from './manifest.ts';

/** What deploying a manifest on one host means, in order: config, then workloads, then links. */
export interface DeploymentPlan {
  configs: { name: string; values: StringMap }[];
  providers: { id: string; ref: string; config: string[]; annotations: StringMap }[];
  components: { id: string; ref: string; count: number; config: string[]; annotations: StringMap }[];
  links: Link[];
}

export const MANAGED_BY = 'wasmcloud.dev/managed-by';
export const APP_SPEC = 'wasmcloud.dev/appspec';

/** Pure: the same manifest always gives the same plan. */
export function planDeployment(manifest: AppManifest, managedBy = 'cirrus'): DeploymentPlan {
  const annotations: StringMap = { [MANAGED_BY]: managedBy, [APP_SPEC]: manifest.name };
  const configs = new Map<string, StringMap>();
  const names = (refs: NamedConfigRef[]): string[] =>
    refs.map((ref) => {
      if (ref.values !== undefined) configs.set(ref.name, ref.values);
      return ref.name;
    });
  const idOf = new Map(manifest.components.map((c) => [c.name, c.id]));
  const plan: DeploymentPlan = { configs: [], providers: [], components: [], links: [] };
  for (const c of manifest.components) {
    const config = names(c.config);
    // A shared application's component runs where that application placed it.
    if (c.shared === undefined) {
      if (c.kind === 'capability') plan.providers.push({ id: c.id, ref: c.image, config, annotations });
      else plan.components.push({ id: c.id, ref: c.image, count: c.scaler.instances, config, annotations });
    }
    for (const link of c.links) {
      plan.links.push({
        source_id: c.id,
        target: idOf.get(link.target) ?? link.target,
        name: link.name,
        wit_namespace: link.namespace,
        wit_package: link.package,
        interfaces: link.interfaces,
        source_config: names(link.sourceConfig),
        target_config: names(link.targetConfig),
      });
    }
  }
  plan.configs = [...configs].map(([name, values]) => ({ name, values }));
  return plan;
}
