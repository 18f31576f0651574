// Ory's published Hydra SDK (@ory/hydra-client, OAuth2Api) against Gatehouse's admin and public
// APIs: client CRUD, introspection, revocation, and the login/consent endpoints driven through
// the full browser flow.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';

import { Configuration, OAuth2Api } from '@ory/hydra-client';

import {
  Browser,
  DB_MODE,
  EMAIL,
  SUBJECT,
  basicAuth,
  decodeJwt,
  freePort,
  introspect,
  postForm,
  rid,
  sdkError,
  startEnv,
} from './harness.mjs';

let env;

before(async () => {
  env = await startEnv();
});

after(async () => {
  await env?.stop();
});

/** A confidential web client for the code flow, created through the SDK. */
async function webClient(extra = {}) {
  const port = await freePort();
  const redirectUri = `http://127.0.0.1:${port}/cb`;
  const client = await env.createClient({
    client_name: rid('sdk-web'),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [redirectUri],
    scope: 'openid offline_access email',
    token_endpoint_auth_method: 'client_secret_basic',
    ...extra,
  });
  return { client, redirectUri };
}

/** Runs /oauth2/auth through the login app with a cookie-keeping browser; returns the callback URL. */
async function authorize(client, redirectUri, params = {}) {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(16).toString('base64url');
  const url = new URL('/oauth2/auth', env.publicUrl);
  url.search = new URLSearchParams({
    client_id: client.client_id,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid offline_access email',
    state,
    nonce: randomBytes(16).toString('base64url'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...params,
  }).toString();
  const browser = new Browser();
  const callback = await browser.follow(url, redirectUri);
  return { callback, state, verifier, browser };
}

async function exchangeCode(client, redirectUri, code, verifier) {
  return postForm(
    `${env.publicUrl}/oauth2/token`,
    { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier },
    { authorization: basicAuth(client.client_id, client.client_secret) },
  );
}

/** All clients, page by page, following the Link header the SDK hands back. */
async function listAllClients() {
  const all = [];
  let pageToken;
  for (let i = 0; i < 100; i++) {
    const res = await env.hydra.listOAuth2Clients({ pageSize: 500, pageToken });
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(res.data), 'listOAuth2Clients returns an array');
    all.push(...res.data);
    const link = res.headers.link || '';
    const next = /<([^>]+)>;\s*rel="next"/.exec(link);
    if (!next) return all;
    pageToken = new URL(next[1], env.adminUrl).searchParams.get('page_token');
    assert.ok(pageToken, `Link header has a page_token: ${link}`);
  }
  throw new Error('too many pages');
}

describe(`Hydra SDK @ory/hydra-client against Gatehouse (${DB_MODE})`, () => {
  test('client CRUD: create, get, list, set (PUT), patch (JSON Patch), delete', async () => {
    const name = rid('sdk-crud');
    const redirectUri = `http://127.0.0.1:${await freePort()}/cb`;

    // create
    const created = await env.hydra.createOAuth2Client({
      oAuth2Client: {
        client_name: name,
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        response_types: ['code'],
        redirect_uris: [redirectUri],
        scope: 'openid offline_access email',
        audience: ['https://api.example.com'],
        token_endpoint_auth_method: 'client_secret_basic',
        access_token_strategy: 'opaque',
        skip_consent: false,
      },
    });
    assert.equal(created.status, 201);
    const c = created.data;
    assert.equal(typeof c.client_id, 'string');
    assert.ok(c.client_id.length > 0);
    assert.equal(typeof c.client_secret, 'string', 'client_secret is shown on create');
    assert.ok(c.client_secret.length >= 16);
    assert.equal(c.client_name, name);
    assert.deepEqual(c.redirect_uris, [redirectUri]);
    assert.deepEqual(c.grant_types, ['authorization_code', 'refresh_token', 'client_credentials']);
    assert.deepEqual(c.response_types, ['code']);
    assert.equal(c.scope, 'openid offline_access email');
    assert.deepEqual(c.audience, ['https://api.example.com']);
    assert.equal(c.token_endpoint_auth_method, 'client_secret_basic');
    const secret = c.client_secret;
    const id = c.client_id;

    try {
      // get: same client, the secret is not shown again
      const got = await env.hydra.getOAuth2Client({ id });
      assert.equal(got.status, 200);
      assert.equal(got.data.client_id, id);
      assert.equal(got.data.client_name, name);
      assert.deepEqual(got.data.redirect_uris, [redirectUri]);
      assert.ok(!got.data.client_secret, 'client_secret is not returned by get');

      // list (paginated through the Link header)
      const all = await listAllClients();
      const listed = all.find((x) => x.client_id === id);
      assert.ok(listed, 'the new client is listed');
      assert.equal(listed.client_name, name);
      assert.ok(!listed.client_secret, 'client_secret is not returned by list');

      // set (PUT): replaces the client; without client_secret the old secret is kept
      const renamed = `${name}-put`;
      const redirect2 = `http://127.0.0.1:${await freePort()}/cb2`;
      const put = await env.hydra.setOAuth2Client({
        id,
        oAuth2Client: {
          client_name: renamed,
          grant_types: ['authorization_code', 'client_credentials'],
          response_types: ['code'],
          redirect_uris: [redirect2],
          scope: 'openid email',
          audience: ['https://api.example.com'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      });
      assert.equal(put.status, 200);
      assert.equal(put.data.client_id, id);
      assert.equal(put.data.client_name, renamed);
      assert.deepEqual(put.data.redirect_uris, [redirect2]);
      assert.deepEqual(put.data.grant_types, ['authorization_code', 'client_credentials']);
      assert.equal(put.data.scope, 'openid email');
      const afterPut = await env.hydra.getOAuth2Client({ id });
      assert.equal(afterPut.data.client_name, renamed);
      // The unchanged secret still authenticates the client.
      const cc = await postForm(
        `${env.publicUrl}/oauth2/token`,
        { grant_type: 'client_credentials', scope: 'email' },
        { authorization: basicAuth(id, secret) },
      );
      assert.equal(cc.status, 200, `client_credentials after PUT: ${JSON.stringify(cc.body)}`);

      // patch (RFC 6902 JSON Patch)
      const patched = await env.hydra.patchOAuth2Client({
        id,
        jsonPatch: [
          { op: 'replace', path: '/client_name', value: `${name}-patched` },
          { op: 'add', path: '/redirect_uris/-', value: redirectUri },
        ],
      });
      assert.equal(patched.status, 200);
      assert.equal(patched.data.client_id, id);
      assert.equal(patched.data.client_name, `${name}-patched`);
      assert.deepEqual(patched.data.redirect_uris, [redirect2, redirectUri]);
      const afterPatch = await env.hydra.getOAuth2Client({ id });
      assert.equal(afterPatch.data.client_name, `${name}-patched`);
      assert.deepEqual(afterPatch.data.redirect_uris, [redirect2, redirectUri]);
    } finally {
      // delete, then get → 404
      const del = await env.hydra.deleteOAuth2Client({ id });
      assert.equal(del.status, 204);
    }
    const gone = await sdkError(env.hydra.getOAuth2Client({ id }));
    assert.equal(gone.resolved, false);
    assert.equal(gone.status, 404);
    const goneAgain = await sdkError(env.hydra.deleteOAuth2Client({ id }));
    assert.equal(goneAgain.status, 404, 'deleting a deleted client is 404');
  });

  // GATEHOUSE BUG (compat): GET /admin/clients ignores Hydra v2's `client_name` and `owner`
  // filter query parameters and returns every client (see the compat report).
  test('listOAuth2Clients filters by client_name and owner (Hydra v2 list filters)', async () => {
    const name = rid('sdk-filter');
    const owner = rid('owner');
    const { client } = await webClient({ client_name: name });
    const { client: owned } = await webClient({ owner });
    const byName = await env.hydra.listOAuth2Clients({ clientName: name });
    assert.equal(byName.status, 200);
    assert.deepEqual(
      byName.data.map((c) => c.client_id),
      [client.client_id],
      'GET /admin/clients?client_name=… lists only the client with that client_name',
    );
    const byOwner = await env.hydra.listOAuth2Clients({ owner });
    assert.equal(byOwner.status, 200);
    assert.deepEqual(
      byOwner.data.map((c) => c.client_id),
      [owned.client_id],
      'GET /admin/clients?owner=… lists only the clients of that owner',
    );
  });

  test('client_credentials token, introspectOAuth2Token active, revokeOAuth2Token, then inactive', async () => {
    const client = await env.createClient({
      client_name: rid('sdk-cc'),
      grant_types: ['client_credentials'],
      response_types: [],
      scope: 'api.read api.write',
      audience: ['https://api.example.com'],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    const tok = await postForm(
      `${env.publicUrl}/oauth2/token`,
      { grant_type: 'client_credentials', scope: 'api.read', audience: 'https://api.example.com' },
      { authorization: basicAuth(client.client_id, client.client_secret) },
    );
    assert.equal(tok.status, 200, JSON.stringify(tok.body));
    assert.equal(typeof tok.body.access_token, 'string');
    assert.match(tok.body.token_type, /^bearer$/i);
    assert.ok(tok.body.expires_in > 0);
    assert.equal(tok.body.scope, 'api.read');
    assert.equal(tok.body.refresh_token, undefined, 'no refresh token for client_credentials');

    const intro = await env.hydra.introspectOAuth2Token({ token: tok.body.access_token });
    assert.equal(intro.status, 200);
    assert.equal(intro.data.active, true);
    assert.equal(intro.data.client_id, client.client_id);
    assert.equal(intro.data.scope, 'api.read');
    assert.equal(intro.data.token_use, 'access_token');
    assert.match(intro.data.token_type, /^bearer$/i);
    assert.equal(intro.data.iss, env.issuer);
    assert.ok(intro.data.exp > intro.data.iat);
    assert.ok(intro.data.aud.includes('https://api.example.com'), `aud: ${JSON.stringify(intro.data.aud)}`);

    // introspection with a scope the token lacks → inactive
    const wrongScope = await env.hydra.introspectOAuth2Token({ token: tok.body.access_token, scope: 'api.write' });
    assert.equal(wrongScope.data.active, false);

    // a garbage token → inactive, not an error
    const garbage = await env.hydra.introspectOAuth2Token({ token: 'not-a-token' });
    assert.equal(garbage.status, 200);
    assert.equal(garbage.data.active, false);

    // Revoke through the SDK on the public API. The SDK sends its clientId/clientSecret
    // parameters in the form body (client_secret_post) and HTTP Basic from its Configuration's
    // username/password: this client is registered for client_secret_basic, so use the latter.
    const publicAsClient = new OAuth2Api(
      new Configuration({ basePath: env.publicUrl, username: client.client_id, password: client.client_secret }),
    );
    const rev = await publicAsClient.revokeOAuth2Token({ token: tok.body.access_token });
    assert.equal(rev.status, 200);
    const after = await env.hydra.introspectOAuth2Token({ token: tok.body.access_token });
    assert.equal(after.data.active, false);
  });

  test('full flow: login and consent requests read and accepted through the SDK', async () => {
    const { client, redirectUri } = await webClient();
    const { callback, state, verifier } = await authorize(client, redirectUri);

    // The redirect back to the client: code, state, scope and iss (RFC 9207).
    assert.equal(callback.origin + callback.pathname, redirectUri);
    assert.equal(callback.searchParams.get('error'), null, callback.href);
    assert.ok(callback.searchParams.get('code'));
    assert.equal(callback.searchParams.get('state'), state);
    assert.equal(callback.searchParams.get('iss'), env.issuer);

    // What the SDK saw on the login and consent requests.
    const events = env.loginApp.events;
    const login = events.findLast((e) => e.type === 'login_request' && e.data.client?.client_id === client.client_id);
    assert.ok(login, 'login app got the login request');
    assert.equal(login.data.challenge, login.loginChallenge);
    assert.equal(login.data.skip, false);
    assert.equal(login.data.subject, '');
    assert.deepEqual(login.data.requested_scope, ['openid', 'offline_access', 'email']);
    assert.ok(login.data.request_url.startsWith(`${env.publicUrl}/oauth2/auth?`), login.data.request_url);
    assert.equal(typeof login.data.oidc_context, 'object');
    const accepted = events.find((e) => e.type === 'login_accept' && e.loginChallenge === login.loginChallenge);
    assert.ok(accepted.data.redirect_to.startsWith(`${env.publicUrl}/oauth2/auth?`), accepted.data.redirect_to);
    assert.ok(new URL(accepted.data.redirect_to).searchParams.get('login_verifier'));

    const consent = events.findLast((e) => e.type === 'consent_request' && e.data.client?.client_id === client.client_id);
    assert.ok(consent, 'login app got the consent request');
    assert.equal(consent.data.challenge, consent.consentChallenge);
    assert.equal(consent.data.subject, SUBJECT);
    assert.equal(consent.data.skip, false);
    assert.deepEqual(consent.data.requested_scope, ['openid', 'offline_access', 'email']);
    assert.deepEqual(consent.data.context, { via: 'compat-login-app' });
    const consentAccepted = events.find((e) => e.type === 'consent_accept' && e.consentChallenge === consent.consentChallenge);
    assert.ok(new URL(consentAccepted.data.redirect_to).searchParams.get('consent_verifier'));

    // A handled login request is gone: Hydra answers 410 with redirect_to.
    const again = await sdkError(env.hydra.getOAuth2LoginRequest({ loginChallenge: login.loginChallenge }));
    assert.equal(again.status, 410);
    assert.ok(again.data.redirect_to);

    // The code works; the tokens carry what consent granted.
    const tok = await exchangeCode(client, redirectUri, callback.searchParams.get('code'), verifier);
    assert.equal(tok.status, 200, JSON.stringify(tok.body));
    assert.equal(tok.body.scope.split(' ').sort().join(' '), 'email offline_access openid');
    assert.ok(tok.body.refresh_token, 'offline_access granted → refresh token');
    const idt = decodeJwt(tok.body.id_token).payload;
    assert.equal(idt.sub, SUBJECT);
    assert.equal(idt.email, EMAIL);
    assert.equal(idt.iss, env.issuer);
    const intro = await env.hydra.introspectOAuth2Token({ token: tok.body.access_token });
    assert.equal(intro.data.active, true);
    assert.equal(intro.data.sub, SUBJECT);
    assert.equal(intro.data.client_id, client.client_id);
    assert.equal(intro.data.token_use, 'access_token');
    assert.deepEqual(intro.data.ext, { compat: true }, 'session.access_token shows as ext');

    // Consent sessions (remember: true) are listed, and can be revoked for this client.
    const sessions = await env.hydra.listOAuth2ConsentSessions({ subject: SUBJECT });
    assert.equal(sessions.status, 200);
    const mine = sessions.data.find((s) => s.consent_request?.client?.client_id === client.client_id);
    assert.ok(mine, 'the consent session is listed');
    assert.deepEqual([...mine.grant_scope].sort(), ['email', 'offline_access', 'openid']);
    const revoked = await env.hydra.revokeOAuth2ConsentSessions({ subject: SUBJECT, client: client.client_id });
    assert.equal(revoked.status, 204);
    const sessionsAfter = await env.hydra.listOAuth2ConsentSessions({ subject: SUBJECT });
    assert.ok(!sessionsAfter.data.some((s) => s.consent_request?.client?.client_id === client.client_id));
    // Revoking consent revokes the tokens issued under it.
    const introAfter = await env.hydra.introspectOAuth2Token({ token: tok.body.access_token });
    assert.equal(introAfter.data.active, false);
  });

  test('deleteOAuth2Token revokes all tokens of a client', async () => {
    const { client, redirectUri } = await webClient();
    const { callback, verifier } = await authorize(client, redirectUri);
    const tok = await exchangeCode(client, redirectUri, callback.searchParams.get('code'), verifier);
    assert.equal(tok.status, 200, JSON.stringify(tok.body));
    assert.equal((await introspect(env.adminUrl, tok.body.access_token)).active, true);
    const del = await env.hydra.deleteOAuth2Token({ clientId: client.client_id });
    assert.equal(del.status, 204);
    assert.equal((await introspect(env.adminUrl, tok.body.access_token)).active, false);
    assert.equal((await introspect(env.adminUrl, tok.body.refresh_token)).active, false);
  });

  test('rejectOAuth2LoginRequest: error=access_denied redirect to the client with state and iss', async () => {
    const { client, redirectUri } = await webClient();
    env.loginApp.setLoginBehavior(client.client_id, 'reject');
    const { callback, state } = await authorize(client, redirectUri);
    assert.equal(callback.origin + callback.pathname, redirectUri);
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('error_description'), 'The resource owner denied the request');
    assert.equal(callback.searchParams.get('state'), state);
    assert.equal(callback.searchParams.get('iss'), env.issuer);
    assert.equal(callback.searchParams.get('code'), null);
    const request = env.loginApp.events.findLast(
      (e) => e.type === 'login_request' && e.data.client?.client_id === client.client_id,
    );
    const rejected = env.loginApp.events.find(
      (e) => e.type === 'login_reject' && e.loginChallenge === request?.loginChallenge,
    );
    assert.ok(rejected, 'the login app rejected through the SDK');
    assert.equal(typeof rejected.data.redirect_to, 'string');
    assert.ok(
      !env.loginApp.events.some((e) => e.type === 'consent_request' && e.data.client?.client_id === client.client_id),
      'no consent request after a rejected login',
    );
  });

  test('SDK errors: unknown client → 404, unknown login challenge → 404', async () => {
    const r1 = await sdkError(env.hydra.getOAuth2Client({ id: rid('missing') }));
    assert.equal(r1.status, 404);
    assert.equal(typeof r1.data.error, 'string');
    const r2 = await sdkError(env.hydra.getOAuth2LoginRequest({ loginChallenge: rid('nochallenge') }));
    assert.equal(r2.status, 404);
  });
});
