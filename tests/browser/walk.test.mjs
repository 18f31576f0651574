// A real browser (Debian's headless Chromium, driven by playwright-core) walks Gatehouse's
// built-in pages like a user: registration -> e-mail verification -> TOTP and backup codes in
// settings -> sign out -> password + TOTP sign-in -> recovery by e-mail code -> new password ->
// sign-in with a backup code -> OAuth2 authorization with the consent page -> a personal access
// token created on its management page, checked against POST /credentials/validate, and revoked
// -> RP-initiated logout through the built-in "Sign out of ...?" page.
//
// Gatehouse runs with its defaults (SQLite, no SMTP: the courier logs and keeps messages, read
// back through the admin API), on free loopback ports with a throwaway data directory.
// GATEHOUSE_UPDATE_SCREENSHOTS=1 writes a full-page screenshot of each page to docs/screenshots/
// (otherwise they go to the temporary directory and are thrown away).

import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const BIN = process.env.GATEHOUSE_BIN || path.join(ROOT, 'target', 'debug', 'gatehouse');
const CHROMIUM = process.env.GATEHOUSE_CHROMIUM || '/usr/bin/chromium';
const T = 15_000; // every wait for a page, a field or an e-mail

const EMAIL = 'ada@example.com';
const NAME = 'Ada Lovelace';
const PASSWORD = 'correct horse battery staple 1815';
const NEW_PASSWORD = 'analytical engine notes 1843!';

const tmp = mkdtempSync(path.join(tmpdir(), 'gatehouse-browser-'));
const shotsDir = process.env.GATEHOUSE_UPDATE_SCREENSHOTS === '1'
  ? path.join(ROOT, 'docs', 'screenshots')
  : path.join(tmp, 'screenshots');
mkdirSync(shotsDir, { recursive: true });

let gh; // { publicUrl, adminUrl, stop, log }
let context;
let page;

// --- Gatehouse ------------------------------------------------------------------------------

async function freePort() {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

async function startGatehouse() {
  assert.ok(existsSync(BIN), `${BIN} is missing: run \`cargo build -p gatehouse\``);
  const dataDir = path.join(tmp, 'data');
  mkdirSync(dataDir);
  const publicPort = await freePort();
  let adminPort = await freePort();
  while (adminPort === publicPort) adminPort = await freePort();
  const publicUrl = `http://127.0.0.1:${publicPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const logFile = path.join(tmp, 'gatehouse.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(BIN, ['serve'], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      RUST_BACKTRACE: '1',
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_SERVE_PUBLIC_HOST: '127.0.0.1',
      GATEHOUSE_SERVE_ADMIN_HOST: '127.0.0.1',
      GATEHOUSE_SERVE_PUBLIC_PORT: String(publicPort),
      GATEHOUSE_SERVE_ADMIN_PORT: String(adminPort),
      GATEHOUSE_URLS_SELF_ISSUER: publicUrl,
    },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let exited = null;
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve((exited = { code, signal }))));
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-80).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const ac = new AbortController();
    const r = await Promise.race([exit, sleep(10_000, 'timeout', { signal: ac.signal }).catch(() => null)]);
    ac.abort();
    if (r === 'timeout') {
      child.kill('SIGKILL');
      await exit;
    }
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !exited) {
    try {
      const a = await fetch(`${publicUrl}/health/ready`, { signal: AbortSignal.timeout(2000) });
      const b = await fetch(`${adminUrl}/health/ready`, { signal: AbortSignal.timeout(2000) });
      if (a.status === 200 && b.status === 200) return { publicUrl, adminUrl, stop, log };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`gatehouse did not become ready (exit=${JSON.stringify(exited)}):\n${log()}`);
}

// --- helpers ----------------------------------------------------------------------------------

/** RFC 4648 base32 (no padding needed). */
function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of s.toUpperCase().replace(/[\s=-]/g, '')) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP (HMAC-SHA1, 30 s, 6 digits) for time step `step`. */
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(bin).padStart(6, '0');
}
const stepNow = () => Math.floor(Date.now() / 1000 / 30);

let lastStep = null; // the last TOTP time step Gatehouse accepted (each is accepted once)

/** A TOTP code Gatehouse accepts now: a step after the last used one, within its ±1 window. */
async function freshTotp(secret) {
  const wanted = lastStep === null ? stepNow() : Math.max(lastStep + 1, stepNow());
  if (wanted > stepNow() + 1) {
    // The step boundary: the one fixed sleep of the walk (at most 30 s).
    await sleep((wanted - 1) * 30_000 - Date.now() + 250);
  }
  const step = Math.max(wanted, stepNow());
  lastStep = step;
  return totp(secret, step);
}

/** Waits for a courier message to `recipient` not in `seen`; returns its 6-digit code. */
async function nextCode(recipient, seen) {
  const deadline = Date.now() + T;
  while (Date.now() < deadline) {
    const r = await fetch(`${gh.adminUrl}/admin/courier/messages?recipient=${encodeURIComponent(recipient)}`, {
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(r.status, 200, 'courier messages');
    const list = await r.json();
    const fresh = list.find((m) => !seen.has(m.id));
    if (fresh) {
      seen.add(fresh.id);
      const m = /\b(\d{6})\b/.exec(fresh.body);
      assert.ok(m, `no code in the message: ${fresh.body}`);
      return m[1];
    }
    await sleep(100);
  }
  throw new Error(`no new courier message to ${recipient} within ${T} ms`);
}

async function shot(name) {
  await page.screenshot({ path: path.join(shotsDir, `${name}.png`), fullPage: true });
}

/** The text of the page's message region (ui.messages). */
const messages = () => page.locator('.messages').innerText({ timeout: T });

async function waitPath(prefix) {
  await page.waitForURL((u) => u.pathname.startsWith(prefix), { timeout: T });
  await page.waitForLoadState('load', { timeout: T });
}

async function signOut() {
  await page.goto(`${gh.publicUrl}/ui/logout`, { timeout: T });
  await page.getByRole('heading', { name: 'Sign out?' }).waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Sign out' }).click({ timeout: T });
  await page.waitForURL((u) => u.pathname === '/ui/login' && u.searchParams.has('flow'), { timeout: T });
}

async function passwordLogin(password) {
  await page.goto(`${gh.publicUrl}/ui/login`, { timeout: T });
  await page.waitForURL((u) => u.pathname === '/ui/login' && u.searchParams.has('flow'), { timeout: T });
  await page.locator('input[name="identifier"]').fill(EMAIL, { timeout: T });
  await page.locator('input[name="password"]').fill(password, { timeout: T });
  await page.locator('button[name="method"][value="password"]').click({ timeout: T });
  // The second factor: the same page, a new flow asking for aal2.
  await page.locator('input[name="totp_code"]').waitFor({ timeout: T });
}

async function expectWelcome() {
  await waitPath('/ui/welcome');
  assert.match(await page.locator('main, body').first().innerText(), new RegExp(EMAIL.replace('.', '\\.')));
}

// --- the walk ---------------------------------------------------------------------------------

before(async () => {
  gh = await startGatehouse();
  context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 900, height: 900 },
    timeout: 30_000,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(T);
  page.setDefaultNavigationTimeout(T);
});

after(async () => {
  await context?.close().catch(() => {});
  await gh?.stop().catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

test('a user walks through every built-in page in Chromium', async (t) => {
  const seen = new Set();
  let secret;
  let backupCodes;
  let failed = false;
  // Steps run in order; after a failure the rest are skipped (they would only time out).
  const step = (name, fn) =>
    t.test(name, async (st) => {
      if (failed) return st.skip('an earlier step failed');
      try {
        await fn();
      } catch (err) {
        failed = true;
        const text = await page.locator('body').innerText({ timeout: 2000 }).catch(() => '?');
        throw new Error(
          `${err.message}\n  at ${page.url()}\n--- page text ---\n${text.slice(0, 1500)}` +
          `\n--- gatehouse log (tail) ---\n${gh.log().split('\n').slice(-25).join('\n')}`,
          { cause: err },
        );
      }
    });

  await step('the login page renders', async () => {
    await page.goto(`${gh.publicUrl}/ui/login`);
    await page.waitForURL((u) => u.pathname === '/ui/login' && u.searchParams.has('flow'));
    await page.locator('input[name="identifier"]').waitFor();
    await shot('login');
  });

  await step('registration lands on the verification page', async () => {
    await page.goto(`${gh.publicUrl}/ui/registration`);
    await page.waitForURL((u) => u.pathname === '/ui/registration' && u.searchParams.has('flow'));
    await page.locator('input[name="traits.email"]').fill(EMAIL);
    await page.locator('input[name="traits.name"]').fill(NAME);
    await page.locator('input[name="password"]').fill(PASSWORD);
    await shot('registration');
    await page.locator('button[name="method"][value="password"]').click();
    await waitPath('/ui/verification');
    await page.locator('input[name="code"]').waitFor();
    await shot('verification');
  });

  await step('the e-mail code verifies the address', async () => {
    const code = await nextCode(EMAIL, seen);
    await page.locator('input[name="code"]').fill(code);
    await page.locator('button[name="method"][value="code"]').click();
    // A verification flow started by registration carries its return_to (the welcome page);
    // one started on its own says so on the page.
    await page
      .locator('.messages', { hasText: /verified/i })
      .or(page.getByRole('heading', { name: 'Welcome' }))
      .waitFor();
    const r = await fetch(`${gh.adminUrl}/admin/identities?credentials_identifier=${encodeURIComponent(EMAIL)}`);
    const [identity] = await r.json();
    assert.equal(identity.verifiable_addresses[0].verified, true, JSON.stringify(identity));
  });

  await step('settings: enrol TOTP', async () => {
    await page.goto(`${gh.publicUrl}/ui/settings`);
    await page.waitForURL((u) => u.pathname === '/ui/settings' && u.searchParams.has('flow'));
    secret = (await page.locator('[id$="-totp_secret_key"] code').innerText()).trim();
    assert.match(secret, /^[A-Z2-7]+=*$/);
    await page.locator('img[src^="data:image/"]').waitFor();
    await shot('settings-totp');
    await page.locator('input[name="totp_code"]').fill(await freshTotp(secret));
    await page.locator('button[name="method"][value="totp"]').click();
    await page.locator('.messages', { hasText: /saved/i }).waitFor();
    await page.locator('button[name="totp_unlink"]').waitFor();
  });

  await step('settings: generate and confirm backup codes', async () => {
    await page.locator('button[name="lookup_secret_regenerate"]').click();
    // With TOTP enrolled the session (aal1) no longer meets settings' required_aal
    // (highest_available): Gatehouse asks for the second factor first, then returns here.
    await page.locator('input[name="totp_code"]').waitFor();
    assert.match(await messages(), /second authentication/i);
    await page.locator('input[name="totp_code"]').fill(await freshTotp(secret));
    await page.locator('button[name="method"][value="totp"]').click();
    await waitPath('/ui/settings');
    await page.locator('button[name="lookup_secret_regenerate"]').click();
    await page.locator('[id$="-lookup_secret_codes"] code').first().waitFor();
    backupCodes = await page.locator('[id$="-lookup_secret_codes"] code').allInnerTexts();
    assert.ok(backupCodes.length >= 8, `backup codes: ${backupCodes}`);
    await shot('backup-codes');
    await page.locator('button[name="lookup_secret_confirm"]').click();
    await page.locator('.messages', { hasText: /saved/i }).waitFor();
    await page.locator('button[name="lookup_secret_regenerate"]').waitFor();
  });

  await step('sign out', async () => {
    await page.goto(`${gh.publicUrl}/ui/logout`);
    await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
    await shot('logout');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((u) => u.pathname === '/ui/login' && u.searchParams.has('flow'));
  });

  await step('password, then a TOTP code, signs in', async () => {
    await passwordLogin(PASSWORD);
    await shot('second-factor');
    // A code whose time step was used already (by the step-up in settings) is refused...
    await page.locator('input[name="totp_code"]').fill(totp(secret, lastStep));
    await page.locator('button[name="method"][value="totp"]').click();
    await page.getByText('The TOTP code is invalid or has been used already.').waitFor();
    assert.equal(await page.locator('input[name="totp_code"]').getAttribute('aria-invalid'), 'true');
    // ...the next step's is accepted (freshTotp waits for the step boundary when it must).
    await page.locator('input[name="totp_code"]').fill(await freshTotp(secret));
    await page.locator('button[name="method"][value="totp"]').click();
    await expectWelcome();
    await shot('welcome');
  });

  await step('recovery by e-mail code lands on settings', async () => {
    await signOut();
    await page.goto(`${gh.publicUrl}/ui/recovery`);
    await page.waitForURL((u) => u.pathname === '/ui/recovery' && u.searchParams.has('flow'));
    await page.locator('input[name="email"]').fill(EMAIL);
    await shot('recovery');
    await page.locator('button[name="method"][value="code"]').click();
    await page.locator('input[name="code"]').waitFor();
    const code = await nextCode(EMAIL, seen);
    await page.locator('input[name="code"]').fill(code);
    await page.locator('button[name="method"][value="code"]').click();
    await waitPath('/ui/settings');
    await page.locator('.messages', { hasText: /recover/i }).waitFor();
  });

  await step('settings: set a new password', async () => {
    await page.locator('input[name="password"]').fill(NEW_PASSWORD);
    await page.locator('button[name="method"][value="password"]').click();
    // The recovery session is aal1: the second factor first (a backup code this time).
    await page.locator('input[name="lookup_secret"]').waitFor();
    await page.locator('input[name="lookup_secret"]').fill(backupCodes[0]);
    await page.locator('button[name="method"][value="lookup_secret"]').click();
    await waitPath('/ui/settings');
    await page.locator('input[name="password"]').fill(NEW_PASSWORD);
    await page.locator('button[name="method"][value="password"]').click();
    await page.locator('.messages', { hasText: /saved/i }).waitFor();
  });

  await step('the new password and another backup code sign in', async () => {
    await signOut();
    await passwordLogin(NEW_PASSWORD);
    await page.locator('input[name="lookup_secret"]').fill(backupCodes[1]);
    await page.locator('button[name="method"][value="lookup_secret"]').click();
    await expectWelcome();
  });

  await step('OAuth2: a login challenge planted in this signed-in browser is refused', async () => {
    // Security probe 6.1: an attacker starts an authorization request for a client that needs no
    // consent and makes the signed-in victim's browser open its login challenge. The browser is
    // not the one that started the request: it is shown an error and the client gets nothing.
    const hits = [];
    const rp = http.createServer((req, res) => {
      hits.push(req.url);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('client');
    });
    rp.listen(0, '127.0.0.1');
    await once(rp, 'listening');
    try {
      const redirectUri = `http://127.0.0.1:${rp.address().port}/callback`;
      const r = await fetch(`${gh.adminUrl}/admin/clients`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_name: 'First party', redirect_uris: [redirectUri], skip_consent: true,
          grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid email',
          token_endpoint_auth_method: 'none',
        }),
      });
      assert.equal(r.status, 201, await r.clone().text());
      const client = await r.json();
      const auth = new URL(`${gh.publicUrl}/oauth2/auth`);
      auth.search = new URLSearchParams({
        client_id: client.client_id, response_type: 'code', scope: 'openid email',
        redirect_uri: redirectUri, state: randomBytes(12).toString('hex'),
        code_challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url'),
        code_challenge_method: 'S256',
      }).toString();
      const started = await fetch(auth.href, { redirect: 'manual' }); // the attacker's client
      assert.equal(started.status, 303);
      const challenge = new URL(started.headers.get('location')).searchParams.get('login_challenge');
      assert.ok(challenge);
      await page.goto(`${gh.publicUrl}/self-service/login/browser?login_challenge=${encodeURIComponent(challenge)}`);
      await waitPath('/ui/error');
      assert.doesNotMatch(page.url(), /verifier/);
      assert.deepEqual(hits, [], 'the client got a response for the victim');
      const req = await fetch(`${gh.adminUrl}/admin/oauth2/auth/requests/login?login_challenge=${encodeURIComponent(challenge)}`);
      assert.equal(req.status, 200, 'the login request is still open');
    } finally {
      rp.closeAllConnections?.();
      rp.close();
    }
  });

  await step('OAuth2: consent page, Allow, the client gets code and state', async () => {
    const hits = [];
    const rp = http.createServer((req, res) => {
      hits.push(new URL(req.url, 'http://127.0.0.1'));
      res.writeHead(200, { 'content-type': 'text/plain' }).end('client received the response');
    });
    rp.listen(0, '127.0.0.1');
    await once(rp, 'listening');
    try {
      const redirectUri = `http://127.0.0.1:${rp.address().port}/callback`;
      const r = await fetch(`${gh.adminUrl}/admin/clients`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_name: 'Notebook',
          redirect_uris: [redirectUri],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          scope: 'openid email',
          token_endpoint_auth_method: 'none',
        }),
      });
      assert.equal(r.status, 201, await r.clone().text());
      const client = await r.json();
      const verifier = randomBytes(32).toString('base64url');
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const state = randomBytes(12).toString('hex');
      const auth = new URL(`${gh.publicUrl}/oauth2/auth`);
      auth.search = new URLSearchParams({
        client_id: client.client_id,
        response_type: 'code',
        scope: 'openid email',
        redirect_uri: redirectUri,
        state,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }).toString();
      await page.goto(auth.href);
      // A Gatehouse session but no login at the provider yet (skip is false): the page asks
      // for the password again before anything is accepted for this browser.
      await page.waitForURL((u) => u.pathname === '/ui/login' && u.searchParams.has('flow'), { timeout: T });
      await page.locator('input[name="password"]').fill(NEW_PASSWORD, { timeout: T });
      await page.locator('button[name="method"][value="password"]').click({ timeout: T });
      await waitPath('/ui/consent');
      await page.getByRole('heading', { name: /Notebook/ }).waitFor();
      await shot('consent');
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForURL((u) => u.href.startsWith(redirectUri), { timeout: T });
      const hit = hits.find((u) => u.pathname === '/callback');
      assert.ok(hit, 'the client was not called');
      assert.equal(hit.searchParams.get('state'), state);
      assert.ok(hit.searchParams.get('code'), `no code: ${hit.search}`);
      assert.equal(hit.searchParams.get('error'), null, hit.search);
      // The code is good: exchange it (public client, PKCE).
      const tok = await fetch(`${gh.publicUrl}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: hit.searchParams.get('code'),
          redirect_uri: redirectUri,
          client_id: client.client_id,
          code_verifier: verifier,
        }),
      });
      const body = await tok.json();
      assert.equal(tok.status, 200, JSON.stringify(body));
      assert.ok(body.id_token && body.access_token, JSON.stringify(body));

      // Security probe 6.2: prompt=login with a live session asks for the password again.
      const callbacks = () => hits.filter((u) => u.pathname === '/callback').length;
      const seen = callbacks();
      auth.searchParams.set('prompt', 'login');
      auth.searchParams.set('state', randomBytes(12).toString('hex'));
      await page.goto(auth.href);
      await page.waitForURL((u) => u.pathname === '/ui/login' && u.searchParams.has('flow'), { timeout: T });
      await page.locator('input[name="password"]').waitFor({ timeout: T });
      assert.equal(callbacks(), seen, 'prompt=login reached the client without a password');
    } finally {
      rp.closeAllConnections?.();
      rp.close();
    }
  });

  await step('personal access tokens: the secret is shown once, validates, and is revoked', async () => {
    const url = `${gh.publicUrl}/ui/settings/tokens`;
    const validate = async (token) => {
      const r = await fetch(`${gh.publicUrl}/credentials/validate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      });
      return { status: r.status, body: await r.json() };
    };
    await page.goto(url);
    await page.getByRole('heading', { level: 1, name: 'Personal access tokens' }).waitFor();
    await page.getByLabel('Name').fill('Notebook sync');
    await page.getByLabel('read:*').check();
    await page.getByLabel('Expires').selectOption('30d');
    await page.getByRole('button', { name: 'Create token' }).click();
    // The answer to the POST is the page itself, with the secret in a read-only field.
    const field = page.locator('#issued-secret');
    await field.waitFor();
    const secret = await field.inputValue();
    assert.match(secret, /^pat_[A-Za-z0-9]{49}$/);
    assert.equal(await field.getAttribute('readonly'), '');
    await page.getByText('It will not be shown again').waitFor();
    await shot('tokens');
    let v = await validate(secret);
    assert.equal(v.status, 200, JSON.stringify(v.body));
    assert.equal(v.body.valid, true);
    assert.equal(v.body.name, 'Notebook sync');
    assert.deepEqual(v.body.scopes, ['read:*']);

    // Loaded again, the page lists the token (its first characters only), never the secret.
    await page.goto(url);
    const card = page.locator('article.credential', { hasText: 'Notebook sync' });
    await card.waitFor();
    assert.equal(await page.locator('#issued-secret').count(), 0);
    assert.ok(!(await page.content()).includes(secret.slice(8)), 'the secret is shown again');
    assert.match(await card.innerText(), new RegExp(`${secret.slice(0, 8)}…`));

    await card.getByLabel(/Reason for revoking/).fill('Walk finished');
    await card.getByRole('button', { name: 'Revoke' }).click();
    await page.locator('.messages', { hasText: 'is revoked' }).waitFor();
    v = await validate(secret);
    assert.equal(v.status, 401, JSON.stringify(v.body));
    assert.equal(v.body.error, 'invalid_token');
    const revoked = page.locator('section', { has: page.getByRole('heading', { name: 'Revoked tokens (last 30 days)' }) });
    assert.match(await revoked.innerText(), /Notebook sync.*revoked.*Walk finished/s);
    assert.equal(await page.locator('article.credential', { hasText: 'Notebook sync' }).count(), 0);
  });

  await step('OAuth2: RP-initiated logout asks, signs out and returns to the client with state', async () => {
    const hits = [];
    const rp = http.createServer((req, res) => {
      hits.push(new URL(req.url, 'http://127.0.0.1'));
      res.writeHead(200, { 'content-type': 'text/plain' }).end('signed out at the client');
    });
    rp.listen(0, '127.0.0.1');
    await once(rp, 'listening');
    try {
      const bye = `http://127.0.0.1:${rp.address().port}/bye`;
      const r = await fetch(`${gh.adminUrl}/admin/clients`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_name: 'Notebook', redirect_uris: [`${bye}/callback`], post_logout_redirect_uris: [bye],
          grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid',
          token_endpoint_auth_method: 'none',
        }),
      });
      assert.equal(r.status, 201, await r.clone().text());
      const client = await r.json();
      const state = randomBytes(12).toString('hex');
      const logout = new URL(`${gh.publicUrl}/oauth2/sessions/logout`);
      logout.search = new URLSearchParams({ client_id: client.client_id, post_logout_redirect_uri: bye, state }).toString();
      // No id_token_hint: the built-in page asks (the login session is the consent step's).
      await page.goto(logout.href);
      await waitPath('/ui/logout');
      await page.getByRole('heading', { name: /^Sign out of / }).waitFor();
      await page.getByText('Notebook asked to sign you out.').waitFor();
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL((u) => u.href.startsWith(bye), { timeout: T });
      const hit = hits.find((u) => u.pathname === '/bye');
      assert.ok(hit, 'the client was not called');
      assert.equal(hit.searchParams.get('state'), state);
      // The Gatehouse session ended with it.
      await page.goto(`${gh.publicUrl}/ui/welcome`);
      await page.waitForURL((u) => u.pathname === '/ui/login', { timeout: T });
    } finally {
      rp.closeAllConnections?.();
      rp.close();
    }
  });
});
