// Self-checks of the fixtures (no gateway involved): the hostile upstream
// really misbehaves the way hostile.test.mjs relies on, and the upstream
// fixture's bookkeeping endpoints work.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, startHostileUpstream, startUpstream } from './lib/gateway.mjs';
import { initializeMessage, parseSse, postJson, rawExchange } from './lib/mcp.mjs';

const CALL = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'x', arguments: {}, _meta: { progressToken: 'tok-1' } } };

describe('fixtures', { concurrency: false }, () => {
  const stack = new Stack();
  let hostile;
  let up;
  before(async () => {
    hostile = await startHostileUpstream({ stack });
    up = await startUpstream({ stack });
  });
  after(() => stack.stopAll());

  test('hostile /hang accepts and never answers', async () => {
    const t0 = Date.now();
    await assert.rejects(postJson(hostile.url('/hang'), initializeMessage(), { timeoutMs: 800 }), /timeout/);
    assert.ok(Date.now() - t0 >= 750);
  });

  test('hostile /garbage answers bytes that are not HTTP', async () => {
    const body = JSON.stringify(initializeMessage());
    const r = await rawExchange(hostile.port, [`POST /garbage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`], {
      stopWhen: null,
      timeoutMs: 3000,
    });
    assert.equal(r.status, null);
    assert.ok(r.data.length > 0 && r.closedByPeer);
    assert.ok(!r.data.toString('latin1').startsWith('HTTP/'));
  });

  test('hostile /close-mid-stream answers the handshake, then a call gets one SSE event and a dead socket', async () => {
    const init = await postJson(hostile.url('/close-mid-stream'), initializeMessage());
    assert.equal(init.status, 200);
    assert.equal(init.headers['mcp-session-id'], 'hostile-session-1');
    assert.equal(JSON.parse(init.body).result.serverInfo.name, 'hostile-upstream');
    const note = await postJson(hostile.url('/close-mid-stream'), { jsonrpc: '2.0', method: 'notifications/initialized' });
    assert.equal(note.status, 202);
    const body = JSON.stringify(CALL);
    const r = await rawExchange(hostile.port, [`POST /close-mid-stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`], {
      stopWhen: null,
      timeoutMs: 3000,
    });
    assert.equal(r.status, 200);
    assert.ok(r.closedByPeer && r.elapsedMs < 2000);
    const events = parseSse(r.body.replace(/^[0-9a-f]+\r\n/gm, ''));
    assert.equal(events.filter((e) => e.data.includes('about to vanish')).length, 1);
  });

  test('hostile /slow-sse ticks every 200 ms', async () => {
    const t0 = Date.now();
    const body = JSON.stringify(CALL);
    const r = await rawExchange(hostile.port, [`POST /slow-sse HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`], {
      timeoutMs: 3000,
      stopWhen: (buf) => (buf.toString().match(/tick \d+/g) ?? []).length >= 3,
    });
    assert.equal(r.status, 200);
    const took = Date.now() - t0;
    assert.ok(took >= 550 && took < 2000, `3 ticks in ${took} ms`);
    assert.match(r.body, /"progressToken":"tok-1"/);
    const reqs = await hostile.requests();
    assert.deepEqual(
      reqs.map((x) => x.url),
      ['/hang', '/garbage', '/close-mid-stream', '/close-mid-stream', '/close-mid-stream', '/slow-sse'],
    );
  });

  test('upstream records requests and resets', async () => {
    await up.reset();
    const res = await postJson(up.url, initializeMessage(), { headers: { authorization: 'Bearer x' } });
    assert.equal(res.status, 200);
    const reqs = await up.requests();
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0].headers.authorization, 'Bearer x');
    assert.equal(reqs[0].body.method, 'initialize');
    assert.deepEqual(await up.sessions(), [res.headers['mcp-session-id']]);
    await up.reset();
    assert.deepEqual(await up.requests(), []);
  });
});
