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

/** `host.ping` reply: a host's identity and where it is connected. */
export interface HostInfo {
  id: string;
  friendly_name: string;
  labels: StringMap;
  lattice: string;
  uptime_seconds: number;
  uptime_human: string;
  version: string;
  ctl_host?: string;
  rpc_host?: string;
  js_domain?: string;
}

/** `component.scale.<host>` request. Clients in the wild also send the count as `max_instances`. */
export interface ScaleComponentRequest {
  component_ref: string;
  component_id: string;
  host_id: string;
  count: number;
  annotations?: StringMap;
  config?: string[];
  component_limits?: StringMap;
  allow_update?: boolean;
}

/** `component.update.<host>` request. */
export interface UpdateComponentRequest {
  component_id: string;
  new_component_ref: string;
  host_id: string;
  annotations?: StringMap;
}

/** `provider.start.<host>` request. */
export interface StartProviderRequest {
  provider_id: string;
  provider_ref: string;
  host_id: string;
  config?: string[];
  annotations?: StringMap;
}

/** `provider.stop.<host>` request (`provider_ref` is accepted as an alias of `provider_id`). */
export interface StopProviderRequest {
  provider_id: string;
  host_id: string;
}

/** `host.stop.<host>` request; the body may also be empty. `timeout` is in milliseconds. */
export interface StopHostRequest {
  host_id?: string;
  timeout?: number;
}

/** `label.put.<host>` / `label.del.<host>` request (`value` only for put). */
export interface LabelRequest {
  key: string;
  value?: string;
}

/** `link.del` request; `name` defaults to `default`. */
export interface DeleteLinkRequest {
  source_id: string;
  name?: string;
  wit_namespace: string;
  wit_package: string;
}

/** `component.auction` request and reply. */
export interface ComponentAuctionRequest {
  component_ref: string;
  component_id: string;
  constraints: StringMap;
}

export interface ComponentAuctionAck extends ComponentAuctionRequest {
  host_id: string;
}

/** `provider.auction` request and reply. */
export interface ProviderAuctionRequest {
  provider_ref: string;
  provider_id: string;
  constraints: StringMap;
}

export interface ProviderAuctionAck extends ProviderAuctionRequest {
  host_id: string;
}
