// A certified OpenID Connect relying party, openid-client (panva, v6), against Gatehouse:
// discovery, authorization code + PKCE (S256) + state + nonce through the login/consent app,
// code exchange with ID token validation, userinfo, refresh token rotation and reuse detection.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as oidc from 'openid-client';

import {
  Browser,
  DB_MODE,
  EMAIL,
  SUBJECT,
  atHash,
  decodeJwt,
  freePort,
  introspect,
  parseForm,
  rid,
  startEnv,
  verifyJws,
} from './harness.mjs';

let env;

before(async () => {
  env = await startEnv();
});

after(async () => {
  await env?.stop();
});

const SCOPE = 'openid offline_access email';

/** Registers a code-flow client through the admin API and discovers it with openid-client. */
async function rpFor(method, extra = {}) {
  const redirectUri = `http://127.0.0.1:${await freePort()}/cb`;
  const client = await env.createClient({
    client_name: rid(`rp-${method}`),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [redirectUri],
    scope: SCOPE,
    token_endpoint_auth_method: method,
    ...extra,
  });
  const auth = {
    client_secret_basic: () => oidc.ClientSecretBasic(client.client_secret),
    client_secret_post: () => oidc.ClientSecretPost(client.client_secret),
    none: () => oidc.None(),
  }[method]();
  const config = await oidc.discovery(
    new URL(env.issuer),
    client.client_id,
    { redirect_uris: [redirectUri], response_types: ['code'] },
    auth,
    // Gatehouse runs on plain http on loopback in these tests.
    { execute: [oidc.allowInsecureRequests] },
  );
  // Make the library verify ID token signatures against the issuer's JWKS (openid-client
  // skips that for ID tokens received straight from the token endpoint otherwise).
  oidc.enableNonRepudiationChecks(config);
  return { client, config, redirectUri };
}

/** Starts the code flow with PKCE S256, state and nonce; returns the checks and the auth URL. */
async function start(config, redirectUri, extra = {}) {
  const pkceCodeVerifier = oidc.randomPKCECodeVerifier();
  const codeChallenge = await oidc.calculatePKCECodeChallenge(pkceCodeVerifier);
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: SCOPE,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { url, checks: { pkceCodeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true } };
}

async function jwks() {
  const r = await fetch(`${env.issuer}/.well-known/jwks.json`);
  assert.equal(r.status, 200);
  return r.json();
}

/** The checks on an ID token that this suite makes itself, beside the library's. */
async function checkIdToken(idToken, accessToken, clientId, nonce) {
  const { header, payload } = decodeJwt(idToken);
  assert.ok(verifyJws(idToken, await jwks()), 'ID token signature verifies against jwks_uri');
  assert.equal(payload.iss, env.issuer);
  assert.equal(payload.sub, SUBJECT);
  assert.ok([payload.aud].flat().includes(clientId), `aud ${JSON.stringify(payload.aud)}`);
  if (nonce !== undefined) assert.equal(payload.nonce, nonce);
  assert.equal(typeof payload.at_hash, 'string', 'ID token carries at_hash');
  assert.equal(payload.at_hash, atHash(accessToken, header.alg), 'at_hash matches the access token');
  assert.ok(payload.exp > payload.iat);
  return payload;
}

describe(`openid-client (certified RP) against Gatehouse (${DB_MODE})`, () => {
  test('discovery', async () => {
    const { config } = await rpFor('client_secret_basic');
    const md = config.serverMetadata();
    assert.equal(md.issuer, env.issuer);
    assert.equal(md.authorization_endpoint, `${env.issuer}/oauth2/auth`);
    assert.equal(md.token_endpoint, `${env.issuer}/oauth2/token`);
    assert.equal(md.jwks_uri, `${env.issuer}/.well-known/jwks.json`);
    assert.equal(md.userinfo_endpoint, `${env.issuer}/userinfo`);
    assert.ok(md.supportsPKCE('S256'), 'PKCE S256 is advertised');
    assert.equal(md.authorization_response_iss_parameter_supported, true);
  });

  test('code + PKCE (S256) + state + nonce, userinfo, refresh rotation and reuse detection', async () => {
    const { client, config, redirectUri } = await rpFor('client_secret_basic');
    const { url, checks } = await start(config, redirectUri);
    assert.equal(url.origin + url.pathname, `${env.issuer}/oauth2/auth`);

    const browser = new Browser();
    const callback = await browser.follow(url, redirectUri);
    assert.equal(callback.searchParams.get('iss'), env.issuer, 'RFC 9207 iss in the response');

    // The library checks state, iss, the code exchange with the PKCE verifier, and the ID token:
    // signature (JWKS), iss, aud, azp, exp/iat, nonce.
    const tokens = await oidc.authorizationCodeGrant(config, callback, checks);
    assert.equal(typeof tokens.access_token, 'string');
    assert.equal(typeof tokens.refresh_token, 'string', 'offline_access → refresh token');
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.expiresIn() > 0);
    assert.deepEqual(tokens.scope.split(' ').sort(), ['email', 'offline_access', 'openid']);
    const claims = tokens.claims();
    assert.equal(claims.sub, SUBJECT);
    assert.equal(claims.email, EMAIL);
    assert.equal(claims.nonce, checks.expectedNonce);
    assert.equal(claims.iss, env.issuer);
    await checkIdToken(tokens.id_token, tokens.access_token, client.client_id, checks.expectedNonce);

    // userinfo (the library checks sub against the ID token's)
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.sub, SUBJECT);
    assert.equal(info.email, EMAIL);

    // refresh: rotates the refresh token
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
    assert.equal(typeof refreshed.access_token, 'string');
    assert.notEqual(refreshed.access_token, tokens.access_token);
    assert.equal(typeof refreshed.refresh_token, 'string');
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'the refresh token rotates');
    if (refreshed.id_token) {
      const c2 = refreshed.claims();
      assert.equal(c2.sub, SUBJECT);
      await checkIdToken(refreshed.id_token, refreshed.access_token, client.client_id, undefined);
    }
    const info2 = await oidc.fetchUserInfo(config, refreshed.access_token, SUBJECT);
    assert.equal(info2.email, EMAIL);
    assert.equal((await introspect(env.adminUrl, tokens.refresh_token)).active, false, 'the rotated token is inactive');

    // reuse of the rotated refresh token → invalid_grant, and the whole family is revoked
    await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token), (err) => {
      assert.ok(err instanceof oidc.ResponseBodyError, `ResponseBodyError expected, got ${err}`);
      assert.equal(err.error, 'invalid_grant');
      assert.equal(err.status, 400);
      return true;
    });
    await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token), (err) => {
      assert.ok(err instanceof oidc.ResponseBodyError, `ResponseBodyError expected, got ${err}`);
      assert.equal(err.error, 'invalid_grant', 'the new refresh token was revoked with its family');
      return true;
    });
    assert.equal((await introspect(env.adminUrl, refreshed.refresh_token)).active, false);
    assert.equal(
      (await introspect(env.adminUrl, refreshed.access_token)).active,
      false,
      'access tokens of the revoked family are revoked too (Hydra)',
    );
    await assert.rejects(oidc.fetchUserInfo(config, refreshed.access_token, SUBJECT), (err) => {
      assert.ok(err instanceof oidc.WWWAuthenticateChallengeError, `got ${err}`);
      assert.equal(err.status, 401);
      assert.equal(err.cause[0].parameters.error, 'invalid_token');
      return true;
    });
  });

  for (const method of ['client_secret_post', 'none']) {
    test(`code + PKCE with token_endpoint_auth_method=${method}`, async () => {
      const { client, config, redirectUri } = await rpFor(method);
      const { url, checks } = await start(config, redirectUri);
      const callback = await new Browser().follow(url, redirectUri);
      const tokens = await oidc.authorizationCodeGrant(config, callback, checks);
      assert.equal(tokens.claims().sub, SUBJECT);
      await checkIdToken(tokens.id_token, tokens.access_token, client.client_id, checks.expectedNonce);
      const info = await oidc.fetchUserInfo(config, tokens.access_token, SUBJECT);
      assert.equal(info.email, EMAIL);
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
      assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
      // revocation with the library (RFC 7009), then the token is inactive
      await oidc.tokenRevocation(config, refreshed.refresh_token);
      assert.equal((await introspect(env.adminUrl, refreshed.refresh_token)).active, false);
    });
  }

  test('response_mode=form_post', async () => {
    const { client, config, redirectUri } = await rpFor('client_secret_basic');
    const { url, checks } = await start(config, redirectUri, { response_mode: 'form_post' });
    const page = await new Browser().followToPage(url);
    assert.equal(page.status, 200, page.body.slice(0, 300));
    const form = parseForm(page.body);
    assert.equal(form.method, 'POST');
    assert.equal(form.action, redirectUri);
    assert.equal(form.fields.state, checks.expectedState);
    assert.equal(form.fields.iss, env.issuer);
    assert.ok(form.fields.code);
    // What the browser would POST to the redirect_uri, handed to the library as a Request.
    const request = new Request(form.action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form.fields).toString(),
    });
    const tokens = await oidc.authorizationCodeGrant(config, request, checks);
    assert.equal(tokens.claims().sub, SUBJECT);
    await checkIdToken(tokens.id_token, tokens.access_token, client.client_id, checks.expectedNonce);
  });

  test('the library verifies the ID token signature against jwks_uri (foreign key → rejected)', async () => {
    const { config, redirectUri } = await rpFor('client_secret_basic');
    // Serve the RP a JWKS whose keys (same kid and alg) are not Gatehouse's.
    const real = await jwks();
    const foreign = {
      keys: await Promise.all(
        real.keys.map(async (k) => {
          const { publicKey } = await crypto.subtle.generateKey(
            k.kty === 'EC' ? { name: 'ECDSA', namedCurve: k.crv } : k.kty === 'OKP' ? { name: 'Ed25519' } : {
              name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256',
            },
            true,
            ['sign', 'verify'],
          );
          return { ...(await crypto.subtle.exportKey('jwk', publicKey)), kid: k.kid, alg: k.alg, use: k.use };
        }),
      ),
    };
    config[oidc.customFetch] = (url, options) =>
      String(url) === `${env.issuer}/.well-known/jwks.json`
        ? Promise.resolve(Response.json(foreign))
        : fetch(url, options);
    const { url, checks } = await start(config, redirectUri);
    const callback = await new Browser().follow(url, redirectUri);
    await assert.rejects(oidc.authorizationCodeGrant(config, callback, checks), (err) => {
      assert.match(`${err.message} ${err.cause?.message}`, /signature/i);
      return true;
    });
  });

  test('a wrong client secret is reported as invalid_client through the WWW-Authenticate challenge', async () => {
    // oauth4webapi reads the 401's challenge before the body: without error= in it, the
    // application saw error=undefined.
    const client = await env.createClient({
      client_name: rid('rp-wrong-secret'),
      grant_types: ['client_credentials'],
      response_types: [],
      scope: 'openid',
      token_endpoint_auth_method: 'client_secret_basic',
    });
    const config = await oidc.discovery(
      new URL(env.issuer),
      client.client_id,
      {},
      oidc.ClientSecretBasic(`${client.client_secret}x`),
      { execute: [oidc.allowInsecureRequests] },
    );
    await assert.rejects(oidc.clientCredentialsGrant(config, { scope: 'openid' }), (err) => {
      assert.equal(err.name, 'WWWAuthenticateChallengeError', `${err.name}: ${err.message}`);
      const challenge = err.cause?.[0];
      assert.equal(challenge?.scheme, 'basic');
      assert.equal(challenge?.parameters?.error, 'invalid_client', JSON.stringify(err.cause));
      assert.ok(challenge?.parameters?.error_description, JSON.stringify(err.cause));
      return true;
    });
  });

  test('the library rejects a callback with a wrong state', async () => {
    const { config, redirectUri } = await rpFor('client_secret_basic');
    const { url, checks } = await start(config, redirectUri);
    const callback = await new Browser().follow(url, redirectUri);
    await assert.rejects(
      oidc.authorizationCodeGrant(config, callback, { ...checks, expectedState: oidc.randomState() }),
      (err) => {
        // openid-client wraps oauth4webapi's error: the reason is in `cause`.
        assert.match(`${err.message} ${err.cause?.message} ${err.cause?.code}`, /state/i);
        return true;
      },
    );
  });
});
