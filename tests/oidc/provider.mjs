// A real OpenID Connect provider (the `oidc-provider` package) for AICC's single sign-on tests.
//
//   node provider.mjs CONFIG.json
//
// CONFIG.json: {"issuer": "http://127.0.0.1:PORT", "port": PORT, "clients": [...],
// "accounts": "ACCOUNTS.json"}. ACCOUNTS.json maps a login to its claims and is read on every
// sign-in, so a test can change someone's groups between two sign-ins. The sign-in and consent
// pages are oidc-provider's development interactions: any password is accepted for a login
// that ACCOUNTS.json names. Prints "listening ISSUER" once it serves.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = () => JSON.parse(readFileSync(config.accounts, 'utf8'));

const provider = new Provider(config.issuer, {
  clients: config.clients,
  async findAccount(ctx, id) {
    const claims = accounts()[id];
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ sub: claims.sub ?? id, ...claims }) };
  },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  cookies: { keys: ['aicc-test-oidc-provider-cookie-key'] },
  ttl: { AuthorizationCode: 60, IdToken: 300, AccessToken: 300, Session: 3600, Interaction: 600, Grant: 3600 },
});
provider.proxy = false;

provider.listen(config.port, '127.0.0.1', () => {
  console.log(`listening ${config.issuer}`);
});
