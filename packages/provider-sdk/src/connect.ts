/**
 * How a provider reaches its host's lattice. The host says where in HostData: `lattice_rpc_url`,
 * and either a user JWT with its seed (decentralised auth), a seed alone (an nkey user), or a token
 * or user/password inside the URL (`nats://<token>@127.0.0.1:4222`), which is how a Cirrus host
 * hands out the token of its local lattice endpoint. Rust and Go NATS clients read URL credentials
 * the same way, so a provider written with another SDK connects with the same HostData.
 */
import type { NatsConnectOptions, NatsCredentials } from '@cirrus/lattice';
import { HostDataInvalidError } from '@cirrus/protocol';
import type { HostData } from '@cirrus/protocol';

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
            ? { type: 'token', token: user }
            : { type: 'user', user, password: decodeURIComponent(url.password) };
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
  const jwt = data.lattice_rpc_user_jwt;
  const seed = data.lattice_rpc_user_seed;
  const credentials: NatsCredentials | undefined =
    jwt !== '' && seed !== '' ? { type: 'jwt', jwt, seed } : seed !== '' ? { type: 'nkey', seed } : fromUrl;
  return {
    servers,
    name: data.provider_key,
    ...(credentials === undefined ? {} : { credentials }),
  };
}
