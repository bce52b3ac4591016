/**
 * The host in a browser tab: no processes to start, and its labels say where it runs
 * (`hostcore.os=browser`, with the browser's brand, version and platform where the browser tells).
 */
import {
  encodeHostCredential,
  FileLoadDeniedError,
  InvalidArgumentError,
  webCryptoBytes,
  webInvocationCrypto,
} from '@cirrus/protocol';
import type { Nkey, StringMap } from '@cirrus/protocol';
import type { SigningPrimitives } from '../invocation-signing.ts';
import type { HostPlatform } from './types.ts';

interface UserAgentData {
  brands?: { brand: string; version: string }[];
  platform?: string;
}

function browserLabels(): StringMap {
  const navigator = (globalThis as { navigator?: { userAgentData?: UserAgentData } }).navigator;
  const data = navigator?.userAgentData;
  // "Not A(Brand" entries are GREASE, there to be ignored.
  const brand =
    data?.brands?.find((b) => !/not.a.brand/i.test(b.brand) && b.brand !== 'Chromium') ??
    data?.brands?.find((b) => b.brand === 'Chromium');
  const labels: StringMap = {
    'hostcore.os': 'browser',
    'hostcore.arch': 'wasm32',
    'hostcore.osfamily': 'browser',
  };
  if (brand !== undefined) {
    labels['hostcore.browser'] = brand.brand.toLowerCase().replace(/[^a-z0-9]+/g, '-');
    labels['hostcore.browser_version'] = brand.version;
  }
  if (data?.platform) labels['hostcore.browser_platform'] = data.platform.toLowerCase();
  return labels;
}

/** DER framing that makes the 32 bytes of an Ed25519 seed a PKCS#8 private key (RFC 8410). */
const PKCS8_PREFIX = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/**
 * WebCrypto's Ed25519 (Chromium 137 and later) signs invocations. A credential is encoded
 * synchronously, so issuing one (once per half lifetime) uses nkeys' own JavaScript signature.
 */
const webSigning: SigningPrimitives = {
  crypto: webInvocationCrypto,
  async signer(key: Nkey) {
    const der = new Uint8Array(PKCS8_PREFIX.length + 32);
    der.set(PKCS8_PREFIX);
    der.set(key.exportSeedBytes(), PKCS8_PREFIX.length);
    const privateKey = await crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, false, ['sign']);
    der.fill(0);
    return async (data: Uint8Array) =>
      new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, privateKey, webCryptoBytes(data)));
  },
  issueCredential: (clusterKey, hostId, lifetimeMs, nowMs) =>
    encodeHostCredential(
      { issuer: clusterKey.publicKey, hostId, issuedAtMs: nowMs, expiresAtMs: nowMs + lifetimeMs },
      (data) => clusterKey.sign(data),
    ),
};

export const hostPlatform: HostPlatform = {
  hostcoreLabels: browserLabels,
  createRuntime() {
    throw new InvalidArgumentError('a browser host needs the runtime it runs components with', {
      hint: 'pass `runtime: createComponentRuntime({ transpiler, workerUrl })` from @cirrus/runtime',
    });
  },
  providerProgram(ref) {
    if (ref.startsWith('file:') || ref.startsWith('/') || ref.startsWith('./') || ref.startsWith('../')) {
      throw new FileLoadDeniedError(`a browser host cannot start provider programs (${ref})`, {
        hint: 'start the provider on a Node host of the lattice; components in the tab reach it through their links',
      });
    }
    return undefined;
  },
  externalProvider(ref) {
    throw new FileLoadDeniedError(`a browser host cannot start provider programs (${ref})`);
  },
  signing: webSigning,
};
