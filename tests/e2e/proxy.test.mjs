// Proxy scenarios: the stock SDK Client, through the gateway, against the SDK
// upstream fixture in three modes (stateful SSE, stateless SSE, stateful JSON).
//
// DIRECT=1 runs the same scenarios straight against the upstream fixture; the
// assertions that only make sense through a gateway are skipped then.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ElicitRequestSchema, LoggingMessageNotificationSchema, ResourceListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { DIRECT, Stack, sleep, startProxyStack, stopGatewayCleanly } from './lib/gateway.mjs';
import { ACCEPT_BOTH, closeQuietly, connectClient, expectJsonRpcError, httpRequest, initializeMessage, postJson } from './lib/mcp.mjs';

const AGENT_TOKEN = 'e2e-agent-secret-token-7f3a9c';
const AGENT_ORIGIN = 'http://agent.example';
const AGENT_COOKIE = 'agent_session=e2e-cookie-secret-42';
const AGENT_HEADERS = {
  Authorization: `Bearer ${AGENT_TOKEN}`,
  Origin: AGENT_ORIGIN,
  Cookie: AGENT_COOKIE,
};

const MODES = [
  { name: 'stateful upstream, SSE responses', stateless: false, json: false },
  { name: 'stateless upstream, SSE responses', stateless: true, json: false },
  { name: 'stateful upstream, JSON responses', stateless: false, json: true },
];

const GATEWAY_ONLY = DIRECT ? 'DIRECT=1: gateway-specific assertion' : false;

/** A fetch wrapper that records every request the SDK client sends. */
function recordingFetch(log) {
  return async (url, init = {}) => {
    let body = null;
    if (typeof init.body === 'string') {
      try {
        body = JSON.parse(init.body);
      } catch {
        body = init.body;
      }
    }
    log.push({ method: init.method ?? 'GET', url: String(url), body });
    return fetch(url, init);
  };
}

async function waitFor(fn, { timeoutMs = 5000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

for (const mode of MODES) {
  describe(`proxy: ${mode.name}`, { concurrency: false }, () => {
    const stack = new Stack();
    let env;
    const clients = [];
    const connect = async (opts = {}) => {
      const c = await connectClient(env.mcpUrl, { headers: AGENT_HEADERS, ...opts });
      clients.push(c.client);
      return c;
    };
    const streams = !mode.json; // a JSON-response upstream cannot stream progress/logs/elicitation to the client

    before(async () => {
      env = await startProxyStack({
        stateless: mode.stateless,
        json: mode.json,
        server: { allowed_origins: [AGENT_ORIGIN] },
        stack,
      });
    });

    after(async () => {
      for (const c of clients) await closeQuietly(c);
      await stack.stopAll();
    });

    test('initialize, tools/list, tools/call echo, resources/read, prompts/get', async () => {
      const { client, errors } = await connect();
      const info = client.getServerVersion();
      assert.equal(info?.name, 'e2e-upstream');
      assert.ok(client.getServerCapabilities()?.tools, 'server advertises tools');

      const { tools } = await client.listTools();
      const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
      for (const name of ['echo', 'read_record', 'delete_record', 'slow_count', 'ask_name', 'log_things']) {
        assert.ok(byName[name], `tool ${name} listed (got ${Object.keys(byName).join(', ')})`);
      }
      assert.equal(byName.read_record.annotations?.readOnlyHint, true);
      assert.equal(byName.delete_record.annotations?.destructiveHint, true);

      const echo = await client.callTool({ name: 'echo', arguments: { text: 'hello through the portcullis' } });
      assert.deepEqual(echo.content, [{ type: 'text', text: 'hello through the portcullis' }]);
      assert.ok(!echo.isError);

      const rec = await client.callTool({ name: 'read_record', arguments: { id: 'r-1', limit: 5 } });
      assert.equal(rec.structuredContent?.name, 'Ada Lovelace');
      assert.equal(rec.structuredContent?.limit, 5);

      const res = await client.readResource({ uri: 'config://app' });
      assert.equal(res.contents.length, 1);
      assert.equal(res.contents[0].uri, 'config://app');
      assert.deepEqual(JSON.parse(res.contents[0].text), { feature_x: true, region: 'eu-west-1' });

      const prompt = await client.getPrompt({ name: 'greet', arguments: { name: 'Grace' } });
      assert.equal(prompt.messages[0].content.text, 'Hello, Grace! Welcome aboard.');

      assert.deepEqual(errors.map(String), [], 'no client transport errors');
    });

    test('progress notifications arrive over time, not all at the end', { skip: !streams && 'JSON-response upstream cannot stream progress' }, async () => {
      const { client } = await connect();
      const seen = [];
      const t0 = Date.now();
      const result = await client.callTool({ name: 'slow_count', arguments: { n: 5, delay_ms: 250, label: 'p' } }, undefined, {
        onprogress: (p) => seen.push({ t: Date.now() - t0, ...p }),
        timeout: 20000,
      });
      const tEnd = Date.now() - t0;
      assert.equal(result.content[0].text, 'p counted to 5');
      assert.deepEqual(
        seen.map((p) => p.progress),
        [1, 2, 3, 4, 5],
        `progress values (${JSON.stringify(seen)})`,
      );
      assert.ok(seen.every((p) => p.total === 5 && p.message?.startsWith('p ')), JSON.stringify(seen));
      const spread = seen.at(-1).t - seen[0].t;
      assert.ok(spread >= 600, `progress spread over time: first at ${seen[0].t} ms, last at ${seen.at(-1).t} ms (spread ${spread} ms, want >= 600)`);
      assert.ok(tEnd - seen[0].t >= 700, `first progress ${seen[0].t} ms came long before the result at ${tEnd} ms`);
    });

    test('logging notifications from the tool reach the client', { skip: !streams && 'JSON-response upstream cannot stream notifications' }, async () => {
      const { client } = await connect();
      const logs = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
        logs.push(n.params);
      });
      const result = await client.callTool({ name: 'log_things', arguments: { count: 3 } });
      assert.equal(result.content[0].text, 'logged 3');
      // Related notifications precede the response on the same stream.
      assert.deepEqual(
        logs.map((l) => [l.level, l.data?.i]),
        [
          ['debug', 0],
          ['info', 1],
          ['notice', 2],
        ],
      );
    });

    test(
      'elicitation from the upstream is answered by the client and the answer reaches the tool',
      { skip: (mode.stateless || mode.json) && 'needs a stateful SSE upstream (the answer must reach the same upstream session)' },
      async () => {
        const { client } = await connect({ capabilities: { elicitation: {} } });
        const asked = [];
        client.setRequestHandler(ElicitRequestSchema, async (req) => {
          asked.push(req.params);
          return { action: 'accept', content: { name: 'Ada' } };
        });
        const result = await client.callTool({ name: 'ask_name', arguments: {} }, undefined, { timeout: 15000 });
        assert.equal(asked.length, 1, 'exactly one elicitation/create reached the client');
        assert.equal(asked[0].message, 'What is your name?');
        assert.deepEqual(asked[0].requestedSchema.required, ['name']);
        assert.equal(result.content[0].text, 'Hello, Ada!');
      },
    );

    test(
      'a notification on the upstream\'s standalone GET stream reaches the agent\'s GET stream',
      { skip: mode.stateless && 'a stateless upstream has no GET stream' },
      async () => {
        const { client } = await connect();
        const changed = [];
        client.setNotificationHandler(ResourceListChangedNotificationSchema, (n) => {
          changed.push(n);
        });
        const marker = `get-stream-${Date.now()}`;
        await client.callTool({ name: 'echo', arguments: { text: marker } });
        const upSid = (await env.upstream.requests()).find((r) => r.body?.params?.arguments?.text === marker)?.headers['mcp-session-id'];
        assert.ok(upSid, 'upstream session of this client');
        // The SDK server drops standalone notifications while no GET stream is open: wait for it.
        await waitFor(async () => (await env.upstream.requests()).some((r) => r.method === 'GET' && r.headers['mcp-session-id'] === upSid), {
          what: 'a GET stream to be opened upstream for this session',
        });
        await sleep(200);
        const r = await client.callTool({ name: 'touch_resources', arguments: {} });
        assert.equal(r.content[0].text, 'touched');
        await waitFor(() => changed.length > 0, { timeoutMs: 3000, what: 'notifications/resources/list_changed at the agent' });
        assert.equal(changed[0].method, 'notifications/resources/list_changed');
      },
    );

    test('two clients at once never see each other\'s progress notifications', { skip: !streams && 'JSON-response upstream cannot stream progress' }, async () => {
      const sentA = [];
      const sentB = [];
      const a = await connect({ name: 'client-A', fetchImpl: recordingFetch(sentA) });
      const b = await connect({ name: 'client-B', fetchImpl: recordingFetch(sentB) });
      const progA = [];
      const progB = [];
      const [ra, rb] = await Promise.all([
        a.client.callTool({ name: 'slow_count', arguments: { n: 4, delay_ms: 150, label: 'A' } }, undefined, {
          onprogress: (p) => progA.push(p),
          timeout: 20000,
        }),
        b.client.callTool({ name: 'slow_count', arguments: { n: 6, delay_ms: 100, label: 'B' } }, undefined, {
          onprogress: (p) => progB.push(p),
          timeout: 20000,
        }),
      ]);
      assert.equal(ra.content[0].text, 'A counted to 4');
      assert.equal(rb.content[0].text, 'B counted to 6');
      // Both SDK clients number their requests the same way, so their progress
      // tokens collide on purpose: the gateway must keep them apart.
      const tokenOf = (log) => log.find((r) => r.body?.method === 'tools/call')?.body.params._meta?.progressToken;
      assert.equal(tokenOf(sentA), tokenOf(sentB), 'both clients used the same progress token');
      assert.deepEqual(
        progA.map((p) => p.message),
        ['A 1/4', 'A 2/4', 'A 3/4', 'A 4/4'],
      );
      assert.deepEqual(
        progB.map((p) => p.message),
        ['B 1/6', 'B 2/6', 'B 3/6', 'B 4/6', 'B 5/6', 'B 6/6'],
      );
      const stray = [...a.notifications, ...b.notifications].filter((n) => n.method === 'notifications/progress');
      assert.deepEqual(stray, [], 'no progress notifications for unknown tokens');
      assert.deepEqual([...a.errors, ...b.errors].map(String), [], 'no client errors (e.g. unknown progress token)');
    });

    test('a cancelled call sends notifications/cancelled upstream', async () => {
      const { client } = await connect();
      const ac = new AbortController();
      const call = client.callTool({ name: 'slow_count', arguments: { n: 50, delay_ms: 100, label: 'cancel-me' } }, undefined, {
        signal: ac.signal,
        timeout: 20000,
      });
      // Wait until the upstream is really running the call.
      const started = await waitFor(
        async () => (await env.upstream.events()).find((e) => e.event === 'slow_count_started' && e.label === 'cancel-me'),
        { what: 'slow_count to start upstream' },
      );
      ac.abort('user pressed stop');
      await assert.rejects(call);
      const reqs = await waitFor(
        async () => {
          const rs = await env.upstream.requests();
          return rs.some((r) => r.body?.method === 'notifications/cancelled') ? rs : null;
        },
        { what: 'notifications/cancelled to arrive upstream' },
      );
      const upstreamCall = reqs.find((r) => r.body?.method === 'tools/call' && r.body.params?.arguments?.label === 'cancel-me');
      assert.ok(upstreamCall, 'upstream saw the tools/call');
      assert.equal(upstreamCall.body.id, started.requestId);
      const cancels = reqs.filter((r) => r.body?.method === 'notifications/cancelled');
      assert.ok(
        cancels.some((c) => c.body.params?.requestId === upstreamCall.body.id),
        `a notifications/cancelled names the upstream request id ${JSON.stringify(upstreamCall.body.id)} (got ${JSON.stringify(cancels.map((c) => c.body.params))})`,
      );
      if (!mode.stateless) {
        // A stateful upstream routes the cancellation to the running call, which stops.
        await waitFor(
          async () => (await env.upstream.events()).find((e) => e.event === 'slow_count_aborted' && e.label === 'cancel-me'),
          { what: 'the upstream tool to abort' },
        );
      }
    });

    test(
      'DELETE ends the session; the old session id then gets 404',
      { skip: mode.stateless && 'a stateless upstream has no sessions (see the stateless DELETE test)' },
      async () => {
        const { client, transport } = await connect();
        await client.listTools();
        const sid = transport.sessionId;
        assert.ok(sid, 'the client was given a session id');
        const before = DIRECT ? [] : await env.upstream.requests();
        await transport.terminateSession();
        const res = await postJson(env.mcpUrl, { jsonrpc: '2.0', id: 99, method: 'tools/list' }, {
          sessionId: sid,
          protocolVersion: transport.protocolVersion,
        });
        expectJsonRpcError(assert, res, { status: 404, context: 'tools/list with a terminated session id' });
        if (!DIRECT && !mode.stateless) {
          // The gateway ends the upstream session too.
          const upSid = before.filter((r) => r.headers['mcp-session-id']).at(-1)?.headers['mcp-session-id'];
          const deletes = (await env.upstream.requests()).filter((r) => r.method === 'DELETE');
          assert.ok(upSid, 'upstream saw a session id');
          assert.ok(
            deletes.some((r) => r.headers['mcp-session-id'] === upSid),
            `upstream got DELETE for its session ${upSid} (DELETEs: ${JSON.stringify(deletes.map((r) => r.headers['mcp-session-id']))})`,
          );
        }
        clients.splice(clients.indexOf(client), 1);
      },
    );

    test(
      'stateless upstream: the agent gets no session id, and a DELETE is the upstream\'s to answer',
      { skip: !mode.stateless && 'stateless upstream only' },
      async () => {
        // Portcullis passes statelessness through: an upstream whose initialize
        // answer carries no Mcp-Session-Id gets no gateway session id either.
        const { client, transport } = await connect();
        const r = await client.callTool({ name: 'echo', arguments: { text: 'no session' } });
        assert.equal(r.content[0].text, 'no session');
        assert.equal(transport.sessionId, undefined, 'no Mcp-Session-Id on the initialize answer');
        const init = await postJson(env.mcpUrl, initializeMessage(), { headers: { origin: AGENT_ORIGIN } });
        assert.equal(init.status, 200, `raw initialize: ${init.status} ${init.body}`);
        assert.equal(init.headers['mcp-session-id'], undefined, 'raw initialize answer has no Mcp-Session-Id');

        // DELETE without a session id: whatever the upstream answers, the agent gets.
        const direct = await httpRequest(env.upstream.url, {
          method: 'DELETE',
          headers: { accept: ACCEPT_BOTH, 'mcp-protocol-version': transport.protocolVersion },
        });
        const before = await env.upstream.requests();
        const viaGateway = await httpRequest(env.mcpUrl, {
          method: 'DELETE',
          headers: { accept: ACCEPT_BOTH, 'mcp-protocol-version': transport.protocolVersion, origin: AGENT_ORIGIN },
        });
        assert.equal(viaGateway.status, direct.status, `DELETE through the gateway answered ${viaGateway.status} ${viaGateway.body}; the upstream itself answers ${direct.status} ${direct.body}`);
        const deletes = (await env.upstream.requests()).slice(before.length).filter((x) => x.method === 'DELETE');
        assert.equal(deletes.length, 1, 'the DELETE reached the upstream');
        assert.equal(deletes[0].headers['mcp-session-id'], undefined, 'without a session id');

        // Still usable afterwards: every request stands alone.
        const again = await client.callTool({ name: 'echo', arguments: { text: 'after delete' } });
        assert.equal(again.content[0].text, 'after delete');
      },
    );

    test('the session id the agent sees is the gateway\'s, not the upstream\'s', { skip: (GATEWAY_ONLY || (mode.stateless && 'a stateless upstream: no session ids on either side (see above)')) }, async () => {
      const { client, transport } = await connect();
      await client.callTool({ name: 'echo', arguments: { text: 'sid check' } });
      const agentSid = transport.sessionId;
      assert.ok(agentSid, 'the gateway gave the agent a session id');
      assert.match(agentSid, /^[\x21-\x7e]+$/, 'visible ASCII only');
      const upstreamSids = await env.upstream.sessions();
      const reqs = await env.upstream.requests();
      assert.ok(!upstreamSids.includes(agentSid), 'agent session id is not an upstream session id');
      for (const r of reqs) {
        for (const [k, v] of Object.entries(r.headers)) {
          assert.ok(!String(v).includes(agentSid), `upstream request ${r.method} ${r.url} header ${k} carries the agent's session id`);
        }
        if (r.headers['mcp-session-id'] !== undefined) {
          assert.ok(upstreamSids.includes(r.headers['mcp-session-id']), `upstream only sees its own session ids (got ${r.headers['mcp-session-id']})`);
        }
      }
      assert.ok(upstreamSids.length > 0, 'stateful upstream issued session ids');
    });

    test('the agent\'s Authorization, Cookie and Origin never reach the upstream', { skip: GATEWAY_ONLY }, async () => {
      const { client } = await connect();
      await client.callTool({ name: 'echo', arguments: { text: 'who am i' } });
      const reqs = await env.upstream.requests();
      assert.ok(reqs.length > 0, 'upstream received requests');
      for (const r of reqs) {
        const where = `${r.method} ${r.url} #${r.seq}`;
        assert.equal(r.headers.authorization, undefined, `${where}: no Authorization header upstream (no credential configured)`);
        assert.equal(r.headers.cookie, undefined, `${where}: agent Cookie not forwarded`);
        assert.notEqual(r.headers.origin, AGENT_ORIGIN, `${where}: agent Origin not forwarded`);
        const all = JSON.stringify(r.headers);
        assert.ok(!all.includes(AGENT_TOKEN), `${where}: agent token appears in no header`);
        assert.ok(!all.includes('e2e-cookie-secret'), `${where}: agent cookie appears in no header`);
      }
    });

    test('sanity (DIRECT only): the client really sends Authorization, Cookie and Origin', { skip: !DIRECT && 'only meaningful with DIRECT=1' }, async () => {
      // Proves the negative assertions above are not vacuous: without a gateway
      // in between, the upstream does see the agent's headers.
      const { client } = await connect();
      await client.callTool({ name: 'echo', arguments: { text: 'direct' } });
      const r = (await env.upstream.requests()).find((x) => x.body?.method === 'tools/call' && x.body.params?.arguments?.text === 'direct');
      assert.equal(r.headers.authorization, `Bearer ${AGENT_TOKEN}`);
      assert.equal(r.headers.cookie, AGENT_COOKIE);
      assert.equal(r.headers.origin, AGENT_ORIGIN);
    });

    test('gateway stderr is JSON lines and never contains the agent\'s token', { skip: GATEWAY_ONLY }, async () => {
      const lines = env.gateway.stderrLines.filter((l) => l.trim());
      assert.ok(lines.length > 0, 'the gateway logged something');
      const notJson = lines.filter((l) => {
        try {
          return typeof JSON.parse(l) !== 'object';
        } catch {
          return true;
        }
      });
      assert.deepEqual(notJson, [], 'every stderr line is a JSON object');
      assert.ok(!env.gateway.logText().includes(AGENT_TOKEN), 'token not logged');
      assert.ok(!env.gateway.logText().includes('e2e-cookie-secret'), 'cookie not logged');
      assert.ok(env.gateway.alive(), 'gateway still running');
    });

    test('SIGTERM: the gateway drains and exits 0 (no sanitizer report)', { skip: GATEWAY_ONLY }, async () => {
      for (const c of clients.splice(0)) await closeQuietly(c);
      await stopGatewayCleanly(assert, env.gateway);
    });
  });
}
