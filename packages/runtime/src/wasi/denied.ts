/**
 * Filesystem and sockets: a component sees no preopened directories and cannot open sockets. These
 * interfaces exist so that components built with the usual toolchains (which import them
 * unconditionally) instantiate; every operation that would reach outside the sandbox is refused.
 */

class Descriptor {}
class DirectoryEntryStream {}

export const filesystemImports: Record<string, Record<string, unknown>> = {
  'wasi:filesystem/preopens': { getDirectories: () => [] },
  'wasi:filesystem/types': {
    Descriptor,
    DirectoryEntryStream,
    filesystemErrorCode: () => undefined,
  },
};

const ACCESS_DENIED = 'access-denied';

function denied(): never {
  throw ACCESS_DENIED;
}

class Network {}
class TcpSocket {}
class UdpSocket {}
class IncomingDatagramStream {}
class OutgoingDatagramStream {}
class ResolveAddressStream {}

export const socketsImports: Record<string, Record<string, unknown>> = {
  'wasi:sockets/network': { Network, networkErrorCode: () => undefined },
  'wasi:sockets/instance-network': { instanceNetwork: () => new Network() },
  'wasi:sockets/tcp': { TcpSocket },
  'wasi:sockets/tcp-create-socket': { createTcpSocket: denied },
  'wasi:sockets/udp': { UdpSocket, IncomingDatagramStream, OutgoingDatagramStream },
  'wasi:sockets/udp-create-socket': { createUdpSocket: denied },
  'wasi:sockets/ip-name-lookup': { ResolveAddressStream, resolveAddresses: denied },
};
