// MCP 2026-07-28 (stateless) through Portcullis, with the official TypeScript
// SDK 2.x on both sides (@modelcontextprotocol/client and /server 2.4.0) and
// OAuth agents from the OpenID provider fixture:
//   - discover, list, call, a multi round-trip call (input_required + retry),
//     a subscriptions/listen stream receiving tools/list_changed (and cut by a
//     kill switch), policy denial with its audit record;
//   - the request-metadata headers checked against the body (raw fetch):
//     400/-32020, -32022, 404/-32601, GET/DELETE 405, no session minted;
//   - mixed versions: a 1.x (2025-11-25) client to the 2.x server, a 2.x
//     client to a 1.x server (auto falls back to initialize, pinned fails
//     with a clear error), a 1.x client to a modern-only server (clear error).
//
//   tests/e2e/run.sh mcp2026.test.mjs
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { DIRECT, FIXTURES, Stack, TMP_DIR, freePort, sleep, spawnListening, startGateway, startUpstream, stopGatewayCleanly, stopProcess, toYaml, writeTempFile } from './lib/gateway.mjs';
import { closeQuietly, connectClient } from './lib/mcp.mjs';
import { startIdp } from './lib/oauth.mjs';
import { decisionsOf, readAuditRecords } from './lib/audit.mjs';

const SKIP = DIRECT ? 'DIRECT=1: these tests are about the gateway' : false;
const MODERN = '2026-07-28';
const META = {
  'io.modelcontextprotocol/protocolVersion': MODERN,
  'io.modelcontextprotocol/clientInfo': { name: 'raw-e2e', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const AGENT = 'agent-2026';
const AGENT_SECRET = 'agent-2026-secret-7d1e9b3c';
const OPS_TOKEN = 'admin-ops-token-2026-4f8a1c';
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const textOf = (result) => result?.content?.find((c) => c.type === 'text')?.text ?? '';

async function startUpstream2026(stack, { modernOnly = false } = {}) {
  const args = ['0', ...(modernOnly ? ['--modern-only'] : [])];
  const { child, port } = await spawnListening(path.join(FIXTURES, 'upstream2026.mjs'), args, { name: modernOnly ? 'upstream2026-modern-only' : 'upstream2026' });
  const base = `http://127.0.0.1:${port}`;
  const up = {
    url: `${base}/mcp`,
    requests: async () => (await fetch(`${base}/__requests`, { signal: AbortSignal.timeout(5000) })).json(),
    reset: async () => (await fetch(`${base}/__reset`, { method: 'POST', signal: AbortSignal.timeout(5000) })).json(),
    stop: () => stopProcess(child),
  };
  stack.add(up.stop);
  return up;
}

function policyFile() {
  const policy = {
    version: 'e2e-mcp2026-1',
    sensitivity_levels: ['public', 'internal'],
    default_sensitivity: 'public',
    tools: [{ match: { upstream: '*', tool: '*' }, action: 'read', sensitivity: 'public' }],
    rules: [
      { id: 'agent-uses-new', effect: 'allow', agents: { ids: [AGENT] }, tools: { upstream: 'new' } },
      { id: 'agent-uses-old', effect: 'allow', agents: { ids: [AGENT] }, tools: { upstream: 'old' } },
      { id: 'agent-uses-strict', effect: 'allow', agents: { ids: [AGENT] }, tools: { upstream: 'strict' } },
      { id: 'agent-uses-rogue', effect: 'allow', agents: { ids: [AGENT] }, tools: { upstream: 'rogue' } },
      {
        id: 'no-secret-reads',
        effect: 'deny',
        agents: { any: true },
        tools: { upstream: 'new', tool: 'secret://*', methods: ['resources/read'] },
      },
      {
        id: 'no-prod-deletes',
        effect: 'deny',
        agents: { any: true },
        tools: { upstream: 'new', tool: 'delete_record' },
        when: [{ argument: '/id', pattern: 'prod-.*' }],
      },
    ],
  };
  return writeTempFile('mcp2026-policy.yaml', `# written by mcp2026.test.mjs\n${toYaml(policy)}\n`);
}

describe('MCP 2026-07-28 through Portcullis (SDK 2.x client and server, OAuth agent, policy, audit)', { skip: SKIP, concurrency: false }, () => {
  const stack = new Stack();
  const clients = [];
  let idp;
  let up;
  let strict;
  let legacy;
  let gw;
  let publicUrl;
  let adminBase;
  let auditDir;
  let token;

  const route = (name) => `${publicUrl}/mcp/${name}`;

  /** A 2.x client. negotiation: 'auto' | {pin} | 'legacy'. */
  async function client2(routeName, { negotiation = { pin: MODERN }, bearer = token, elicit } = {}) {
    const c = new Client(
      { name: 'e2e-client-2x', version: '1.0.0' },
      { versionNegotiation: { mode: negotiation }, capabilities: elicit ? { elicitation: {} } : {} },
    );
    if (elicit) c.setRequestHandler('elicitation/create', elicit);
    const transport = new StreamableHTTPClientTransport(new URL(route(routeName)), {
      requestInit: { headers: bearer ? { Authorization: `Bearer ${bearer}` } : {} },
    });
    clients.push(c);
    await c.connect(transport);
    return c;
  }

  /**
   * A raw modern POST. `headers` override the defaults (null removes one);
   * the defaults mirror the body as a compliant client does.
   */
  async function post(routeName, message, { headers = {}, bearer = token } = {}) {
    const h = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN,
      'mcp-method': message.method,
    };
    const name = message.params?.name ?? message.params?.uri;
    if (name !== undefined && ['tools/call', 'prompts/get', 'resources/read'].includes(message.method)) h['mcp-name'] = name;
    if (bearer) h.authorization = `Bearer ${bearer}`;
    for (const [k, v] of Object.entries(headers)) {
      delete h[k.toLowerCase()];
      if (v !== null) h[k.toLowerCase()] = v;
    }
    const res = await fetch(route(routeName), { method: 'POST', headers: h, body: JSON.stringify(message), signal: AbortSignal.timeout(10000) });
    const text = await res.text();
    let json = null;
    const ct = res.headers.get('content-type') ?? '';
    if (ct.includes('text/event-stream')) {
      const datas = text.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)));
      json = datas.find((m) => m.id === message.id) ?? datas.at(-1) ?? null;
    } else {
      try {
        json = JSON.parse(text);
      } catch {}
    }
    return { status: res.status, headers: res.headers, json, text };
  }
  const call = (id, name, args = {}, extraParams = {}) => ({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name, arguments: args, _meta: META, ...extraParams },
  });

  async function admin(method, p, body) {
    const r = await fetch(adminBase + p, {
      method,
      headers: { authorization: `Bearer ${OPS_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(10000),
    });
    return { status: r.status, json: await r.json().catch(() => null) };
  }

  /** Decision records of the audit log for `tool`, oldest first. */
  async function decisionsFor(tool, count, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ds = decisionsOf(readAuditRecords(auditDir)).filter((r) => r.tool === tool);
      if (ds.length >= count || Date.now() > deadline) return ds;
      await sleep(100);
    }
  }

  before(async () => {
    const gwPort = await freePort();
    const adminPort = await freePort();
    publicUrl = `http://127.0.0.1:${gwPort}`;
    adminBase = `http://127.0.0.1:${adminPort}`;
    fs.mkdirSync(TMP_DIR, { recursive: true });
    auditDir = fs.mkdtempSync(path.join(TMP_DIR, `${process.pid}-mcp2026-audit-`));
    idp = await startIdp({ ttl: 600, clients: [{ client_id: AGENT, client_secret: AGENT_SECRET }], stack });
    [up, strict, legacy] = await Promise.all([
      startUpstream2026(stack),
      startUpstream2026(stack, { modernOnly: true }),
      startUpstream({ stack }),
    ]);
    gw = await startGateway(
      {
        server: { listen: `127.0.0.1:${gwPort}`, public_url: publicUrl },
        upstreams: [
          { name: 'new', url: up.url, path: '/mcp/new' },
          { name: 'strict', url: strict.url, path: '/mcp/strict' },
          { name: 'old', url: legacy.url, path: '/mcp/old' },
          { name: 'rogue', url: up.url.replace(/\/mcp$/, '/rogue'), path: '/mcp/rogue' },
        ],
        identity: {
          issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['RS256', 'ES256'] }],
          clock_skew: '60s',
          agent_claim: 'client_id',
          unregistered_agents: 'deny',
        },
        agents: [{ id: AGENT, owner: 'alice@example.com', groups: ['e2e'] }],
        policy: { files: [policyFile()], mode: 'enforce' },
        audit: { dir: auditDir, on_failure: 'fail_closed' },
        admin: {
          listen: `127.0.0.1:${adminPort}`,
          tokens: [{ name: 'ops', sha256: sha256(OPS_TOKEN), roles: ['viewer', 'operator'] }],
          state_file: path.join(TMP_DIR, `${process.pid}-mcp2026.state`),
        },
      },
      { stack, timeoutMs: 30000 },
    );
    token = await idp.accessToken(AGENT, AGENT_SECRET, { resource: publicUrl, scope: 'mcp' });
  });

  after(async () => {
    for (const c of clients) await closeQuietly(c);
    if (gw?.alive()) await stopGatewayCleanly(assert, gw);
    await stack.stopAll();
  });

  test('discover: the pinned 2.x client negotiates 2026-07-28; no session is minted, the token is not forwarded', async () => {
    await up.reset();
    const c = await client2('new');
    assert.equal(c.getProtocolEra(), 'modern');
    assert.deepEqual(c.getDiscoverResult().supportedVersions, [MODERN]);
    const seen = await up.requests();
    const probe = seen.find((r) => r.method === 'server/discover');
    assert.ok(probe, `the upstream got server/discover: ${JSON.stringify(seen)}`);
    assert.equal(probe.headers['mcp-method'], 'server/discover');
    assert.equal(probe.headers['mcp-protocol-version'], MODERN);
    assert.equal(probe.headers.authorization, undefined, 'the agent token never goes upstream');
    assert.equal(probe.headers['mcp-session-id'], undefined);

    const raw = await post('new', { jsonrpc: '2.0', id: 'd1', method: 'server/discover', params: { _meta: META }, }, { headers: { 'mcp-session-id': 'stale-session-from-2025' } });
    assert.equal(raw.status, 200, raw.text);
    assert.equal(raw.headers.get('mcp-session-id'), null, 'no Mcp-Session-Id minted or echoed');
    assert.deepEqual(raw.json.result.supportedVersions, [MODERN]);
  });

  test('discover needs a token like every request: 401 with a challenge', async () => {
    const r = await post('new', { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: META } }, { bearer: null });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer /);
    assert.equal(r.json?.error?.code, -32004);
  });

  test('list and call; a tools/list Portcullis filters is passed on as private, never public', async () => {
    const c = await client2('new');
    const { tools } = await c.listTools();
    const names = tools.map((t) => t.name).sort();
    for (const n of ['deploy', 'delete_record', 'echo', 'region_query', 'toggle_extra']) assert.ok(names.includes(n), `${n} listed: ${names}`);
    const res = await c.callTool({ name: 'echo', arguments: { text: 'hello 2026' } });
    assert.equal(textOf(res), 'echo: hello 2026');

    // The upstream says public/60 s; Portcullis filtered the list per agent.
    const direct = await fetch(up.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: { _meta: META } }),
    }).then((r) => r.json());
    assert.equal(direct.result.cacheScope, 'public');
    const via = await post('new', { jsonrpc: '2.0', id: 10, method: 'tools/list', params: { _meta: META } });
    assert.equal(via.status, 200, via.text);
    assert.equal(via.json.result.cacheScope, 'private');
    assert.equal(via.json.result.ttlMs, 0);
    assert.equal(via.json.result.resultType, 'complete');
    // resources/read is decided per agent by the policy: private too.
    const read = await post('new', { jsonrpc: '2.0', id: 11, method: 'resources/read', params: { uri: 'config://app', _meta: META } });
    assert.equal(read.status, 200, read.text);
    assert.equal(read.json.result.contents[0].text, '{"mode":"test"}');
    assert.equal(read.json.result.cacheScope, 'private');
  });

  test('multi round-trip call: input_required and the retry pass through unchanged; the retry is authorized and audited anew', async () => {
    await up.reset();
    const before = (await decisionsFor('deploy', 0)).length;
    const asked = [];
    const c = await client2('new', {
      elicit: async (req) => {
        asked.push(req.params);
        return { action: 'accept', content: { confirm: true } };
      },
    });
    const res = await c.callTool({ name: 'deploy', arguments: { env: 'staging' } });
    assert.equal(textOf(res), 'deployed to staging');
    assert.equal(asked.length, 1, 'one elicitation round');
    assert.equal(asked[0].message, 'Deploy to staging?');

    const calls = (await up.requests()).filter((r) => r.method === 'tools/call' && r.params?.name === 'deploy');
    assert.equal(calls.length, 2, `first call and retry reached the upstream: ${JSON.stringify(calls)}`);
    assert.notEqual(calls[0].id, calls[1].id, 'the retry is a new request');
    assert.equal(calls[0].params.requestState, undefined);
    assert.equal(calls[1].params.requestState, 'deploy:staging', 'requestState forwarded byte for byte');
    assert.deepEqual(calls[1].params.inputResponses.confirm, { action: 'accept', content: { confirm: true } });
    assert.equal(calls[1].headers['mcp-name'], 'deploy');

    const ds = (await decisionsFor('deploy', before + 2)).slice(before);
    assert.equal(ds.length, 2, 'a decision record for the call and one for the retry');
    assert.ok(ds.every((d) => d.decision === 'allow' && d.agent === AGENT), JSON.stringify(ds));
    assert.notEqual(ds[0].decision_id, ds[1].decision_id);

    // The retry is a new request: without a token it is refused, and with
    // other arguments it is decided on those.
    const retry = call(77, 'deploy', { env: 'staging' }, { requestState: 'deploy:staging', inputResponses: { confirm: { action: 'accept', content: { confirm: true } } } });
    const anon = await post('new', retry, { bearer: null });
    assert.equal(anon.status, 401);
    const swapped = call(78, 'delete_record', { id: 'prod-9' }, { requestState: 'deploy:staging', inputResponses: { confirm: { action: 'accept', content: { confirm: true } } } });
    const denied = await post('new', swapped);
    assert.equal(denied.status, 200, denied.text);
    assert.equal(denied.json.result.isError, true);
    assert.match(textOf(denied.json.result), /Denied by policy/);
  });

  test('policy denial of a call: isError naming the rule, a deny record in the audit log, nothing upstream', async () => {
    await up.reset();
    const c = await client2('new');
    const res = await c.callTool({ name: 'delete_record', arguments: { id: 'prod-1' } });
    assert.equal(res.isError, true);
    assert.match(textOf(res), /Denied by policy.*no-prod-deletes/);
    const id = /decision ([0-9a-f]{32})\)$/.exec(textOf(res))?.[1];
    assert.ok(id, textOf(res));
    const rec = (await decisionsFor('delete_record', 1)).find((d) => d.decision_id === id);
    assert.ok(rec, 'the decision record is in the audit log');
    assert.equal(rec.decision, 'deny');
    assert.equal(rec.agent, AGENT);
    assert.deepEqual(rec.rules, ['no-prod-deletes']);
    assert.ok(!(await up.requests()).some((r) => r.params?.name === 'delete_record'), 'the upstream never saw it');
    // And an allowed id goes through.
    const ok = await c.callTool({ name: 'delete_record', arguments: { id: 'test-1' } });
    assert.equal(textOf(ok), 'deleted test-1');
  });

  test('subscriptions/listen: the stream is relayed as it happens (tools/list_changed), and a kill switch cuts it', async () => {
    const c = await client2('new');
    const changes = [];
    let notified;
    const arrived = new Promise((r) => (notified = r));
    c.setNotificationHandler('notifications/tools/list_changed', (n) => {
      changes.push(n);
      notified();
    });
    const sub = await c.listen({ toolsListChanged: true });
    assert.deepEqual(sub.honoredFilter, { toolsListChanged: true });
    const t0 = Date.now();
    await c.callTool({ name: 'toggle_extra', arguments: {} });
    await Promise.race([arrived, sleep(5000).then(() => assert.fail('no tools/list_changed within 5 s'))]);
    assert.ok(Date.now() - t0 < 3000, 'delivered promptly, not held back');
    assert.ok(changes[0].params._meta['io.modelcontextprotocol/subscriptionId'] !== undefined);
    const { tools } = await c.listTools();
    assert.ok(tools.some((t) => t.name === 'extra'), 'the new tool is listed');
    await c.callTool({ name: 'toggle_extra', arguments: {} });

    // A second stream, cut by a kill switch on the agent.
    const engaged = await admin('POST', '/admin/v1/kill', { agent: AGENT, reason: 'e2e: cut the listen stream' });
    try {
      assert.equal(engaged.status, 201, JSON.stringify(engaged.json));
      const how = await Promise.race([sub.closed, sleep(5000).then(() => 'still open')]);
      assert.equal(how, 'remote', 'the kill switch closed the listen stream');
      const refused = await post('new', { jsonrpc: '2.0', id: 5, method: 'tools/list', params: { _meta: META } });
      assert.equal(refused.status, 403);
      assert.equal(refused.json.error.code, -32003);
    } finally {
      await admin('DELETE', `/admin/v1/kill/${engaged.json?.id}`);
    }
    const after = await post('new', { jsonrpc: '2.0', id: 6, method: 'tools/list', params: { _meta: META } });
    assert.equal(after.status, 200, 'lifted');
  });

  test('subscriptions/listen: each resourceSubscriptions URI is decided as a read of it, and recorded', async () => {
    await up.reset();
    const listen = (id, uris) => ({
      jsonrpc: '2.0',
      id,
      method: 'subscriptions/listen',
      params: { _meta: META, notifications: { resourceSubscriptions: uris } },
    });
    const denied = await post('new', listen(41, ['config://app', 'secret://payroll']));
    assert.equal(denied.status, 200, denied.text);
    assert.equal(denied.json.id, 41);
    assert.equal(denied.json.error.code, -32003);
    assert.match(denied.json.error.message, /Denied by policy.*no-secret-reads/);
    assert.ok(!(await up.requests()).some((r) => r.method === 'subscriptions/listen'), 'the upstream never saw it');
    const recs = await decisionsFor('secret://payroll', 1);
    assert.equal(recs.at(-1).decision, 'deny');
    assert.equal(recs.at(-1).method, 'subscriptions/listen');
    assert.deepEqual(recs.at(-1).rules, ['no-secret-reads']);
    const allowed = (await decisionsFor('config://app', 1)).at(-1);
    assert.equal(allowed.method, 'subscriptions/listen');

    // An allowed subscription is forwarded: the stream opens with the ack.
    const c = await client2('new');
    const sub = await c.listen({ resourceSubscriptions: ['config://app'] });
    assert.ok(sub.honoredFilter, 'acknowledged');
    await sub.close();
    assert.ok((await up.requests()).some((r) => r.method === 'subscriptions/listen'));
  });

  test('header/body mismatches are refused with 400 and -32020, before the upstream sees anything', async () => {
    const c = await client2('new');
    await c.listTools(); // Portcullis learns region_query's x-mcp-header
    await up.reset();
    const cases = [
      ['Mcp-Name names another tool', call(1, 'delete_record', { id: 'prod-1' }), { 'mcp-name': 'echo' }],
      ['Mcp-Method differs', call(2, 'echo', { text: 'x' }), { 'mcp-method': 'tools/list' }],
      ['Mcp-Method in other case', call(3, 'echo', { text: 'x' }), { 'mcp-method': 'TOOLS/CALL' }],
      ['Mcp-Method missing', call(4, 'echo', { text: 'x' }), { 'mcp-method': null }],
      ['Mcp-Name missing', call(5, 'echo', { text: 'x' }), { 'mcp-name': null }],
      ['MCP-Protocol-Version differs from _meta', call(6, 'echo', { text: 'x' }), { 'mcp-protocol-version': '2025-11-25' }],
      ['MCP-Protocol-Version missing', call(7, 'echo', { text: 'x' }), { 'mcp-protocol-version': null }],
      ['bad Base64 sentinel', call(8, 'echo', { text: 'x' }), { 'mcp-name': '=?base64?***?=' }],
      ['Mcp-Param-Region differs', call(9, 'region_query', { region: 'eu-west1', query: 'q' }), { 'mcp-param-region': 'us-east1' }],
      ['Mcp-Param-Region missing', call(10, 'region_query', { region: 'eu-west1', query: 'q' }), {}],
    ];
    for (const [what, msg, headers] of cases) {
      const r = await post('new', msg, { headers });
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      assert.equal(r.json?.error?.code, -32020, `${what}: ${r.text}`);
      assert.equal(r.json?.id, msg.id, `${what}: the error carries the request id`);
    }
    assert.deepEqual(await up.requests(), [], 'nothing reached the upstream');
    // Sentinel-encoded values that match pass, and the header goes upstream.
    const ok = await post('new', call(11, 'region_query', { region: 'eu-west1', query: 'q' }), {
      headers: { 'mcp-param-region': '=?base64?ZXUtd2VzdDE=?=', 'mcp-name': '=?base64?cmVnaW9uX3F1ZXJ5?=' },
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(textOf(ok.json.result), 'q @ eu-west1');
    const seen = await up.requests();
    assert.equal(seen.at(-1).headers['mcp-param-region'], '=?base64?ZXUtd2VzdDE=?=');
    assert.equal(seen.at(-1).headers['mcp-name'], 'region_query', 'Mcp-Name recomputed from the body');
  });

  test('version and method errors: -32022 with the supported list, -32602 for a bad _meta, 404/-32601 for removed methods', async () => {
    const v = await post('new', { jsonrpc: '2.0', id: 301, method: 'server/discover', params: { _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } } }, { headers: { 'mcp-protocol-version': '2099-01-01' } });
    assert.equal(v.status, 400, v.text);
    assert.equal(v.json.error.code, -32022);
    assert.deepEqual(v.json.error.data, { supported: [MODERN], requested: '2099-01-01' });
    assert.equal(v.json.id, 301);

    const noCaps = { ...META };
    delete noCaps['io.modelcontextprotocol/clientCapabilities'];
    const m = await post('new', { jsonrpc: '2.0', id: 104, method: 'server/discover', params: { _meta: noCaps } });
    assert.equal(m.status, 400);
    assert.equal(m.json.error.code, -32602);

    for (const method of ['initialize', 'ping', 'logging/setLevel', 'resources/subscribe']) {
      const r = await post('new', { jsonrpc: '2.0', id: 500, method, params: { _meta: META } });
      assert.equal(r.status, 404, `${method}: ${r.text}`);
      assert.equal(r.json.error.code, -32601, method);
    }
  });

  test('a server-to-client request on a modern stream is not passed on (2026-07-28 has none)', async () => {
    const r = await post('rogue', call(61, 'anything', {}));
    assert.equal(r.status, 200, r.text);
    const messages = r.text
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => JSON.parse(l.slice(5)));
    assert.deepEqual(messages.map((m) => m.method ?? `result:${m.id}`), ["result:61"], `response: ${r.status} ${r.text}`);
    assert.equal(textOf(messages[0].result), 'rogue done');
  });

  test('GET and DELETE with the 2026-07-28 header are refused with 405 (no GET stream, no sessions)', async () => {
    for (const method of ['GET', 'DELETE']) {
      const r = await fetch(route('new'), {
        method,
        headers: { accept: 'text/event-stream', 'mcp-protocol-version': MODERN, authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(5000),
      });
      const body = await r.json();
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.get('allow'), 'POST');
      assert.equal(body.jsonrpc, '2.0');
      assert.equal(typeof body.error.code, 'number');
    }
  });

  test('mixed: a 1.x (2025-11-25) client through Portcullis to the 2.x server', async () => {
    const { client } = await connectClient(route('new'), { headers: { Authorization: `Bearer ${token}` }, name: 'e2e-client-1x' });
    clients.push(client);
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'echo'));
    assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'old client' } })), 'echo: old client');
  });

  test('mixed: a 1.x client to a modern-only server gets a clear error, not a hang', async () => {
    const t0 = Date.now();
    await assert.rejects(connectClient(route('strict'), { headers: { Authorization: `Bearer ${token}` } }), /protocol version|Unsupported|-32022/i);
    assert.ok(Date.now() - t0 < 10000, 'fails fast');
    // The 2.x client reaches the same server in the modern era.
    const c = await client2('strict');
    assert.equal(textOf(await c.callTool({ name: 'echo', arguments: { text: 'strict' } })), 'echo: strict');
  });

  test('mixed: a 2.x client (auto) to a 1.x server falls back to initialize through Portcullis; pinned fails clearly', async () => {
    const c = await client2('old', { negotiation: 'auto' });
    assert.equal(c.getProtocolEra(), 'legacy');
    const { tools } = await c.listTools();
    assert.ok(tools.some((t) => t.name === 'echo'));
    assert.equal(textOf(await c.callTool({ name: 'echo', arguments: { text: 'fallback' } })), 'fallback');
    const t0 = Date.now();
    await assert.rejects(client2('old', { negotiation: { pin: MODERN } }), /negotiation|2026-07-28/i);
    assert.ok(Date.now() - t0 < 10000, 'fails fast');
  });
});
