// Ory's Python Kratos SDK (ory-kratos-client, strict pydantic models) parses every self-service
// flow of Gatehouse: kratos_models.py walks login, registration, settings (with backup codes),
// recovery, verification and an aal2 login, and exits non-zero when any model refuses a field.
// The TypeScript SDK does not validate what it receives; this one does.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Configuration, IdentityApi } from '@ory/kratos-client';

import { DB_MODE, rid, startEnv } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = process.env.GATEHOUSE_COMPAT_PYTHON || path.join(HERE, '.venv', 'bin', 'python');
const PASSWORD = 'correct horse battery staple';

let env;
let identities;
let identityId;

before(async () => {
  env = await startEnv();
  identities = new IdentityApi(new Configuration({ basePath: env.adminUrl }));
});

after(async () => {
  if (identityId) await identities.deleteIdentity({ id: identityId }).catch(() => {});
  await env?.stop();
});

test(`Ory's Python Kratos SDK parses every flow (${DB_MODE})`, async () => {
  const email = `${rid('py-models')}@example.com`;
  const { data } = await identities.createIdentity({
    createIdentityBody: {
      schema_id: 'default',
      traits: { email, name: 'Py Models' },
      credentials: { password: { config: { password: PASSWORD } } },
    },
  });
  identityId = data.id;
  const run = spawnSync(PYTHON, [path.join(HERE, 'kratos_models.py'), env.publicUrl, env.adminUrl, email, PASSWORD], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 0, `kratos_models.py failed:\n${run.stdout}\n${run.stderr}`);
  for (const kind of ['login:', 'registration:', 'recovery:', 'verification:', 'settings:', 'settings with backup codes:', 'login aal2:']) {
    assert.match(run.stdout, new RegExp(`^${kind}`, 'm'), run.stdout);
  }
  assert.match(run.stdout, /login aal2: .*lookup_secret/, run.stdout);
});
