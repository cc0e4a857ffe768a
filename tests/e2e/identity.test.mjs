// Identity end to end: a real OpenID provider (fixtures/idp.mjs, oidc-provider)
// issues client-credentials access tokens to several agents; the official SDK
// client calls through Portcullis with them, also through its own OAuth flow
// (ClientCredentialsProvider: 401 -> protected resource metadata -> AS
// metadata -> token -> retry). Hostile tokens are refused with 401 and never
// reach the upstream; the unknown-kid JWKS refresh is bounded to one per 30 s;
// keys rotate at the provider while clients keep calling; the provider may be
// down when the gateway starts; sessions are bound to the principal;
// unregistered agents are refused (or let through when configured so).
//
// Fixtures in this process (node:http): a counting proxy in front of the IdP's
// JWKS (the gateway's jwks_uri, so every JWKS fetch is seen), a second trusted
// issuer "mint" whose keys the test holds (so claim-level defects are signed by
// a key the gateway trusts and fail only for the defect), and an attacker
// server that counts hits (jku/x5u targets: must never be fetched).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { DIRECT, FIXTURES, Stack, TMP_DIR, freePort, sleep, spawnListening, startGateway, startUpstream, stopGatewayCleanly, stopProcess, writeTempFile } from './lib/gateway.mjs';
import { closeQuietly, connectClient, expectJsonRpcError, httpRequest, initializeMessage, messagesOf, postJson, rawHandshake } from './lib/mcp.mjs';
import { jwtHeader, startIdp } from './lib/oauth.mjs';
import { P256_N, b64u, flipMiddle, forge, keyPair, now, signer } from './lib/jwt-forge.mjs';

const SKIP = DIRECT ? 'DIRECT=1: these tests are about the gateway' : false;

const UNAUTHORIZED = -32004;
const FORBIDDEN = -32003;
const SESSION_NOT_FOUND = -32001;
const AUTH_UNAVAILABLE = -32016;
const UNKNOWN_KID_INTERVAL_MS = 30000; // identity/jwks_cache.h JwksOptions::unknown_kid_interval
const SKEW_S = 5; // identity.clock_skew in these configs

const AGENTS = {
  'agent-a': { secret: 'agent-a-secret-5b1e9d', owner: 'alice@example.com' },
  'agent-b': { secret: 'agent-b-secret-7c2f0a', owner: 'bob@example.com' },
  'agent-c': { secret: 'agent-c-secret-3d4e8b', owner: 'carol@example.com' },
  'agent-exp': { secret: 'agent-exp-secret-91ab', owner: 'ops@example.com', ttl: 1 },
};
const ADMIN_VIEWER = 'identity-e2e-viewer-token-6f2a9c';
const UNREGISTERED = { 'agent-x': { secret: 'agent-x-secret-0e0e0e' } };
const ALL_CLIENTS = [
  ...Object.entries(AGENTS).map(([id, a]) => ({ client_id: id, client_secret: a.secret, ...(a.ttl ? { ttl: a.ttl } : {}) })),
  ...Object.entries(UNREGISTERED).map(([id, a]) => ({ client_id: id, client_secret: a.secret })),
];

// ---- in-process HTTP servers ----

function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    server.keepAliveTimeout = 1000;
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        port,
        base: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      });
    });
  });
}

function sendJson(res, status, obj, headers = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** A counting proxy for the IdP's JWKS: every fetch by the gateway is a hit (time in ms). */
async function startJwksProxy(idpJwksUri, stack) {
  const hits = [];
  const srv = await listen(async (req, res) => {
    if (req.url !== '/jwks') return sendJson(res, 404, { error: 'not found' });
    hits.push(Date.now());
    try {
      const r = await fetch(idpJwksUri, { signal: AbortSignal.timeout(5000) });
      const text = await r.text();
      res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    } catch {
      sendJson(res, 502, { error: 'idp unreachable' });
    }
  });
  stack.add(srv.close);
  return { ...srv, url: `${srv.base}/jwks`, hits };
}

/** The attacker's server: serves its JWKS at any path and counts every request. */
async function startAttackerServer(jwks, stack) {
  const hits = [];
  const srv = await listen((req, res) => {
    hits.push({ time: Date.now(), method: req.method, url: req.url, ua: req.headers['user-agent'] });
    sendJson(res, 200, jwks);
  });
  stack.add(srv.close);
  return { ...srv, hits };
}

/** A trusted issuer whose private keys the test holds. */
async function startMint(stack) {
  const rs = keyPair('rsa', 'mint-rs-1', 'RS256');
  const es = keyPair('prime256v1', 'mint-es-1', 'ES256');
  const hits = [];
  const srv = await listen((req, res) => {
    hits.push(Date.now());
    if (req.url === '/mint/jwks') return sendJson(res, 200, { keys: [rs.jwk, es.jwk] });
    sendJson(res, 404, { error: 'not found' });
  });
  stack.add(srv.close);
  return { ...srv, issuer: `${srv.base}/mint`, jwksUri: `${srv.base}/mint/jwks`, rs, es, hits };
}

// ---- helpers ----

/** Parses a WWW-Authenticate Bearer challenge into {scheme, params}. */
function parseChallenge(value) {
  const v = String(value ?? '');
  const m = /^(\S+)\s*(.*)$/.exec(v);
  const params = {};
  if (m) for (const p of m[2].matchAll(/([A-Za-z_]+)="([^"]*)"/g)) params[p[1]] = p[2];
  return { scheme: m?.[1] ?? '', params };
}

/** An SDK client whose fetch calls are recorded as {method, url, status, authorization}. */
function recordingFetch(log) {
  return async (url, init = {}) => {
    const res = await fetch(url, init);
    const h = new Headers(init.headers ?? {});
    log.push({ method: init.method ?? 'GET', url: String(url), status: res.status, authorization: h.get('authorization') });
    return res;
  };
}

async function sdkClientWithProvider(url, provider, { fetchLog, name = 'e2e-oauth' } = {}) {
  const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
  const errors = [];
  client.onerror = (e) => errors.push(e);
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    authProvider: provider,
    ...(fetchLog ? { fetch: recordingFetch(fetchLog) } : {}),
  });
  await client.connect(transport);
  return { client, transport, errors };
}

/** Waits until the gateway's /readyz answers 200 (its keys are fetched). */
async function waitReady(gw, ms = 30000) {
  const deadline = Date.now() + ms;
  while ((await httpRequest(gw.url('/readyz'))).status !== 200) {
    assert.ok(Date.now() < deadline, `/readyz 200 within ${ms / 1000} s`);
    await sleep(200);
  }
}

function echoText(result) {
  return (result?.content ?? []).map((c) => c.text ?? '').join('');
}

/** Calls echo in a loop until stop(); returns {results, stop()}: results[] = {time, ok, error}. */
function callLoop(client, label, intervalMs = 200) {
  const results = [];
  let running = true;
  let n = 0;
  const done = (async () => {
    while (running) {
      const text = `${label} #${++n}`;
      const t = Date.now();
      try {
        const r = await client.callTool({ name: 'echo', arguments: { text } });
        const ok = echoText(r).includes(text);
        results.push({ time: t, ok, error: ok ? undefined : `unexpected result ${JSON.stringify(r).slice(0, 200)}` });
      } catch (e) {
        results.push({ time: t, ok: false, error: `${e?.code ?? ''} ${e?.message ?? e}`.slice(0, 300) });
      }
      await sleep(intervalMs);
    }
  })();
  return {
    results,
    async stop() {
      running = false;
      await done;
    },
  };
}

// ---------------------------------------------------------------------------

describe('identity: real OpenID provider, SDK clients, hostile tokens, rotation', { skip: SKIP, concurrency: false }, () => {
  const stack = new Stack();
  let idp;
  let up;
  let gw;
  let jwks; // counting proxy in front of the IdP's JWKS
  let mint;
  let attacker; // jku/x5u target
  let publicUrl;
  let mcpUrl;
  let resource;
  let adminBase;
  const tokens = {};
  let expiredIdpToken;
  let expiredIdpExp;
  const att = {
    rs: keyPair('rsa', 'attacker-rs', 'RS256'),
    es: keyPair('prime256v1', 'attacker-es', 'ES256'),
    ps: keyPair('rsa', 'attacker-ps', 'PS256'),
    es384: keyPair('secp384r1', 'attacker-es384', 'ES384'),
    ed: keyPair('ed25519', 'attacker-ed', 'EdDSA'),
  };

  const bearer = (token) => ({ authorization: `Bearer ${token}` });
  const agentToken = (id, params = {}) =>
    idp.accessToken(id, (AGENTS[id] ?? UNREGISTERED[id]).secret, { resource, scope: 'mcp', ...params });

  before(async () => {
    idp = await startIdp({ ttl: 3600, clients: ALL_CLIENTS, stack });
    jwks = await startJwksProxy(idp.jwksUri, stack);
    mint = await startMint(stack);
    attacker = await startAttackerServer({ keys: [att.rs.jwk, att.es.jwk, att.ps.jwk, att.es384.jwk, att.ed.jwk] }, stack);
    up = await startUpstream({ stack }); // stateful, SSE; records every request at /__requests
    const port = await freePort();
    const adminPort = await freePort();
    adminBase = `http://127.0.0.1:${adminPort}`;
    publicUrl = `http://127.0.0.1:${port}`;
    mcpUrl = `${publicUrl}/mcp/crm`;
    resource = mcpUrl;
    gw = await startGateway(
      {
        server: { listen: `127.0.0.1:${port}`, public_url: publicUrl },
        admin: {
          listen: `127.0.0.1:${adminPort}`,
          tokens: [{ name: 'viewer', sha256: crypto.createHash('sha256').update(ADMIN_VIEWER).digest('hex'), roles: ['viewer'] }],
          state_file: path.join(TMP_DIR, `${process.pid}-identity.state`),
        },
        upstreams: [{ name: 'crm', url: up.url, path: '/mcp/crm' }],
        identity: {
          issuers: [
            { issuer: idp.issuer, jwks_uri: jwks.url, algorithms: ['RS256', 'ES256'] },
            { issuer: mint.issuer, jwks_uri: mint.jwksUri, algorithms: ['RS256', 'ES256'] },
          ],
          clock_skew: `${SKEW_S}s`,
          agent_claim: 'client_id',
          unregistered_agents: 'deny',
        },
        agents: Object.entries(AGENTS).map(([id, a]) => ({ id, owner: a.owner })),
      },
      { stack, timeoutMs: 60000 },
    );
    // Keys fetched: /readyz 200.
    const deadline = Date.now() + 30000;
    for (;;) {
      const r = await httpRequest(gw.url('/readyz'));
      if (r.status === 200) break;
      if (Date.now() > deadline) throw new Error(`/readyz not 200 within 30 s: ${r.status} ${r.body}`);
      await sleep(200);
    }
    for (const id of ['agent-a', 'agent-b', 'agent-c']) tokens[id] = await agentToken(id);
    tokens['agent-x'] = await agentToken('agent-x');
    expiredIdpToken = await agentToken('agent-exp'); // ttl 1 s: expired by the time the hostile test runs
    expiredIdpExp = JSON.parse(Buffer.from(expiredIdpToken.split('.')[1], 'base64url')).exp;
  });

  after(async () => {
    try {
      if (gw?.alive()) await stopGatewayCleanly(assert, gw);
    } finally {
      await stack.stopAll();
    }
  });

  test('no token: 401 with a WWW-Authenticate challenge naming the RFC 9728 metadata, which names the IdP', async () => {
    const res = await postJson(mcpUrl, initializeMessage());
    expectJsonRpcError(assert, res, { status: 401, code: UNAUTHORIZED, context: 'initialize without a token' });
    const ch = parseChallenge(res.headers['www-authenticate']);
    assert.equal(ch.scheme, 'Bearer', `challenge scheme: ${res.headers['www-authenticate']}`);
    assert.equal(ch.params.error, undefined, 'no error code when no token was sent (RFC 6750 3.1)');
    const prmUrl = `${publicUrl}/.well-known/oauth-protected-resource/mcp/crm`;
    assert.equal(ch.params.resource_metadata, prmUrl, `resource_metadata in ${res.headers['www-authenticate']}`);

    const prm = await httpRequest(prmUrl);
    assert.equal(prm.status, 200, `GET ${prmUrl}: ${prm.status} ${prm.body}`);
    assert.match(String(prm.headers['content-type']), /application\/json/);
    const doc = JSON.parse(prm.body);
    assert.equal(doc.resource, resource, 'resource is the route URL');
    assert.deepEqual(doc.authorization_servers, [idp.issuer, mint.issuer], 'the configured issuers, in order');
    assert.deepEqual(doc.bearer_methods_supported, ['header'], 'header only: no query/body tokens');

    // One route: the root document is the same.
    const root = await httpRequest(`${publicUrl}/.well-known/oauth-protected-resource`);
    assert.equal(root.status, 200, `root metadata: ${root.status} ${root.body}`);
    assert.deepEqual(JSON.parse(root.body), doc, 'root metadata = the only route\'s');
    const none = await httpRequest(`${publicUrl}/.well-known/oauth-protected-resource/mcp/nope`);
    assert.equal(none.status, 404, `metadata of an unknown route: ${none.status}`);

    // GET and DELETE without a token too.
    const get = await httpRequest(mcpUrl, { headers: { accept: 'text/event-stream' } });
    assert.equal(get.status, 401, `GET without a token: ${get.status}`);
    assert.ok(String(get.headers['www-authenticate']).includes(prmUrl), 'GET: challenge names the metadata');
  });

  test('several agents with IdP tokens: SDK clients list and call tools; the agent token never reaches the upstream', async () => {
    await up.reset();
    const clients = [];
    try {
      for (const id of ['agent-a', 'agent-b', 'agent-c']) {
        const c = await connectClient(mcpUrl, { headers: bearer(tokens[id]), name: `e2e-${id}` });
        clients.push([id, c]);
      }
      await Promise.all(
        clients.map(async ([id, { client }]) => {
          const tools = await client.listTools();
          assert.ok(tools.tools.some((t) => t.name === 'echo'), `${id}: tools/list has echo`);
          for (let i = 0; i < 3; i++) {
            const r = await client.callTool({ name: 'echo', arguments: { text: `${id} call ${i}` } });
            assert.ok(echoText(r).includes(`${id} call ${i}`), `${id}: echo ${i}: ${JSON.stringify(r)}`);
          }
        }),
      );
      for (const [id, c] of clients) assert.deepEqual(c.errors, [], `${id}: no transport errors`);
    } finally {
      for (const [, c] of clients) await closeQuietly(c.client);
    }
    const reqs = await up.requests();
    assert.ok(reqs.length >= 3 * 5, `the upstream saw the calls (${reqs.length} requests)`);
    const leaked = reqs.filter((r) => Object.values(tokens).some((t) => JSON.stringify(r.headers).includes(t.slice(-40))));
    assert.deepEqual(leaked.map((r) => r.headers), [], 'no agent token in any upstream request');
    assert.ok(reqs.every((r) => !r.headers.authorization), 'no Authorization header upstream (route has no credential)');
  });

  test("the SDK's own OAuth flow (ClientCredentialsProvider): 401 -> metadata -> IdP token for this resource -> calls succeed", async () => {
    const fetchLog = [];
    await idp.reset();
    const provider = new ClientCredentialsProvider({
      clientId: 'agent-b',
      clientSecret: AGENTS['agent-b'].secret,
      expectedIssuer: idp.issuer,
    });
    const { client, errors } = await sdkClientWithProvider(mcpUrl, provider, { fetchLog });
    try {
      const r = await client.callTool({ name: 'echo', arguments: { text: 'oauth flow works' } });
      assert.ok(echoText(r).includes('oauth flow works'), `echo through the SDK OAuth flow: ${JSON.stringify(r)}`);
      const tools = await client.listTools();
      assert.ok(tools.tools.length > 0, 'tools/list');
      assert.deepEqual(errors, [], 'no transport errors');
    } finally {
      await closeQuietly(client);
    }
    const summary = fetchLog.map((e) => `${e.method} ${e.url.replace(publicUrl, '<gw>').replace(idp.base, '<idp>')} ${e.status}`);
    console.log(`# SDK OAuth flow:\n#   ${summary.slice(0, 8).join('\n#   ')}`);
    const i401 = fetchLog.findIndex((e) => e.url === mcpUrl && e.status === 401);
    assert.ok(i401 >= 0, `the first call to the gateway got 401: ${summary.join(' | ')}`);
    assert.equal(fetchLog[i401].authorization, null, 'the first call carried no token');
    const iPrm = fetchLog.findIndex((e, i) => i > i401 && e.url.startsWith(`${publicUrl}/.well-known/oauth-protected-resource`) && e.status === 200);
    assert.ok(iPrm > i401, `then the protected resource metadata was read: ${summary.join(' | ')}`);
    const iAs = fetchLog.findIndex((e, i) => i > iPrm && e.url.startsWith(idp.base + '/.well-known/') && e.status === 200);
    assert.ok(iAs > iPrm, `then the IdP's metadata: ${summary.join(' | ')}`);
    const iTok = fetchLog.findIndex((e, i) => i > iAs && e.url === idp.tokenUrl && e.status === 200);
    assert.ok(iTok > iAs, `then the token endpoint: ${summary.join(' | ')}`);
    const iOk = fetchLog.findIndex((e, i) => i > iTok && e.url === mcpUrl && e.status === 200);
    assert.ok(iOk > iTok, `then the gateway answered 200: ${summary.join(' | ')}`);
    assert.match(fetchLog[iOk].authorization ?? '', /^Bearer ey/, 'with the new bearer token');

    const issued = (await idp.tokenRequests()).filter((e) => e.client_id === 'agent-b' && e.status === 200);
    assert.equal(issued.length, 1, `one token request by agent-b: ${JSON.stringify(issued.map((e) => e.seq))}`);
    assert.equal(issued[0].grant_type, 'client_credentials');
    assert.equal(issued[0].resource, resource, 'the SDK asked for a token for the resource named in the metadata (RFC 8707)');
    assert.equal(issued[0].claims.aud, resource, 'aud = the route URL');
    assert.equal(jwtHeader(issued[0].token).typ, 'at+jwt');
  });

  test('hostile tokens: each is refused with 401 invalid_token and nothing reaches the upstream; jku/x5u never fetched', async () => {
    const idpKeys = await idp.keys();
    const rsKid = idpKeys.current.RS256;
    const esKid = idpKeys.current.ES256;
    const published = (await (await fetch(idp.jwksUri)).json()).keys;
    const idpRsPub = crypto.createPublicKey({ key: published.find((k) => k.kid === rsKid), format: 'jwk' });
    const idpEsPub = crypto.createPublicKey({ key: published.find((k) => k.kid === esKid), format: 'jwk' });
    const idpRsSpki = idpRsPub.export({ format: 'pem', type: 'spki' });
    const idpRsPkcs1 = idpRsPub.export({ format: 'pem', type: 'pkcs1' });
    const idpEsSpki = idpEsPub.export({ format: 'pem', type: 'spki' });
    const idpRsJwkText = JSON.stringify(published.find((k) => k.kid === rsKid));

    const t = now();
    const idpClaims = { iss: idp.issuer, sub: 'agent-a', client_id: 'agent-a', aud: resource, iat: t, exp: t + 600, jti: crypto.randomUUID() };
    const mintClaims = { ...idpClaims, iss: mint.issuer };
    const rsHdr = { alg: 'RS256', typ: 'at+jwt', kid: rsKid };
    const esHdr = { alg: 'ES256', typ: 'at+jwt', kid: esKid };
    const mintHdr = { alg: 'RS256', typ: 'at+jwt', kid: mint.rs.kid };
    const mintSign = signer('RS256', mint.rs.privateKey);
    const mintEsSign = signer('ES256', mint.es.privateKey);
    const attRs = signer('RS256', att.rs.privateKey);
    const attEs = signer('ES256', att.es.privateKey);
    const fakeSig = Buffer.alloc(256, 7);

    // Control: a well-formed token from each issuer is accepted, so the
    // refusals below are about their one defect.
    const controls = {
      'mint RS256': forge(mintHdr, mintClaims, mintSign),
      'mint ES256': forge({ alg: 'ES256', typ: 'at+jwt', kid: mint.es.kid }, mintClaims, mintEsSign),
      'IdP token': tokens['agent-a'],
    };
    for (const [what, tok] of Object.entries(controls)) {
      const r = await postJson(mcpUrl, initializeMessage(), { headers: bearer(tok) });
      assert.equal(r.status, 200, `control (${what}) must be accepted: ${r.status} ${r.body.slice(0, 300)} ${r.headers['www-authenticate'] ?? ''}`);
    }

    // The IdP's agent-exp token (ttl 1 s) must be past exp + skew.
    const waitMs = (expiredIdpExp + SKEW_S + 1) * 1000 - Date.now();
    if (waitMs > 0) await sleep(waitMs);

    const legit = tokens['agent-a'];
    const [lh, lp, ls] = legit.split('.');
    const tamperedPayload = b64u(JSON.stringify({ ...JSON.parse(Buffer.from(lp, 'base64url')), client_id: 'agent-b', sub: 'agent-b' }));
    const ecSig = (r, s) => Buffer.concat([r, s]);
    const zero32 = Buffer.alloc(32);
    const one32 = Buffer.alloc(32);
    one32[31] = 1;
    const derSig = crypto.sign('sha256', Buffer.from('x'), { key: att.es.privateKey, dsaEncoding: 'der' });
    const otherAudToken = await agentToken('agent-a', { resource: 'https://other.example/api' });
    const nested = (depth) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    const jkuUrl = `${attacker.base}/jwks`;

    // [name, token, expected error_description (regex)]
    const cases = [
      // alg none, every spelling
      ['alg none, empty signature', forge({ alg: 'none', typ: 'at+jwt' }, idpClaims, null), /not a signed JWS|unsigned/],
      ['alg none, with a signature', forge({ alg: 'none', typ: 'at+jwt' }, idpClaims, fakeSig), /unsigned tokens/],
      ['alg None', forge({ alg: 'None' }, idpClaims, fakeSig), /unsigned tokens/],
      ['alg NONE', forge({ alg: 'NONE' }, idpClaims, fakeSig), /unsigned tokens/],
      ['alg nOnE', forge({ alg: 'nOnE' }, idpClaims, fakeSig), /unsigned tokens/],
      ['alg none with the IdP kid', forge({ alg: 'none', kid: rsKid, typ: 'at+jwt' }, idpClaims, fakeSig), /unsigned tokens/],
      ['alg "none " (trailing space)', forge({ alg: 'none ', kid: rsKid }, idpClaims, fakeSig), /unsupported algorithm/],
      ['alg missing', forge({ typ: 'at+jwt', kid: rsKid }, idpClaims, attRs), /no alg/],
      ['alg null', forge({ alg: null, kid: rsKid }, idpClaims, attRs), /no alg/],
      // HMAC with the IdP's public key as the secret (key confusion)
      ['HS256 keyed with the IdP RSA public key (SPKI PEM)', forge({ ...rsHdr, alg: 'HS256' }, idpClaims, signer('HS256', idpRsSpki)), /symmetric/],
      ['HS256 keyed with the IdP RSA public key (PKCS#1 PEM)', forge({ ...rsHdr, alg: 'HS256' }, idpClaims, signer('HS256', idpRsPkcs1)), /symmetric/],
      ['HS256 keyed with the IdP public JWK text', forge({ ...rsHdr, alg: 'HS256' }, idpClaims, signer('HS256', idpRsJwkText)), /symmetric/],
      ['HS384 keyed with the IdP EC public key', forge({ ...esHdr, alg: 'HS384' }, idpClaims, signer('HS384', idpEsSpki)), /symmetric/],
      ['hs512 (lower case) keyed with the IdP RSA key', forge({ ...rsHdr, alg: 'hs512' }, idpClaims, signer('HS512', idpRsSpki)), /symmetric/],
      // algorithms outside the issuer's allow-list [RS256, ES256]
      ['PS256 (not allowed for this issuer)', forge({ ...rsHdr, alg: 'PS256' }, idpClaims, signer('PS256', att.ps.privateKey)), /not allowed/],
      ['RS512 (not allowed)', forge({ ...rsHdr, alg: 'RS512' }, idpClaims, signer('RS512', att.rs.privateKey)), /not allowed/],
      ['ES384 (not allowed)', forge({ ...esHdr, alg: 'ES384' }, idpClaims, signer('ES384', att.es384.privateKey)), /not allowed/],
      ['EdDSA (not allowed)', forge({ ...rsHdr, alg: 'EdDSA' }, idpClaims, signer('EdDSA', att.ed.privateKey)), /not allowed/],
      ['ES512 (not implemented)', forge({ ...esHdr, alg: 'ES512' }, idpClaims, fakeSig), /unsupported algorithm/],
      ['rs256 (wrong case)', forge({ ...rsHdr, alg: 'rs256' }, idpClaims, attRs), /unsupported algorithm/],
      // signatures
      ['IdP token, one signature character changed', `${lh}.${lp}.${flipMiddle(ls)}`, /bad signature/],
      ['IdP token, payload changed to agent-b (signature kept)', `${lh}.${tamperedPayload}.${ls}`, /bad signature/],
      ['IdP token, signature truncated', `${lh}.${lp}.${ls.slice(0, 100)}`, /bad signature|malformed token signature/],
      ['IdP token, signature removed', `${lh}.${lp}.`, /not a signed JWS/],
      ['signed by another RSA key, IdP kid', forge(rsHdr, idpClaims, attRs), /bad signature/],
      ['signed by another EC key, IdP kid', forge(esHdr, idpClaims, attEs), /bad signature/],
      ['signed by another RSA key, no kid', forge({ alg: 'RS256', typ: 'at+jwt' }, idpClaims, attRs), /bad signature|unknown signing key/],
      ['ECDSA r = 0', forge(esHdr, idpClaims, ecSig(zero32, one32)), /bad signature/],
      ['ECDSA s = 0', forge(esHdr, idpClaims, ecSig(one32, zero32)), /bad signature/],
      ['ECDSA r = s = 0', forge(esHdr, idpClaims, Buffer.alloc(64)), /bad signature/],
      ['ECDSA r = n (curve order)', forge(esHdr, idpClaims, ecSig(P256_N, one32)), /bad signature/],
      ['ECDSA s = n (curve order)', forge(esHdr, idpClaims, ecSig(one32, P256_N)), /bad signature/],
      ['ECDSA signature DER-encoded', forge(esHdr, idpClaims, derSig), /bad signature|malformed token signature/],
      // issuer
      ['iss of no configured issuer', forge(mintHdr, { ...mintClaims, iss: 'https://evil.example' }, mintSign), /untrusted issuer/],
      ['iss = the IdP with a trailing slash', forge(mintHdr, { ...mintClaims, iss: `${idp.issuer}/` }, mintSign), /untrusted issuer/],
      ['iss missing', forge(mintHdr, { ...mintClaims, iss: undefined }, mintSign), /no issuer/],
      ['iss as an array', forge(mintHdr, { ...mintClaims, iss: [mint.issuer] }, mintSign), /no issuer|malformed issuer/],
      ['mint-signed token claiming iss = the IdP', forge(mintHdr, { ...mintClaims, iss: idp.issuer }, mintSign), /unknown signing key/],
      // audience
      ['IdP token for another resource (real IdP signature)', otherAudToken, /not issued for this resource/],
      ['aud = another route of this gateway', forge(mintHdr, { ...mintClaims, aud: `${publicUrl}/mcp/other` }, mintSign), /not issued for this resource/],
      ['aud = the route with a trailing slash', forge(mintHdr, { ...mintClaims, aud: `${resource}/` }, mintSign), /not issued for this resource/],
      ['aud array without this resource', forge(mintHdr, { ...mintClaims, aud: ['https://a.example', 'https://b.example'] }, mintSign), /not issued for this resource/],
      ['aud missing', forge(mintHdr, { ...mintClaims, aud: undefined }, mintSign), /no audience/],
      ['aud a number', forge(mintHdr, { ...mintClaims, aud: 42 }, mintSign), /malformed audience/],
      // time
      ['IdP token past exp (ttl 1 s, real IdP signature)', expiredIdpToken, /expired/],
      ['expired an hour ago', forge(mintHdr, { ...mintClaims, iat: t - 7200, exp: t - 3600 }, mintSign), /expired/],
      ['expired just beyond the skew', forge(mintHdr, { ...mintClaims, iat: t - 600, exp: t - SKEW_S - 3 }, mintSign), /expired/],
      ['nbf in the future', forge(mintHdr, { ...mintClaims, nbf: t + 3600 }, mintSign), /not yet valid/],
      ['iat in the future', forge(mintHdr, { ...mintClaims, iat: t + 3600, exp: t + 7200 }, mintSign), /issued in the future/],
      ['exp missing', forge(mintHdr, { ...mintClaims, exp: undefined }, mintSign), /no expiry/],
      ['exp a string', forge(mintHdr, { ...mintClaims, exp: String(t + 600) }, mintSign), /malformed exp/],
      // key-location headers (must be ignored, never fetched)
      ['jku to the attacker JWKS, attacker kid', forge({ ...mintHdr, kid: att.rs.kid, jku: jkuUrl }, mintClaims, attRs), /unknown signing key/],
      ['jku to the attacker JWKS, IdP kid', forge({ ...rsHdr, jku: jkuUrl }, idpClaims, attRs), /bad signature/],
      ['x5u to the attacker server', forge({ ...mintHdr, kid: att.rs.kid, x5u: `${attacker.base}/cert.pem` }, mintClaims, attRs), /unknown signing key/],
      ['jwk header with the attacker public key, no kid', forge({ alg: 'ES256', typ: 'at+jwt', jwk: att.es.jwk }, mintClaims, attEs), /bad signature/],
      ['jwk header with the attacker key and its kid', forge({ alg: 'RS256', typ: 'at+jwt', kid: att.rs.kid, jwk: att.rs.jwk }, mintClaims, attRs), /unknown signing key/],
      // injected kid values (signed by the attacker)
      ['kid path traversal', forge({ ...mintHdr, kid: '../../../../../dev/null' }, mintClaims, attRs), /unknown signing key/],
      ['kid SQL injection', forge({ ...mintHdr, kid: "x' UNION SELECT 'key' --" }, mintClaims, attRs), /unknown signing key/],
      ['kid with a NUL after a real kid', forge({ ...mintHdr, kid: `${mint.rs.kid}\u0000` }, mintClaims, attRs), /unknown signing key/],
      ['kid empty string', forge({ ...mintHdr, kid: '' }, mintClaims, attRs), /unknown signing key/],
      ['kid 4 KiB long', forge({ ...mintHdr, kid: 'k'.repeat(4096) }, mintClaims, attRs), /unknown signing key/],
      ['kid a URL', forge({ ...mintHdr, kid: jkuUrl }, mintClaims, attRs), /unknown signing key/],
      ['kid a number', forge({ ...mintHdr, kid: 1 }, mintClaims, attRs), /malformed key id/],
      ['kid an object', forge({ ...mintHdr, kid: { $ne: null } }, mintClaims, attRs), /malformed key id/],
      // header extensions and token types (signed by the trusted mint key)
      ['crit ["exp"]', forge({ ...mintHdr, crit: ['exp'], exp: t + 600 }, mintClaims, mintSign), /critical/],
      ['crit ["b64"] with b64 false', forge({ ...mintHdr, crit: ['b64'], b64: false }, mintClaims, mintSign), /critical/],
      ['cty JWT (nested token)', forge({ ...mintHdr, cty: 'JWT' }, mintClaims, mintSign), /nested/],
      ['typ dpop+jwt', forge({ ...mintHdr, typ: 'dpop+jwt' }, mintClaims, mintSign), /wrong token type/],
      ['typ id_token+jwt', forge({ ...mintHdr, typ: 'id_token+jwt' }, mintClaims, mintSign), /wrong token type/],
      ['JWE-shaped (five parts)', `${b64u(JSON.stringify({ alg: 'RSA-OAEP', enc: 'A256GCM' }))}.${b64u('k')}.${b64u('iv')}.${b64u('ct')}.${b64u('tag')}`, /opaque tokens are not accepted/],
      // framing and base64url
      ['base64 padding in the header', (() => { const [h, p, s] = forge(mintHdr, mintClaims, mintSign).split('.'); return `${h}==.${p}.${s}`; })(), /malformed token header/],
      ['standard base64 (+ and /) in the signature', (() => { const [h, p, s] = forge(mintHdr, mintClaims, mintSign).split('.'); return `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}+/`; })(), /malformed token signature/],
      ['non-canonical trailing bits in the signature', (() => { const [h, p, s] = forge(mintHdr, mintClaims, mintSign).split('.'); const last = s[s.length - 1]; const idx = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(last); return `${h}.${p}.${s.slice(0, -1)}${'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[idx ^ 1]}`; })(), /malformed token signature|bad signature/],
      ['two parts', `${b64u('{"alg":"RS256"}')}.${b64u('{}')}`, /opaque tokens are not accepted/],
      ['four parts', `${forge(mintHdr, mintClaims, mintSign)}.${b64u('x')}`, /opaque tokens are not accepted/],
      ['empty parts', '..', /not a JWS|not a signed JWS/],
      ['header not JSON', `${b64u('hello')}.${b64u(JSON.stringify(mintClaims))}.${b64u('sig')}`, /malformed token header/],
      ['header a JSON array', `${b64u('["RS256"]')}.${b64u(JSON.stringify(mintClaims))}.${b64u('sig')}`, /malformed token header|no alg/],
      ['payload with trailing garbage', forge(mintHdr, `${JSON.stringify(mintClaims)}xyz`, mintSign), /malformed token payload/],
      ['payload nested 40 deep', forge(mintHdr, `{"x":${nested(40)},${JSON.stringify(mintClaims).slice(1)}`, mintSign), /malformed token payload/],
      // duplicate JSON keys (the verifier and a later reader could disagree)
      ['duplicate client_id in the payload', forge(mintHdr, `${JSON.stringify(mintClaims).slice(0, -1)},"client_id":"agent-b"}`, mintSign), /malformed token payload/],
      ['duplicate iss in the payload', forge(mintHdr, `{"iss":"https://evil.example",${JSON.stringify(mintClaims).slice(1)}`, mintSign), /malformed token payload/],
      ['duplicate alg in the header', forge(`{"alg":"RS256","typ":"at+jwt","kid":"${mint.rs.kid}","alg":"none"}`, mintClaims, mintSign), /malformed token header/],
      // size
      ['9 KiB token (validly signed)', forge(mintHdr, { ...mintClaims, pad: 'p'.repeat(9 * 1024) }, mintSign), /too large/],
      ['10 KiB token (validly signed)', forge(mintHdr, { ...mintClaims, pad: 'p'.repeat(10 * 1024) }, mintSign), /too large/],
      // not a JWT at all (no introspection configured)
      ['opaque token', crypto.randomBytes(32).toString('base64url'), /opaque tokens are not accepted/],
    ];
    assert.ok(cases.length >= 30, `at least 30 hostile tokens (${cases.length})`);

    await up.reset();
    const jwksHitsBefore = jwks.hits.length;
    const table = [];
    const failures = [];
    for (const [name, token, expect] of cases) {
      const res = await postJson(mcpUrl, initializeMessage(), { headers: bearer(token) });
      const www = res.headers['www-authenticate'];
      const ch = parseChallenge(www);
      table.push(`${res.status} ${name}: ${ch.params.error_description ?? '-'}`);
      const problems = [];
      if (res.status !== 401) problems.push(`status ${res.status}`);
      let body;
      try {
        body = JSON.parse(res.body);
      } catch {}
      if (body?.error?.code !== UNAUTHORIZED) problems.push(`error.code ${body?.error?.code}`);
      if (ch.scheme !== 'Bearer' || ch.params.error !== 'invalid_token') problems.push(`challenge ${www}`);
      if (ch.params.resource_metadata !== `${publicUrl}/.well-known/oauth-protected-resource/mcp/crm`) problems.push(`resource_metadata ${ch.params.resource_metadata}`);
      if (!expect.test(ch.params.error_description ?? '')) problems.push(`error_description ${JSON.stringify(ch.params.error_description)} !~ ${expect}`);
      if (problems.length) failures.push(`${name}: ${problems.join('; ')} (body ${res.body.slice(0, 200)})`);
    }
    console.log(`# ${cases.length} hostile tokens:\n#   ${table.join('\n#   ')}`);
    assert.deepEqual(failures, [], `every hostile token gets 401 invalid_token for its own reason`);

    // Authorization header shapes that are not a usable bearer token.
    const headerCases = [
      ['Bearer (no token)', 'Bearer', 'invalid_token'],
      ['Bearer, token with a space', `Bearer ${legit.slice(0, 20)} ${legit.slice(20)}`, 'invalid_token'],
      ['Basic credentials', `Basic ${Buffer.from('agent-a:agent-a-secret-5b1e9d').toString('base64')}`, undefined],
      ['token without a scheme', legit, undefined],
      ['Bearer with a comma-joined second token', `Bearer ${legit},${tokens['agent-b']}`, 'invalid_token'],
    ];
    for (const [name, value, error] of headerCases) {
      const res = await postJson(mcpUrl, initializeMessage(), { headers: { authorization: value } });
      expectJsonRpcError(assert, res, { status: 401, code: UNAUTHORIZED, context: name });
      const ch = parseChallenge(res.headers['www-authenticate']);
      assert.equal(ch.scheme, 'Bearer', `${name}: challenge`);
      assert.equal(ch.params.error, error, `${name}: error in ${res.headers['www-authenticate']}`);
    }

    // Beyond server.max_header_bytes (16 KiB) the header itself is refused: 431, before any token check.
    const huge = forge(mintHdr, { ...mintClaims, pad: 'p'.repeat(40 * 1024) }, mintSign);
    const r431 = await postJson(mcpUrl, initializeMessage(), { headers: bearer(huge) });
    assert.equal(r431.status, 431, `40 KiB token: ${r431.status} ${r431.body.slice(0, 200)}`);

    // Nothing reached the upstream; the attacker's server was never asked.
    assert.deepEqual((await up.requests()).map((r) => `${r.method} ${r.url}`), [], 'the upstream saw no request');
    assert.deepEqual(attacker.hits, [], 'jku/x5u/kid URLs were never fetched');
    console.log(`# JWKS fetches at the IdP proxy during the hostile tokens: ${jwks.hits.length - jwksHitsBefore}`);

    // And the gateway still serves a legitimate caller.
    const ok = await postJson(mcpUrl, initializeMessage(), { headers: bearer(tokens['agent-a']) });
    assert.equal(ok.status, 200, `legit initialize after the hostile run: ${ok.status} ${ok.body.slice(0, 200)}`);
    assert.equal((await up.requests()).length, 1, 'exactly that request reached the upstream');
  });

  test('access tokens in the query string: 401 and not forwarded, even with a valid Authorization header', async () => {
    await up.reset();
    const t = tokens['agent-a'];
    for (const [what, url, headers] of [
      ['query only', `${mcpUrl}?access_token=${t}`, {}],
      ['query and header', `${mcpUrl}?access_token=${t}`, bearer(t)],
      ['second query parameter', `${mcpUrl}?x=1&access_token=${t}`, bearer(t)],
      ['upper-case name', `${mcpUrl}?ACCESS_TOKEN=${t}`, bearer(t)],
    ]) {
      const res = await postJson(url, initializeMessage(), { headers });
      expectJsonRpcError(assert, res, { status: 401, code: UNAUTHORIZED, context: what });
      assert.match(String(res.headers['www-authenticate']), /^Bearer /, `${what}: challenge`);
      assert.match(JSON.parse(res.body).error.message, /query/, `${what}: says why`);
    }
    const get = await httpRequest(`${mcpUrl}?access_token=${t}`, { headers: { accept: 'text/event-stream', ...bearer(t) } });
    assert.equal(get.status, 401, `GET with ?access_token: ${get.status}`);
    assert.deepEqual((await up.requests()).map((r) => r.url), [], 'nothing reached the upstream');
  });

  test('access token in the query string under a percent-encoded name (%61ccess_token): 401 too', async () => {
    // A server that decodes the query (RFC 3986) reads `access_token`: the
    // token is in the URL all the same, so it must be refused like the plain name.
    await up.reset();
    const t = tokens['agent-a'];
    for (const [what, url] of [
      ['%61ccess_token', `${mcpUrl}?%61ccess_token=${t}`],
      ['access%5Ftoken', `${mcpUrl}?access%5Ftoken=${t}`],
    ]) {
      const res = await postJson(url, initializeMessage(), { headers: bearer(t) });
      expectJsonRpcError(assert, res, { status: 401, code: UNAUTHORIZED, context: what });
    }
    assert.deepEqual((await up.requests()).map((r) => r.url), [], 'nothing reached the upstream');
  });

  test('unknown-kid flood: every token refused, exactly one JWKS fetch per 30 s', async () => {
    // Start the flood more than 30 s after the previous fetch, so that it may
    // (and must) trigger exactly one refresh.
    const sinceLast = Date.now() - (jwks.hits.at(-1) ?? 0);
    if (sinceLast < UNKNOWN_KID_INTERVAL_MS + 1000) await sleep(UNKNOWN_KID_INTERVAL_MS + 1000 - sinceLast);
    const before = jwks.hits.length;
    const lastBefore = jwks.hits.at(-1);
    const t0 = Date.now();
    const results = [];
    const N = 150;
    for (let batch = 0; batch < N / 15; batch++) {
      const reqs = [];
      for (let i = 0; i < 15; i++) {
        const kid = `flood-${batch}-${i}-${crypto.randomBytes(6).toString('hex')}`;
        const tok = forge({ alg: 'RS256', typ: 'at+jwt', kid }, { iss: idp.issuer, sub: 'agent-a', client_id: 'agent-a', aud: resource, iat: now(), exp: now() + 600 }, signer('RS256', att.rs.privateKey));
        reqs.push(postJson(mcpUrl, initializeMessage(), { headers: bearer(tok) }));
      }
      for (const r of await Promise.all(reqs)) results.push(r);
    }
    await sleep(1500); // a refresh it started would have arrived by now
    const t1 = Date.now();
    const statuses = {};
    for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    assert.deepEqual(statuses, { 401: N }, 'all flood tokens refused with 401');
    for (const r of results) assert.match(String(r.headers['www-authenticate']), /unknown signing key/);
    const during = jwks.hits.slice(before);
    console.log(
      `# unknown-kid flood: ${N} tokens in ${t1 - t0} ms -> ${during.length} JWKS fetch(es)` +
        ` (previous fetch ${lastBefore ? `${((t0 - lastBefore) / 1000).toFixed(1)} s before` : 'none'})`,
    );
    assert.equal(during.length, 1, `the last fetch was > 30 s ago: the flood triggers exactly one JWKS fetch, got ${during.length}`);
    // A second flood right away adds nothing.
    const before2 = jwks.hits.length;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        postJson(mcpUrl, initializeMessage(), {
          headers: bearer(forge({ alg: 'RS256', typ: 'at+jwt', kid: `again-${i}` }, { iss: idp.issuer, aud: resource, client_id: 'agent-a', exp: now() + 60 }, signer('RS256', att.rs.privateKey))),
        }),
      ),
    );
    await sleep(1000);
    assert.equal(jwks.hits.length, before2, 'a second flood within 30 s triggers no fetch');
    // Legit callers are unaffected.
    const ok = await postJson(mcpUrl, initializeMessage(), { headers: bearer(tokens['agent-c']) });
    assert.equal(ok.status, 200, `agent-c after the flood: ${ok.status}`);
  });

  test("sessions are bound to the principal: agent B presenting agent A's session id gets 404", async () => {
    const a = await rawHandshake(mcpUrl, { headers: bearer(tokens['agent-a']) });
    assert.ok(a.sessionId, 'agent-a has a session');
    const list = { jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} };
    const opts = (tok) => ({ sessionId: a.sessionId, protocolVersion: a.protocolVersion, headers: bearer(tok) });

    await up.reset();
    const b = await postJson(mcpUrl, list, opts(tokens['agent-b']));
    expectJsonRpcError(assert, b, { status: 404, code: SESSION_NOT_FOUND, requestId: 7, context: "agent-b with agent-a's session" });
    const bGet = await httpRequest(mcpUrl, { headers: { accept: 'text/event-stream', 'mcp-session-id': a.sessionId, ...bearer(tokens['agent-b']) } });
    assert.equal(bGet.status, 404, `agent-b GET on agent-a's session: ${bGet.status}`);
    const bDel = await httpRequest(mcpUrl, { method: 'DELETE', headers: { 'mcp-session-id': a.sessionId, ...bearer(tokens['agent-b']) } });
    assert.equal(bDel.status, 404, `agent-b DELETE of agent-a's session: ${bDel.status}`);
    // Same agent from another issuer (mint) with the same client_id: another principal.
    const mintA = forge({ alg: 'RS256', typ: 'at+jwt', kid: mint.rs.kid }, { iss: mint.issuer, sub: 'agent-a', client_id: 'agent-a', aud: resource, iat: now(), exp: now() + 600 }, signer('RS256', mint.rs.privateKey));
    const m = await postJson(mcpUrl, list, opts(mintA));
    expectJsonRpcError(assert, m, { status: 404, code: SESSION_NOT_FOUND, requestId: 7, context: "agent-a from another issuer with agent-a's session" });
    assert.deepEqual((await up.requests()).map((r) => `${r.method} ${r.url}`), [], 'none of it reached the upstream');

    // The owner still uses it, also with a fresh token (bound to the principal, not the token).
    const own = await postJson(mcpUrl, list, opts(tokens['agent-a']));
    assert.equal(own.status, 200, `agent-a on its session: ${own.status} ${own.body.slice(0, 200)}`);
    const fresh = await agentToken('agent-a');
    assert.notEqual(fresh, tokens['agent-a']);
    const own2 = await postJson(mcpUrl, { ...list, id: 8 }, opts(fresh));
    assert.equal(own2.status, 200, `agent-a with a new token on its session: ${own2.status} ${own2.body.slice(0, 200)}`);
    assert.ok(messagesOf(own2).some((x) => x.id === 8 && x.result?.tools), 'tools/list answered');
  });

  test('an unregistered agent (valid IdP token) is refused with 403 and not forwarded', async () => {
    await up.reset();
    const res = await postJson(mcpUrl, initializeMessage(), { headers: bearer(tokens['agent-x']) });
    const obj = expectJsonRpcError(assert, res, { status: 403, code: FORBIDDEN, context: 'agent-x' });
    assert.match(obj.error.message, /not registered/);
    await assert.rejects(
      connectClient(mcpUrl, { headers: bearer(tokens['agent-x']) }),
      (e) => /403/.test(String(e?.code ?? '')) || /403|not registered/.test(String(e?.message)),
      'the SDK client fails to connect',
    );
    assert.deepEqual((await up.requests()).map((r) => r.url), [], 'nothing reached the upstream');
  });

  test('a refused unregistered agent is listed in the admin inventory (registered: false)', async () => {
    // identity/README.md: the gateway applies unregistered_agents: deny|allow
    // "and lists them either way", so an operator sees who is knocking.
    const r = await httpRequest(`${adminBase}/admin/v1/agents`, { headers: { authorization: `Bearer ${ADMIN_VIEWER}` } });
    assert.equal(r.status, 200, `GET /admin/v1/agents: ${r.status} ${r.body}`);
    const agents = Object.fromEntries(JSON.parse(r.body).agents.map((a) => [a.id, a]));
    assert.equal(agents['agent-a']?.registered, true, `agent-a listed as registered: ${r.body.slice(0, 400)}`);
    assert.ok(agents['agent-x'], `agent-x (refused, unregistered) is listed: ${r.body.slice(0, 600)}`);
    assert.equal(agents['agent-x'].registered, false);
  });

  test('JWKS rotation at the IdP while clients keep calling: new keys within the 30 s refresh bound, dropped keys refused, the SDK re-authenticates', async () => {
    // Clients started before any rotation, so they hold tokens signed with the first keys (K0).
    const staticA = await connectClient(mcpUrl, { headers: bearer(tokens['agent-a']), name: 'static-a' });
    const provider = new ClientCredentialsProvider({ clientId: 'agent-b', clientSecret: AGENTS['agent-b'].secret, expectedIssuer: idp.issuer });
    const oauthB = await sdkClientWithProvider(mcpUrl, provider, { name: 'oauth-b' });
    const k0 = jwtHeader(provider.tokens().access_token).kid;
    const loopA = callLoop(staticA.client, 'static-a');
    const loopB = callLoop(oauthB.client, 'oauth-b');
    try {
      await sleep(1000);

      /** Polls with a token signed by the new key until accepted; returns timing. */
      const pollUntilAccepted = async (token, what) => {
        const tStart = Date.now();
        const last = jwks.hits.at(-1) ?? 0;
        const hitsBefore = jwks.hits.length;
        const bound = Math.max(tStart, last + UNKNOWN_KID_INTERVAL_MS) + 10000; // + fetch/poll slack on a loaded machine
        const refusals = {};
        for (;;) {
          const r = await postJson(mcpUrl, initializeMessage(), { headers: bearer(token) });
          if (r.status === 200) break;
          const why = `${r.status} ${parseChallenge(r.headers['www-authenticate']).params.error_description}`;
          refusals[why] = (refusals[why] ?? 0) + 1;
          assert.ok(Date.now() < bound, `${what}: not accepted by ${new Date(bound).toISOString()} (last JWKS fetch ${new Date(last).toISOString()}); refusals ${JSON.stringify(refusals)}`);
          await sleep(250);
        }
        const tOk = Date.now();
        const fetches = jwks.hits.length - hitsBefore;
        console.log(
          `# ${what}: accepted after ${((tOk - tStart) / 1000).toFixed(1)} s (previous JWKS fetch ${((tStart - last) / 1000).toFixed(1)} s before; ` +
            `bound max(0, 30 s - that) = ${(Math.max(0, last + UNKNOWN_KID_INTERVAL_MS - tStart) / 1000).toFixed(1)} s); ${fetches} JWKS fetch(es); refusals meanwhile ${JSON.stringify(refusals)}`,
        );
        for (const why of Object.keys(refusals)) assert.match(why, /^401 unknown signing key$/, `${what}: refusals before the refresh say why`);
        assert.equal(fetches, 1, `${what}: exactly one JWKS fetch for all the polling`);
        return { tStart, tOk };
      };

      // Phase 1: new keys published next to the old ones.
      const r1 = await idp.rotate({ drop: false });
      const k1 = r1.current.RS256;
      assert.notEqual(k1, k0);
      const tokC1 = await agentToken('agent-c');
      assert.equal(jwtHeader(tokC1).kid, k1, 'the IdP signs with the new key');
      await pollUntilAccepted(tokC1, 'phase 1 (rotate, old keys kept): token with the new kid');
      const failuresPhase1 = [...loopA.results, ...loopB.results].filter((x) => !x.ok);
      assert.deepEqual(failuresPhase1, [], 'old-key tokens kept working through the rotation');

      // Phase 2: rotate again and stop publishing K0 and K1.
      const r2 = await idp.rotate({ drop: true });
      const k2 = r2.current.RS256;
      assert.ok(!r2.published.includes(k0) && !r2.published.includes(k1), `old keys dropped: ${JSON.stringify(r2.published)}`);
      const tokC2 = await agentToken('agent-c');
      assert.equal(jwtHeader(tokC2).kid, k2);
      const { tOk } = await pollUntilAccepted(tokC2, 'phase 2 (rotate, old keys dropped): token with the newest kid');
      await sleep(2000); // the loops make a few more calls against the new key set
      await loopA.stop();
      await loopB.stop();

      // agent-a's static K0 token: refused once the gateway has the new set (its cached verification dropped).
      const aAfter = loopA.results.filter((x) => x.time > tOk + 500);
      assert.ok(aAfter.length > 0, 'static-a kept calling');
      assert.ok(aAfter.every((x) => !x.ok && /401/.test(x.error)), `static K0 token refused after the drop: ${JSON.stringify(aAfter.slice(0, 3))}`);
      const direct = await postJson(mcpUrl, initializeMessage(), { headers: bearer(tokens['agent-a']) });
      expectJsonRpcError(assert, direct, { status: 401, code: UNAUTHORIZED, context: 'K0 token after the drop' });
      assert.match(String(direct.headers['www-authenticate']), /unknown signing key/);
      // agent-b with the SDK's OAuth flow: every call succeeded; it got a new token on the 401.
      const bFailures = loopB.results.filter((x) => !x.ok);
      assert.deepEqual(bFailures, [], 'the SDK client re-authenticated transparently');
      assert.ok(loopB.results.filter((x) => x.time > tOk + 500).length > 0, 'oauth-b kept calling after the drop');
      assert.equal(jwtHeader(provider.tokens().access_token).kid, k2, 'oauth-b now holds a token signed with the newest key');
      assert.deepEqual(oauthB.errors, [], 'no transport errors for oauth-b');
      console.log(`# rotation: static-a ${loopA.results.length} calls (${loopA.results.filter((x) => !x.ok).length} refused after the drop), oauth-b ${loopB.results.length} calls, all ok`);
    } finally {
      await loopA.stop();
      await loopB.stop();
      await closeQuietly(staticA.client);
      await closeQuietly(oauthB.client);
    }
  });

  test('JWKS fetches over the whole run: never two within 30 s', () => {
    const gaps = jwks.hits.slice(1).map((h, i) => h - jwks.hits[i]);
    console.log(`# JWKS fetches: ${jwks.hits.length}; gaps (s): ${gaps.map((g) => (g / 1000).toFixed(1)).join(', ')}`);
    for (const g of gaps) assert.ok(g >= UNKNOWN_KID_INTERVAL_MS - 1000, `two JWKS fetches ${g} ms apart`);
    assert.deepEqual(attacker.hits, [], 'the attacker server was never contacted');
  });
});

// ---------------------------------------------------------------------------

describe('identity: unregistered_agents: allow', { skip: SKIP, concurrency: false }, () => {
  const stack = new Stack();
  let idp;
  let up;
  let gw;
  let mcpUrl;

  before(async () => {
    idp = await startIdp({ ttl: 3600, clients: ALL_CLIENTS, stack });
    up = await startUpstream({ stack });
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    mcpUrl = `${publicUrl}/mcp/crm`;
    gw = await startGateway(
      {
        server: { listen: `127.0.0.1:${port}`, public_url: publicUrl },
        upstreams: [{ name: 'crm', url: up.url, path: '/mcp/crm' }],
        identity: { issuers: [{ issuer: idp.issuer }], clock_skew: `${SKEW_S}s`, unregistered_agents: 'allow' },
        agents: [{ id: 'agent-a', owner: AGENTS['agent-a'].owner }],
      },
      { stack, timeoutMs: 60000 },
    );
  });
  after(async () => {
    try {
      if (gw?.alive()) await stopGatewayCleanly(assert, gw);
    } finally {
      await stack.stopAll();
    }
  });

  test('an unregistered agent is let through (SDK OAuth flow and a static token); a bad token still is not', async () => {
    await waitReady(gw); // keys are discovered (no jwks_uri)
    const provider = new ClientCredentialsProvider({ clientId: 'agent-x', clientSecret: UNREGISTERED['agent-x'].secret, expectedIssuer: idp.issuer });
    const { client, errors } = await sdkClientWithProvider(mcpUrl, provider, { name: 'oauth-x' });
    try {
      const r = await client.callTool({ name: 'echo', arguments: { text: 'unregistered but allowed' } });
      assert.ok(echoText(r).includes('unregistered but allowed'), JSON.stringify(r));
      assert.deepEqual(errors, []);
    } finally {
      await closeQuietly(client);
    }
    const tok = await idp.accessToken('agent-x', UNREGISTERED['agent-x'].secret, { resource: mcpUrl });
    const res = await postJson(mcpUrl, initializeMessage(), { headers: { authorization: `Bearer ${tok}` } });
    assert.equal(res.status, 200, `static agent-x token: ${res.status} ${res.body.slice(0, 200)}`);
    const forged = forge({ alg: 'RS256', typ: 'at+jwt', kid: (await idp.keys()).current.RS256 }, { iss: idp.issuer, client_id: 'agent-x', aud: mcpUrl, exp: now() + 60 }, signer('RS256', keyPair('rsa', 'z', 'RS256').privateKey));
    const bad = await postJson(mcpUrl, initializeMessage(), { headers: { authorization: `Bearer ${forged}` } });
    expectJsonRpcError(assert, bad, { status: 401, code: UNAUTHORIZED, context: 'forged agent-x token' });
  });
});

// ---------------------------------------------------------------------------

describe("identity: a delegated call is capped by the user's clearance (users:)", { skip: SKIP, concurrency: false }, () => {
  // Tokens from the mint issuer name agent-a (clearance confidential) and,
  // in `sub`, the user it acts for. echo is an internal read that every
  // agent may call: only the user's clearance can refuse it.
  const stack = new Stack();
  let mint;
  let up;
  let gw;
  let mcpUrl;
  const POLICY = `version: "e2e-users"
sensitivity_levels: [public, internal, confidential]
default_sensitivity: internal
tools:
  - { match: { upstream: crm, tool: echo }, action: read, sensitivity: internal }
rules:
  - id: everyone-reads
    effect: allow
    agents: { any: true }
    tools: { upstream: crm, actions: [read] }
`;

  const tokenFor = (sub) =>
    forge(
      { alg: 'RS256', typ: 'at+jwt', kid: mint.rs.kid },
      { iss: mint.issuer, client_id: 'agent-a', sub, aud: mcpUrl, iat: now(), exp: now() + 600, jti: crypto.randomUUID() },
      signer('RS256', mint.rs.privateKey),
    );

  before(async () => {
    mint = await startMint(stack);
    up = await startUpstream({ stack });
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    mcpUrl = `${publicUrl}/mcp/crm`;
    gw = await startGateway(
      {
        server: { listen: `127.0.0.1:${port}`, public_url: publicUrl },
        upstreams: [{ name: 'crm', url: up.url, path: '/mcp/crm' }],
        identity: { issuers: [{ issuer: mint.issuer, jwks_uri: mint.jwksUri, algorithms: ['RS256'] }], clock_skew: `${SKEW_S}s` },
        agents: [{ id: 'agent-a', owner: AGENTS['agent-a'].owner, clearance: 'confidential' }],
        users: [
          { sub: 'alice@example.com', clearance: 'internal' },
          { sub: 'bob@example.com', clearance: 'public' },
        ],
        policy: { files: [writeTempFile('users-policy.yaml', POLICY)] },
        audit: { dir: path.join(TMP_DIR, `${process.pid}-users-audit`) },
      },
      { stack, timeoutMs: 60000 },
    );
    await waitReady(gw);
  });
  after(async () => {
    try {
      if (gw?.alive()) await stopGatewayCleanly(assert, gw);
    } finally {
      await stack.stopAll();
    }
  });

  /** Lists the tools and calls echo as agent-a acting for `sub`; error: the call's JSON-RPC error. */
  async function asUser(sub) {
    const { client } = await connectClient(mcpUrl, { headers: { authorization: `Bearer ${tokenFor(sub)}` } });
    try {
      const listed = (await client.listTools()).tools.map((t) => t.name);
      try {
        const call = await client.callTool({ name: 'echo', arguments: { text: `for ${sub}` } });
        return { listed, call, text: echoText(call) };
      } catch (error) {
        return { listed, error };
      }
    } finally {
      await closeQuietly(client);
    }
  }

  test('no user (sub is the agent) and a user cleared for internal: echo is listed and called', async () => {
    for (const sub of ['agent-a', 'alice@example.com']) {
      const r = await asUser(sub);
      assert.ok(r.listed.includes('echo'), `${sub}: echo listed (${r.listed})`);
      assert.ok(r.call && !r.call.isError && r.text.includes(`for ${sub}`), `${sub}: ${r.error ?? JSON.stringify(r.call)}`);
    }
  });

  test("a user cleared only for public, and a user users: does not list: echo is hidden and refused, whatever the agent's clearance", async () => {
    const calls = async () => (await up.requests()).filter((q) => q.body?.method === 'tools/call').length;
    const before = await calls();
    for (const sub of ['bob@example.com', 'mallory@example.com']) {
      const r = await asUser(sub);
      assert.ok(!r.listed.includes('echo'), `${sub}: echo hidden (${r.listed})`);
      // A tool the caller may not see is answered as an unknown one.
      assert.equal(r.error?.code, -32602, `${sub}: ${r.error ?? JSON.stringify(r.call)}`);
      assert.match(String(r.error?.message), /Unknown tool: echo/, sub);
    }
    const after = await calls();
    assert.equal(after, before, 'no refused call reached the upstream');
  });
});

// ---------------------------------------------------------------------------

describe('identity: the IdP is down when the gateway starts', { skip: SKIP, concurrency: false }, () => {
  const stack = new Stack();
  let gw;

  after(async () => {
    try {
      if (gw?.alive()) await stopGatewayCleanly(assert, gw);
    } finally {
      await stack.stopAll();
    }
  });

  test('not ready and 503 -32016 while the IdP is down; ready and serving once it is up, without a restart', async () => {
    const idpPort = await freePort();
    const issuer = `http://127.0.0.1:${idpPort}`;
    const up = await startUpstream({ stack });
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const mcpUrl = `${publicUrl}/mcp/crm`;
    gw = await startGateway(
      {
        server: { listen: `127.0.0.1:${port}`, public_url: publicUrl },
        upstreams: [{ name: 'crm', url: up.url, path: '/mcp/crm' }],
        identity: { issuers: [{ issuer }], clock_skew: `${SKEW_S}s` }, // jwks_uri discovered
        agents: [{ id: 'agent-a', owner: AGENTS['agent-a'].owner }],
      },
      { stack, timeoutMs: 60000 },
    );
    const pid = gw.child.pid;

    const ready = await httpRequest(gw.url('/readyz'));
    assert.equal(ready.status, 503, `/readyz while the IdP is down: ${ready.status} ${ready.body}`);
    assert.equal(JSON.parse(ready.body).keys_fetched, false, ready.body);
    assert.equal(await gw.healthz(), 200, '/healthz (liveness) is 200 all the same');

    // Any token of that issuer: the gateway cannot tell yet, so 503 (retry), not 401 (throw it away).
    const someKey = keyPair('rsa', 'k', 'RS256');
    const tok = forge({ alg: 'RS256', typ: 'at+jwt', kid: 'whatever' }, { iss: issuer, client_id: 'agent-a', sub: 'agent-a', aud: mcpUrl, iat: now(), exp: now() + 600 }, signer('RS256', someKey.privateKey));
    await up.reset();
    const res = await postJson(mcpUrl, initializeMessage(), { headers: { authorization: `Bearer ${tok}` } });
    const obj = expectJsonRpcError(assert, res, { status: 503, code: AUTH_UNAVAILABLE, context: 'token while the IdP is down' });
    console.log(`# IdP down: ${res.status} ${obj.error.message}; WWW-Authenticate: ${res.headers['www-authenticate']}`);
    // The token was not judged: the challenge must not tell the client to throw it away.
    const ch = parseChallenge(res.headers['www-authenticate']);
    assert.equal(ch.scheme, 'Bearer', `503 challenge: ${res.headers['www-authenticate']}`);
    assert.equal(ch.params.error, undefined, `503 challenge has no error="invalid_token": ${res.headers['www-authenticate']}`);
    assert.match(ch.params.error_description ?? '', /keys not loaded/);
    // A token of an issuer we do not trust is still a plain 401.
    const foreign = forge({ alg: 'RS256', kid: 'x' }, { iss: 'https://evil.example', aud: mcpUrl, exp: now() + 60 }, signer('RS256', someKey.privateKey));
    const r401 = await postJson(mcpUrl, initializeMessage(), { headers: { authorization: `Bearer ${foreign}` } });
    expectJsonRpcError(assert, r401, { status: 401, code: UNAUTHORIZED, context: 'untrusted issuer while the IdP is down' });
    assert.deepEqual(await up.requests(), [], 'nothing forwarded');

    await sleep(2000);
    // The IdP comes up on the issuer's port.
    const tUp0 = Date.now();
    const { child } = await spawnListening(path.join(FIXTURES, 'idp.mjs'), [String(idpPort), '--ttl', '3600', '--clients', JSON.stringify(ALL_CLIENTS)], { name: 'idp (late)', timeoutMs: 60000 });
    stack.add(() => stopProcess(child));
    const tUp = Date.now();
    let tReady;
    const deadline = tUp + 90000; // retry backoff 1 s, 2 s, ... 60 s
    for (;;) {
      const r = await httpRequest(gw.url('/readyz'));
      if (r.status === 200) {
        tReady = Date.now();
        break;
      }
      assert.ok(Date.now() < deadline, `/readyz 200 within 90 s of the IdP coming up: ${r.status} ${r.body}`);
      await sleep(500);
    }
    console.log(`# IdP listening ${((tUp - tUp0) / 1000).toFixed(1)} s after spawn; gateway ready ${((tReady - tUp) / 1000).toFixed(1)} s after that`);
    assert.equal(gw.child.pid, pid, 'same gateway process');
    assert.ok(gw.alive(), 'gateway alive');

    // A real token now works through the SDK, including its OAuth flow.
    const provider = new ClientCredentialsProvider({ clientId: 'agent-a', clientSecret: AGENTS['agent-a'].secret, expectedIssuer: issuer });
    const { client, errors } = await sdkClientWithProvider(mcpUrl, provider, { name: 'late-a' });
    try {
      const r = await client.callTool({ name: 'echo', arguments: { text: 'after the IdP came up' } });
      assert.ok(echoText(r).includes('after the IdP came up'), JSON.stringify(r));
      assert.deepEqual(errors, []);
    } finally {
      await closeQuietly(client);
    }
    // The forged token is now a 401 (the keys are known and it is not signed by them).
    const again = await postJson(mcpUrl, initializeMessage(), { headers: { authorization: `Bearer ${tok}` } });
    expectJsonRpcError(assert, again, { status: 401, code: UNAUTHORIZED, context: 'forged token once keys are loaded' });
  });
});
