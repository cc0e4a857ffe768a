// Client-side helpers: the stock SDK Client over StreamableHTTPClientTransport,
// and raw HTTP (node:http / node:net) for wire-level assertions.
import http from 'node:http';
import net from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export const LATEST_PROTOCOL = '2025-11-25';
export const ACCEPT_BOTH = 'application/json, text/event-stream';

/**
 * Connects an SDK client. opts: {headers, capabilities, name, onNotification}.
 * Returns {client, transport, errors (client.onerror calls), notifications (all
 * notifications not consumed by a specific handler)}.
 */
export async function connectClient(url, { headers = {}, capabilities = {}, name = 'e2e-client', fetchImpl } = {}) {
  const client = new Client({ name, version: '1.0.0' }, { capabilities });
  const errors = [];
  const notifications = [];
  client.onerror = (e) => errors.push(e);
  client.fallbackNotificationHandler = async (n) => {
    notifications.push({ time: Date.now(), ...n });
  };
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers },
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
  await client.connect(transport);
  return { client, transport, errors, notifications };
}

export async function closeQuietly(client) {
  try {
    await client?.close();
  } catch {}
}

/** Parses an SSE body into [{event, id, data}] (data joined with \n). */
export function parseSse(text) {
  const events = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (!block.trim()) continue;
    const ev = { event: 'message', id: undefined, data: [] };
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') ev.event = value;
      else if (field === 'id') ev.id = value;
      else if (field === 'data') ev.data.push(value);
    }
    events.push({ ...ev, data: ev.data.join('\n') });
  }
  return events;
}

/** The JSON-RPC messages in a response body (JSON or SSE). */
export function messagesOf(res) {
  const ct = String(res.headers['content-type'] ?? '');
  if (ct.includes('text/event-stream')) {
    return parseSse(res.body)
      .filter((e) => e.data)
      .map((e) => JSON.parse(e.data));
  }
  if (!res.body) return [];
  const parsed = JSON.parse(res.body);
  return Array.isArray(parsed) ? parsed : [parsed];
}

/**
 * One HTTP request with node:http (no keep-alive). Resolves
 * {status, headers, body, elapsedMs} or rejects on a socket error/timeout.
 * opts: {method, headers, body (string|Buffer), timeoutMs}.
 */
export function httpRequest(url, { method = 'GET', headers = {}, body, timeoutMs = 10000 } = {}) {
  const u = new URL(url);
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent: false },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), elapsedMs: Date.now() - t0 }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** POST a JSON-RPC message with the headers a well-behaved client sends. */
export function postJson(url, message, { sessionId, protocolVersion, headers = {}, timeoutMs } = {}) {
  const body = typeof message === 'string' ? message : JSON.stringify(message);
  return httpRequest(url, {
    method: 'POST',
    timeoutMs,
    headers: {
      'content-type': 'application/json',
      accept: ACCEPT_BOTH,
      ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
      ...(protocolVersion ? { 'mcp-protocol-version': protocolVersion } : {}),
      ...headers,
    },
    body,
  });
}

export const initializeMessage = (protocolVersion = LATEST_PROTOCOL, id = 1, capabilities = {}) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion, capabilities, clientInfo: { name: 'e2e-raw', version: '1.0.0' } },
});

/**
 * A raw initialize + notifications/initialized handshake. Resolves
 * {sessionId, protocolVersion, result, initRes, notifiedRes}.
 */
export async function rawHandshake(url, { protocolVersion = LATEST_PROTOCOL, headers = {} } = {}) {
  const initRes = await postJson(url, initializeMessage(protocolVersion), { headers });
  if (initRes.status !== 200) throw new Error(`initialize answered ${initRes.status}: ${initRes.body}`);
  const sessionId = initRes.headers['mcp-session-id'];
  const msg = messagesOf(initRes).find((m) => m.id === 1);
  const negotiated = msg?.result?.protocolVersion;
  const notifiedRes = await postJson(
    url,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { sessionId, protocolVersion: negotiated, headers },
  );
  return { sessionId, protocolVersion: negotiated, result: msg?.result, initRes, notifiedRes };
}

/**
 * Raw TCP exchange: connect, write `chunks` (strings/Buffers, or a function
 * (socket, isDone) => Promise that writes), collect everything until
 * stopWhen(received) is true (default: one complete HTTP response; pass
 * stopWhen: null to wait for the peer to close), the peer closes, or timeoutMs. Resolves {data (Buffer), text, status, headers, body, closedByPeer,
 * error, elapsedMs}. Never rejects on ECONNRESET/EPIPE (those are answers too).
 */
export function rawExchange(port, chunks, { timeoutMs = 10000, host = '127.0.0.1', stopWhen = httpResponseComplete } = {}) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const received = [];
    let closedByPeer = false;
    let error = null;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      const data = Buffer.concat(received);
      resolve({ data, ...parseHttpResponse(data), closedByPeer, error, elapsedMs: Date.now() - t0 });
    };
    const timer = setTimeout(finish, timeoutMs);
    sock.on('data', (d) => {
      received.push(d);
      if (stopWhen && stopWhen(Buffer.concat(received))) finish();
    });
    sock.on('end', () => {
      closedByPeer = true;
      finish();
    });
    sock.on('close', () => {
      closedByPeer = true;
      finish();
    });
    sock.on('error', (e) => {
      error = e;
    });
    sock.on('connect', async () => {
      try {
        if (typeof chunks === 'function') await chunks(sock, () => settled);
        else for (const c of chunks) if (!settled) await writeAsync(sock, c);
      } catch (e) {
        error ??= e;
      }
    });
  });
}

export function writeAsync(sock, chunk) {
  return new Promise((resolve, reject) => {
    if (sock.destroyed) return reject(new Error('socket destroyed'));
    sock.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

/** True once `data` holds one complete HTTP/1.1 response (by Content-Length or chunked terminator). */
export function httpResponseComplete(data) {
  const text = data.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  if (!/^HTTP\/1\.[01] \d{3}/.test(text) || headEnd < 0) return false;
  const head = text.slice(0, headEnd).toLowerCase();
  const bodyLen = text.length - headEnd - 4;
  const status = Number(text.slice(9, 12));
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) return true;
  const cl = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (cl) return bodyLen >= Number(cl[1]);
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) return /(^|\r\n)0\r\n(.*\r\n)*\r\n$/.test(text.slice(headEnd + 4));
  return false; // read until close
}

/** Parses the start of an HTTP/1.1 response (status, headers, de-chunked body when complete). */
export function parseHttpResponse(data) {
  const text = data.toString('latin1');
  const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(text);
  if (!m) return { text: data.toString('utf8'), status: null, headers: {}, body: '' };
  const headEnd = text.indexOf('\r\n\r\n');
  const head = headEnd >= 0 ? text.slice(0, headEnd) : text;
  const headers = {};
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let bodyBuf = headEnd >= 0 ? data.subarray(Buffer.byteLength(text.slice(0, headEnd + 4), 'latin1')) : Buffer.alloc(0);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const out = [];
    let rest = bodyBuf;
    for (;;) {
      const nl = rest.indexOf('\r\n');
      if (nl < 0) break;
      const size = parseInt(rest.subarray(0, nl).toString('latin1'), 16);
      if (!Number.isFinite(size) || size === 0) break;
      out.push(rest.subarray(nl + 2, nl + 2 + size));
      rest = rest.subarray(nl + 2 + size + 2);
    }
    bodyBuf = Buffer.concat(out);
  }
  return { text: data.toString('utf8'), status: Number(m[1]), headers, body: bodyBuf.toString('utf8') };
}

/**
 * Asserts a JSON-RPC error body of the shape {"jsonrpc":"2.0","id":null,"error":{"code":int,"message":string}}.
 * Returns the parsed object. `code` (optional) must match exactly. `requestId`
 * (optional): the id of the request that was sent; an error answering that
 * request may carry it instead of null (e.g. 502/504 for a parsed request).
 */
export function expectJsonRpcError(assert, res, { code, status, context = '', requestId } = {}) {
  const where = `${context} (status ${res.status}, content-type ${res.headers?.['content-type']}, body ${JSON.stringify(res.body).slice(0, 400)})`;
  if (status !== undefined) assert.equal(res.status, status, `HTTP status ${where}`);
  let obj;
  try {
    obj = JSON.parse(res.body);
  } catch {
    assert.fail(`body is not JSON ${where}`);
  }
  assert.equal(obj.jsonrpc, '2.0', `jsonrpc field ${where}`);
  if (requestId === undefined) assert.ok('id' in obj && obj.id === null, `id must be null ${where}`);
  else assert.ok('id' in obj && (obj.id === null || obj.id === requestId), `id must be null or ${JSON.stringify(requestId)} ${where}`);
  assert.ok(obj.error && typeof obj.error === 'object', `error object ${where}`);
  assert.ok(Number.isInteger(obj.error.code), `error.code integer ${where}`);
  assert.equal(typeof obj.error.message, 'string', `error.message string ${where}`);
  if (code !== undefined) assert.equal(obj.error.code, code, `JSON-RPC error code ${where}`);
  return obj;
}
