// The quickstart's agent: a stock MCP TypeScript SDK client that talks to the
// CRM through Portcullis and prints what happened at each step.
//   node demo-client.mjs URL [--short]
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = new URL(process.argv[2] || 'http://127.0.0.1:8080/mcp/crm');
const short = process.argv.includes('--short');
const say = (s) => console.log(`[agent] ${s}`);

// The agent sends a bearer token; Portcullis never passes it upstream.
const transport = new StreamableHTTPClientTransport(url, {
  requestInit: { headers: { Authorization: `Bearer ${process.env.AGENT_TOKEN || 'agent-secret-token'}` } },
});
const client = new Client({ name: 'demo-agent', version: '1.0.0' });
try {
  await client.connect(transport);
} catch (e) {
  say(`connect refused: ${e.message}`);
  process.exit(short ? 0 : 1);
}
say(`connected; the session id the agent holds is Portcullis's sealed one: ${transport.sessionId.slice(0, 20)}...`);

async function call(name, args) {
  try {
    const r = await client.callTool({ name, arguments: args });
    const text = r.content?.map((c) => c.text).join(' ') ?? '';
    say(`tools/call ${name} ${JSON.stringify(args)} -> ${r.isError ? 'REFUSED: ' : ''}${text.slice(0, 160)}`);
  } catch (e) {
    say(`tools/call ${name} ${JSON.stringify(args)} -> error ${e.code ?? ''}: ${e.message.slice(0, 200)}`);
  }
}

if (short) {
  await call('read_record', { id: 'r-3' });
} else {
  const { tools } = await client.listTools();
  say(`tools/list: ${tools.map((t) => t.name).join(', ')}`);
  await call('read_record', { id: 'r-3' });
  await call('search_records', { query: 'Customer', limit: 5 });
  await call('search_records', { query: 'Customer', limit: 10000 });
  await call('delete_record', { id: 'r-1' });
}
try {
  await transport.terminateSession();
} catch {}
await client.close();
