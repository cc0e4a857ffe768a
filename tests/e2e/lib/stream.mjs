// A JSON-RPC POST whose streamed (SSE) answer is read as it arrives, with
// the time it ended: for tests that cut streams (kill switches).
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { ACCEPT_BOTH } from './mcp.mjs';

/**
 * POSTs a JSON-RPC request and keeps reading its response as it streams.
 * Returns {status, headers, messages (JSON-RPC messages parsed from SSE data so
 * far), ended, endedAt (performance.now() when the body ended or the socket
 * closed), how (end | close | error), waitFor(pred, ms), response (promise of
 * the headers), abort()}.
 */
export function openStream(url, message, { headers = {} } = {}) {
  const u = new URL(url);
  const body = JSON.stringify(message);
  const s = { status: null, headers: null, messages: [], raw: '', ended: false, endedAt: null, how: null, error: null };
  const waiters = new Set();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const finish = (how, err) => {
    if (s.ended) return;
    s.ended = true;
    s.endedAt = performance.now();
    s.how = how;
    if (err) s.error = err;
    notify();
  };
  let buf = '';
  const req = http.request(
    {
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH, 'content-length': Buffer.byteLength(body), ...headers },
    },
    (res) => {
      s.status = res.statusCode;
      s.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        s.raw += chunk;
        buf += chunk;
        let i;
        while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i).replace(/^\r?\n\r?\n/, '');
          const data = block
            .split(/\r?\n/)
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).replace(/^ /, ''))
            .join('\n');
          if (data) {
            try {
              s.messages.push(JSON.parse(data));
            } catch {}
          }
        }
        notify();
      });
      res.on('end', () => finish('end'));
      res.on('close', () => finish('close'));
      res.on('error', (e) => finish('error', e));
    },
  );
  req.on('error', (e) => finish('error', e));
  s.response = new Promise((resolve) => {
    req.once('response', resolve);
    req.once('error', resolve);
  });
  req.end(body);
  s.abort = () => req.destroy();
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
        reject(new Error(`stream: ${what} not reached within ${ms} ms (status ${s.status}, ended ${s.ended}, raw ${s.raw.slice(-600)})`));
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

