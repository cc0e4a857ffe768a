// Hostile clients and hostile upstreams, with raw node:http / node:net
// requests to the gateway. Every error answer must be an exact HTTP status
// with a JSON-RPC error body {"jsonrpc":"2.0","id":null,"error":{"code","message"}},
// and the gateway must keep serving everyone else throughout.
//
// With DIRECT=1 only the checks where the SDK upstream fixture agrees with the
// gateway's contract run (against the fixture), to validate the raw requests.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DIRECT, Stack, freePort, sleep, startGateway, startHostileUpstream, startUpstream, stopGatewayCleanly } from './lib/gateway.mjs';
import {
  ACCEPT_BOTH,
  LATEST_PROTOCOL,
  closeQuietly,
  connectClient,
  expectJsonRpcError,
  httpRequest,
  initializeMessage,
  messagesOf,
  postJson,
  rawExchange,
  rawHandshake,
  writeAsync,
} from './lib/mcp.mjs';

const AGENT_ORIGIN = 'http://agent.example';
const REQUEST_TIMEOUT_MS = 2000; // timeouts.request of the hostile routes
// The gateway's server.header_timeout (not set in the config: default 10s).
const HEADER_TIMEOUT_MS = Number(process.env.E2E_HEADER_TIMEOUT_MS ?? 10000);
const GATEWAY_ONLY = DIRECT ? 'DIRECT=1: gateway-only check' : false;

describe('hostile clients and upstreams', { concurrency: false }, () => {
  const stack = new Stack();
  let up; // the well-behaved SDK upstream, route /mcp/crm
  let hostile;
  let gw;
  let base; // http://127.0.0.1:<gateway port>
  let crm; // the MCP URL of the well-behaved route
  let port;
  let session; // a raw session on /mcp/crm at the latest protocol
  const route = (p) => base + p;

  before(async () => {
    up = await startUpstream({ stack });
    hostile = await startHostileUpstream({ stack });
    if (DIRECT) {
      base = up.base;
      port = up.port;
      crm = up.url;
    } else {
      const downPort = await freePort(); // nothing listens here
      const slow = { request: `${REQUEST_TIMEOUT_MS}ms`, connect: '1s' };
      gw = await startGateway(
        {
          server: { allowed_origins: [AGENT_ORIGIN], max_body: '64KiB' },
          upstreams: [
            { name: 'crm', url: up.url, path: '/mcp/crm', auth: 'none' },
            { name: 'hang', url: hostile.url('/hang'), path: '/mcp/hang', auth: 'none', timeouts: slow },
            { name: 'garbage', url: hostile.url('/garbage'), path: '/mcp/garbage', auth: 'none', timeouts: slow },
            { name: 'midstream', url: hostile.url('/close-mid-stream'), path: '/mcp/midstream', auth: 'none', timeouts: slow },
            { name: 'slowsse', url: hostile.url('/slow-sse'), path: '/mcp/slowsse', auth: 'none', timeouts: slow },
            { name: 'down', url: `http://127.0.0.1:${downPort}/mcp`, path: '/mcp/down', auth: 'none', timeouts: slow },
          ],
        },
        { stack },
      );
      base = gw.base;
      port = gw.port;
      crm = gw.url('/mcp/crm');
    }
    session = await rawHandshake(crm);
  });

  after(async () => {
    await stack.stopAll();
  });

  const inSession = (extra = {}) => ({ sessionId: session.sessionId, protocolVersion: session.protocolVersion, ...extra });

  /** A request any healthy gateway answers at once: tools/list in the raw session. */
  async function quickCall(label) {
    const res = await postJson(crm, { jsonrpc: '2.0', id: `quick-${label}`, method: 'tools/list' }, inSession({ timeoutMs: 5000 }));
    assert.equal(res.status, 200, `${label}: tools/list status (${res.body.slice(0, 200)})`);
    const msg = messagesOf(res).find((m) => m.id === `quick-${label}`);
    assert.ok(msg?.result?.tools?.length > 0, `${label}: tools/list result`);
    return res;
  }

  test('the raw handshake works (initialize 200 with a session id; notifications/initialized 202)', () => {
    assert.ok(session.sessionId, 'session id issued');
    assert.equal(session.protocolVersion, LATEST_PROTOCOL);
    assert.equal(session.notifiedRes.status, 202);
    assert.equal(session.notifiedRes.body, '');
  });

  test('malformed JSON -> 400 -32700', async () => {
    const res = await postJson(crm, '{"jsonrpc":"2.0","id":1,"method":"tools/list"', inSession());
    expectJsonRpcError(assert, res, { status: 400, code: -32700 });
  });

  test('valid JSON that is not JSON-RPC -> 400 -32600', { skip: GATEWAY_ONLY }, async () => {
    for (const body of ['{"hello":"world"}', '"just a string"', '42', '{"jsonrpc":"1.0","id":1,"method":"ping"}', '{"jsonrpc":"2.0","id":1}']) {
      const res = await postJson(crm, body, inSession());
      expectJsonRpcError(assert, res, { status: 400, code: -32600, context: `body ${body}` });
    }
  });

  test('a batch (JSON array) under protocol 2025-06-18 -> 400 -32600', { skip: GATEWAY_ONLY }, async () => {
    const s = await rawHandshake(crm, { protocolVersion: '2025-06-18' });
    assert.equal(s.protocolVersion, '2025-06-18');
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { jsonrpc: '2.0', id: 2, method: 'ping' },
    ];
    const res = await postJson(crm, batch, { sessionId: s.sessionId, protocolVersion: '2025-06-18' });
    expectJsonRpcError(assert, res, { status: 400, code: -32600 });
  });

  test('wrong Content-Type -> 415', async () => {
    const res = await postJson(crm, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, inSession({ headers: { 'content-type': 'text/plain' } }));
    expectJsonRpcError(assert, res, { status: 415 });
  });

  test('POST whose Accept lacks text/event-stream -> 406', async () => {
    const res = await postJson(crm, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, inSession({ headers: { accept: 'application/json' } }));
    expectJsonRpcError(assert, res, { status: 406 });
  });

  test('body over max_body (64KiB; 1 MiB sent) -> 413, with Content-Length and chunked', { skip: GATEWAY_ONLY }, async () => {
    const big = Buffer.alloc(1024 * 1024, 0x20);
    const prefix = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"');
    const suffix = Buffer.from('"}}}');
    const body = Buffer.concat([prefix, big.subarray(0, big.length - prefix.length - suffix.length).fill(0x61), suffix]);
    assert.equal(body.length, 1024 * 1024);
    const headers = (extra) =>
      `POST /mcp/crm HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAccept: ${ACCEPT_BOTH}\r\n` +
      `Mcp-Session-Id: ${session.sessionId}\r\nMCP-Protocol-Version: ${session.protocolVersion}\r\n${extra}\r\n`;

    const send = (head, encodeChunk) =>
      rawExchange(
        port,
        async (sock, done) => {
          let answered = false;
          sock.once('data', () => (answered = true));
          await writeAsync(sock, head);
          for (let off = 0; off < body.length && !answered && !done(); off += 16384) {
            await writeAsync(sock, encodeChunk(body.subarray(off, off + 16384)));
            // Read while sending, as curl does: a 413 sent before the body is
            // complete must be seen before the peer's close resets the socket.
            await sleep(1);
          }
          if (!answered && !done() && encodeChunk !== ident) await writeAsync(sock, '0\r\n\r\n');
        },
        { timeoutMs: 10000 },
      );
    const ident = (c) => c;
    const withLength = await send(headers(`Content-Length: ${body.length}\r\n`), ident);
    expectJsonRpcError(assert, withLength, { status: 413, context: 'Content-Length: 1048576' });
    const chunked = await send(headers('Transfer-Encoding: chunked\r\n'), (c) => Buffer.concat([Buffer.from(c.length.toString(16) + '\r\n'), c, Buffer.from('\r\n')]));
    expectJsonRpcError(assert, chunked, { status: 413, context: 'Transfer-Encoding: chunked' });
    await quickCall('after 413');
  });

  test('unsupported MCP-Protocol-Version -> 400 -32000', async () => {
    const res = await postJson(crm, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, inSession({ protocolVersion: '1999-01-01' }));
    expectJsonRpcError(assert, res, { status: 400, code: -32000 });
  });

  test('PUT -> 405', async () => {
    const res = await httpRequest(crm, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH, 'mcp-session-id': session.sessionId, 'mcp-protocol-version': session.protocolVersion },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expectJsonRpcError(assert, res, { status: 405 });
  });

  test('forged or garbage Mcp-Session-Id -> 404', async () => {
    const sid = session.sessionId;
    const mid = Math.floor(sid.length / 2);
    const flipped = sid.slice(0, mid) + (sid[mid] === 'A' ? 'B' : 'A') + sid.slice(mid + 1);
    const candidates = {
      garbage: 'garbage',
      tampered: flipped,
      truncated: sid.slice(0, -4),
      'upstream-style uuid': '6f1c2a4e-9b7d-4c1e-8a2f-3d5e7f9a1b2c',
      'very long': 'x'.repeat(2048),
    };
    if (!DIRECT) {
      const upstreamSid = (await up.sessions())[0];
      if (upstreamSid) candidates['the upstream session id itself'] = upstreamSid;
    }
    for (const [what, forged] of Object.entries(candidates)) {
      if (forged === sid) continue;
      const res = await postJson(crm, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { sessionId: forged, protocolVersion: session.protocolVersion });
      expectJsonRpcError(assert, res, { status: 404, context: `${what} session id` });
    }
  });

  test('unknown route -> 404', { skip: GATEWAY_ONLY }, async () => {
    const res = await postJson(route('/mcp/nope'), initializeMessage());
    expectJsonRpcError(assert, res, { status: 404, context: 'POST /mcp/nope' });
    const res2 = await httpRequest(route('/definitely/not/here'));
    assert.equal(res2.status, 404, 'GET /definitely/not/here');
  });

  test('Origin not in allowed_origins -> 403; listed Origin and no Origin are fine', { skip: GATEWAY_ONLY }, async () => {
    const evil = await postJson(crm, initializeMessage(), { headers: { origin: 'http://evil.example' } });
    expectJsonRpcError(assert, evil, { status: 403, context: 'Origin http://evil.example' });
    const evilInSession = await postJson(crm, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, inSession({ headers: { origin: 'null' } }));
    expectJsonRpcError(assert, evilInSession, { status: 403, context: 'Origin null, in a session' });
    const good = await postJson(crm, initializeMessage(), { headers: { origin: AGENT_ORIGIN } });
    assert.equal(good.status, 200, `listed Origin: ${good.body.slice(0, 200)}`);
    const none = await postJson(crm, initializeMessage());
    assert.equal(none.status, 200, 'no Origin');
  });

  test('slowloris (headers one byte a second) is cut off after the header timeout; others keep being served', { skip: GATEWAY_ONLY, timeout: HEADER_TIMEOUT_MS + 30000 }, async () => {
    const head = `POST /mcp/crm HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nX-Slow: ${'z'.repeat(200)}\r\n`;
    const lorises = Array.from({ length: 8 }, () =>
      rawExchange(
        port,
        async (sock, done) => {
          for (const ch of head) {
            if (done() || sock.destroyed) return;
            await writeAsync(sock, ch).catch(() => {});
            await sleep(1000);
          }
        },
        { timeoutMs: HEADER_TIMEOUT_MS + 15000, stopWhen: null },
      ),
    );
    // Meanwhile, normal clients are served promptly.
    const latencies = [];
    for (let i = 0; i < 5; i++) {
      await sleep(HEADER_TIMEOUT_MS / 6);
      const t0 = Date.now();
      await quickCall(`during slowloris #${i}`);
      latencies.push(Date.now() - t0);
    }
    assert.ok(Math.max(...latencies) < 1000, `normal requests stayed fast during the slowloris: ${latencies.join(', ')} ms`);
    const results = await Promise.all(lorises);
    for (const [i, r] of results.entries()) {
      assert.ok(r.closedByPeer, `slow connection #${i} was closed by the gateway (after ${r.elapsedMs} ms)`);
      assert.ok(r.elapsedMs <= HEADER_TIMEOUT_MS + 5000, `slow connection #${i} cut off within header timeout + 5s (took ${r.elapsedMs} ms)`);
      assert.ok(r.status === null || r.status === 408, `slow connection #${i}: no answer or 408 (got ${r.status})`);
    }
  });

  test('header flood (10,000 headers; 1 MiB header) -> 431 or connection closed; the gateway still serves', { skip: GATEWAY_ONLY }, async () => {
    const many = Array.from({ length: 10000 }, (_, i) => `X-Flood-${i}: v\r\n`).join('');
    const floods = {
      '10000 headers': `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${many}\r\n`,
      '1 MiB header': `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Big: ${'b'.repeat(1024 * 1024)}\r\n\r\n`,
    };
    for (const [what, req] of Object.entries(floods)) {
      const r = await rawExchange(
        port,
        async (sock, done) => {
          const buf = Buffer.from(req);
          for (let off = 0; off < buf.length && !done() && !sock.destroyed; off += 65536) {
            await writeAsync(sock, buf.subarray(off, off + 65536)).catch(() => {});
          }
        },
        { timeoutMs: 10000 },
      );
      assert.ok(r.status === 431 || (r.status === null && r.closedByPeer), `${what}: want 431 or a closed connection, got status ${r.status}, closed ${r.closedByPeer}, after ${r.elapsedMs} ms`);
      assert.equal(await gw.healthz(), 200, `${what}: /healthz afterwards`);
      await quickCall(`after ${what}`);
    }
  });

  test(`upstream that hangs -> 504 within the request timeout (${REQUEST_TIMEOUT_MS} ms); others keep being served`, { skip: GATEWAY_ONLY }, async () => {
    const t0 = Date.now();
    const pending = postJson(route('/mcp/hang'), initializeMessage(), { timeoutMs: REQUEST_TIMEOUT_MS + 10000 });
    await sleep(300);
    const t1 = Date.now();
    await quickCall('while an upstream hangs');
    assert.ok(Date.now() - t1 < 1000, 'a request on another route is not held up');
    const res = await pending;
    const elapsed = Date.now() - t0;
    expectJsonRpcError(assert, res, { status: 504, requestId: 1 });
    assert.ok(elapsed >= REQUEST_TIMEOUT_MS - 200, `not before the timeout (${elapsed} ms)`);
    assert.ok(elapsed <= REQUEST_TIMEOUT_MS + 2500, `within timeout + 2.5s (${elapsed} ms)`);
  });

  test('upstream that answers garbage -> 502', { skip: GATEWAY_ONLY }, async () => {
    const res = await postJson(route('/mcp/garbage'), initializeMessage(), { timeoutMs: 10000 });
    expectJsonRpcError(assert, res, { status: 502, requestId: 1 });
  });

  test('upstream that closes mid-stream: the client\'s stream ends (no hang); the gateway still serves', { skip: GATEWAY_ONLY }, async () => {
    const url = route('/mcp/midstream');
    const s = await rawHandshake(url);
    assert.ok(s.sessionId, 'session established through the gateway');
    const t0 = Date.now();
    const call = { jsonrpc: '2.0', id: 'mid-1', method: 'tools/call', params: { name: 'anything', arguments: {} } };
    const res = await postJson(url, call, { sessionId: s.sessionId, protocolVersion: s.protocolVersion, timeoutMs: 8000 }).catch((e) => ({ error: e }));
    const elapsed = Date.now() - t0;
    if (res.error) {
      // A reset client connection is an acceptable way to end the stream, as long as it is prompt.
      assert.ok(!/timeout/.test(res.error.message), `stream did not end: ${res.error.message}`);
    } else if (res.status === 200) {
      assert.match(String(res.headers['content-type']), /text\/event-stream/, 'a 200 is the relayed SSE stream');
      const msgs = messagesOf(res);
      assert.ok(!msgs.some((m) => m.id === 'mid-1' && m.result), 'no invented result');
    } else {
      expectJsonRpcError(assert, res, { status: 502, requestId: 'mid-1', context: 'non-200 answer when the upstream vanished' });
    }
    assert.ok(elapsed < 5000, `ended promptly (${elapsed} ms)`);
    assert.equal(await gw.healthz(), 200);
    await quickCall('after a mid-stream close');
  });

  test('an upstream SSE stream is relayed incrementally; a client that walks away does not hurt the gateway', { skip: GATEWAY_ONLY }, async () => {
    const url = route('/mcp/slowsse');
    const s = await rawHandshake(url);
    assert.ok(s.sessionId, 'session established through the gateway');
    const call = JSON.stringify({ jsonrpc: '2.0', id: 'slow-1', method: 'tools/call', params: { name: 'anything', arguments: {}, _meta: { progressToken: 'tick-tok' } } });
    const arrivals = [];
    const t0 = Date.now();
    const r = await rawExchange(
      port,
      [
        `POST /mcp/slowsse HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAccept: ${ACCEPT_BOTH}\r\n` +
          `Mcp-Session-Id: ${s.sessionId}\r\nMCP-Protocol-Version: ${s.protocolVersion}\r\nContent-Length: ${Buffer.byteLength(call)}\r\n\r\n${call}`,
      ],
      {
        timeoutMs: 3000,
        stopWhen: (buf) => {
          const n = (buf.toString('utf8').match(/tick \d+/g) ?? []).length;
          while (arrivals.length < n) arrivals.push(Date.now() - t0);
          return n >= 4;
        },
      },
    );
    assert.equal(r.status, 200, `status (${r.text.slice(0, 300)})`);
    assert.match(String(r.headers['content-type']), /text\/event-stream/);
    assert.ok(arrivals.length >= 4, `4 events relayed within 3 s (got ${arrivals.length}: ${arrivals.join(', ')} ms)`);
    assert.ok(arrivals[3] - arrivals[0] >= 300, `events arrived over time, not in one burst: ${arrivals.join(', ')} ms`);
    assert.match(r.text, /"progressToken":"tick-tok"/, 'progress carries the agent\'s own token');
    await sleep(300);
    await quickCall('after abandoning an SSE stream');
  });

  test('upstream down (nothing listening) -> 502', { skip: GATEWAY_ONLY }, async () => {
    const res = await postJson(route('/mcp/down'), initializeMessage(), { timeoutMs: 10000 });
    expectJsonRpcError(assert, res, { status: 502, requestId: 1 });
  });

  test('after all of that the gateway is alive, /healthz is 200, and a full SDK session works', async () => {
    if (!DIRECT) {
      assert.ok(gw.alive(), 'gateway process still running');
      assert.equal(await gw.healthz(), 200);
    }
    const { client } = await connectClient(crm);
    try {
      const r = await client.callTool({ name: 'echo', arguments: { text: 'still standing' } });
      assert.equal(r.content[0].text, 'still standing');
    } finally {
      await closeQuietly(client);
    }
  });

  test('SIGTERM: the gateway drains and exits 0 (no sanitizer report)', { skip: GATEWAY_ONLY }, async () => {
    await stopGatewayCleanly(assert, gw);
  });
});
