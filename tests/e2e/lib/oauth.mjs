// Helpers for the credentials (and identity) end-to-end tests: start the
// OpenID provider fixture (fixtures/idp.mjs) and the credential-checking MCP
// upstream (fixtures/cred-upstream.mjs), get tokens from the IdP, and drive
// the `portcullis vault` CLI.
import { spawn } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { E2E_DIR, FIXTURES, GATEWAY_BIN, spawnListening, stopProcess, toYaml, writeTempFile } from './gateway.mjs';

async function getJson(url) {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return r.json();
}
async function postJsonTo(url, body = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  return r.json();
}

/**
 * Starts fixtures/idp.mjs. opts: {clients, users, ttl, alg, defaultResource, scopes, stack}.
 * Returns {port, issuer, base, tokenUrl, jwksUri, introspectionUrl, token(clientId, secret,
 * params) -> {status, body}, accessToken(...) -> string, tokenRequests(), stats(), reset(),
 * rotate(opts), fail(opts), setTtl(ttl, clientId), keys(), stop()}.
 */
export async function startIdp({ clients, users, ttl, alg, defaultResource, scopes, stack, timeoutMs = 60000 } = {}) {
  const args = ['0'];
  if (clients) args.push('--clients', JSON.stringify(clients));
  if (users) args.push('--users', JSON.stringify(users));
  if (ttl !== undefined) args.push('--ttl', String(ttl));
  if (alg) args.push('--alg', alg);
  if (defaultResource) args.push('--default-resource', defaultResource);
  if (scopes) args.push('--scopes', Array.isArray(scopes) ? scopes.join(' ') : scopes);
  const { child, port, stderr } = await spawnListening(path.join(FIXTURES, 'idp.mjs'), args, { name: 'idp', timeoutMs });
  const base = `http://127.0.0.1:${port}`;
  const idp = {
    port,
    base,
    issuer: base,
    tokenUrl: `${base}/token`,
    jwksUri: `${base}/jwks`,
    introspectionUrl: `${base}/token/introspection`,
    child,
    stderr,
    /** A raw token request (HTTP Basic client auth). Resolves {status, body}. */
    async token(clientId, clientSecret, params = {}) {
      const form = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined));
      if (!form.has('grant_type')) form.set('grant_type', 'client_credentials');
      const r = await fetch(`${base}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
        },
        body: form.toString(),
        signal: AbortSignal.timeout(10000),
      });
      return { status: r.status, body: await r.json() };
    },
    /** An access token for the client (client_credentials unless params.grant_type). */
    async accessToken(clientId, clientSecret, params = {}) {
      const r = await idp.token(clientId, clientSecret, params);
      if (r.status !== 200 || !r.body.access_token) throw new Error(`IdP token request for ${clientId} answered ${r.status}: ${JSON.stringify(r.body)}`);
      return r.body.access_token;
    },
    tokenRequests: () => getJson(`${base}/__token_requests`),
    stats: () => getJson(`${base}/__stats`),
    keys: () => getJson(`${base}/__keys`),
    reset: () => postJsonTo(`${base}/__reset`),
    rotate: (opts = {}) => postJsonTo(`${base}/__rotate`, opts),
    fail: (opts = {}) => postJsonTo(`${base}/__fail`, opts),
    setTtl: (seconds, clientId) => postJsonTo(`${base}/__ttl`, { ttl: seconds, client_id: clientId }),
    stop: () => stopProcess(child),
  };
  stack?.add(idp.stop);
  return idp;
}

/**
 * Starts fixtures/cred-upstream.mjs. opts: {require: none|api-key|bearer|signed-jwt,
 * header, key, jwks, issuer, audience, maxAge, name, stack, timeoutMs (start-up, default 60 s)}.
 * Returns {port, base, url, requests(), reset(), reject(n), revoke(token), stop()}.
 */
export async function startCredUpstream({ require = 'none', header, key, jwks, issuer, audience, maxAge, name, stack, timeoutMs = 60000 } = {}) {
  const args = ['0', '--require', require];
  if (header) args.push('--header', header);
  if (key) args.push('--key', key);
  if (jwks) args.push('--jwks', jwks);
  if (issuer) args.push('--issuer', issuer);
  if (audience) args.push('--audience', audience);
  if (maxAge) args.push('--max-age', String(maxAge));
  const { child, port, stderr } = await spawnListening(path.join(FIXTURES, 'cred-upstream.mjs'), args, {
    name: name ?? `cred-upstream ${require}`,
    timeoutMs,
  });
  const base = `http://127.0.0.1:${port}`;
  const up = {
    port,
    base,
    url: `${base}/mcp`,
    child,
    stderr,
    requests: () => getJson(`${base}/__requests`),
    reset: () => postJsonTo(`${base}/__reset`),
    reject: (count = 1) => postJsonTo(`${base}/__reject`, { count }),
    revoke: (token) => postJsonTo(`${base}/__revoke`, { token }),
    stop: () => stopProcess(child),
  };
  stack?.add(up.stop);
  return up;
}

/**
 * Runs `portcullis <args...>` to completion, writing `input` to its stdin.
 * Resolves {code, signal, stdout, stderr}.
 */
export function runPortcullis(args, { input, timeoutMs = 30000, env = {}, cwd = E2E_DIR } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(GATEWAY_BIN, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`portcullis ${args.join(' ')} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {});
    if (input !== undefined) child.stdin.write(input);
    child.stdin.end();
  });
}

/**
 * Writes a gateway config object as YAML and returns the file name: in `dir`
 * when given (e.g. a private directory from privateDir()), else under .tmp/.
 */
export function writeConfig(config, name = 'portcullis.yaml', dir = undefined) {
  const text = `# written by tests/e2e/lib/oauth.mjs\n${toYaml(config)}\n`;
  if (!dir) return writeTempFile(name, text);
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/**
 * A private directory (mode 0700) under the system temp dir, for files that must
 * outlive the whole test (the vault: tests/e2e/.tmp is wiped by every run.sh,
 * including one started by someone else meanwhile). Removed by the returned
 * cleanup function.
 */
export function privateDir(prefix = 'portcullis-e2e-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o700);
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** `portcullis vault init --config FILE`; throws unless it exits 0. */
export async function vaultInit(configFile) {
  const r = await runPortcullis(['vault', 'init', '--config', configFile]);
  if (r.code !== 0) throw new Error(`vault init exited ${r.code}: ${r.stderr}`);
  return r;
}

/** `portcullis vault put NAME --config FILE` with the secret on stdin; throws unless it exits 0. */
export async function vaultPut(configFile, name, secret) {
  const r = await runPortcullis(['vault', 'put', name, '--config', configFile], { input: secret });
  if (r.code !== 0) throw new Error(`vault put ${name} exited ${r.code}: ${r.stderr}`);
  return r;
}

/** `portcullis vault list --config FILE`. */
export function vaultList(configFile) {
  return runPortcullis(['vault', 'list', '--config', configFile]);
}

/** The payload of a compact JWT, without verifying it. */
export function jwtClaims(token) {
  const part = String(token).split('.')[1];
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}
export function jwtHeader(token) {
  return JSON.parse(Buffer.from(String(token).split('.')[0], 'base64url').toString('utf8'));
}
