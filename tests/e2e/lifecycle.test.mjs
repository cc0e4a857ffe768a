// Gateway lifecycle: SIGHUP reload (a good file is taken, a bad one is
// refused while the old one keeps serving), TLS on the agent side, and
// readiness. Owned by the gateway (not the proxy suite).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawn } from 'node:child_process';
import { Stack, startUpstream, startGateway, toYaml, TMP_DIR, sleep, DIRECT, freePort, stopProcess, GATEWAY_BIN } from './lib/gateway.mjs';

const skip = DIRECT ? 'gateway-only' : false;

async function waitFor(fn, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return v;
    await sleep(50);
  }
}

test('SIGHUP takes a valid new config and refuses an invalid one while the old keeps serving', { skip }, async () => {
  const stack = new Stack();
  try {
    const up = await startUpstream({ stack });
    const gw = await startGateway({ upstreams: [{ name: 'crm', url: up.url, auth: 'none' }] }, { stack });
    const status = async (p) => (await fetch(gw.url(p), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","method":"notifications/initialized"}' })).status;
    assert.equal(await status('/mcp/second'), 404, 'no second route yet');

    const base = fs.readFileSync(gw.configFile, 'utf8');
    // A second route appears after a valid reload.
    fs.writeFileSync(gw.configFile, base.replace(/upstreams:\n/, `upstreams:\n  - name: second\n    url: ${up.url}\n    auth: none\n`));
    gw.child.kill('SIGHUP');
    assert.ok(await waitFor(async () => (await status('/mcp/second')) !== 404), 'the new route serves after SIGHUP');

    // An invalid file is refused; both routes keep serving.
    fs.writeFileSync(gw.configFile, base + '\nbogus_key: 1\n');
    gw.child.kill('SIGHUP');
    assert.ok(await waitFor(() => gw.logText().includes('reload rejected')), 'the bad reload is logged');
    assert.match(gw.logText(), /bogus_key/);
    assert.notEqual(await status('/mcp/second'), 404, 'old config still serving');
    assert.notEqual(await status('/mcp/crm'), 404);
    assert.ok(gw.alive());
  } finally {
    await stack.stopAll();
  }
});

test('the agent side can be TLS, and a stock SDK client works through it', { skip }, async () => {
  const stack = new Stack();
  try {
    const dir = fs.mkdtempSync(path.join(TMP_DIR, 'tls-'));
    const key = path.join(dir, 'gw.key');
    const crt = path.join(dir, 'gw.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const up = await startUpstream({ stack });
    const port = await freePort();
    const cfg = path.join(dir, 'portcullis.yaml');
    fs.writeFileSync(cfg, toYaml({ server: { listen: `127.0.0.1:${port}`, tls: { cert_file: crt, key_file: key } },
                                   upstreams: [{ name: 'crm', url: up.url, auth: 'none' }] }) + '\n');
    const child = spawn(GATEWAY_BIN, ['run', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    stack.add(() => stopProcess(child));
    const gw = { port };
    // Node's TLS client consults this variable on each connection.
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    const up200 = await waitFor(async () => {
      try {
        return (await fetch(`https://127.0.0.1:${port}/healthz`)).status === 200;
      } catch {
        return false;
      }
    }, 10000);
    assert.ok(up200, `gateway did not answer over TLS: ${stderr}`);
    const plain = await fetch(`http://127.0.0.1:${port}/healthz`).then(() => 'answered', () => 'refused');
    assert.equal(plain, 'refused', 'plain HTTP on the TLS port is not served');
    try {
      const url = new URL(`https://127.0.0.1:${gw.port}/mcp/crm`);
      const client = new Client({ name: 'tls-client', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(url));
      const r = await client.callTool({ name: 'echo', arguments: { text: 'over tls' } });
      assert.match(JSON.stringify(r.content), /over tls/);
      await client.close();
    } finally {
      delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    }
  } finally {
    await stack.stopAll();
  }
});

test('an https upstream is verified against its CA; an unknown CA gets 502', { skip }, async () => {
  const stack = new Stack();
  try {
    const dir = fs.mkdtempSync(path.join(TMP_DIR, 'uptls-'));
    const key = path.join(dir, 'up.key');
    const crt = path.join(dir, 'up.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
    const up = await startUpstream({ stack });
    // A TLS-terminating pipe in front of the plain fixture.
    const https = await import('node:https');
    const http = await import('node:http');
    const server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(crt) }, (req, res) => {
      const fwd = http.request({ host: '127.0.0.1', port: up.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      fwd.on('error', () => res.destroy());
      req.pipe(fwd);
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    stack.add(() => new Promise((r) => server.close(r)));
    const tlsPort = server.address().port;
    const gw = await startGateway({
      upstreams: [
        { name: 'good', url: `https://localhost:${tlsPort}/mcp`, auth: 'none', tls: { ca_file: crt } },
        { name: 'unknown-ca', url: `https://localhost:${tlsPort}/mcp`, auth: 'none' },
      ],
    }, { stack });
    const client = new Client({ name: 'tls-upstream', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(gw.url('/mcp/good'))));
    const r = await client.callTool({ name: 'echo', arguments: { text: 'via https upstream' } });
    assert.match(JSON.stringify(r.content), /via https upstream/);
    await client.close();
    const res = await fetch(gw.url('/mcp/unknown-ca'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });
    assert.equal(res.status, 502, 'a certificate from an unknown CA is refused');
    assert.equal((await res.json()).error.code, -32010);
  } finally {
    await stack.stopAll();
  }
});
