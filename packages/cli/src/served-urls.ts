import type { DeploymentPlan } from '@cirrus/apps';

/** The URLs the plan serves over the built-in HTTP server, for the start-up banner. */
export function servedUrls(plan: DeploymentPlan, defaultAddress: string): string[] {
  const values = new Map(plan.configs.map((c) => [c.name, c.values]));
  const urls: string[] = [];
  for (const link of plan.links) {
    if (
      link.wit_namespace !== 'wasi' ||
      link.wit_package !== 'http' ||
      !link.interfaces.includes('incoming-handler')
    )
      continue;
    if (!plan.providers.some((p) => p.id === link.source_id)) continue;
    const config = Object.assign({}, ...link.source_config.map((name) => values.get(name) ?? {})) as Record<
      string,
      string
    >;
    const address = config['address'] ?? defaultAddress;
    const host = address
      .replace(/^0\.0\.0\.0:/, '127.0.0.1:')
      .replace(/^\[::\]:/, '[::1]:')
      .replace(/^:/, '127.0.0.1:');
    urls.push(`http://${host}${config['path'] ?? '/'}`);
  }
  return urls;
}
