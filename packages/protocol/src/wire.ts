/**
 * wasmCloud 1.x wire shapes (control interface, links, inventory). Field names are snake_case
 * because that is what travels on the lattice.
 */

export type StringMap = Record<string, string>;

/** A 1.x interface link definition, control-plane form. */
export interface Link {
  source_id: string;
  target: string;
  name: string;
  wit_namespace: string;
  wit_package: string;
  interfaces: string[];
  source_config: string[];
  target_config: string[];
}

/** The value stored under `COMPONENT_<id>` in `LATTICEDATA_<lattice>`. */
export interface ComponentSpecification {
  url: string;
  links: Link[];
}

export interface ComponentDescription {
  id: string;
  image_ref: string;
  name?: string;
  annotations: StringMap;
  revision: number;
  max_instances: number;
  limits: StringMap | null;
}

export interface ProviderDescription {
  id: string;
  image_ref?: string;
  name?: string;
  annotations?: StringMap;
  revision: number;
}

export interface HostInventory {
  host_id: string;
  friendly_name: string;
  version: string;
  labels: StringMap;
  uptime_seconds: number;
  uptime_human: string;
  components: ComponentDescription[];
  providers: ProviderDescription[];
}

export interface CtlResponse<T = never> {
  success: boolean;
  message: string;
  response?: T;
}

/** Link identity for put/replace: (source, target, namespace, package, name). */
export function sameLinkIdentity(a: Link, b: Link): boolean {
  return (
    a.source_id === b.source_id &&
    a.target === b.target &&
    a.wit_namespace === b.wit_namespace &&
    a.wit_package === b.wit_package &&
    a.name === b.name
  );
}

/** `93` → `1m 33s`, the way 1.x hosts render uptime. */
export function humanUptime(seconds: number): string {
  const units: [number, string][] = [
    [86_400, 'd'],
    [3_600, 'h'],
    [60, 'm'],
  ];
  const parts: string[] = [];
  let rest = Math.max(0, Math.floor(seconds));
  for (const [size, suffix] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${suffix}`);
      rest %= size;
    }
  }
  parts.push(`${rest}s`);
  return parts.join(' ');
}
