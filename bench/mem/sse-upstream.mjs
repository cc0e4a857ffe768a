// Benchmark upstream for the memory phase: an MCP endpoint whose POST answers
// are SSE streams that never end. Each POST /mcp gets `200 text/event-stream`,
// one notifications/progress event at once (so every proxy in between has
// committed the response), then another one every SSE_INTERVAL_MS (default
// 10 s). GET /healthz answers ok; GET /stats answers the open stream count.
// Only node's built-in modules: works on node >= 18 with no npm install.
//
//   node bench/mem/sse-upstream.mjs PORT
import http from 'node:http';

const port = Number(process.argv[2] || 18404);
const interval = Number(process.env.SSE_INTERVAL_MS || 10000);
let open = 0;
let seq = 0;

// Progress notifications carry the request's own progressToken (a gateway
// may drop progress for tokens the client never sent).
const event = (token, n) => `event: message\ndata: ${JSON.stringify({
  jsonrpc: '2.0', method: 'notifications/progress',
  params: { progressToken: token, progress: n, message: 'still working' },
})}\n\n`;

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') { res.end('ok'); return; }
  if (req.method === 'GET' && req.url === '/stats') { res.end(JSON.stringify({ open })); return; }
  if (req.method !== 'POST') { res.writeHead(405).end(); return; }
  const chunks = [];
  req.on('data', (c) => { if (chunks.length < 64) chunks.push(c); });
  req.on('end', () => {
    let token = 'bench';
    try { token = JSON.parse(Buffer.concat(chunks).toString()).params._meta.progressToken ?? token; } catch {}
    open++;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
    });
    let n = 0;
    res.write(event(token, n++));
    const timer = setInterval(() => res.write(event(token, n++)), interval + (seq++ % 1000));
    res.on('close', () => { clearInterval(timer); open--; });
  });
});
server.keepAliveTimeout = 600000;
server.headersTimeout = 60000;
server.requestTimeout = 0;
server.timeout = 0;
server.listen(port, '127.0.0.1', () => console.log(`sse-upstream listening on 127.0.0.1:${port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
