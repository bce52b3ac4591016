/**
 * How a provider reaches its host's lattice. The host says where in HostData: `lattice_rpc_url`,
 * and either a user JWT with its seed (decentralised auth), a seed alone (an nkey user), or a token
 * or user/password inside the URL (`nats://<token>@127.0.0.1:4222`), which is how a Cirrus host
 * hands out the token of its local lattice endpoint. Rust and Go NATS clients read URL credentials
 * the same way, so a provider written with another SDK connects with the same HostData.
 *
 * TLS: a `tls://` URL requires it (as in the Go and Rust clients); the CA, client certificate and
 * expected server name come in `lattice_rpc_tls`, a Cirrus extension that 1.x SDKs ignore.
 */
import type { NatsConnectOptions, NatsCredentials, NatsTlsOptions } from '@cirrus/lattice-nats';
import { HostDataInvalidError } from '@cirrus/protocol';
import type { HostData } from '@cirrus/protocol';

function tlsOptions(data: HostData): NatsTlsOptions | undefined {
  const tls = data.lattice_rpc_tls;
  if (tls === undefined) return undefined;
  if ((tls.cert_file === undefined) !== (tls.key_file === undefined)) {
    throw new HostDataInvalidError(
      'lattice_rpc_tls has a client certificate without its key, or a key alone',
      {
        hint: 'the host must pass cert_file and key_file together',
      },
    );
  }
  return {
    ...(tls.ca_file === undefined ? {} : { caFile: tls.ca_file }),
    ...(tls.cert_file === undefined ? {} : { certFile: tls.cert_file }),
    ...(tls.key_file === undefined ? {} : { keyFile: tls.key_file }),
    ...(tls.server_name === undefined ? {} : { serverName: tls.server_name }),
    ...(tls.handshake_first === true ? { handshakeFirst: true } : {}),
  };
}

export function natsOptionsFromHostData(data: HostData): NatsConnectOptions {
  let fromUrl: NatsCredentials | undefined;
  const servers = data.lattice_rpc_url
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      let url: URL;
      try {
        url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(part) ? part : `nats://${part}`);
      } catch {
        // The URL may hold a token: never echo it.
        throw new HostDataInvalidError('lattice_rpc_url is not a URL', {
          hint: 'the host must pass a NATS URL such as nats://127.0.0.1:4222',
        });
      }
      if (url.username !== '') {
        const user = decodeURIComponent(url.username);
        fromUrl =
          url.password === ''
            ? { type: 'token', token: user, source: 'HostData lattice_rpc_url' }
            : {
                type: 'user',
                user,
                password: decodeURIComponent(url.password),
                source: 'HostData lattice_rpc_url',
              };
        url.username = '';
        url.password = '';
      }
      return url.href.replace(/\/$/, '');
    });
  if (servers.length === 0) {
    throw new HostDataInvalidError('lattice_rpc_url names no server', {
      hint: 'the host must pass a NATS URL such as nats://127.0.0.1:4222',
    });
  }
  const jwt = data.lattice_rpc_user_jwt.trim();
  const seed = data.lattice_rpc_user_seed.trim();
  if (jwt !== '' && seed === '') {
    throw new HostDataInvalidError('lattice_rpc_user_jwt comes without lattice_rpc_user_seed', {
      hint: 'the host must pass the seed that signs for the user JWT',
    });
  }
  const credentials: NatsCredentials | undefined =
    jwt !== ''
      ? { type: 'jwt', jwt, seed, source: 'HostData lattice_rpc_user_jwt/lattice_rpc_user_seed' }
      : seed !== ''
        ? { type: 'nkey', seed, source: 'HostData lattice_rpc_user_seed' }
        : fromUrl;
  const tls = tlsOptions(data);
  return {
    servers,
    name: data.provider_key,
    ...(credentials === undefined ? {} : { credentials }),
    ...(tls === undefined ? {} : { tls }),
  };
}
