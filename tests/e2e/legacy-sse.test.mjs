// Legacy HTTP+SSE transport (MCP 2024-11-05) end to end: the official SDK's
// SSEClientTransport (the agents) and SSEServerTransport (the upstream,
// fixtures/legacy-upstream.mjs) through Portcullis on a `transport: sse`
// route, with agents identified by real OAuth tokens (fixtures/idp.mjs), a
// policy, the durable audit log, a vaulted upstream credential (static
// provider; the fixture refuses anything else) and the admin API's kill switch.
//
//   tests/e2e/run.sh legacy-sse.test.mjs
//
// The gateway runs two workers, and the raw tests POST on fresh connections,
// so answers the gateway itself writes into a stream (policy refusals) also
// travel from one worker to another.
//
// Agents: agent-a (group support: echo, read_record with limit <= 10, slow;
// delete_record held for approval), agent-b (group ops: echo only).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { DIRECT, FIXTURES, Stack, freePort, sleep, spawnListening, startGateway, startUpstream, stopGatewayCleanly, stopProcess } from './lib/gateway.mjs';
import { decisionsOf, makeAuditDir, readAuditRecords, writePolicyFile } from './lib/audit.mjs';
import { closeQuietly, expectJsonRpcError, httpRequest, parseSse } from './lib/mcp.mjs';
import { privateDir, startIdp, vaultInit, vaultPut, writeConfig } from './lib/oauth.mjs';

const SKIP = DIRECT ? 'DIRECT=1: these tests are about the gateway' : false;
const KILL_STREAM_BOUND_MS = Number(process.env.E2E_KILL_STREAM_MS ?? 500);

const UPSTREAM_SECRET = 'legacy-upstream-key-7c2e9a4f1b3d';
const ADMIN_TOKEN = 'legacy-admin-token-5b8d1e3f7a90';
const KEEPALIVE_MS = 300; // admin.approval_keepalive: held calls get keepalives and progress this often
const AGENTS = {
  'agent-a': { secret: 'legacy-agent-a-secret-3f9e1d', owner: 'alice@example.com', groups: ['support'] },
  'agent-b': { secret: 'legacy-agent-b-secret-8c2b7a', owner: 'bob@example.com', groups: ['ops'] },
};
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const textOf = (result) => result?.content?.find((c) => c.type === 'text')?.text ?? '';
const DECISION_ID = /decision ([0-9a-f]{32})\)$/;

function legacyPolicy() {
  return {
    version: 'e2e-legacy-1',
    sensitivity_levels: ['public', 'internal', 'confidential', 'restricted'],
    default_sensitivity: 'public',
    tools: [
      { match: { upstream: 'legacy', tool: 'echo' }, action: 'read', sensitivity: 'public' },
      { match: { upstream: 'legacy', tool: 'read_*' }, action: 'read', sensitivity: 'public' },
      { match: { upstream: 'legacy', tool: 'slow' }, action: 'read', sensitivity: 'public' },
      { match: { upstream: 'legacy', tool: 'delete_*' }, action: 'delete', sensitivity: 'public' },
    ],
    rules: [
      { id: 'anyone-echo', effect: 'allow', agents: { any: true }, tools: { upstream: 'legacy', tool: 'echo' } },
      {
        id: 'support-small-reads',
        effect: 'allow',
        agents: { groups: ['support'] },
        tools: { upstream: 'legacy', tool: 'read_record' },
        when: [{ argument: '/limit', max: 10 }],
      },
      { id: 'support-slow', effect: 'allow', agents: { groups: ['support'] }, tools: { upstream: 'legacy', tool: 'slow' } },
      { id: 'support-deletes-need-approval', effect: 'require_approval', agents: { groups: ['support'] }, tools: { upstream: 'legacy', tool: 'delete_record' } },
    ],
  };
}

/**
 * A raw GET of an SSE stream, read as it arrives. Returns {status, headers,
 * events [{event, id, data}], raw, ended, endedAt, endpoint(), messages(),
 * waitFor(pred, ms, what), close()}.
 */
function openSse(url, headers = {}) {
  const u = new URL(url);
  const s = { status: null, headers: null, events: [], raw: '', ended: false, endedAt: null };
  const waiters = new Set();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const finish = () => {
    if (s.ended) return;
    s.ended = true;
    s.endedAt = performance.now();
    notify();
  };
  let buf = '';
  const req = http.request(
    { host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'GET', agent: false, headers: { accept: 'text/event-stream', ...headers } },
    (res) => {
      s.status = res.statusCode;
      s.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        s.raw += chunk;
        buf += chunk;
        let i;
        while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
          s.events.push(...parseSse(buf.slice(0, i) + '\n\n'));
          buf = buf.slice(i).replace(/^\r?\n\r?\n/, '');
        }
        notify();
      });
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', finish);
    },
  );
  req.on('error', finish);
  req.end();
  s.close = () => req.destroy();
  s.endpoint = () => s.events.find((e) => e.event === 'endpoint')?.data;
  s.messages = () => s.events.filter((e) => e.event === 'message' && e.data).map((e) => JSON.parse(e.data));
  s.waitFor = (pred, ms = 10000, what = 'condition') =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (pred(s)) {
          cleanup();
          resolve(s);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`SSE ${url}: ${what} not reached within ${ms} ms (status ${s.status}, ended ${s.ended}, raw ${s.raw.slice(-800)})`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return s;
}

describe('legacy HTTP+SSE (2024-11-05): SDK SSE client and server through the gateway', { skip: SKIP, concurrency: false }, () => {
  const stack = new Stack();
  const clients = [];
  let idp;
  let legacy;
  let modern;
  let gw;
  let publicUrl;
  let adminBase;
  let auditDir;
  const tokens = {};
  const bearer = (agent) => ({ Authorization: `Bearer ${tokens[agent]}` });
  const sseUrl = () => `${publicUrl}/mcp/legacy/sse`;

  async function upstreamJson(p) {
    const r = await fetch(legacy.base + p, { signal: AbortSignal.timeout(5000) });
    return r.json();
  }
  async function admin(method, p, body) {
    const res = await httpRequest(adminBase + p, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { ...res, json: res.body ? JSON.parse(res.body) : null };
  }
  /** An SDK client on the legacy route, over SSEClientTransport. */
  async function connectLegacy(agent) {
    const client = new Client({ name: `${agent}-legacy`, version: '1.0.0' });
    const transport = new SSEClientTransport(new URL(sseUrl()), { requestInit: { headers: bearer(agent) } });
    await client.connect(transport);
    clients.push(client);
    return { client, transport };
  }
  /** A raw POST of one JSON-RPC message, on a fresh connection. */
  function post(url, message, headers) {
    return httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(message) });
  }

  before(async () => {
    const priv = privateDir('portcullis-legacy-');
    stack.add(priv.cleanup);
    idp = await startIdp({ ttl: 3600, clients: Object.entries(AGENTS).map(([id, a]) => ({ client_id: id, client_secret: a.secret })), stack });
    const started = await spawnListening(path.join(FIXTURES, 'legacy-upstream.mjs'), ['0', '--require-key', `Bearer ${UPSTREAM_SECRET}`], { name: 'legacy-upstream' });
    legacy = { ...started, base: `http://127.0.0.1:${started.port}` };
    stack.add(() => stopProcess(started.child));
    modern = await startUpstream({ stack });
    auditDir = makeAuditDir('legacy-audit');

    const gwPort = await freePort();
    const adminPort = await freePort();
    publicUrl = `http://127.0.0.1:${gwPort}`;
    adminBase = `http://127.0.0.1:${adminPort}`;
    const config = {
      server: { listen: `127.0.0.1:${gwPort}`, public_url: publicUrl, threads: 2, drain_timeout: '2s' },
      upstreams: [
        { name: 'legacy', url: `${legacy.base}/sse`, path: '/mcp/legacy', transport: 'sse', credential: 'legacy-key' },
        { name: 'crm', url: modern.url, path: '/mcp/crm' },
      ],
      identity: {
        issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['RS256', 'ES256'] }],
        clock_skew: '60s',
        agent_claim: 'client_id',
        unregistered_agents: 'deny',
      },
      agents: Object.entries(AGENTS).map(([id, a]) => ({ id, owner: a.owner, groups: a.groups })),
      credentials: {
        vault: { file: path.join(priv.dir, 'portcullis.vault'), key_file: path.join(priv.dir, 'vault.key') },
        providers: [{ name: 'legacy-key', kind: 'static', secret: 'vault:legacy-key', header: 'Authorization' }],
      },
      policy: { files: [writePolicyFile(legacyPolicy())], mode: 'enforce' },
      audit: { dir: auditDir, on_failure: 'fail_closed' },
      admin: {
        listen: `127.0.0.1:${adminPort}`,
        tokens: [{ name: 'ops', sha256: sha256(ADMIN_TOKEN), roles: ['viewer', 'operator', 'approver'] }],
        state_file: path.join(priv.dir, 'portcullis.state'),
        approval_keepalive: `${KEEPALIVE_MS}ms`,
      },
    };
    const configFile = writeConfig(config, 'portcullis.yaml', priv.dir);
    await vaultInit(configFile);
    await vaultPut(configFile, 'legacy-key', UPSTREAM_SECRET);
    gw = await startGateway(config, { stack, timeoutMs: 30000 });
    for (const [id, a] of Object.entries(AGENTS)) tokens[id] = await idp.accessToken(id, a.secret, { resource: publicUrl, scope: 'mcp' });
  });

  after(async () => {
    for (const c of clients) await closeQuietly(c);
    await stack.stopAll();
  });

  test('initialize and tools/list over SSEClientTransport: the list is filtered per agent', async () => {
    const a = await connectLegacy('agent-a');
    const b = await connectLegacy('agent-b');
    assert.equal(a.client.getServerVersion()?.name, 'e2e-legacy-upstream', 'initialize answered by the upstream, on the stream');
    const namesA = (await a.client.listTools()).tools.map((t) => t.name).sort();
    const namesB = (await b.client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(namesA, ['delete_record', 'echo', 'read_record', 'slow'], 'agent-a sees what its rules allow or hold');
    assert.deepEqual(namesB, ['echo'], 'agent-b sees only echo');

    // The endpoint the agent POSTs to is the gateway's, with a sealed handle:
    // neither the upstream's path nor its session id shows.
    const endpoint = a.transport._endpoint;
    assert.equal(endpoint.origin, publicUrl, 'endpoint on the gateway');
    assert.equal(endpoint.pathname, '/mcp/legacy/messages');
    assert.match(endpoint.searchParams.get('session') ?? '', /^[A-Za-z0-9_-]{40,}$/, 'a sealed handle');
    const upstreamSessions = (await upstreamJson('/__sessions')).map((s) => s.sessionId);
    assert.ok(upstreamSessions.length >= 2, `the upstream saw both sessions: ${JSON.stringify(upstreamSessions)}`);
    for (const sid of upstreamSessions) assert.ok(!endpoint.href.includes(sid), `upstream session ${sid} not in ${endpoint.href}`);
  });

  test('an allowed call is answered by the upstream; a denied call is an isError result on the stream, recorded before anything moved', async () => {
    const { client } = await connectLegacy('agent-a');
    const ok = await client.callTool({ name: 'read_record', arguments: { id: 'r-1', limit: 5 } });
    assert.ok(!ok.isError, `allowed call: ${JSON.stringify(ok)}`);
    assert.match(textOf(ok), /Ada Lovelace/);

    const denied = await client.callTool({ name: 'read_record', arguments: { id: 'r-2', limit: 50 } });
    assert.equal(denied.isError, true, `denied call is an isError result: ${JSON.stringify(denied)}`);
    assert.match(textOf(denied), /^Denied by policy/);
    const id = DECISION_ID.exec(textOf(denied))?.[1];
    assert.ok(id, `the refusal names its decision: ${textOf(denied)}`);

    const calls = await upstreamJson('/__calls');
    assert.ok(calls.some((c) => c.name === 'read_record' && c.arguments.limit === 5), 'the allowed call reached the upstream');
    assert.ok(!calls.some((c) => c.name === 'read_record' && c.arguments.limit === 50), 'the denied call never reached the upstream');

    const decisions = decisionsOf(readAuditRecords(auditDir));
    const rec = decisions.find((d) => d.decision_id === id);
    assert.ok(rec, `decision ${id} is in the audit log`);
    assert.equal(rec.decision, 'deny');
    assert.equal(rec.agent, 'agent-a');
    assert.equal(rec.upstream, 'legacy');
    assert.equal(rec.tool, 'read_record');
    assert.ok(
      decisions.some((d) => d.decision === 'allow' && d.tool === 'read_record' && d.agent === 'agent-a' && d.args_redacted?.limit === 5),
      'the allowed call has its decision record too',
    );
  });

  test('a hidden tool answers Unknown tool (-32602) on the stream and never reaches the upstream', async () => {
    const { client } = await connectLegacy('agent-b');
    await assert.rejects(client.callTool({ name: 'read_record', arguments: { id: 'r-1', limit: 1 } }), (e) => e.code === -32602 && /Unknown tool: read_record/.test(e.message));
    await assert.rejects(client.callTool({ name: 'delete_record', arguments: { id: 'r-1' } }), (e) => e.code === -32602 && /Unknown tool: delete_record/.test(e.message));
    const calls = await upstreamJson('/__calls');
    assert.ok(!calls.some((c) => c.name === 'delete_record'), 'delete_record never ran');
    const echo = await client.callTool({ name: 'echo', arguments: { text: 'b still works' } });
    assert.equal(textOf(echo), 'b still works');
  });

  test('a call held for approval: approved, the upstream answers on the stream; denied, the refusal arrives on the stream', async () => {
    const { client } = await connectLegacy('agent-a');
    async function pending(id) {
      for (let i = 0; i < 200; i++) {
        const r = await admin('GET', '/admin/v1/approvals');
        const hit = (r.json?.approvals ?? []).find((a) => a.tool === 'delete_record' && a.arguments?.id === id);
        if (hit) return hit;
        await sleep(50);
      }
      assert.fail(`no pending approval for delete_record ${id}`);
    }
    const call = client.callTool({ name: 'delete_record', arguments: { id: 'r-9' } });
    const held = await pending('r-9');
    assert.equal(held.agent, 'agent-a');
    assert.equal(held.rule_id, 'support-deletes-need-approval');
    assert.equal(held.rule, 'support-deletes-need-approval');
    assert.ok(!(await upstreamJson('/__calls')).some((c) => c.name === 'delete_record'), 'nothing reached the upstream while held');
    const ok = await admin('POST', `/admin/v1/approvals/${held.id}/approve`, {});
    assert.equal(ok.status, 200, `approve: ${ok.body}`);
    assert.equal(textOf(await call), 'deleted r-9');

    const call2 = client.callTool({ name: 'delete_record', arguments: { id: 'r-8' } });
    const held2 = await pending('r-8');
    const no = await admin('POST', `/admin/v1/approvals/${held2.id}/deny`, { reason: 'keep it' });
    assert.equal(no.status, 200, `deny: ${no.body}`);
    const res = await call2;
    assert.equal(res.isError, true, JSON.stringify(res));
    assert.match(textOf(res), /^Not approved \(denied\) by ops: keep it \(rule: support-deletes-need-approval; decision [0-9a-f]{32}\)$/);
    const deletes = (await upstreamJson('/__calls')).filter((c) => c.name === 'delete_record').map((c) => c.arguments.id);
    assert.deepEqual(deletes, ['r-9'], 'only the approved delete ran');
  });

  test('while a call is held, keepalives and progress go into the agent\'s stream: an SDK client with a 1.5 s timeout waits 3 s', async () => {
    const { client } = await connectLegacy('agent-a');
    const progress = [];
    const t0 = Date.now();
    const call = client.callTool({ name: 'delete_record', arguments: { id: 'r-7' } }, undefined, {
      timeout: 1500,
      resetTimeoutOnProgress: true,
      onprogress: (p) => progress.push(p),
    });
    let settled = false;
    call.then(() => (settled = true), () => (settled = true));
    let held;
    for (let i = 0; i < 200 && !held; i++) {
      const r = await admin('GET', '/admin/v1/approvals');
      held = (r.json?.approvals ?? []).find((a) => a.tool === 'delete_record' && a.arguments?.id === 'r-7');
      if (!held) await sleep(50);
    }
    assert.ok(held, 'delete_record r-7 is held');
    await sleep(Math.max(0, 3000 - (Date.now() - t0)));
    assert.equal(settled, false, `still waiting after 3 s, twice its request timeout (progress: ${JSON.stringify(progress)})`);
    const ok = await admin('POST', `/admin/v1/approvals/${held.id}/approve`, {});
    assert.equal(ok.status, 200, `approve: ${ok.body}`);
    assert.equal(textOf(await call), 'deleted r-7');
    assert.ok(progress.length >= 2, `progress while held: ${JSON.stringify(progress)}`);
    assert.equal(progress[0].message, `held for approval (approval id ${held.id})`);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i].progress > progress[i - 1].progress, JSON.stringify(progress));
  });

  test("the agent's token never reaches the upstream: every request carries the vaulted credential", async () => {
    const { client } = await connectLegacy('agent-a');
    await client.callTool({ name: 'echo', arguments: { text: 'token check' } });
    const requests = await upstreamJson('/__requests');
    assert.ok(requests.some((r) => r.method === 'GET' && r.url === '/sse'), 'the upstream saw the stream');
    assert.ok(requests.some((r) => r.method === 'POST' && r.url.startsWith('/messages?sessionId=')), 'and the messages, at its own endpoint');
    for (const r of requests) {
      assert.equal(r.headers.authorization, `Bearer ${UPSTREAM_SECRET}`, `${r.method} ${r.url}: the gateway's credential`);
      const all = JSON.stringify(r);
      for (const [agent, token] of Object.entries(tokens)) assert.ok(!all.includes(token), `${agent}'s token not in ${r.method} ${r.url}`);
    }
  });

  test("a POST to a session with another agent's token, no token, or a forged handle is refused and not forwarded", async () => {
    const s = openSse(sseUrl(), bearer('agent-a'));
    try {
      await s.waitFor((x) => x.endpoint(), 10000, 'endpoint event');
      assert.equal(s.status, 200);
      const endpoint = new URL(s.endpoint(), publicUrl).href;
      const before = (await upstreamJson('/__requests')).length;
      const call = (text) => ({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text } } });

      const other = await post(endpoint, call('from agent-b'), bearer('agent-b'));
      expectJsonRpcError(assert, other, { status: 404, code: -32001, context: 'agent-b on agent-a session' });
      const none = await post(endpoint, call('no token'));
      assert.equal(none.status, 401, `no token: ${none.status} ${none.body}`);
      const forged = new URL(endpoint);
      const h = forged.searchParams.get('session');
      forged.searchParams.set('session', h.slice(0, 10) + (h[10] === 'A' ? 'B' : 'A') + h.slice(11));
      expectJsonRpcError(assert, await post(forged.href, call('forged'), bearer('agent-a')), { status: 404, code: -32001, context: 'forged handle' });
      const missing = await post(`${publicUrl}/mcp/legacy/messages`, call('no session'), bearer('agent-a'));
      expectJsonRpcError(assert, missing, { status: 400, code: -32000, context: 'no session parameter' });
      const after = await upstreamJson('/__requests');
      assert.equal(after.length, before, `nothing reached the upstream: ${JSON.stringify(after.slice(before))}`);

      // The owner's own POST goes through: the refusals were about identity.
      const own = await post(endpoint, call('from agent-a'), bearer('agent-a'));
      assert.equal(own.status, 202, `agent-a's POST: ${own.status} ${own.body}`);
      await s.waitFor((x) => x.messages().some((m) => m.id === 7 && textOf(m.result) === 'from agent-a'), 10000, 'echo answer on the stream');
    } finally {
      s.close();
    }
  });

  test('refusals reach the stream from any worker: each POST on its own connection', async () => {
    const s = openSse(sseUrl(), bearer('agent-a'));
    try {
      await s.waitFor((x) => x.endpoint(), 10000, 'endpoint event');
      const endpoint = new URL(s.endpoint(), publicUrl).href;
      const ids = [101, 102, 103, 104, 105, 106];
      const answers = await Promise.all(
        ids.map((id) => post(endpoint, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'read_record', arguments: { id: 'r-1', limit: 99 } } }, bearer('agent-a'))),
      );
      for (const r of answers) assert.equal(r.status, 202, `a denied call's POST is accepted like any other: ${r.status} ${r.body}`);
      await s.waitFor((x) => ids.every((id) => x.messages().some((m) => m.id === id)), 10000, 'every refusal on the stream');
      for (const id of ids) {
        const m = s.messages().find((x) => x.id === id);
        assert.equal(m.result?.isError, true, `id ${id}: ${JSON.stringify(m)}`);
      }
      // A tools/list POSTed raw is filtered on the stream too.
      const list = await post(endpoint, { jsonrpc: '2.0', id: 200, method: 'tools/list' }, bearer('agent-a'));
      assert.equal(list.status, 202);
      await s.waitFor((x) => x.messages().some((m) => m.id === 200), 10000, 'tools/list answer');
      const names = s.messages().find((m) => m.id === 200).result.tools.map((t) => t.name).sort();
      assert.deepEqual(names, ['delete_record', 'echo', 'read_record', 'slow']);
    } finally {
      s.close();
    }
  });

  test('a client of the other transport gets a clear error at once, never a hang', async () => {
    // Streamable HTTP client on the legacy route: 405 naming the SSE endpoint.
    const raw = await post(`${publicUrl}/mcp/legacy`, { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }, { ...bearer('agent-a'), accept: 'application/json, text/event-stream' });
    const obj = expectJsonRpcError(assert, raw, { status: 405, code: -32000, context: 'POST on the legacy route' });
    assert.match(obj.error.message, /legacy HTTP\+SSE.*GET \/mcp\/legacy\/sse/);
    assert.equal(raw.headers.allow, 'GET');
    assert.ok(raw.elapsedMs < 5000);
    const modernClient = new Client({ name: 'modern', version: '1.0.0' });
    const t0 = Date.now();
    await assert.rejects(
      modernClient.connect(new StreamableHTTPClientTransport(new URL(`${publicUrl}/mcp/legacy`), { requestInit: { headers: bearer('agent-a') } })),
      (e) => /legacy HTTP\+SSE transport \(2024-11-05\).*GET \/mcp\/legacy\/sse/.test(String(e?.message)),
    );
    assert.ok(Date.now() - t0 < 5000, 'the SDK client fails fast');
    await closeQuietly(modernClient);

    // Legacy client on a Streamable HTTP route: 404 naming its transport.
    const wrong = await httpRequest(`${publicUrl}/mcp/crm/sse`, { headers: { ...bearer('agent-a'), accept: 'text/event-stream' } });
    const w = expectJsonRpcError(assert, wrong, { status: 404, code: -32000, context: 'GET /mcp/crm/sse' });
    assert.match(w.error.message, /Streamable HTTP/);
    const sseClient = new Client({ name: 'legacy-on-modern', version: '1.0.0' });
    await assert.rejects(sseClient.connect(new SSEClientTransport(new URL(`${publicUrl}/mcp/crm/sse`), { requestInit: { headers: bearer('agent-a') } })), (e) => /404/.test(String(e?.message)));
    await closeQuietly(sseClient);

    // The legacy stream without a token is a 401 like any route.
    const anon = await httpRequest(sseUrl(), { headers: { accept: 'text/event-stream' } });
    assert.equal(anon.status, 401);
    assert.match(anon.headers['www-authenticate'] ?? '', /resource_metadata=/);
  });

  test('the kill switch cuts a legacy stream at once; the agent is refused after; others keep working', async () => {
    const a = await connectLegacy('agent-a');
    const s = openSse(sseUrl(), bearer('agent-b'));
    await s.waitFor((x) => x.endpoint(), 10000, 'agent-b endpoint event');
    const endpoint = new URL(s.endpoint(), publicUrl).href;
    const t0 = performance.now();
    const k = await admin('POST', '/admin/v1/kill', { agent: 'agent-b', reason: 'e2e legacy' });
    assert.equal(k.status, 201, `kill: ${k.status} ${k.body}`);
    await s.waitFor((x) => x.ended, 5000, 'stream cut');
    const ms = Math.round(s.endedAt - t0);
    console.log(`# legacy SSE: kill -> stream closed in ${ms} ms`);
    assert.ok(ms <= KILL_STREAM_BOUND_MS, `stream closed ${ms} ms after the kill (bound ${KILL_STREAM_BOUND_MS} ms)`);
    try {
      const again = await httpRequest(sseUrl(), { headers: { ...bearer('agent-b'), accept: 'text/event-stream' } });
      const o = expectJsonRpcError(assert, again, { status: 403, code: -32003, context: 'agent-b reopening its stream' });
      assert.match(o.error.message, /kill switch/);
      const late = await post(endpoint, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo', arguments: { text: 'late' } } }, bearer('agent-b'));
      expectJsonRpcError(assert, late, { status: 403, code: -32003, requestId: 9, context: 'agent-b POST after the kill' });
      const echo = await a.client.callTool({ name: 'echo', arguments: { text: 'a unaffected' } });
      assert.equal(textOf(echo), 'a unaffected', "agent-a's stream was not cut");
    } finally {
      const lifted = await admin('DELETE', `/admin/v1/kill/${k.json.id}`);
      assert.equal(lifted.status, 200);
    }
    const back = openSse(sseUrl(), bearer('agent-b'));
    try {
      await back.waitFor((x) => x.endpoint(), 10000, 'agent-b back after the lift');
    } finally {
      back.close();
    }
  });

  test('when the upstream ends its stream, each open request gets an error event and the stream ends', async () => {
    const s = openSse(sseUrl(), bearer('agent-a'));
    try {
      await s.waitFor((x) => x.endpoint(), 10000, 'endpoint event');
      const endpoint = new URL(s.endpoint(), publicUrl).href;
      const r = await post(endpoint, { jsonrpc: '2.0', id: 300, method: 'tools/call', params: { name: 'slow', arguments: { ms: 30000 } } }, bearer('agent-a'));
      assert.equal(r.status, 202, `${r.status} ${r.body}`);
      for (let i = 0; i < 100 && !(await upstreamJson('/__calls')).some((c) => c.name === 'slow'); i++) await sleep(50);
      const closed = await (await fetch(`${legacy.base}/__close`, { method: 'POST' })).json();
      assert.ok(closed.closed >= 1, `the upstream closed its streams: ${JSON.stringify(closed)}`);
      await s.waitFor((x) => x.messages().some((m) => m.id === 300), 10000, 'an answer for the open request');
      const m = s.messages().find((x) => x.id === 300);
      assert.equal(m.error?.code, -32010, `error for the open request: ${JSON.stringify(m)}`);
      await s.waitFor((x) => x.ended, 10000, "the agent's stream ends");
    } finally {
      s.close();
    }
  });

  test('the gateway stops cleanly (SIGTERM, exit 0, no sanitizer report) with a legacy stream open', async () => {
    const open = openSse(sseUrl(), bearer('agent-a'));
    await open.waitFor((x) => x.endpoint(), 10000, 'endpoint event');
    for (const c of clients.splice(0)) await closeQuietly(c);
    await stopGatewayCleanly(assert, gw);
    await open.waitFor((x) => x.ended, 10000, 'the stream ends with the gateway');
  });
});
