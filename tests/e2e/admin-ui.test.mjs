// The admin web page (GET /admin/ on the admin listener) driven in headless
// Chromium with playwright-core: the token is entered, an agent is killed with
// the page's Kill button and lifted with Lift, and a held call (a policy
// require_approval) is approved with Approve. Every step is checked against
// the admin API and against the agent's own calls.
//
// Needs Debian's chromium at /usr/bin/chromium (or CHROMIUM_BIN):
//   DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
// Without it the test fails, unless SKIP_BROWSER=1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DIRECT, Stack, TMP_DIR, freePort, startGateway, startUpstream, writeTempFile } from './lib/gateway.mjs';
import { expectJsonRpcError, httpRequest, messagesOf, postJson, rawHandshake } from './lib/mcp.mjs';
import { startIdp } from './lib/oauth.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SKIP_BROWSER = process.env.SKIP_BROWSER === '1';
const HAVE_CHROMIUM = (() => {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
})();
const SKIP = DIRECT ? 'DIRECT=1: this test is about the gateway' : SKIP_BROWSER ? 'SKIP_BROWSER=1' : !HAVE_CHROMIUM ? `no chromium at ${CHROMIUM}` : false;
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const sha256 = (s) => createHash('sha256').update(s).digest('hex');
// carol may look, act and approve; she owns no agent, so she may approve theirs.
const ADMIN_TOKEN = 'admin-ui-carol-token-7b1e9d3c5a2f';
const AGENTS = {
  'support-bot': { secret: 'support-bot-ui-secret-2c4e6a8b', owner: 'alice@example.com' },
  'finance-bot': { secret: 'finance-bot-ui-secret-9f7d5b3a', owner: 'bob@example.com' },
};
const POLICY = `# written by tests/e2e/admin-ui.test.mjs
version: "e2e-admin-ui-1"
sensitivity_levels: [public, internal]
default_sensitivity: internal
tools:
  - { match: { upstream: crm, tool: "delete_*" }, action: delete, sensitivity: internal }
  - { match: { upstream: crm, tool: echo }, action: read, sensitivity: internal }
rules:
  - id: echo-for-all
    effect: allow
    agents: { any: true }
    tools: { upstream: crm, tool: echo }
  - id: deletes-need-approval
    effect: require_approval
    agents: { any: true }
    tools: { upstream: crm, actions: [delete] }
`;

test('chromium is installed for the admin page test', { skip: DIRECT ? 'DIRECT=1' : SKIP_BROWSER ? 'SKIP_BROWSER=1' : false }, () => {
  assert.ok(
    HAVE_CHROMIUM,
    `no executable chromium at ${CHROMIUM}: install it (DEBIAN_FRONTEND=noninteractive apt-get install -y chromium), ` +
      'point CHROMIUM_BIN at one, or set SKIP_BROWSER=1 to skip the browser test',
  );
});

describe('admin page in headless Chromium: kill, lift, approve', { skip: SKIP, concurrency: false }, () => {
  const stack = new Stack();
  let up;
  let gw;
  let adminBase;
  let publicUrl;
  let context;
  let page;
  const pageErrors = [];
  const tokens = {};
  const sessions = {};
  let rpcId = 10;

  const mcpUrl = () => `${publicUrl}/mcp/crm`;
  const bearer = (agent) => ({ Authorization: `Bearer ${tokens[agent]}` });
  async function adminGet(p) {
    const r = await httpRequest(adminBase + p, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(r.status, 200, `GET ${p}: ${r.status} ${r.body}`);
    return JSON.parse(r.body);
  }
  async function session(agent) {
    const h = await rawHandshake(mcpUrl(), { headers: bearer(agent) });
    sessions[agent] = h;
    return { ...bearer(agent), 'mcp-session-id': h.sessionId, 'mcp-protocol-version': h.protocolVersion };
  }
  async function call(agent, name, args, { timeoutMs } = {}) {
    const headers = await session(agent);
    const id = ++rpcId;
    const res = await postJson(mcpUrl(), { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }, { headers, timeoutMs });
    return { id, res };
  }
  async function expectEchoWorks(agent, what) {
    const { res } = await call(agent, 'echo', { text: `${agent} ${what}` });
    assert.equal(res.status, 200, `${agent} ${what}: tools/call echo: ${res.status} ${res.body.slice(0, 300)}`);
    const result = messagesOf(res).find((m) => m.result)?.result;
    assert.equal(result?.content?.[0]?.text, `${agent} ${what}`, `${agent} ${what}: ${res.body.slice(0, 300)}`);
  }
  async function expectRefused(agent, what) {
    const init = await postJson(
      mcpUrl(),
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } },
      { headers: bearer(agent) },
    );
    expectJsonRpcError(assert, init, { status: 403, code: -32003, requestId: 1, context: `${agent} ${what}` });
  }

  let idp;
  async function startGatewayFor({ withPolicy }) {
    const gwPort = await freePort();
    const adminPort = await freePort();
    publicUrl = `http://127.0.0.1:${gwPort}`;
    adminBase = `http://127.0.0.1:${adminPort}`;
    const tag = withPolicy ? 'policy' : 'plain';
    const config = {
      server: { listen: `127.0.0.1:${gwPort}`, public_url: publicUrl },
      upstreams: [{ name: 'crm', url: up.url, path: '/mcp/crm' }],
      identity: {
        issuers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri, algorithms: ['RS256', 'ES256'] }],
        clock_skew: '60s',
        agent_claim: 'client_id',
        unregistered_agents: 'deny',
      },
      agents: Object.entries(AGENTS).map(([id, a]) => ({ id, owner: a.owner, clearance: 'internal' })),
      admin: {
        listen: `127.0.0.1:${adminPort}`,
        tokens: [{ name: 'carol@example.com', sha256: sha256(ADMIN_TOKEN), roles: ['viewer', 'operator', 'approver'] }],
        state_file: path.join(TMP_DIR, `${process.pid}-admin-ui-${tag}.state`),
        approval_timeout: '2m',
      },
    };
    if (withPolicy) {
      config.policy = { files: [writeTempFile('admin-ui-policy.yaml', POLICY)], mode: 'enforce' };
      config.audit = { dir: path.join(TMP_DIR, `${process.pid}-admin-ui-audit`), on_failure: 'fail_closed' };
    }
    if (gw) await gw.stop();
    gw = await startGateway(config, { stack, timeoutMs: 30000 });
    for (const [id, a] of Object.entries(AGENTS)) tokens[id] = await idp.accessToken(id, a.secret, { resource: publicUrl, scope: 'mcp' });
  }
  /** Loads the page from the admin listener and logs in with the token. */
  async function openPage() {
    const res = await page.goto(`${adminBase}/admin/`);
    assert.equal(res.status(), 200, 'GET /admin/');
    assert.equal(await page.title(), 'Portcullis admin');
    assert.equal(await page.locator('#app').isHidden(), true, 'nothing shown before the token');
    await page.fill('#token', ADMIN_TOKEN);
    await page.click('#login-form button[type=submit]');
    await page.locator('#agents tr', { hasText: 'support-bot' }).waitFor();
    await page.locator('#agents tr', { hasText: 'finance-bot' }).waitFor();
    assert.equal(await page.locator('#token').inputValue(), '', 'the token field is cleared');
    assert.match(await page.locator('#status').textContent(), /^updated /);
  }

  before(async () => {
    idp = await startIdp({ ttl: 3600, clients: Object.entries(AGENTS).map(([id, a]) => ({ client_id: id, client_secret: a.secret })), stack });
    up = await startUpstream({ stack });

    const { chromium } = await import('playwright-core');
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-admin-ui-'));
    stack.add(() => fs.rmSync(userDataDir, { recursive: true, force: true }));
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60000 });
    stack.add(() => context.close());
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15000);
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      // Failed fetches (favicon 404, polls of a stopped gateway) are not script errors.
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(`console: ${m.text()}`);
    });
  });

  after(async () => {
    await stack.stopAll();
  });

  // Kill and lift on a gateway without a policy, approvals on one with a
  // policy (so that a policy problem does not hide the kill switch UI).
  test('the page loads from the admin listener and takes the token', async () => {
    await startGatewayFor({ withPolicy: false });
    await openPage();
  });

  test('Kill on an agent row engages an agent kill switch; Lift lifts it', async () => {
    await expectEchoWorks('support-bot', 'before the kill');
    await expectEchoWorks('finance-bot', 'before the kill');

    const dialogs = [];
    const onDialog = (d) => {
      dialogs.push(d.message());
      d.accept('killed from the admin page');
    };
    page.on('dialog', onDialog);
    try {
      await page.locator('#agents tr', { hasText: 'support-bot' }).getByRole('button', { name: 'Kill' }).click();
      await page.locator('#kills tr', { hasText: 'support-bot' }).waitFor();
    } finally {
      page.off('dialog', onDialog);
    }
    assert.deepEqual(dialogs, ['Kill agent support-bot? Reason:']);

    const { kill_switches: engaged } = await adminGet('/admin/v1/kill');
    assert.equal(engaged.length, 1, JSON.stringify(engaged));
    assert.equal(engaged[0].kind, 'agent');
    assert.equal(engaged[0].target, 'support-bot');
    assert.equal(engaged[0].reason, 'killed from the admin page');
    assert.equal(engaged[0].created_by, 'carol@example.com');
    const killRow = page.locator('#kills tr', { hasText: engaged[0].id });
    assert.match(await killRow.textContent(), /killed from the admin page/);
    await page.locator('#agents tr', { hasText: 'support-bot' }).locator('td.killed').waitFor();

    await expectRefused('support-bot', 'killed from the page');
    await expectEchoWorks('finance-bot', 'while support-bot is killed');

    await killRow.getByRole('button', { name: 'Lift' }).click();
    await page.locator('#kills tr', { hasText: engaged[0].id }).waitFor({ state: 'detached' });
    assert.deepEqual((await adminGet('/admin/v1/kill')).kill_switches, [], 'nothing engaged after Lift');
    await page.locator('#agents tr', { hasText: 'support-bot' }).getByRole('button', { name: 'Kill' }).waitFor();
    await expectEchoWorks('support-bot', 'after the lift');
  });

  test('a held call appears on the page and Approve lets it through', async () => {
    await startGatewayFor({ withPolicy: true });
    await openPage();
    await up.reset();
    const held = call('support-bot', 'delete_record', { id: 'r-1' }, { timeoutMs: 60000 });
    let settled = false;
    held.then(
      () => (settled = true),
      () => (settled = true),
    );
    const row = page.locator('#approvals tr', { hasText: 'delete_record' });
    // Fail with what the agent got if the call ends before it shows up as held.
    const early = held.then(
      ({ res }) => `the call ended before it was shown as held: ${res.status} ${res.body.slice(0, 300)}`,
      (e) => `the call failed before it was shown as held: ${e.message}`,
    );
    const shown = await Promise.race([row.waitFor().then(() => null), early]);
    if (shown) {
      await new Promise((r) => setTimeout(r, 300));
      assert.fail(`${shown} (gateway ${gw.alive() ? 'alive' : `exited: code ${gw.child.exitCode}, signal ${gw.child.signalCode}`})`);
    }
    const text = await row.textContent();
    assert.match(text, /support-bot/);
    assert.match(text, /alice@example\.com/);
    assert.match(text, /crm\/delete_record/);
    assert.match(text, /"r-1"/);
    assert.match(text, /deletes-need-approval/);
    assert.equal(settled, false, 'the call is held');
    assert.ok(!(await up.events()).some((e) => e.event === 'delete_record'), 'nothing reached the upstream yet');

    await row.getByRole('button', { name: 'Approve' }).click();
    const { res } = await held;
    assert.equal(res.status, 200, `the approved call: ${res.status} ${res.body.slice(0, 300)}`);
    const result = messagesOf(res).find((m) => m.result)?.result;
    assert.equal(result?.content?.[0]?.text, 'deleted r-1', res.body.slice(0, 300));
    assert.equal((await up.events()).filter((e) => e.event === 'delete_record' && e.id === 'r-1').length, 1, 'the upstream got the delete once');
    await page.locator('#approvals tr', { hasText: 'delete_record' }).waitFor({ state: 'detached' });
    assert.match(await page.locator('#approvals').textContent(), /none/);
  });

  test('no script errors on the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
