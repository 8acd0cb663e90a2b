// A real OpenID Connect provider (the `oidc-provider` package) for the depot's sign-in tests.
// It listens on 127.0.0.1 only, on a port of the system's choosing, and talks to the Rust
// harness (habitat-test-support/src/oidc.rs) over its standard streams:
//   1. it prints `PORT <n>` once it listens;
//   2. it reads one line of JSON: { client_id, client_secret, redirect_uri, alg, accounts_file };
//   3. it prints `READY` once it answers as the issuer http://127.0.0.1:<n>.
// Accounts are read from `accounts_file` at every sign-in, so a test can rename a user:
//   { "<sub>": { "preferred_username": "...", "email": "..." } }
// Users sign in through the package's development login form (any password).

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
process.stdout.write(`PORT ${port}\n`);

const lines = createInterface({ input: process.stdin });
const first = await new Promise((resolve) => lines.once('line', resolve));
const setup = JSON.parse(first);

async function key(alg, options) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...options });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, alg, use: 'sig', kid: `test-${alg.toLowerCase()}` };
}

const keys = [await key('RS256'), await key('ES256'), await key('EdDSA', { crv: 'Ed25519' })];

function accounts() {
  return JSON.parse(readFileSync(setup.accounts_file, 'utf8'));
}

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: setup.client_id,
      client_secret: setup.client_secret,
      redirect_uris: [setup.redirect_uri],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: setup.alg || 'RS256',
    },
  ],
  jwks: { keys },
  cookies: { keys: ['habitat-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
  },
  async findAccount(ctx, id) {
    const user = accounts()[id];
    if (!user) {
      return undefined;
    }
    return {
      accountId: id,
      async claims() {
        return { sub: id, email_verified: true, ...user };
      },
    };
  },
});
// Tests run on http://127.0.0.1: nothing here sits behind a TLS proxy.
provider.proxy = false;

server.on('request', provider.callback());
process.stdout.write('READY\n');

// The harness closes standard input when it is done (or dies): stop then.
lines.on('close', () => {
  server.close();
  process.exit(0);
});
