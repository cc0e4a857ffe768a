// The quickstart's agent: a stock MCP TypeScript SDK client that talks to the
// CRM through Portcullis and prints what happened at each step.
//   node demo-client.mjs http://127.0.0.1:8080/mcp/crm
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = new URL(process.argv[2] || 'http://127.0.0.1:8080/mcp/crm');
const token = process.env.AGENT_TOKEN;
const say = (s) => console.log(`[agent] ${s}`);

const transport = new StreamableHTTPClientTransport(url, {
  requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : undefined,
});
const client = new Client({ name: 'demo-agent', version: '1.0.0' });
await client.connect(transport);
say(`connected through Portcullis; session id the agent holds: ${transport.sessionId.slice(0, 24)}...`);

const { tools } = await client.listTools();
say(`tools/list: ${tools.map((t) => t.name).join(', ')}`);

async function call(name, args) {
  try {
    const r = await client.callTool({ name, arguments: args });
    const text = r.content?.map((c) => c.text).join(' ');
    say(`tools/call ${name} ${JSON.stringify(args)} -> ${r.isError ? 'DENIED/ERROR: ' : ''}${text}`);
  } catch (e) {
    say(`tools/call ${name} ${JSON.stringify(args)} -> JSON-RPC error ${e.code}: ${e.message}`);
  }
}
await call('read_record', { id: 'r-3' });
await call('search_records', { query: 'Customer', limit: 5 });
await call('search_records', { query: 'Customer', limit: 10000 });
await call('delete_record', { id: 'r-1' });

await transport.terminateSession();
say('session terminated (DELETE)');
await client.close();
