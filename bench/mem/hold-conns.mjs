// Opens N client connections to an HTTP endpoint and keeps them open, for the
// memory phase of bench/run.sh. Raw sockets (node:net), so the client itself
// stays small and nothing is pooled or reused: N sockets means N connections.
//
//   node bench/mem/hold-conns.mjs URL N keepalive|sse [BODY_FILE] [HEADER...]
//
// keepalive: each connection sends one POST, reads the complete answer
//            (Content-Length or chunked), then stays idle and open.
// sse:       each connection sends one POST and reads until the first SSE
//            event of the (never ending) answer; the stream stays open.
// Prints `READY ok=<n> failed=<n> open=<n>` once every connection has got its
// answer (or failed), or after HOLD_TIMEOUT_MS with `waiting=<n>` added, then
// `OPEN <n>` every 5 s, and holds until killed.
import net from 'node:net';
import fs from 'node:fs';

const [url, nStr, mode, bodyFile, ...headers] = process.argv.slice(2);
const n = Number(nStr || 1000);
const u = new URL(url);
const body = bodyFile ? fs.readFileSync(bodyFile, 'utf8').trim()
  : '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_records","arguments":{}}}';
// a HEADER argument may hold several headers separated by '|'
const extra = headers.flatMap((h) => h.split('|')).filter((h) => h.trim()).map((h) => `${h.trim()}\r\n`).join('');
const request =
  `POST ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n` +
  'Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n' +
  'MCP-Protocol-Version: 2025-06-18\r\nConnection: keep-alive\r\n' + extra +
  `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

let ok = 0, failed = 0, open = 0, started = 0, inflight = 0;
const firstErrors = [];
const CONCURRENCY = 100;  // requests awaiting their answer header at once (stays under listen backlogs)
const sockets = [];
const timeoutMs = Number(process.env.HOLD_TIMEOUT_MS || 30000);

let ready = false;
function announce(extra) {
  if (ready) return;
  ready = true;
  console.log(`READY ok=${ok} failed=${failed} open=${open}${extra}`);
  if (firstErrors.length) console.log(`ERRORS ${JSON.stringify(firstErrors)}`);
  setInterval(() => console.log(`OPEN ${open}`), 5000);
}

// A connection holds one of the CONCURRENCY slots until its answer's header
// has arrived (or it failed); the answer itself may take longer (SSE).
function release(conn) {
  if (conn.slot) { conn.slot = false; inflight--; pump(); }
}

function done(conn, success, why) {
  release(conn);
  if (success) ok++; else { failed++; if (firstErrors.length < 5) firstErrors.push(why); }
  if (ok + failed === n) announce('');
}

// Give up waiting after HOLD_TIMEOUT_MS (default 30 s): report how many
// connections are still waiting for their answer (sse: for the first event,
// though the 200 header may have come) and hold them all the same.
setTimeout(() => announce(` waiting=${n - ok - failed} (no complete answer/first event after ${timeoutMs / 1000}s)`),
  timeoutMs).unref();

function complete(buf) {
  const h = buf.indexOf('\r\n\r\n');
  if (h < 0) return null;
  const head = buf.slice(0, h);
  const status = Number(head.split(' ')[1]);
  const rest = buf.slice(h + 4);
  if (mode === 'sse') {
    if (status !== 200) return { status };
    // first event: a blank line after some data (chunked framing may interleave)
    return /data:[^\n]*\n(\r\n)?\s*\n/.test(rest) || rest.includes('\n\n') ? { status } : null;
  }
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (cl) return rest.length >= Number(cl[1]) ? { status } : null;
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return rest.includes('0\r\n\r\n') ? { status } : null;
  return null;
}

function openOne() {
  started++; inflight++;
  let buf = '', settled = false, connected = false;
  const conn = { slot: true };
  const s = net.connect({ host: u.hostname, port: Number(u.port || 80) });
  sockets.push(s);
  s.setEncoding('latin1');
  s.on('connect', () => { connected = true; open++; s.write(request); });
  s.on('data', (d) => {
    if (settled) return;  // later SSE events: ignore
    buf += d;
    if (conn.slot && buf.includes('\r\n\r\n')) release(conn);
    const r = complete(buf);
    if (r) { settled = true; buf = ''; done(conn, r.status === 200, `status ${r.status}`); }
  });
  s.on('error', (e) => { if (!settled) { settled = true; done(conn, false, e.code || e.message); } });
  s.on('close', () => { if (connected) open--; if (!settled) { settled = true; done(conn, false, 'closed before answer'); } });
}

function pump() {
  while (started < n && inflight < CONCURRENCY) openOne();
}
pump();
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
