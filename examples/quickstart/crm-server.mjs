// The quickstart's upstream: a tiny CRM exposed as an MCP server with the
// official TypeScript SDK. It prints every call it receives, so the demo shows
// what reached the upstream and what did not.
//   node crm-server.mjs PORT
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const port = Number(process.argv[2] || 9101);
const records = Object.fromEntries(
  Array.from({ length: 20 }, (_, i) => [`r-${i + 1}`, { id: `r-${i + 1}`, name: `Customer ${i + 1}`, tier: i < 2 ? 'vip' : 'standard' }]),
);

function build() {
  const server = new McpServer({ name: 'demo-crm', version: '1.0.0' });
  const text = (v) => ({ content: [{ type: 'text', text: JSON.stringify(v) }] });
  server.registerTool('read_record', {
    description: 'Read one customer record',
    inputSchema: { id: z.string() },
    annotations: { readOnlyHint: true },
  }, async ({ id }, extra) => {
    console.log(`[crm] read_record ${id} (authorization header seen: ${Boolean(extra.requestInfo?.headers?.authorization)})`);
    return text(records[id] ?? { error: 'not found' });
  });
  server.registerTool('search_records', {
    description: 'Search customer records',
    inputSchema: { query: z.string(), limit: z.number() },
    annotations: { readOnlyHint: true },
  }, async ({ query, limit }) => {
    console.log(`[crm] search_records "${query}" limit=${limit}`);
    return text(Object.values(records).filter((r) => r.name.includes(query)).slice(0, limit));
  });
  server.registerTool('delete_record', {
    description: 'Delete a customer record',
    inputSchema: { id: z.string() },
    annotations: { destructiveHint: true },
  }, async ({ id }) => {
    console.log(`[crm] delete_record ${id}`);
    delete records[id];
    return text({ deleted: id });
  });
  return server;
}

const sessions = new Map();
http.createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
  const sid = req.headers['mcp-session-id'];
  let transport = sid ? sessions.get(sid) : undefined;
  if (!transport) {
    if (sid || !isInitializeRequest(body)) {
      res.writeHead(sid ? 404 : 400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => sessions.set(id, transport),
    });
    transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
    await build().connect(transport);
  }
  await transport.handleRequest(req, res, body);
}).listen(port, '127.0.0.1', () => console.log(`[crm] listening on 127.0.0.1:${port}`));
