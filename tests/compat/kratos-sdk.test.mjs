// Ory's published Kratos SDK (@ory/kratos-client: FrontendApi on the public API, IdentityApi on
// the admin API) against Gatehouse: identity CRUD, native login, registration and settings
// flows with session tokens, the caller's sessions, logout, and the admin session endpoints.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Configuration, FrontendApi, IdentityApi } from '@ory/kratos-client';

import { DB_MODE, rid, sdkError, startEnv } from './harness.mjs';

const PASSWORD = 'correct horse battery staple';
const INVALID_CREDENTIALS = 4000006;

let env;
let frontend;
let identities;
const created = []; // identity ids, deleted again in `after` (the PostgreSQL database is shared)

before(async () => {
  // Many logins from one IP within seconds: lift the per-IP login limit (10/min by default).
  env = await startEnv({ env: { GATEHOUSE_RATE_LIMITS_LOGIN_PER_MINUTE: '1000' } });
  frontend = new FrontendApi(new Configuration({ basePath: env.publicUrl }));
  identities = new IdentityApi(new Configuration({ basePath: env.adminUrl }));
});

after(async () => {
  for (const id of created) {
    await sdkError(identities.deleteIdentity({ id })).catch(() => {});
  }
  await env?.stop();
});

/** A fresh e-mail address: the PostgreSQL run shares its database with earlier runs. */
function email(prefix) {
  return `${rid(prefix)}@example.com`;
}

/** Creates an identity with a password through the SDK; returns it. */
async function createIdentity(address, name = 'Kim Doe', password = PASSWORD) {
  const res = await identities.createIdentity({
    createIdentityBody: {
      schema_id: 'default',
      traits: { email: address, name },
      credentials: { password: { config: { password } } },
    },
  });
  assert.equal(res.status, 201);
  created.push(res.data.id);
  return res.data;
}

/** createNativeLoginFlow → updateLoginFlow with a password; the SDK's result or error. */
async function nativeLogin(identifier, password) {
  const { data: flow, status } = await frontend.createNativeLoginFlow();
  assert.equal(status, 200);
  assert.equal(flow.type, 'api');
  return sdkError(
    frontend.updateLoginFlow({
      flow: flow.id,
      updateLoginFlowBody: { method: 'password', identifier, password },
    }),
  );
}

/** A session token for a successful native login. */
async function sessionToken(identifier, password = PASSWORD) {
  const r = await nativeLogin(identifier, password);
  assert.equal(r.status, 200, `login: ${JSON.stringify(r.data)}`);
  assert.equal(typeof r.data.session_token, 'string');
  return r.data.session_token;
}

describe(`Kratos SDK @ory/kratos-client against Gatehouse (${DB_MODE})`, () => {
  test('admin identities: createIdentity, listIdentities by identifier, getIdentity, patchIdentity', async () => {
    const address = email('sdk-crud');
    const identity = await createIdentity(address, 'Kim Doe');
    assert.equal(typeof identity.id, 'string');
    assert.equal(identity.schema_id, 'default');
    assert.equal(identity.state, 'active');
    assert.deepEqual(identity.traits, { email: address, name: 'Kim Doe' });
    assert.equal(identity.verifiable_addresses[0].value, address);
    assert.equal(identity.verifiable_addresses[0].verified, false);
    assert.deepEqual(identity.credentials.password.identifiers, [address]);
    assert.equal(identity.credentials.password.config, undefined, 'no hash unless asked for');

    const listed = await identities.listIdentities({ credentialsIdentifier: address });
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.data.map((i) => i.id),
      [identity.id],
    );
    const none = await identities.listIdentities({ credentialsIdentifier: email('sdk-nobody') });
    assert.deepEqual(none.data, []);

    const got = await identities.getIdentity({ id: identity.id, includeCredential: ['password'] });
    assert.equal(got.status, 200);
    assert.equal(got.data.id, identity.id);
    assert.match(got.data.credentials.password.config.hashed_password, /^\$argon2id\$/);

    const patched = await identities.patchIdentity({
      id: identity.id,
      jsonPatch: [
        { op: 'replace', path: '/traits/name', value: 'Kim D.' },
        { op: 'add', path: '/metadata_public', value: { roles: ['editor'] } },
      ],
    });
    assert.equal(patched.status, 200);
    assert.equal(patched.data.traits.name, 'Kim D.');
    assert.deepEqual(patched.data.metadata_public, { roles: ['editor'] });
    const again = await identities.getIdentity({ id: identity.id });
    assert.equal(again.data.traits.name, 'Kim D.');

    const bad = await sdkError(
      identities.patchIdentity({ id: identity.id, jsonPatch: [{ op: 'replace', path: '/id', value: 'x' }] }),
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.data.error.code, 400);

    const missing = await sdkError(identities.getIdentity({ id: '00000000-0000-4000-8000-000000000000' }));
    assert.equal(missing.status, 404);
    assert.equal(missing.data.error.code, 404);
  });

  test('native login: session_token, toSession, and 4000006 for a wrong password or unknown identifier', async () => {
    const address = email('sdk-login');
    const identity = await createIdentity(address);

    const { data: flow } = await frontend.createNativeLoginFlow();
    const names = flow.ui.nodes.map((n) => n.attributes.name).filter(Boolean);
    assert.ok(names.includes('identifier') && names.includes('password'), names.join(','));
    assert.ok(!names.includes('csrf_token'), 'API flows carry no CSRF token');
    const fetched = await frontend.getLoginFlow({ id: flow.id });
    assert.equal(fetched.data.id, flow.id);

    const ok = await nativeLogin(address.toUpperCase(), PASSWORD);
    assert.equal(ok.status, 200, JSON.stringify(ok.data));
    assert.match(ok.data.session_token, /^gst_/);
    assert.equal(ok.data.session.identity.id, identity.id);
    assert.equal(ok.data.session.authenticator_assurance_level, 'aal1');
    assert.equal(ok.data.session.active, true);

    const me = await frontend.toSession({ xSessionToken: ok.data.session_token });
    assert.equal(me.status, 200);
    assert.equal(me.data.id, ok.data.session.id);
    assert.equal(me.data.identity.id, identity.id);
    assert.equal(me.data.identity.traits.email, address);
    assert.equal(me.data.authentication_methods[0].method, 'password');
    assert.equal(me.data.identity.credentials, undefined, 'whoami never shows credentials');

    const wrong = await nativeLogin(address, 'not the right password');
    assert.equal(wrong.status, 400, JSON.stringify(wrong.data));
    assert.equal(wrong.resolved, false);
    assert.equal(typeof wrong.data.id, 'string');
    assert.equal(wrong.data.type, 'api');
    assert.ok(Array.isArray(wrong.data.ui.nodes), 'the body is a login flow');
    assert.equal(wrong.data.ui.messages[0].id, INVALID_CREDENTIALS);
    assert.equal(wrong.data.ui.messages[0].type, 'error');

    const unknown = await nativeLogin(email('sdk-nobody'), 'not the right password');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.data.ui.messages[0].id, INVALID_CREDENTIALS);
    assert.deepEqual(unknown.data.ui.messages, wrong.data.ui.messages, 'no account enumeration');

    const noSession = await sdkError(frontend.toSession({ xSessionToken: 'gst_notarealtoken' }));
    assert.equal(noSession.status, 401);
    assert.equal(noSession.data.error.id, 'session_inactive');
  });

  test('native registration: createNativeRegistrationFlow → updateRegistrationFlow', async () => {
    const address = email('sdk-reg');
    const { data: flow, status } = await frontend.createNativeRegistrationFlow();
    assert.equal(status, 200);
    assert.equal(flow.type, 'api');
    const names = flow.ui.nodes.map((n) => n.attributes.name).filter(Boolean);
    assert.ok(names.includes('traits.email') && names.includes('password'), names.join(','));

    const weak = await sdkError(
      frontend.updateRegistrationFlow({
        flow: flow.id,
        updateRegistrationFlowBody: { method: 'password', traits: { email: address }, password: 'qwerty123' },
      }),
    );
    assert.equal(weak.status, 400);
    const pw = weak.data.ui.nodes.find((n) => n.attributes.name === 'password');
    assert.equal(pw.messages[0].id, 4000005, JSON.stringify(pw));

    const res = await frontend.updateRegistrationFlow({
      flow: flow.id,
      updateRegistrationFlowBody: {
        method: 'password',
        traits: { email: address, name: 'Reg Istered' },
        password: PASSWORD,
      },
    });
    assert.equal(res.status, 200);
    created.push(res.data.identity.id);
    assert.equal(res.data.identity.traits.email, address);
    assert.match(res.data.session_token, /^gst_/);
    assert.equal(res.data.session.identity.id, res.data.identity.id);
    const me = await frontend.toSession({ xSessionToken: res.data.session_token });
    assert.equal(me.data.identity.id, res.data.identity.id);

    const { data: again } = await frontend.createNativeRegistrationFlow();
    const dup = await sdkError(
      frontend.updateRegistrationFlow({
        flow: again.id,
        updateRegistrationFlowBody: { method: 'password', traits: { email: address }, password: PASSWORD },
      }),
    );
    assert.equal(dup.status, 400);
    assert.equal(dup.data.ui.messages[0].id, 4000007);
  });

  test('native settings: profile and password through updateSettingsFlow; the session stays valid', async () => {
    const address = email('sdk-settings');
    const identity = await createIdentity(address, 'Before');
    const token = await sessionToken(address);

    const noSession = await sdkError(frontend.createNativeSettingsFlow({ xSessionToken: 'gst_notarealtoken' }));
    assert.equal(noSession.status, 401);

    const { data: flow, status } = await frontend.createNativeSettingsFlow({ xSessionToken: token });
    assert.equal(status, 200);
    assert.equal(flow.type, 'api');
    assert.equal(flow.identity.id, identity.id);
    assert.equal(flow.state, 'show_form');

    const profile = await frontend.updateSettingsFlow({
      flow: flow.id,
      xSessionToken: token,
      updateSettingsFlowBody: { method: 'profile', traits: { email: address, name: 'After' } },
    });
    assert.equal(profile.status, 200);
    assert.equal(profile.data.state, 'success');
    assert.equal(profile.data.identity.traits.name, 'After');
    assert.equal((await identities.getIdentity({ id: identity.id })).data.traits.name, 'After');
    const me = await frontend.toSession({ xSessionToken: token });
    assert.equal(me.data.identity.traits.name, 'After', 'whoami shows the new traits at once');

    const newPassword = 'a completely different passphrase';
    const { data: flow2 } = await frontend.createNativeSettingsFlow({ xSessionToken: token });
    const weak = await sdkError(
      frontend.updateSettingsFlow({
        flow: flow2.id,
        xSessionToken: token,
        updateSettingsFlowBody: { method: 'password', password: 'qwerty123' },
      }),
    );
    assert.equal(weak.status, 400);
    assert.equal(weak.data.ui.messages[0].id, 4000005, JSON.stringify(weak.data.ui.messages));

    const changed = await frontend.updateSettingsFlow({
      flow: flow2.id,
      xSessionToken: token,
      updateSettingsFlowBody: { method: 'password', password: newPassword },
    });
    assert.equal(changed.status, 200);
    assert.equal(changed.data.state, 'success');
    assert.equal(changed.data.ui.messages[0].id, 1050001);
    // As in Kratos, the native app's session token keeps working after it changed the password.
    const still = await sdkError(frontend.toSession({ xSessionToken: token }));
    assert.equal(still.status, 200, `the session token survives the password change: ${JSON.stringify(still.data)}`);

    const old = await nativeLogin(address, PASSWORD);
    assert.equal(old.status, 400);
    assert.equal(old.data.ui.messages[0].id, INVALID_CREDENTIALS);
    await sessionToken(address, newPassword);
  });

  test('sessions: listMySessions, disableMyOtherSessions, performNativeLogout', async () => {
    const address = email('sdk-sessions');
    const identity = await createIdentity(address);
    const a = await sessionToken(address);
    const b = await sessionToken(address);
    const c = await sessionToken(address);
    const { data: current } = await frontend.toSession({ xSessionToken: a });

    const mine = await frontend.listMySessions({ xSessionToken: a });
    assert.equal(mine.status, 200);
    assert.ok(Array.isArray(mine.data));
    assert.equal(mine.data.length, 2, 'the other two sessions');
    assert.ok(!mine.data.some((s) => s.id === current.id), 'not the current one');
    assert.ok(mine.data.every((s) => s.active === true));

    const disabled = await frontend.disableMyOtherSessions({ xSessionToken: a });
    assert.equal(disabled.status, 200);
    assert.equal(disabled.data.count, 2);
    for (const t of [b, c]) {
      const r = await sdkError(frontend.toSession({ xSessionToken: t }));
      assert.equal(r.status, 401);
    }
    assert.equal((await frontend.toSession({ xSessionToken: a })).status, 200);
    assert.deepEqual((await frontend.listMySessions({ xSessionToken: a })).data, []);

    const out = await frontend.performNativeLogout({ performNativeLogoutBody: { session_token: a } });
    assert.equal(out.status, 204);
    const gone = await sdkError(frontend.toSession({ xSessionToken: a }));
    assert.equal(gone.status, 401);
    assert.equal(gone.data.error.id, 'session_inactive');
    const twice = await sdkError(frontend.performNativeLogout({ performNativeLogoutBody: { session_token: a } }));
    assert.equal(twice.resolved, false, 'an ended session cannot be logged out again');

    const all = await identities.listIdentitySessions({ id: identity.id });
    assert.equal(all.status, 200);
    assert.equal(all.data.length, 3);
    assert.ok(all.data.every((s) => s.active === false));
  });

  test('admin sessions: listIdentitySessions, disableSession, deleteIdentity', async () => {
    const address = email('sdk-admin');
    const identity = await createIdentity(address);
    const a = await sessionToken(address);
    const b = await sessionToken(address);

    const list = await identities.listIdentitySessions({ id: identity.id });
    assert.equal(list.status, 200);
    assert.equal(list.data.length, 2);
    const { data: sa } = await frontend.toSession({ xSessionToken: a });
    const listedA = list.data.find((s) => s.id === sa.id);
    assert.ok(listedA, 'the session is listed');
    assert.equal(listedA.active, true);
    assert.equal(listedA.authenticator_assurance_level, 'aal1');
    const active = await identities.listIdentitySessions({ id: identity.id, active: true });
    assert.equal(active.data.length, 2);

    const disabled = await identities.disableSession({ id: sa.id });
    assert.equal(disabled.status, 204);
    assert.equal((await sdkError(frontend.toSession({ xSessionToken: a }))).status, 401);
    assert.equal((await frontend.toSession({ xSessionToken: b })).status, 200);
    const stillActive = await identities.listIdentitySessions({ id: identity.id, active: true });
    assert.equal(stillActive.data.length, 1);

    const del = await identities.deleteIdentity({ id: identity.id });
    assert.equal(del.status, 204);
    assert.equal((await sdkError(identities.getIdentity({ id: identity.id }))).status, 404);
    assert.equal(
      (await sdkError(frontend.toSession({ xSessionToken: b }))).status,
      401,
      'deleting an identity ends its sessions',
    );
    const login = await nativeLogin(address, PASSWORD);
    assert.equal(login.status, 400);
    assert.equal(login.data.ui.messages[0].id, INVALID_CREDENTIALS);
    const missing = await sdkError(identities.listIdentitySessions({ id: identity.id }));
    assert.equal(missing.status, 404);
  });
});
