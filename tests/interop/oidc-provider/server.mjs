// An independent OpenID Provider for the interop test: panva's certified oidc-provider, set up
// the way ID-porten behaves (PAR required, PKCE S256 required, private_key_jwt, RS256 ID tokens
// carrying pid, acr, amr and sid). Configuration comes from the environment:
//
//   INTEROP_PORT              port to listen on (127.0.0.1 only)
//   INTEROP_CLIENT_ID         the relying party's client_id
//   INTEROP_CLIENT_JWKS_FILE  path to the relying party's public JWKS (RSA)
//   INTEROP_REDIRECT_URI      the relying party's callback
//   INTEROP_POST_LOGOUT_URI   the relying party's post-logout redirect
//
// The login page is a tiny form (no JavaScript): the person types a fødselsnummer; the level of
// assurance in the ID token is the first one the relying party asked for in acr_values.
// It prints "ready <issuer>" on stdout once it listens.

import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} must be set`);
    process.exit(2);
  }
  return value;
};

const port = Number(env('INTEROP_PORT'));
const issuer = `http://127.0.0.1:${port}`;
const clientJwks = JSON.parse(readFileSync(env('INTEROP_CLIENT_JWKS_FILE'), 'utf8'));
const ACR_VALUES = ['idporten-loa-substantial', 'idporten-loa-high'];

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'interop-1', use: 'sig', alg: 'RS256' };

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const provider = new Provider(issuer, {
  clients: [{
    client_id: env('INTEROP_CLIENT_ID'),
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'RS256',
    id_token_signed_response_alg: 'RS256',
    jwks: clientJwks,
    redirect_uris: [env('INTEROP_REDIRECT_URI')],
    post_logout_redirect_uris: [env('INTEROP_POST_LOGOUT_URI')],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    // Only so that oidc-provider puts `sid` in the ID token, as ID-porten does; never called.
    backchannel_logout_uri: `${new URL(env('INTEROP_REDIRECT_URI')).origin}/backchannel-logout-unused`,
    backchannel_logout_session_required: true,
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['interop-cookie-key-not-secret'] },
  acrValues: ACR_VALUES,
  claims: {
    acr: null,
    amr: null,
    sid: null,
    auth_time: null,
    iss: null,
    openid: ['sub', 'pid'],
    profile: ['name', 'given_name', 'family_name'],
  },
  conformIdTokenClaims: false, // pid and the names go in the ID token, as ID-porten does
  features: {
    devInteractions: { enabled: false },
    pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, pid: sub, name: 'Kari Nordmann', given_name: 'Kari', family_name: 'Nordmann' };
      },
    };
  },
});

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>Interop-IdP</title></head><body><main>${body}</main></body></html>`);
}

async function readForm(req) {
  let raw = '';
  for await (const chunk of req) {
    raw += chunk;
    if (raw.length > 10000) throw new Error('form too large');
  }
  return new URLSearchParams(raw);
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    page(res, 200, `<h1>Logg inn</h1>
<form method="post" action="/interaction/${escapeHtml(details.uid)}/login">
<label for="pid">Fødselsnummer</label> <input id="pid" name="pid" inputmode="numeric">
<button type="submit">Logg inn</button></form>`);
    return;
  }
  const form = await readForm(req);
  const pid = form.get('pid') ?? '';
  if (!/^[0-9]{11}$/.test(pid)) {
    page(res, 400, '<p>Ugyldig fødselsnummer.</p>');
    return;
  }
  const { params } = details;
  const requested = String(params.acr_values ?? '').split(' ').filter((acr) => ACR_VALUES.includes(acr));
  const grant = new provider.Grant({ accountId: pid, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {
    login: { accountId: pid, acr: requested[0] ?? ACR_VALUES[0], amr: ['TestID'] },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((error) => {
      page(res, 400, `<p>${escapeHtml(error.message)}</p>`);
    });
    return;
  }
  callback(req, res);
}).listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
