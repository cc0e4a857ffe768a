#!/usr/bin/env node
// The upstream MCP server behind the gateway when the official conformance
// suite (`conformance server`) runs through Portcullis. Written for this
// project from the scenario descriptions of @modelcontextprotocol/conformance
// (`conformance list --server` and each scenario's "Server Implementation
// Requirements"), on the low-level SDK `Server` so every schema goes out
// exactly as written here.
//
//   node fixture-server.mjs [--port N] [--path /mcp]
//
// Binds 127.0.0.1 (port 0 = any free port), prints `LISTENING <port>` once it
// listens. Stateful Streamable HTTP: one Server + transport per session,
// 404 for an unknown Mcp-Session-Id, 400 for a non-initialize request without
// one. SSE answers (not JSON), so notifications and server->client requests
// ride the POST stream of the call that caused them.
//
// Primitives:
//   tools      test_simple_text, test_image_content, test_audio_content,
//              test_embedded_resource, test_multiple_content_types,
//              test_tool_with_logging, test_tool_with_progress,
//              test_error_handling, test_sampling, test_elicitation,
//              test_elicitation_sep1034_defaults, test_elicitation_sep1330_enums,
//              json_schema_2020_12_tool (pending scenario)
//   resources  test://static-text, test://static-binary, test://watched-resource
//              (subscribe/unsubscribe), template test://template/{id}/data
//   prompts    test_simple_prompt, test_prompt_with_arguments (completion on arg1),
//              test_prompt_with_embedded_resource, test_prompt_with_image
//   logging    logging/setLevel (filters this fixture's notifications/message)
//
// Test hooks (not MCP): GET /healthz 200; GET /__requests lists
// {method, sessionId, rpc} for every HTTP request (rpc: the JSON-RPC method(s)).
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  isInitializeRequest,
} from '@modelcontextprotocol/sdk/types.js';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const PORT = Number(opt('--port', 0));
const MCP_PATH = opt('--path', '/mcp');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A 1x1 red PNG and a tiny WAV (44-byte header + 8 samples of silence), made here.
const RED_PIXEL_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
function tinyWav() {
  const samples = 8;
  const b = Buffer.alloc(44 + samples * 2);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + samples * 2, 4);
  b.write('WAVE', 8);
  b.write('fmt ', 12);
  b.writeUInt32LE(16, 16); // PCM chunk size
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(8000, 24); // sample rate
  b.writeUInt32LE(16000, 28); // byte rate
  b.writeUInt16LE(2, 32); // block align
  b.writeUInt16LE(16, 34); // bits per sample
  b.write('data', 36);
  b.writeUInt32LE(samples * 2, 40);
  return b.toString('base64');
}
const SILENT_WAV = tinyWav();

const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];
const text = (t) => ({ type: 'text', text: t });
const noArgs = { type: 'object', properties: {} };

const TOOLS = [
  { name: 'test_simple_text', description: 'Returns a simple text content item.', inputSchema: noArgs },
  { name: 'test_image_content', description: 'Returns a 1x1 PNG image content item.', inputSchema: noArgs },
  { name: 'test_audio_content', description: 'Returns a short WAV audio content item.', inputSchema: noArgs },
  { name: 'test_embedded_resource', description: 'Returns an embedded text resource.', inputSchema: noArgs },
  { name: 'test_multiple_content_types', description: 'Returns text, image and resource content.', inputSchema: noArgs },
  { name: 'test_tool_with_logging', description: 'Sends three info log notifications while it runs.', inputSchema: noArgs },
  { name: 'test_tool_with_progress', description: 'Reports progress 0, 50, 100 of 100.', inputSchema: noArgs },
  { name: 'test_error_handling', description: 'Always fails with a tool error (isError).', inputSchema: noArgs },
  {
    name: 'test_sampling',
    description: 'Asks the client to sample an LLM (sampling/createMessage) with the prompt.',
    inputSchema: { type: 'object', properties: { prompt: { type: 'string', description: 'The prompt to send to the LLM' } }, required: ['prompt'] },
  },
  {
    name: 'test_elicitation',
    description: 'Asks the client for a username and an email (elicitation/create).',
    inputSchema: { type: 'object', properties: { message: { type: 'string', description: 'The message to show the user' } }, required: ['message'] },
  },
  { name: 'test_elicitation_sep1034_defaults', description: 'Elicitation whose fields all have defaults (SEP-1034).', inputSchema: noArgs },
  { name: 'test_elicitation_sep1330_enums', description: 'Elicitation with the five enum schema variants (SEP-1330).', inputSchema: noArgs },
  {
    name: 'json_schema_2020_12_tool',
    description: 'Tool with JSON Schema 2020-12 features',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: { address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
      properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
      additionalProperties: false,
    },
  },
];

const RESOURCES = [
  { uri: 'test://static-text', name: 'static-text', description: 'A static text resource.', mimeType: 'text/plain' },
  { uri: 'test://static-binary', name: 'static-binary', description: 'A static binary resource (PNG).', mimeType: 'image/png' },
  { uri: 'test://watched-resource', name: 'watched-resource', description: 'A resource that can be subscribed to.', mimeType: 'text/plain' },
];
const TEMPLATE_RE = /^test:\/\/template\/([^/]+)\/data$/;

const PROMPTS = [
  { name: 'test_simple_prompt', description: 'A prompt without arguments.' },
  {
    name: 'test_prompt_with_arguments',
    description: 'A prompt with two required arguments.',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
  },
  {
    name: 'test_prompt_with_embedded_resource',
    description: 'A prompt that embeds a resource.',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
  },
  { name: 'test_prompt_with_image', description: 'A prompt with an image.' },
];
const ARG1_COMPLETIONS = ['paris', 'park', 'party', 'test', 'testing', 'tested'];

function buildServer() {
  const server = new Server(
    { name: 'portcullis-conformance-fixture', version: '1.0.0' },
    {
      capabilities: {
        tools: {},
        resources: { subscribe: true },
        prompts: {},
        completions: {},
        logging: {},
      },
    },
  );
  let logLevel = 'info';
  const subscriptions = new Set();
  const logAllowed = (level) => LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(logLevel);

  server.setRequestHandler(SetLevelRequestSchema, async (req) => {
    logLevel = req.params.level;
    return {};
  });

  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));

  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const args = req.params.arguments ?? {};
    const log = async (level, data) => {
      if (logAllowed(level)) await extra.sendNotification({ method: 'notifications/message', params: { level, logger: 'fixture', data } });
    };
    switch (req.params.name) {
      case 'test_simple_text':
        return { content: [text('This is a simple text response for testing.')] };
      case 'test_image_content':
        return { content: [{ type: 'image', data: RED_PIXEL_PNG, mimeType: 'image/png' }] };
      case 'test_audio_content':
        return { content: [{ type: 'audio', data: SILENT_WAV, mimeType: 'audio/wav' }] };
      case 'test_embedded_resource':
        return {
          content: [
            { type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } },
          ],
        };
      case 'test_multiple_content_types':
        return {
          content: [
            text('Multiple content types test:'),
            { type: 'image', data: RED_PIXEL_PNG, mimeType: 'image/png' },
            {
              type: 'resource',
              resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) },
            },
          ],
        };
      case 'test_tool_with_logging':
        await log('info', 'Tool execution started');
        await sleep(50);
        await log('info', 'Tool processing data');
        await sleep(50);
        await log('info', 'Tool execution completed');
        return { content: [text('Tool with logging executed successfully')] };
      case 'test_tool_with_progress': {
        const token = req.params._meta?.progressToken;
        for (const [i, progress] of [0, 50, 100].entries()) {
          if (i > 0) await sleep(50);
          if (token !== undefined) {
            await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, total: 100 } });
          }
        }
        return { content: [text('Tool with progress executed successfully')] };
      }
      case 'test_error_handling':
        return { isError: true, content: [text('This tool intentionally returns an error for testing')] };
      case 'test_sampling': {
        if (!server.getClientCapabilities()?.sampling) return { isError: true, content: [text('The client does not support sampling')] };
        const r = await extra.sendRequest(
          { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: text(String(args.prompt ?? '')) }], maxTokens: 100 } },
          CreateMessageResultSchema,
        );
        const answer = r.content?.type === 'text' ? r.content.text : JSON.stringify(r.content);
        return { content: [text(`LLM response: ${answer}`)] };
      }
      case 'test_elicitation': {
        if (!server.getClientCapabilities()?.elicitation) return { isError: true, content: [text('The client does not support elicitation')] };
        const r = await elicit(extra, String(args.message ?? ''), {
          type: 'object',
          properties: {
            username: { type: 'string', description: "User's response" },
            email: { type: 'string', description: "User's email address" },
          },
          required: ['username', 'email'],
        });
        return { content: [text(`User response: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`)] };
      }
      case 'test_elicitation_sep1034_defaults': {
        const r = await elicit(extra, 'Please review these values (all have defaults).', {
          type: 'object',
          properties: {
            name: { type: 'string', title: 'Name', default: 'John Doe' },
            age: { type: 'integer', title: 'Age', default: 30 },
            score: { type: 'number', title: 'Score', default: 95.5 },
            status: { type: 'string', title: 'Status', enum: ['active', 'inactive', 'pending'], default: 'active' },
            verified: { type: 'boolean', title: 'Verified', default: true },
          },
        });
        return { content: [text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`)] };
      }
      case 'test_elicitation_sep1330_enums': {
        const r = await elicit(extra, 'Pick some options.', {
          type: 'object',
          properties: {
            untitledSingle: { type: 'string', title: 'Untitled single', enum: ['option1', 'option2', 'option3'] },
            titledSingle: {
              type: 'string',
              title: 'Titled single',
              oneOf: [
                { const: 'value1', title: 'First Option' },
                { const: 'value2', title: 'Second Option' },
                { const: 'value3', title: 'Third Option' },
              ],
            },
            legacyEnum: {
              type: 'string',
              title: 'Legacy titled',
              enum: ['opt1', 'opt2', 'opt3'],
              enumNames: ['Option One', 'Option Two', 'Option Three'],
            },
            untitledMulti: {
              type: 'array',
              title: 'Untitled multi',
              items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
            },
            titledMulti: {
              type: 'array',
              title: 'Titled multi',
              items: {
                anyOf: [
                  { const: 'value1', title: 'First Choice' },
                  { const: 'value2', title: 'Second Choice' },
                  { const: 'value3', title: 'Third Choice' },
                ],
              },
            },
          },
        });
        return { content: [text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`)] };
      }
      case 'json_schema_2020_12_tool':
        return { content: [text(`Received: ${JSON.stringify(args)}`)] };
      default:
        throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${req.params.name}`);
    }
  });

  server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: RESOURCES }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: [
      { uriTemplate: 'test://template/{id}/data', name: 'template-data', description: 'Data for an id.', mimeType: 'application/json' },
    ],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, async (req) => {
    const { uri } = req.params;
    if (uri === 'test://static-text') {
      return { contents: [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }] };
    }
    if (uri === 'test://static-binary') return { contents: [{ uri, mimeType: 'image/png', blob: RED_PIXEL_PNG }] };
    if (uri === 'test://watched-resource') {
      return { contents: [{ uri, mimeType: 'text/plain', text: `Watched resource, subscribed: ${subscriptions.has(uri)}` }] };
    }
    const m = TEMPLATE_RE.exec(uri);
    if (m) {
      const id = decodeURIComponent(m[1]);
      return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }] };
    }
    throw new McpError(-32002, `Resource not found: ${uri}`, { uri });
  });
  server.setRequestHandler(SubscribeRequestSchema, async (req, extra) => {
    subscriptions.add(req.params.uri);
    // One update on the request's own stream, so a subscriber sees the notification shape.
    await extra.sendNotification({ method: 'notifications/resources/updated', params: { uri: req.params.uri } });
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscriptions.delete(req.params.uri);
    return {};
  });

  server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: PROMPTS }));
  server.setRequestHandler(GetPromptRequestSchema, async (req) => {
    const args = req.params.arguments ?? {};
    const need = (name) => {
      if (typeof args[name] !== 'string') throw new McpError(ErrorCode.InvalidParams, `Missing required argument: ${name}`);
      return args[name];
    };
    switch (req.params.name) {
      case 'test_simple_prompt':
        return { messages: [{ role: 'user', content: text('This is a simple prompt for testing.') }] };
      case 'test_prompt_with_arguments': {
        const arg1 = need('arg1');
        const arg2 = need('arg2');
        return { messages: [{ role: 'user', content: text(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`) }] };
      }
      case 'test_prompt_with_embedded_resource': {
        const uri = need('resourceUri');
        return {
          messages: [
            { role: 'user', content: { type: 'resource', resource: { uri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } } },
            { role: 'user', content: text('Please process the embedded resource above.') },
          ],
        };
      }
      case 'test_prompt_with_image':
        return {
          messages: [
            { role: 'user', content: { type: 'image', data: RED_PIXEL_PNG, mimeType: 'image/png' } },
            { role: 'user', content: text('Please analyze the image above.') },
          ],
        };
      default:
        throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${req.params.name}`);
    }
  });

  server.setRequestHandler(CompleteRequestSchema, async (req) => {
    const { ref, argument } = req.params;
    let values = [];
    if (ref.type === 'ref/prompt' && ref.name === 'test_prompt_with_arguments' && argument.name === 'arg1') {
      values = ARG1_COMPLETIONS.filter((v) => v.startsWith(argument.value ?? ''));
    }
    return { completion: { values, total: values.length, hasMore: false } };
  });

  return server;
}

/** elicitation/create on the calling request's stream (the schema goes out as written). */
async function elicit(extra, message, requestedSchema) {
  return extra.sendRequest({ method: 'elicitation/create', params: { message, requestedSchema } }, ElicitResultSchema);
}

// ---- HTTP ----

const transports = new Map(); // session id -> transport
const requests = [];

function sendJson(res, status, obj) {
  if (res.headersSent) return;
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
const rpcError = (res, status, code, message) => sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function handleMcp(req, res) {
  let body;
  if (req.method === 'POST') {
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return rpcError(res, 400, -32700, 'Parse error');
    }
  }
  const sid = req.headers['mcp-session-id'];
  requests.push({
    method: req.method,
    sessionId: sid ?? null,
    rpc: Array.isArray(body) ? body.map((m) => m?.method ?? 'response') : body ? (body.method ?? 'response') : null,
  });
  if (sid !== undefined) {
    const transport = transports.get(sid);
    if (!transport) return rpcError(res, 404, -32001, 'Session not found');
    return transport.handleRequest(req, res, body);
  }
  if (req.method === 'POST' && body && !Array.isArray(body) && isInitializeRequest(body)) {
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => transports.set(id, transport),
      onsessionclosed: (id) => transports.delete(id),
    });
    transport.onclose = () => {
      if (transport.sessionId) transports.delete(transport.sessionId);
    };
    await buildServer().connect(transport);
    return transport.handleRequest(req, res, body);
  }
  return rpcError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
}

const httpServer = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  try {
    if (url.pathname === '/healthz') return sendJson(res, 200, { ok: true });
    if (url.pathname === '/__requests' && req.method === 'GET') return sendJson(res, 200, requests);
    if (url.pathname !== MCP_PATH) return rpcError(res, 404, -32601, `No MCP endpoint at ${url.pathname}`);
    await handleMcp(req, res);
  } catch (err) {
    process.stderr.write(`fixture error: ${err?.stack ?? err}\n`);
    if (!res.headersSent) rpcError(res, 500, -32603, 'Internal error');
    else res.end();
  }
});

httpServer.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
});

const shutdown = () => {
  for (const t of transports.values()) t.close().catch(() => {});
  httpServer.close();
  httpServer.closeAllConnections?.();
  setTimeout(() => process.exit(0), 200).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
