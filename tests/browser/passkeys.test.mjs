// Passkeys in a real browser: headless Chromium with a CDP virtual authenticator (CTAP2,
// internal transport, resident keys, user verification) walks Gatehouse's built-in pages:
// register with a password -> settings: add a passkey -> sign out -> sign in with the passkey
// alone (the login page's passkey button, no identifier, no password) -> the session's method is
// webauthn -> sign out -> passkey autofill (conditional mediation) signs in by itself. Along the way: the pages' CSP allows exactly Gatehouse's WebAuthn script (a nonce,
// no 'unsafe-inline'), the page has no inline handlers, the browser reports no CSP or integrity
// violation, and with JavaScript disabled password sign-in still works.
//
// WebAuthn needs a secure context and a relying-party id that is a domain, so Gatehouse's issuer
// is http://localhost:PORT (a secure context; the rp id defaults to the issuer's host) while it
// listens on 127.0.0.1 (Chromium resolves localhost to loopback itself).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
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
const T = 15_000; // every wait for a page or a field

const EMAIL = 'grace@example.com';
const NAME = 'Grace Hopper';
const PASSWORD = 'compiler debugging moth 1947';
const KEY_NAME = 'Virtual passkey';

const tmp = mkdtempSync(path.join(tmpdir(), 'gatehouse-passkeys-'));

let gh; // { publicUrl, adminUrl, stop, log }
let browser;

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
  const publicUrl = `http://localhost:${publicPort}`;
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
  const probe = `http://127.0.0.1:${publicPort}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !exited) {
    try {
      const a = await fetch(`${probe}/health/ready`, { signal: AbortSignal.timeout(2000) });
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

/** The `script-src` sources of a CSP header. */
function scriptSrc(csp) {
  const d = (csp || '').split(';').map((s) => s.trim()).find((s) => s.startsWith('script-src '));
  assert.ok(d, `no script-src in ${csp}`);
  return d.split(/\s+/).slice(1);
}

/** Opens a flow page (`/ui/<kind>`, which starts a flow) and returns the page's response. */
async function openFlow(page, kind) {
  let last = null;
  const seen = (r) => {
    const u = new URL(r.url());
    if (u.pathname === `/ui/${kind}` && u.searchParams.has('flow')) last = r;
  };
  page.on('response', seen);
  await page.goto(`${gh.publicUrl}/ui/${kind}`, { timeout: T });
  await page.waitForURL((u) => u.pathname === `/ui/${kind}` && u.searchParams.has('flow'), { timeout: T });
  page.off('response', seen);
  assert.ok(last, `no response for /ui/${kind}?flow=`);
  return last;
}

/** Checks a flow page's CSP and markup: only Gatehouse's script, by nonce; nothing inline. */
async function assertOnlyOurScript(page, response) {
  const csp = (await response.allHeaders())['content-security-policy'];
  const sources = scriptSrc(csp);
  assert.equal(sources.length, 1, csp);
  assert.match(sources[0], /^'nonce-[A-Za-z0-9]+'$/, csp);
  assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), csp);
  const dom = await page.evaluate(() => ({
    scripts: [...document.scripts].map((s) => ({ src: s.src, integrity: s.integrity, inline: !s.src })),
    inlineHandlers: document.querySelectorAll('[onclick], [onload], [onsubmit]').length,
  }));
  assert.equal(dom.scripts.length, 1, JSON.stringify(dom));
  assert.equal(dom.scripts[0].inline, false);
  assert.ok(dom.scripts[0].src.startsWith(`${gh.publicUrl}/.well-known/ory/webauthn.js`), dom.scripts[0].src);
  assert.match(dom.scripts[0].integrity, /^sha256-[A-Za-z0-9+/]+=*$/);
  assert.equal(dom.inlineHandlers, 0);
}

// --- the walk ---------------------------------------------------------------------------------

before(async () => {
  gh = await startGatehouse();
  browser = await chromium.launch({
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
    timeout: 30_000,
  });
});

after(async () => {
  await browser?.close().catch(() => {});
  await gh?.stop().catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

test('a user adds a passkey in settings and signs in with it in Chromium', async (t) => {
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  page.setDefaultNavigationTimeout(T);
  const problems = []; // CSP / SRI violations and script errors the browser reports
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|integrity|Refused/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));

  // Chromium's virtual authenticator answers a conditional (autofill) request at once, which
  // would sign in on every login page; until the autofill step, the page is told autofill is
  // unavailable, so the passkey button is what signs in.
  await context.addInitScript(() => {
    try {
      if (window.localStorage.getItem('gatehouse-test-autofill') === 'on') return;
    } catch {
      return; // no storage (about:blank)
    }
    if (window.PublicKeyCredential) {
      window.PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);
    }
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  let failed = false;
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
          `\n--- browser problems ---\n${problems.join('\n')}` +
          `\n--- gatehouse log (tail) ---\n${gh.log().split('\n').slice(-25).join('\n')}`,
          { cause: err },
        );
      }
    });

  await step('the page is a secure context for WebAuthn', async () => {
    await page.goto(`${gh.publicUrl}/ui/welcome`);
    const env = await page.evaluate(() => ({
      secure: window.isSecureContext,
      webauthn: typeof window.PublicKeyCredential === 'function',
    }));
    assert.deepEqual(env, { secure: true, webauthn: true });
  });

  await step('registration with a password', async () => {
    await openFlow(page, 'registration');
    await page.locator('input[name="traits.email"]').fill(EMAIL);
    await page.locator('input[name="traits.name"]').fill(NAME);
    await page.locator('input[name="password"]').fill(PASSWORD);
    await page.locator('button[name="method"][value="password"]').click();
    await page.waitForURL((u) => u.pathname === '/ui/verification', { timeout: T });
  });

  await step('settings: add a passkey', async () => {
    const resp = await openFlow(page, 'settings');
    await assertOnlyOurScript(page, resp);
    const trigger = page.locator('button[data-webauthn-trigger="oryWebAuthnRegistration"]');
    await trigger.waitFor();
    // Without a name the script asks for one first (focus) and starts no ceremony.
    await trigger.click();
    await page.waitForFunction(() => document.activeElement?.name === 'webauthn_register_displayname');
    await page.locator('input[name="webauthn_register_displayname"]').fill(KEY_NAME);
    await trigger.click();
    await page.locator('.messages', { hasText: /saved/i }).waitFor();
    await page.locator('button[name="webauthn_remove"]', { hasText: KEY_NAME }).waitFor();
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1, JSON.stringify(credentials));
    assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential');
    assert.equal(credentials[0].rpId, 'localhost');
    const r = await fetch(`${gh.adminUrl}/admin/identities?credentials_identifier=${encodeURIComponent(EMAIL)}`);
    const [identity] = await r.json();
    const full = await (await fetch(`${gh.adminUrl}/admin/identities/${identity.id}?include_credential=webauthn`)).json();
    assert.ok(full.credentials?.webauthn, JSON.stringify(full.credentials));
  });

  const signOut = async () => {
    await page.goto(`${gh.publicUrl}/ui/logout`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((u) => u.pathname === '/ui/login' && u.searchParams.has('flow'));
    await page.locator('button[data-webauthn-trigger="oryWebAuthnLogin"]').waitFor();
    const who = await page.evaluate(() => fetch('/sessions/whoami').then((r) => r.status));
    assert.equal(who, 401);
  };

  await step('sign out', signOut);

  await step('sign in with the passkey alone', async () => {
    const resp = await openFlow(page, 'login');
    await assertOnlyOurScript(page, resp);
    // Neither the identifier nor the password is filled in.
    await page.locator('button[data-webauthn-trigger="oryWebAuthnLogin"]').click();
    await page.waitForURL((u) => u.pathname === '/ui/welcome', { timeout: T });
    const session = await page.evaluate(() => fetch('/sessions/whoami').then((r) => r.json()));
    assert.equal(session.active, true, JSON.stringify(session));
    assert.equal(session.identity.traits.email, EMAIL);
    const methods = session.authentication_methods.map((m) => m.method);
    assert.deepEqual(methods, ['webauthn'], JSON.stringify(session.authentication_methods));
    assert.equal(session.authenticator_assurance_level, 'aal1');
  });

  await step('sign out', signOut);

  await step('passkey autofill signs in by itself', async () => {
    await page.evaluate(() => window.localStorage.setItem('gatehouse-test-autofill', 'on'));
    await page.goto(`${gh.publicUrl}/ui/login`);
    // The identifier field offers passkeys (autocomplete="username webauthn"); the virtual
    // authenticator picks the one passkey, and the script submits the webauthn form.
    await page.waitForURL((u) => u.pathname === '/ui/welcome', { timeout: T });
    const session = await page.evaluate(() => fetch('/sessions/whoami').then((r) => r.json()));
    assert.deepEqual(session.authentication_methods.map((m) => m.method), ['webauthn']);
  });

  await step('the browser reported no CSP, integrity or script error', async () => {
    assert.deepEqual(problems, []);
  });

  await context.close();
});

test('password sign-in works with JavaScript disabled', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  try {
    await openFlow(page, 'login');
    // The passkey button is there but inert; the password form is a plain form.
    await page.locator('button[data-webauthn-trigger="oryWebAuthnLogin"]').waitFor();
    await page.locator('input[name="identifier"]').fill(EMAIL);
    await page.locator('input[name="password"]').fill(PASSWORD);
    await page.locator('button[name="method"][value="password"]').click();
    await page.waitForURL((u) => u.pathname !== '/ui/login', { timeout: T });
    const r = await context.request.get(`${gh.publicUrl}/sessions/whoami`);
    assert.equal(r.status(), 200);
    const session = await r.json();
    assert.deepEqual(session.authentication_methods.map((m) => m.method), ['password']);
  } finally {
    await context.close();
  }
});
