// The `gatehouse identities` CLI against the database of a running Gatehouse: create (password
// from stdin only), import of Kratos createIdentity bodies with a bcrypt hash, list, get,
// delete — checked through Ory's Kratos SDK (@ory/kratos-client), including a native login with
// the imported password, after which the hash has been upgraded to argon2id.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Configuration, FrontendApi, IdentityApi } from '@ory/kratos-client';

import { DB_MODE, rid, sdkError, startEnv } from './harness.mjs';

// bcrypt (cost 10) of IMPORTED_PASSWORD, made with Python's bcrypt 5.0.0.
const IMPORTED_PASSWORD = 'imported via the cli 1';
const IMPORTED_HASH = '$2b$10$IKIZfMNlK4TeOvr2CIaqF.SBMH15dAdDYbq.wpAj1npA1dRu0Vo82';

let env;
let frontend;
let identities;
const created = []; // deleted again in `after` (the PostgreSQL database is shared)

before(async () => {
  env = await startEnv();
  frontend = new FrontendApi(new Configuration({ basePath: env.publicUrl }));
  identities = new IdentityApi(new Configuration({ basePath: env.adminUrl }));
});

after(async () => {
  for (const id of created) {
    await sdkError(identities.deleteIdentity({ id })).catch(() => {});
  }
  await env?.stop();
});

function email(prefix) {
  return `${rid(prefix)}@example.com`;
}

/** `gatehouse <args>`; asserts the exit code and returns stdout. */
async function cli(args, { input = '', code = 0 } = {}) {
  const r = await env.cli(args, { input });
  assert.equal(r.code, code, `gatehouse ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return r;
}

async function nativeLogin(identifier, password) {
  const { data: flow } = await frontend.createNativeLoginFlow();
  return sdkError(
    frontend.updateLoginFlow({
      flow: flow.id,
      updateLoginFlowBody: { method: 'password', identifier, password },
    }),
  );
}

describe(`gatehouse identities CLI (${DB_MODE})`, () => {
  test('create: password from stdin only, --verified; the identity can log in', async () => {
    const address = email('cli-create');
    const password = 'a cli made passphrase';
    const { stdout } = await cli(
      ['identities', 'create', '--email', address, '--name', 'Cli User', '--password-stdin', '--verified'],
      { input: `${password}\n` },
    );
    const identity = JSON.parse(stdout);
    created.push(identity.id);
    assert.deepEqual(identity.traits, { email: address, name: 'Cli User' });
    assert.equal(identity.verifiable_addresses[0].verified, true);
    assert.equal(identity.verifiable_addresses[0].status, 'completed');
    assert.deepEqual(identity.credentials.password.identifiers, [address]);
    assert.ok(!stdout.includes(password), 'the password is never printed');

    const got = await identities.getIdentity({ id: identity.id });
    assert.equal(got.data.traits.email, address);
    const login = await nativeLogin(address, password);
    assert.equal(login.status, 200, JSON.stringify(login.data));
    assert.equal(login.data.session.identity.id, identity.id);

    // No password on the command line, and the policy applies to stdin too.
    const arg = await env.cli(['identities', 'create', '--email', email('cli-arg'), '--password', 'x'], {});
    assert.notEqual(arg.code, 0, 'a --password argument does not exist');
    const weak = await cli(['identities', 'create', '--email', email('cli-weak'), '--password-stdin'], {
      input: 'qwerty123\n',
      code: 1,
    });
    assert.match(weak.stderr, /password/i);
    const dup = await cli(['identities', 'create', '--email', address], { code: 1 });
    assert.match(dup.stderr, /exists already/);
  });

  test('import: a bcrypt hash logs in through the SDK and is upgraded to argon2id', async () => {
    const address = email('cli-import');
    const file = path.join(env.dataDir, `${rid('import')}.json`);
    writeFileSync(
      file,
      JSON.stringify([
        {
          schema_id: 'default',
          traits: { email: address, name: 'Imported' },
          credentials: { password: { config: { hashed_password: IMPORTED_HASH } } },
          verifiable_addresses: [{ value: address, verified: true, via: 'email' }],
          metadata_public: { source: 'legacy' },
        },
        { traits: { email: address } },
        { traits: { email: email('cli-import-bad') }, not_a_field: true },
      ]),
    );
    const r = await cli(['identities', 'import', file], { code: 1 });
    assert.match(r.stderr, /2 of 3 identities were not imported/);
    const out = JSON.parse(r.stdout).identities;
    assert.equal(out.length, 3);
    assert.equal(out[0].action, 'create');
    const id = out[0].identity;
    created.push(id);
    assert.equal(out[1].action, 'error');
    assert.equal(out[1].error.code, 409);
    assert.equal(out[2].action, 'error');
    assert.equal(out[2].error.code, 400);

    const before = await identities.getIdentity({ id, includeCredential: ['password'] });
    assert.equal(before.data.credentials.password.config.hashed_password, IMPORTED_HASH);
    assert.equal(before.data.verifiable_addresses[0].verified, true);
    assert.deepEqual(before.data.metadata_public, { source: 'legacy' });

    const wrong = await nativeLogin(address, 'not the imported password');
    assert.equal(wrong.status, 400);
    assert.equal(wrong.data.ui.messages[0].id, 4000006);
    const login = await nativeLogin(address, IMPORTED_PASSWORD);
    assert.equal(login.status, 200, JSON.stringify(login.data));
    assert.equal(login.data.session.identity.id, id);

    const upgraded = await identities.getIdentity({ id, includeCredential: ['password'] });
    assert.match(upgraded.data.credentials.password.config.hashed_password, /^\$argon2id\$/);
    const again = await nativeLogin(address, IMPORTED_PASSWORD);
    assert.equal(again.status, 200, 'the upgraded hash verifies the same password');

    const notJson = path.join(env.dataDir, 'not.json');
    writeFileSync(notJson, '{"identities": "no"}');
    const bad = await cli(['identities', 'import', notJson], { code: 1 });
    assert.match(bad.stderr, /expected a JSON array/);
  });

  test('list, get, delete', async () => {
    const address = email('cli-list');
    const { stdout } = await cli(['identities', 'create', '--email', address]);
    const id = JSON.parse(stdout).id;
    created.push(id);

    const { stdout: table } = await cli(['identities', 'list', '--identifier', address]);
    const lines = table.trim().split('\n');
    assert.match(lines[0], /^ID\s+STATE\s+EMAIL\s+CREATED$/);
    assert.equal(lines.length, 2, table);
    const cols = lines[1].split(/\s+/);
    assert.equal(cols[0], id);
    assert.equal(cols[1], 'active');
    assert.equal(cols[2], address);
    assert.match(cols[3], /^\d{4}-\d\d-\d\dT/);
    const { stdout: one } = await cli(['identities', 'list', '--limit', '1']);
    assert.equal(one.trim().split('\n').length, 2, one);
    const { stdout: none } = await cli(['identities', 'list', '--identifier', email('cli-nobody')]);
    assert.equal(none.trim().split('\n').length, 1, 'only the header');

    const { stdout: got } = await cli(['identities', 'get', id]);
    const identity = JSON.parse(got);
    assert.equal(identity.id, id);
    assert.equal(identity.traits.email, address);

    await cli(['identities', 'delete', id]);
    assert.equal((await sdkError(identities.getIdentity({ id }))).status, 404);
    const gone = await cli(['identities', 'get', id], { code: 1 });
    assert.match(gone.stderr, /not found/i);
    await cli(['identities', 'delete', id], { code: 1 });
  });
});
