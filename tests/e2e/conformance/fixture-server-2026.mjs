// The conformance fixture for protocol revision 2026-07-28: an upstream on the
// official TypeScript SDK 2.x (@modelcontextprotocol/server, createMcpHandler,
// modern requests only: `legacy: 'reject'`), written for this project from
// the 2026-07-28 scenario descriptions of @modelcontextprotocol/conformance
// (`conformance list --server --requirements 2026-07-28` and each scenario's
// "Server Implementation Requirements").
//
//   node fixture-server-2026.mjs --port <port|0> [--path /mcp]
//
// Prints `LISTENING <port>`. Tools: the test_* content tools, test_error_handling,
// test_tool_with_progress, test_logging_tool, test_missing_capability (-32021
// without sampling), test_streaming_elicitation, test_trigger_tool_change,
// test_trigger_prompt_change, test_header_param (x-mcp-header Region),
// json_schema_2020_12_tool, and the test_input_required_result_* tools (MRTR,
// with an HMAC-protected requestState where the state matters). Prompts
// test_simple_prompt, test_prompt_with_arguments (completion on arg1),
// test_prompt_with_embedded_resource, test_prompt_with_image,
// test_input_required_result_prompt. Resources test://static-text,
// test://static-binary, template test://template/{id}/data.
import crypto from 'node:crypto';
import http from 'node:http';
import { writeFetchResponse } from '../lib/fetch-bridge.mjs';
import {
  McpServer,
  ResourceTemplate,
  acceptedContent,
  completable,
  createMcpHandler,
  fromJsonSchema,
  inputRequired,
  inputResponse,
} from '@modelcontextprotocol/server';
import * as z from 'zod';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const PORT = Number(opt('--port', 0));
const MCP_PATH = opt('--path', '/mcp');

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
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(16000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(samples * 2, 40);
  return b.toString('base64');
}
const SILENT_WAV = tinyWav();
const text = (t) => ({ type: 'text', text: t });
const ARG1_COMPLETIONS = ['paris', 'park', 'party', 'test', 'testing', 'tested'];

// requestState: payload.base64url + "." + HMAC, so tampering is detected.
const STATE_KEY = crypto.randomBytes(32);
function mintState(payload) {
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const mac = crypto.createHmac('sha256', STATE_KEY).update(body).digest('base64url');
  return `${body}.${mac}`;
}
function openState(state) {
  if (typeof state !== 'string') return undefined;
  const [body, mac] = state.split('.');
  if (!body || !mac) return null;
  const want = crypto.createHmac('sha256', STATE_KEY).update(body).digest('base64url');
  if (mac.length !== want.length || !crypto.timingSafeEqual(Buffer.from(mac), Buffer.from(want))) return null;
  try {
    return JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}
// McpServer turns every error a tool throws into an isError result, so the
// two protocol errors the scenarios expect from tools/call are answered here,
// before dispatch, as a server's request validation would.
const STATEFUL_TOOLS = new Set([
  'test_input_required_result_request_state',
  'test_input_required_result_multiple_inputs',
  'test_input_required_result_multi_round',
  'test_input_required_result_tampered_state',
]);
function rejectBeforeDispatch(msg) {
  if (msg?.method !== 'tools/call' || !msg.params) return null;
  const error = (status, code, message, data) => ({ status, body: { jsonrpc: '2.0', id: msg.id ?? null, error: { code, message, ...(data ? { data } : {}) } } });
  const declared = msg.params._meta?.['io.modelcontextprotocol/clientCapabilities'] ?? {};
  if (msg.params.name === 'test_missing_capability' && !declared.sampling) {
    return error(400, -32021, 'Missing required client capability: sampling', { requiredCapabilities: { sampling: {} } });
  }
  if (STATEFUL_TOOLS.has(msg.params.name) && msg.params.requestState !== undefined && openState(msg.params.requestState) === null) {
    return error(200, -32602, 'Invalid params: requestState failed its integrity check');
  }
  return null;
}

const NAME_SCHEMA = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] };
const askName = (message = 'What is your name?') => ({ method: 'elicitation/create', params: { message, requestedSchema: NAME_SCHEMA } });
const sampling = (question, maxTokens = 100) => ({
  method: 'sampling/createMessage',
  params: { messages: [{ role: 'user', content: { type: 'text', text: question } }], maxTokens },
});
const listRoots = () => ({ method: 'roots/list', params: {} });
const caps = (ctx) => ctx.mcpReq.envelope?.['io.modelcontextprotocol/clientCapabilities'] ?? {};
const nameOf = (responses, key) => {
  const v = inputResponse(responses, key);
  return v.kind === 'elicit' && v.action === 'accept' && typeof v.content?.name === 'string' ? v.content.name : undefined;
};

let handler;

function factory() {
  const server = new McpServer(
    { name: 'portcullis-conformance-fixture-2026', version: '1.0.0' },
    {
      capabilities: { tools: { listChanged: true }, prompts: { listChanged: true }, resources: {}, completions: {}, logging: {} },
      cacheHints: {
        'tools/list': { ttlMs: 0, cacheScope: 'private' },
        'prompts/list': { ttlMs: 0, cacheScope: 'private' },
        'resources/list': { ttlMs: 0, cacheScope: 'private' },
        'resources/templates/list': { ttlMs: 0, cacheScope: 'private' },
        'resources/read': { ttlMs: 0, cacheScope: 'private' },
      },
    },
  );
  const tool = (name, description, cb, inputSchema) => server.registerTool(name, { description, ...(inputSchema ? { inputSchema } : {}) }, cb);

  tool('test_simple_text', 'Returns a simple text content item.', async () => ({ content: [text('This is a simple text response for testing.')] }));
  tool('test_image_content', 'Returns a 1x1 PNG image content item.', async () => ({ content: [{ type: 'image', data: RED_PIXEL_PNG, mimeType: 'image/png' }] }));
  tool('test_audio_content', 'Returns a short WAV audio content item.', async () => ({ content: [{ type: 'audio', data: SILENT_WAV, mimeType: 'audio/wav' }] }));
  tool('test_embedded_resource', 'Returns an embedded text resource.', async () => ({
    content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }],
  }));
  tool('test_multiple_content_types', 'Returns text, image and resource content.', async () => ({
    content: [
      text('Multiple content types test:'),
      { type: 'image', data: RED_PIXEL_PNG, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) } },
    ],
  }));
  tool('test_error_handling', 'Always fails with a tool error (isError).', async () => ({
    isError: true,
    content: [text('This tool intentionally returns an error for testing')],
  }));
  tool('test_tool_with_progress', 'Reports progress 0, 50, 100 of 100.', async (ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    if (token !== undefined) {
      for (const progress of [0, 50, 100]) {
        await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress, total: 100 } });
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    return { content: [text('Progress complete')] };
  });
  tool('test_logging_tool', 'Logs three messages (delivered only when the request sets a log level).', async (ctx) => {
    for (const m of ['Tool execution started', 'Tool processing data', 'Tool execution completed']) await ctx.mcpReq.log('info', m);
    return { content: [text('Logging complete')] };
  });
  tool('test_missing_capability', 'Needs the sampling capability (-32021 without it).', async (ctx) => {
    return inputRequired({ inputRequests: { answer: sampling('Say hello') } });
  });
  tool('test_streaming_elicitation', 'Asks for a name through an input_required result.', async (ctx) => {
    const name = nameOf(ctx.mcpReq.inputResponses, 'user_name');
    if (!name) return inputRequired({ inputRequests: { user_name: askName() } });
    return { content: [text(`Hello, ${name}!`)] };
  });
  tool('test_trigger_tool_change', 'Publishes notifications/tools/list_changed.', async () => {
    setTimeout(() => handler.notify.toolsChanged(), 10);
    return { content: [text('tools changed')] };
  });
  tool('test_trigger_prompt_change', 'Publishes notifications/prompts/list_changed.', async () => {
    setTimeout(() => handler.notify.promptsChanged(), 10);
    return { content: [text('prompts changed')] };
  });

  // SEP-2243: a string argument mirrored into Mcp-Param-Region.
  tool(
    'test_header_param',
    'Echoes a region that the client mirrors into the Mcp-Param-Region header.',
    async ({ region }) => ({ content: [text(`region: ${region}`)] }),
    z.object({ region: z.string().meta({ 'x-mcp-header': 'Region' }) }),
  );
  server.registerTool(
    'json_schema_2020_12_tool',
    {
      description: 'Tool with JSON Schema 2020-12 features',
      inputSchema: fromJsonSchema({
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        $defs: { address: { $anchor: 'addressDef', type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
        properties: {
          name: { type: 'string' },
          address: { $ref: '#/$defs/address' },
          contactMethod: { type: 'string', enum: ['phone', 'email'] },
          phone: { type: 'string' },
          email: { type: 'string' },
        },
        allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
        if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
        then: { required: ['phone'] },
        else: { required: ['email'] },
        additionalProperties: false,
      }),
    },
    async (args) => ({ content: [text(JSON.stringify(args))] }),
  );

  // Multi round-trip (SEP-2322).
  tool('test_input_required_result_elicitation', 'Asks for the user name (MRTR).', async (ctx) => {
    const name = nameOf(ctx.mcpReq.inputResponses, 'user_name');
    if (!name) return inputRequired({ inputRequests: { user_name: askName() } });
    return { content: [text(`Hello, ${name}!`)] };
  });
  tool('test_input_required_result_sampling', 'Asks the client to sample (MRTR).', async (ctx) => {
    const v = inputResponse(ctx.mcpReq.inputResponses, 'capital_question');
    if (v.kind !== 'sampling') return inputRequired({ inputRequests: { capital_question: sampling('What is the capital of France?') } });
    const c = v.result.content;
    return { content: [text(`Sampling answer: ${c?.type === 'text' ? c.text : JSON.stringify(c)}`)] };
  });
  tool('test_input_required_result_list_roots', 'Asks for the client roots (MRTR).', async (ctx) => {
    const v = inputResponse(ctx.mcpReq.inputResponses, 'client_roots');
    if (v.kind !== 'roots') return inputRequired({ inputRequests: { client_roots: listRoots() } });
    return { content: [text(`Roots: ${v.roots.map((r) => r.uri).join(', ')}`)] };
  });
  tool('test_input_required_result_request_state', 'Round-trips an HMAC-protected requestState (MRTR).', async (ctx) => {
    const state = openState(ctx.mcpReq.requestState());
    const ok = acceptedContent(ctx.mcpReq.inputResponses, 'confirm');
    if (!state || !ok) {
      return inputRequired({
        inputRequests: {
          confirm: {
            method: 'elicitation/create',
            params: { message: 'Please confirm', requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } },
          },
        },
        requestState: mintState({ tool: 'request_state', round: 1 }),
      });
    }
    return { content: [text(`state-ok: confirmed=${ok.ok === true}`)] };
  });
  tool('test_input_required_result_multiple_inputs', 'Asks for elicitation, sampling and roots at once (MRTR).', async (ctx) => {
    const state = openState(ctx.mcpReq.requestState());
    const r = ctx.mcpReq.inputResponses ?? {};
    const name = nameOf(r, 'user_name');
    const greeting = inputResponse(r, 'greeting');
    const roots = inputResponse(r, 'client_roots');
    if (!state || !name || greeting.kind !== 'sampling' || roots.kind !== 'roots') {
      return inputRequired({
        inputRequests: { user_name: askName(), greeting: sampling('Generate a greeting', 50), client_roots: listRoots() },
        requestState: mintState({ tool: 'multiple' }),
      });
    }
    return { content: [text(`All inputs received: ${name}, ${roots.roots.length} root(s)`)] };
  });
  tool('test_input_required_result_multi_round', 'Two elicitation rounds with an evolving requestState (MRTR).', async (ctx) => {
    const state = openState(ctx.mcpReq.requestState());
    const r = ctx.mcpReq.inputResponses ?? {};
    if (state?.round === 2) {
      const color = acceptedContent(r, 'step2')?.color;
      if (typeof color === 'string') return { content: [text(`Done: ${state.name} likes ${color}`)] };
    }
    const name = state?.round === 1 ? nameOf(r, 'step1') : undefined;
    if (name || state?.round === 2) {
      return inputRequired({
        inputRequests: {
          step2: {
            method: 'elicitation/create',
            params: {
              message: 'Step 2: What is your favorite color?',
              requestedSchema: { type: 'object', properties: { color: { type: 'string' } }, required: ['color'] },
            },
          },
        },
        requestState: mintState({ round: 2, name: name ?? state.name }),
      });
    }
    return inputRequired({ inputRequests: { step1: askName('Step 1: What is your name?') }, requestState: mintState({ round: 1 }) });
  });
  tool('test_input_required_result_tampered_state', 'Rejects a tampered requestState (MRTR).', async (ctx) => {
    const state = openState(ctx.mcpReq.requestState());
    if (!state) return inputRequired({ inputRequests: { user_name: askName() }, requestState: mintState({ tool: 'tampered' }) });
    return { content: [text('state verified')] };
  });
  tool('test_input_required_result_capabilities', 'Asks only for what the client declared (MRTR).', async (ctx) => {
    const c = caps(ctx);
    const r = ctx.mcpReq.inputResponses ?? {};
    const requests = {};
    if (c.elicitation && !nameOf(r, 'user_name')) requests.user_name = askName();
    if (c.sampling && inputResponse(r, 'capital_question').kind !== 'sampling') requests.capital_question = sampling('What is the capital of France?');
    if (c.roots && inputResponse(r, 'client_roots').kind !== 'roots') requests.client_roots = listRoots();
    if (Object.keys(requests).length) return inputRequired({ inputRequests: requests });
    return { content: [text('Nothing more needed')] };
  });

  // Prompts.
  server.registerPrompt('test_simple_prompt', { description: 'A prompt without arguments.' }, async () => ({
    messages: [{ role: 'user', content: text('This is a simple prompt for testing.') }],
  }));
  server.registerPrompt(
    'test_prompt_with_arguments',
    {
      description: 'A prompt with two required arguments.',
      argsSchema: z.object({
        arg1: completable(z.string().describe('First test argument'), (v) => ARG1_COMPLETIONS.filter((c) => c.startsWith(v ?? ''))),
        arg2: z.string().describe('Second test argument'),
      }),
    },
    async ({ arg1, arg2 }) => ({ messages: [{ role: 'user', content: text(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`) }] }),
  );
  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    { description: 'A prompt that embeds a resource.', argsSchema: z.object({ resourceUri: z.string().describe('URI of the resource to embed') }) },
    async ({ resourceUri }) => ({
      messages: [
        { role: 'user', content: { type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } } },
        { role: 'user', content: text('Please process the embedded resource above.') },
      ],
    }),
  );
  server.registerPrompt('test_prompt_with_image', { description: 'A prompt with an image.' }, async () => ({
    messages: [
      { role: 'user', content: { type: 'image', data: RED_PIXEL_PNG, mimeType: 'image/png' } },
      { role: 'user', content: text('Please analyze the image above.') },
    ],
  }));
  server.registerPrompt('test_input_required_result_prompt', { description: 'A prompt that needs elicited context (MRTR).' }, async (ctx) => {
    const context = acceptedContent(ctx.mcpReq.inputResponses, 'user_context')?.context;
    if (typeof context !== 'string') {
      return inputRequired({
        inputRequests: {
          user_context: {
            method: 'elicitation/create',
            params: {
              message: 'What context should the prompt use?',
              requestedSchema: { type: 'object', properties: { context: { type: 'string' } }, required: ['context'] },
            },
          },
        },
      });
    }
    return { messages: [{ role: 'user', content: text(`Use this context: ${context}`) }] };
  });

  // Resources.
  server.registerResource('static-text', 'test://static-text', { description: 'A static text resource.', mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
  }));
  server.registerResource('static-binary', 'test://static-binary', { description: 'A static binary resource (PNG).', mimeType: 'image/png' }, async (uri) => ({
    contents: [{ uri: uri.href, mimeType: 'image/png', blob: RED_PIXEL_PNG }],
  }));
  server.registerResource(
    'template-data',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { description: 'Data for an id.', mimeType: 'application/json' },
    async (uri, { id }) => ({
      contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }],
    }),
  );
  return server;
}

handler = createMcpHandler(factory, { legacy: 'reject', keepAliveMs: 5000 });

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const srv = http.createServer(async (req, res) => {
  try {
    if (!req.url.startsWith(MCP_PATH)) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found');
    }
    const body = req.method === 'POST' ? await readBody(req) : undefined;
    let msg = null;
    try {
      msg = body?.length ? JSON.parse(body.toString('utf8')) : null;
    } catch {}
    const early = rejectBeforeDispatch(msg);
    if (early) {
      res.writeHead(early.status, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(early.body));
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (Array.isArray(v)) for (const x of v) headers.append(k, x);
      else if (v !== undefined) headers.set(k, v);
    }
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const response = await handler.fetch(
      new Request(`http://127.0.0.1:${srv.address().port}${req.url}`, { method: req.method, headers, body: body?.length ? body : undefined, signal: abort.signal }),
    );
    await writeFetchResponse(res, response);
  } catch (e) {
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(e?.stack ?? e));
  }
});
srv.listen(PORT, '127.0.0.1', () => process.stdout.write(`LISTENING ${srv.address().port}\n`));
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    handler.close().finally(() => process.exit(0));
    srv.close();
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
