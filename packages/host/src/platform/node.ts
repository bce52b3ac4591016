/** The host on Node: provider processes, node:crypto for signed invocations, the OS in the labels. */
import { arch, platform } from 'node:os';
import { createComponentRuntime } from '@cirrus/runtime';
import { externalProvider, providerProgram } from '../providers/external.ts';
import { nodeSigning } from './node-signing.ts';
import type { HostPlatform } from './types.ts';

const ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ia32: 'x86', arm: 'arm' };

export const hostPlatform: HostPlatform = {
  hostcoreLabels() {
    const os = platform();
    return {
      'hostcore.os': os === 'darwin' ? 'macos' : os === 'win32' ? 'windows' : os,
      'hostcore.arch': ARCH[arch()] ?? arch(),
      'hostcore.osfamily': os === 'win32' ? 'windows' : 'unix',
    };
  },
  createRuntime: createComponentRuntime,
  providerProgram,
  externalProvider,
  signing: nodeSigning,
};
