/**
 * The dashboard's actions: each checked field by field (a bad one is INVALID_ARGUMENT naming it),
 * then sent through the control interface or the wadm API exactly as `cirrus` sends it, and the
 * host's or manager's answer handed back. An application manifest is checked here first, so that
 * its problems come back with their lines even when no manager answers.
 */
import { parseManifest } from '@cirrus/apps';
import type { WadmClient } from '@cirrus/apps';
import type { ControlClient } from '@cirrus/control-client';
import { InvalidArgumentError } from '@cirrus/protocol';
import type { Limits, Link, StringMap } from '@cirrus/protocol';
import type { Action, ActionResult } from './api-types.ts';

export interface ActionContext {
  control: ControlClient;
  wadm: WadmClient;
  limits: Limits;
}

type Fields = Record<string, unknown>;

function invalid(what: string, hint: string): InvalidArgumentError {
  return new InvalidArgumentError(what, { hint });
}

function str(body: Fields, key: string, optional?: false): string;
function str(body: Fields, key: string, optional: true): string | undefined;
function str(body: Fields, key: string, optional = false): string | undefined {
  const value = body[key];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || value.trim() === '') {
    throw invalid(`"${key}" must be a non-empty string`, `give ${key} as text`);
  }
  return value;
}

function count(body: Fields, key: string): number {
  const value = body[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`"${key}" must be a whole number from 0`, 'a count of 0 stops the component');
  }
  return value;
}

function strings(value: unknown, key: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw invalid(`"${key}" must be a list of strings`, `e.g. "${key}": ["name"]`);
  }
  return value;
}

function stringMap(value: unknown, key: string): StringMap {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`"${key}" must be an object of strings`, `e.g. "${key}": { "address": "0.0.0.0:8080" }`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw invalid(`"${key}.${k}" must be a string`, 'config values are text');
  }
  return value as StringMap;
}

function link(value: unknown): Link {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(
      '"link" must be an object',
      'give source_id, target, wit_namespace, wit_package, interfaces',
    );
  }
  const body = value as Fields;
  return {
    source_id: str(body, 'source_id'),
    target: str(body, 'target'),
    name: str(body, 'name', true) ?? 'default',
    wit_namespace: str(body, 'wit_namespace'),
    wit_package: str(body, 'wit_package'),
    interfaces: strings(body['interfaces'], 'interfaces'),
    source_config: body['source_config'] === undefined ? [] : strings(body['source_config'], 'source_config'),
    target_config: body['target_config'] === undefined ? [] : strings(body['target_config'], 'target_config'),
  };
}

/** Checks an action's body; throws INVALID_ARGUMENT for the first bad field. */
export function parseAction(value: unknown): Action {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('the action must be a JSON object', 'send {"kind": …} with the action’s fields');
  }
  const body = value as Fields;
  const kind = body['kind'];
  switch (kind) {
    case 'scale-component':
      return {
        kind,
        hostId: str(body, 'hostId'),
        componentRef: str(body, 'componentRef'),
        componentId: str(body, 'componentId'),
        count: count(body, 'count'),
      };
    case 'start-provider':
      return {
        kind,
        hostId: str(body, 'hostId'),
        providerRef: str(body, 'providerRef'),
        providerId: str(body, 'providerId'),
      };
    case 'stop-provider':
      return { kind, hostId: str(body, 'hostId'), providerId: str(body, 'providerId') };
    case 'put-link':
      return { kind, link: link(body['link']) };
    case 'delete-link':
      return {
        kind,
        sourceId: str(body, 'sourceId'),
        namespace: str(body, 'namespace'),
        package: str(body, 'package'),
        name: str(body, 'name', true) ?? 'default',
      };
    case 'put-config':
      return { kind, name: str(body, 'name'), values: stringMap(body['values'], 'values') };
    case 'delete-config':
      return { kind, name: str(body, 'name') };
    case 'put-app':
      return { kind, manifest: str(body, 'manifest') };
    case 'deploy-app': {
      const version = str(body, 'version', true);
      return { kind, name: str(body, 'name'), ...(version === undefined ? {} : { version }) };
    }
    case 'undeploy-app':
      return { kind, name: str(body, 'name') };
    default:
      throw invalid(
        `unknown action ${JSON.stringify(kind)}`,
        'kind is one of scale-component, start-provider, stop-provider, put-link, delete-link, ' +
          'put-config, delete-config, put-app, deploy-app, undeploy-app',
      );
  }
}

export async function runAction(action: Action, context: ActionContext): Promise<ActionResult> {
  const { control, wadm, limits } = context;
  const done = (message: string): ActionResult => ({ ok: true, message });
  switch (action.kind) {
    case 'scale-component': {
      // Waited for: the host acknowledges before it has started anything, and a failure shows only
      // as an event.
      const result = await control.scaleComponent(
        {
          hostId: action.hostId,
          componentRef: action.componentRef,
          componentId: action.componentId,
          count: action.count,
        },
        { wait: true },
      );
      return done(result.message);
    }
    case 'start-provider':
      return done(
        (
          await control.startProvider(
            { hostId: action.hostId, providerRef: action.providerRef, providerId: action.providerId },
            { wait: true },
          )
        ).message,
      );
    case 'stop-provider':
      return done(
        (await control.stopProvider({ hostId: action.hostId, providerId: action.providerId })).message,
      );
    case 'put-link':
      return done((await control.putLink(action.link)).message);
    case 'delete-link':
      return done(
        (
          await control.deleteLink({
            source_id: action.sourceId,
            wit_namespace: action.namespace,
            wit_package: action.package,
            name: action.name,
          })
        ).message,
      );
    case 'put-config':
      return done((await control.putConfig(action.name, action.values)).message);
    case 'delete-config':
      return done((await control.deleteConfig(action.name)).message);
    case 'put-app': {
      parseManifest(action.manifest, { limits, source: 'the manifest' });
      const reply = await wadm.put(action.manifest);
      return done(reply.message);
    }
    case 'deploy-app':
      return done((await wadm.deploy(action.name, action.version)).message);
    case 'undeploy-app':
      return done((await wadm.undeploy(action.name)).message);
  }
}
