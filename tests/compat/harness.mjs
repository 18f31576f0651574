// Test harness for the compatibility suite.
//
// startEnv() starts, on 127.0.0.1 and free ports only:
//   * a tiny login + consent app (node:http) that drives Gatehouse's admin API through Ory's
//     published Hydra SDK (@ory/hydra-client, OAuth2Api): it auto-accepts the login as
//     "alice@example.com" and grants every requested scope and audience, with the id_token
//     claim {email}; per client it can instead reject the login (setLoginBehavior);
//   * Gatehouse itself (target/debug/gatehouse serve) with a fresh temporary data directory,
//     against SQLite, or against PostgreSQL when GATEHOUSE_COMPAT_DB=postgres (the DSN comes
//     from GATEHOUSE_TEST_POSTGRES_DSN).
// env.stop() stops both and removes the data directory; call it from `after`.
// env.cli(args, { input }) runs the `gatehouse` CLI against the same database.
//
// It also provides a cookie-keeping "browser" (fetch with redirect: 'manual') that follows the
// authorization flow up to the client's redirect_uri, and small HTTP helpers.

import { execFile, spawn } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify as cryptoVerify } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

import { Configuration, OAuth2Api } from '@ory/hydra-client';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');
export const GATEHOUSE_BIN = process.env.GATEHOUSE_BIN || path.join(REPO_ROOT, 'target', 'debug', 'gatehouse');

export const SUBJECT = 'alice@example.com';
export const EMAIL = 'alice@example.com';

/** 'sqlite' (default) or 'postgres'. */
export const DB_MODE = (process.env.GATEHOUSE_COMPAT_DB || 'sqlite').toLowerCase();

/** A TCP port that is free on 127.0.0.1 right now. */
export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

/** A random, URL-safe identifier (for client names, states and the like). */
export function rid(prefix = 'compat') {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// The login + consent app
// ---------------------------------------------------------------------------------------------

/**
 * Starts the login/consent app. Every SDK call and its result is recorded in `app.events`
 * (newest last) so tests can assert what the SDK saw.
 */
async function startLoginApp(getAdminUrl) {
  let hydraSdk = null;
  const sdk = () => (hydraSdk ??= new OAuth2Api(new Configuration({ basePath: getAdminUrl() })));
  const behaviors = new Map(); // client_id -> 'accept' | 'reject'
  const events = [];

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const hydra = sdk();
    try {
      if (url.pathname === '/login') {
        const loginChallenge = url.searchParams.get('login_challenge');
        if (!loginChallenge) throw new Error('login_challenge missing');
        const { data: loginRequest } = await hydra.getOAuth2LoginRequest({ loginChallenge });
        events.push({ type: 'login_request', loginChallenge, data: loginRequest });
        const clientId = loginRequest.client?.client_id;
        let redirectTo;
        if (behaviors.get(clientId) === 'reject') {
          const { data } = await hydra.rejectOAuth2LoginRequest({
            loginChallenge,
            rejectOAuth2Request: {
              error: 'access_denied',
              error_description: 'The resource owner denied the request',
            },
          });
          events.push({ type: 'login_reject', loginChallenge, data });
          redirectTo = data.redirect_to;
        } else {
          const { data } = await hydra.acceptOAuth2LoginRequest({
            loginChallenge,
            acceptOAuth2LoginRequest: {
              subject: SUBJECT,
              remember: false,
              remember_for: 0,
              acr: '0',
              amr: ['pwd'],
              context: { via: 'compat-login-app' },
            },
          });
          events.push({ type: 'login_accept', loginChallenge, data });
          redirectTo = data.redirect_to;
        }
        res.writeHead(302, { Location: redirectTo }).end();
        return;
      }
      if (url.pathname === '/consent') {
        const consentChallenge = url.searchParams.get('consent_challenge');
        if (!consentChallenge) throw new Error('consent_challenge missing');
        const { data: consentRequest } = await hydra.getOAuth2ConsentRequest({ consentChallenge });
        events.push({ type: 'consent_request', consentChallenge, data: consentRequest });
        const { data } = await hydra.acceptOAuth2ConsentRequest({
          consentChallenge,
          acceptOAuth2ConsentRequest: {
            grant_scope: consentRequest.requested_scope ?? [],
            grant_access_token_audience: consentRequest.requested_access_token_audience ?? [],
            remember: true,
            remember_for: 3600,
            session: {
              access_token: { compat: true },
              id_token: { email: EMAIL },
            },
          },
        });
        events.push({ type: 'consent_accept', consentChallenge, data });
        res.writeHead(302, { Location: data.redirect_to }).end();
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    } catch (err) {
      const detail = err?.response
        ? `${err.response.status} ${JSON.stringify(err.response.data)}`
        : String(err?.stack || err);
      events.push({ type: 'error', path: url.pathname, detail });
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`login app error: ${detail}`);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    loginUrl: `${base}/login`,
    consentUrl: `${base}/consent`,
    events,
    setLoginBehavior(clientId, behavior) {
      behaviors.set(clientId, behavior);
    },
    async stop() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Gatehouse
// ---------------------------------------------------------------------------------------------

function tail(file, lines = 60) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function startGatehouse({ loginUrl, consentUrl, extraEnv = {} }) {
  if (!existsSync(GATEHOUSE_BIN)) {
    throw new Error(`${GATEHOUSE_BIN} is missing: run \`cargo build -p gatehouse\` (tests/compat/run.sh does)`);
  }
  let lastError;
  // A free port can be taken between picking it and binding it, and a loaded machine can be
  // slow to start a process: try up to three times, each failure reported with the server log.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-compat-'));
    const publicPort = await freePort();
    let adminPort = await freePort();
    while (adminPort === publicPort) adminPort = await freePort();
    const issuer = `http://127.0.0.1:${publicPort}`;
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      RUST_BACKTRACE: '1',
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_SERVE_PUBLIC_HOST: '127.0.0.1',
      GATEHOUSE_SERVE_ADMIN_HOST: '127.0.0.1',
      GATEHOUSE_SERVE_PUBLIC_PORT: String(publicPort),
      GATEHOUSE_SERVE_ADMIN_PORT: String(adminPort),
      GATEHOUSE_URLS_SELF_ISSUER: issuer,
      GATEHOUSE_URLS_LOGIN: loginUrl,
      GATEHOUSE_URLS_CONSENT: consentUrl,
      ...extraEnv,
    };
    if (DB_MODE === 'postgres') {
      const dsn = process.env.GATEHOUSE_TEST_POSTGRES_DSN;
      if (!dsn) throw new Error('GATEHOUSE_COMPAT_DB=postgres needs GATEHOUSE_TEST_POSTGRES_DSN');
      env.GATEHOUSE_DSN = dsn;
      // The database is shared between runs and keeps the signing keys, encrypted with this
      // secret: it must be the same every run (override with GATEHOUSE_COMPAT_SECRETS_SYSTEM).
      env.GATEHOUSE_SECRETS_SYSTEM =
        process.env.GATEHOUSE_COMPAT_SECRETS_SYSTEM || 'compat-test-secret-0123456789abcdef';
    } else if (DB_MODE !== 'sqlite') {
      throw new Error(`unknown GATEHOUSE_COMPAT_DB=${DB_MODE} (sqlite|postgres)`);
    }
    const logFile = path.join(dataDir, 'gatehouse.log');
    const logFd = openSync(logFile, 'a');
    const child = spawn(GATEHOUSE_BIN, ['serve'], {
      cwd: dataDir,
      env,
      stdio: ['ignore', logFd, logFd],
    });
    closeSync(logFd);
    let exited = null;
    const exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        exited = { code, signal };
        resolve(exited);
      });
    });

    const publicUrl = issuer;
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const deadline = Date.now() + 60_000;
    let ready = false;
    while (Date.now() < deadline && !exited) {
      try {
        const r = await fetch(`${publicUrl}/health/ready`, { signal: AbortSignal.timeout(2000) });
        if (r.status === 200) {
          const a = await fetch(`${adminUrl}/health/ready`, { signal: AbortSignal.timeout(2000) });
          if (a.status === 200) {
            ready = true;
            break;
          }
        }
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    const stop = async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const ac = new AbortController();
        const t = sleep(10_000, 'timeout', { signal: ac.signal }).catch(() => 'aborted');
        const first = await Promise.race([exitPromise, t]);
        ac.abort(); // do not keep the event loop alive for the timer
        if (first === 'timeout') {
          child.kill('SIGKILL');
          await exitPromise;
        }
      }
      rmSync(dataDir, { recursive: true, force: true });
    };
    if (ready) {
      return {
        issuer,
        publicUrl,
        adminUrl,
        dataDir,
        logFile,
        stop,
        log: () => tail(logFile, 200),
        cli: (args, opts) => runCli(args, { ...opts, env, cwd: dataDir }),
      };
    }
    const log = tail(logFile);
    lastError = new Error(
      `gatehouse did not become ready (attempt ${attempt}, exit=${JSON.stringify(exited)}):\n${log}`,
    );
    // Said on stderr at once, so a CI log shows why even when a later attempt succeeds.
    process.stderr.write(`[compat] ${lastError.message}\n`);
    await stop();
  }
  throw lastError;
}

/**
 * Runs `gatehouse <args>` with the server's environment (same data directory and database);
 * `input` is written to its stdin. Resolves to { code, stdout, stderr }, whatever the exit code.
 */
function runCli(args, { env, cwd, input = '' }) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      GATEHOUSE_BIN,
      args,
      { env: { ...env, GATEHOUSE_LOG: 'warn' }, cwd, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: err ? err.code : 0, stdout, stderr });
      },
    );
    child.stdin.end(input);
  });
}

/**
 * Starts the login/consent app and Gatehouse (`options.env`: extra environment for Gatehouse,
 * e.g. configuration keys). Returns
 * { issuer, publicUrl, adminUrl, hydra (OAuth2Api on the admin API), hydraPublic (OAuth2Api on
 *   the public API), loginApp, dbMode, createClient(body), cli(args, { input }), stop() }.
 */
export async function startEnv(options = {}) {
  const started = [];
  try {
    // The login app is started first (on a port of its own choosing) so Gatehouse can be told
    // its URL; it learns Gatehouse's admin URL once that one is up.
    let adminUrl = null;
    const app = await startLoginApp(() => adminUrl);
    started.push(app);
    const gh = await startGatehouse({
      loginUrl: app.loginUrl,
      consentUrl: app.consentUrl,
      extraEnv: options.env ?? {},
    });
    started.push(gh);
    adminUrl = gh.adminUrl;

    const hydra = new OAuth2Api(new Configuration({ basePath: gh.adminUrl }));
    const hydraPublic = new OAuth2Api(new Configuration({ basePath: gh.publicUrl }));
    const createdClients = [];
    const env = {
      ...gh,
      dbMode: DB_MODE,
      hydra,
      hydraPublic,
      loginApp: app,
      /** Creates a client through the SDK; it is deleted again by stop(). */
      async createClient(body) {
        const { data, status } = await hydra.createOAuth2Client({ oAuth2Client: body });
        if (status !== 201) throw new Error(`createOAuth2Client: ${status}`);
        createdClients.push(data.client_id);
        return data;
      },
      async stop() {
        // Leave the shared PostgreSQL database tidy (best effort; the client may be gone).
        for (const id of createdClients) {
          try {
            await fetch(`${gh.adminUrl}/admin/clients/${encodeURIComponent(id)}`, {
              method: 'DELETE',
              signal: AbortSignal.timeout(5000),
            });
          } catch {
            // ignore
          }
        }
        await stopAll(started);
      },
    };
    return env;
  } catch (err) {
    await stopAll(started);
    throw err;
  }
}

async function stopAll(started) {
  for (const s of started.reverse()) {
    try {
      await s.stop();
    } catch {
      // keep stopping the rest
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A cookie-keeping browser
// ---------------------------------------------------------------------------------------------

/**
 * A minimal browser: keeps cookies (all servers are on 127.0.0.1, and cookies are not
 * port-specific) and follows redirects by hand until a Location starts with `stopAt`.
 */
export class Browser {
  constructor() {
    this.jar = new Map();
    this.trace = [];
  }

  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  store(res) {
    const list = typeof res.headers.getSetCookie === 'function' ? res.headers.getSetCookie() : [];
    for (const sc of list) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const maxAge = attrs.map((a) => a.trim()).find((a) => /^max-age=/i.test(a));
      const expired = (maxAge && Number(maxAge.split('=')[1]) <= 0) || value === '';
      if (expired) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  async get(url) {
    const headers = {};
    if (this.jar.size) headers.cookie = this.cookieHeader();
    const res = await fetch(url, { redirect: 'manual', headers, signal: AbortSignal.timeout(15_000) });
    this.store(res);
    return res;
  }

  /**
   * GETs `url` and follows 30x redirects until the Location starts with `stopAt`; returns that
   * Location as a URL. Throws (with the trace) on a non-redirect response or too many hops.
   */
  async follow(url, stopAt, maxHops = 12) {
    let current = String(url);
    for (let hop = 0; hop < maxHops; hop++) {
      const res = await this.get(current);
      const location = res.headers.get('location');
      this.trace.push({ url: current, status: res.status, location });
      if (res.status < 300 || res.status >= 400 || !location) {
        const body = await res.text();
        throw new Error(
          `browser: expected a redirect from ${current}, got ${res.status}: ${body.slice(0, 500)}\n` +
            `trace: ${JSON.stringify(this.trace, null, 2)}`,
        );
      }
      await res.arrayBuffer().catch(() => {});
      const next = new URL(location, current).href;
      if (next.startsWith(stopAt)) return new URL(next);
      current = next;
    }
    throw new Error(`browser: too many redirects; trace: ${JSON.stringify(this.trace, null, 2)}`);
  }

  /**
   * Follows redirects from `url` until a page answers without one (for response_mode=form_post,
   * the auto-submitting form); returns { url, status, headers, body }.
   */
  async followToPage(url, maxHops = 12) {
    let current = String(url);
    for (let hop = 0; hop < maxHops; hop++) {
      const res = await this.get(current);
      const location = res.headers.get('location');
      this.trace.push({ url: current, status: res.status, location });
      if (res.status >= 300 && res.status < 400 && location) {
        await res.arrayBuffer().catch(() => {});
        current = new URL(location, current).href;
        continue;
      }
      return { url: current, status: res.status, headers: res.headers, body: await res.text() };
    }
    throw new Error(`browser: too many redirects; trace: ${JSON.stringify(this.trace, null, 2)}`);
  }
}

/** Parses the first HTML form of a page: { method, action, fields } (hidden inputs only). */
export function parseForm(html) {
  const unescape = (s) =>
    s
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&#x2F;/gi, '/')
      .replace(/&amp;/g, '&');
  const attr = (tag, name) => {
    const m = new RegExp(`\\s${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, 'i').exec(tag);
    return m ? unescape(m[2] ?? m[3]) : null;
  };
  const formTag = /<form\b[^>]*>/i.exec(html);
  if (!formTag) throw new Error(`no form in page: ${html.slice(0, 300)}`);
  const fields = {};
  for (const m of html.matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(m[0], 'name');
    if (name !== null) fields[name] = attr(m[0], 'value') ?? '';
  }
  return { method: (attr(formTag[0], 'method') || 'get').toUpperCase(), action: attr(formTag[0], 'action'), fields };
}

// ---------------------------------------------------------------------------------------------
// HTTP and JOSE helpers
// ---------------------------------------------------------------------------------------------

export function basicAuth(id, secret) {
  // RFC 6749 §2.3.1: form-urlencode the id and secret before base64.
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

/** POST application/x-www-form-urlencoded; returns { status, headers, body (parsed JSON or text) }. */
export async function postForm(url, form, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: new URLSearchParams(form).toString(),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body };
}

/** Introspects a token through the admin API with plain fetch. */
export async function introspect(adminUrl, token) {
  const r = await postForm(`${adminUrl}/admin/oauth2/introspect`, { token });
  if (r.status !== 200) throw new Error(`introspect: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export function b64urlDecode(s) {
  return Buffer.from(s, 'base64url');
}

export function decodeJwt(jwt) {
  const [h, p, s] = jwt.split('.');
  return {
    header: JSON.parse(b64urlDecode(h).toString('utf8')),
    payload: JSON.parse(b64urlDecode(p).toString('utf8')),
    signingInput: `${h}.${p}`,
    signature: b64urlDecode(s),
  };
}

const HASHES = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

/** The hash OIDC Core §3.1.3.6 uses for at_hash with `alg` (EdDSA/Ed25519: SHA-512). */
export function hashForAlg(alg) {
  if (alg === 'EdDSA' || alg === 'Ed25519') return 'sha512';
  const m = /^(?:RS|PS|ES|HS)(256|384|512)$/.exec(alg);
  if (!m) throw new Error(`unsupported alg ${alg}`);
  return HASHES[m[1]];
}

/** at_hash for `accessToken` under `alg`: base64url of the left half of its hash. */
export function atHash(accessToken, alg) {
  const digest = createHash(hashForAlg(alg)).update(accessToken, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/** Verifies a compact JWS against a JWKS with node:crypto only (independent of the RP library). */
export function verifyJws(jwt, jwks) {
  const { header, signingInput, signature } = decodeJwt(jwt);
  const candidates = jwks.keys.filter((k) => (header.kid ? k.kid === header.kid : true));
  if (!candidates.length) throw new Error(`no JWK with kid ${header.kid}`);
  for (const jwk of candidates) {
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    const data = Buffer.from(signingInput, 'ascii');
    let ok;
    if (header.alg === 'EdDSA' || header.alg === 'Ed25519') {
      ok = cryptoVerify(null, data, key, signature);
    } else if (header.alg.startsWith('ES')) {
      ok = cryptoVerify(hashForAlg(header.alg), data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    } else if (header.alg.startsWith('PS')) {
      ok = cryptoVerify(hashForAlg(header.alg), data, { key, padding: 6, saltLength: -1 }, signature);
    } else if (header.alg.startsWith('RS')) {
      ok = cryptoVerify(hashForAlg(header.alg), data, key, signature);
    } else {
      throw new Error(`unsupported alg ${header.alg}`);
    }
    if (ok) return true;
  }
  return false;
}

/** The `Error` an SDK (axios) call failed with, reduced to { status, data }. */
export async function sdkError(promise) {
  try {
    const r = await promise;
    return { status: r.status, data: r.data, resolved: true };
  } catch (err) {
    if (!err?.response) throw err;
    return { status: err.response.status, data: err.response.data, resolved: false };
  }
}
