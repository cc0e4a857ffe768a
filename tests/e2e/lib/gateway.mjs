// Process helpers for the end-to-end tests: start upstream fixtures and the
// gateway as child processes, write the gateway's YAML config, and stop
// everything again (SIGTERM, then SIGKILL after 5 s), even when a test fails.
//
// Environment:
//   PORTCULLIS_BIN  the gateway binary (default <repo>/build/portcullis)
//   DIRECT=1        skip the gateway: tests talk to the upstream fixture directly
//                   (to validate fixtures and client-side expectations)
//   E2E_VERBOSE=1   echo children's stderr to this process's stderr
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const E2E_DIR = path.resolve(HERE, '..');
export const REPO = path.resolve(E2E_DIR, '..', '..');
// run.sh gives every run its own directory (E2E_TMP_DIR=.tmp/run-<pid>), so
// concurrent runs on one checkout never clean up each other's files.
export const TMP_DIR = path.resolve(E2E_DIR, process.env.E2E_TMP_DIR || '.tmp');
export const FIXTURES = path.join(E2E_DIR, 'fixtures');
export const DIRECT = process.env.DIRECT === '1';
export const GATEWAY_BIN = process.env.PORTCULLIS_BIN || path.join(REPO, 'build', 'portcullis');
const VERBOSE = process.env.E2E_VERBOSE === '1';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- child process bookkeeping ----

const live = new Set();
function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
}
process.on('exit', killAll);
// If the test process itself is interrupted, take the children down with it.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAll();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

function track(child) {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, wait up to graceMs, then SIGKILL. Resolves with {code, signal, graceful}. */
export async function stopProcess(child, graceMs = 5000) {
  if (!child) return null;
  if (exited(child)) return { code: child.exitCode, signal: child.signalCode, graceful: true };
  const done = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.kill('SIGTERM');
  let timer;
  const grace = new Promise((resolve) => {
    timer = setTimeout(() => resolve(null), graceMs);
  });
  const r = await Promise.race([done, grace]);
  clearTimeout(timer);
  if (r) return { ...r, graceful: true };
  child.kill('SIGKILL');
  return { ...(await done), graceful: false };
}

/** Collects cleanup callbacks; run them all (in reverse order) with stopAll(). */
export class Stack {
  constructor() {
    this.cleanups = [];
  }
  add(fn) {
    this.cleanups.push(fn);
    return fn;
  }
  async stopAll() {
    const errors = [];
    while (this.cleanups.length) {
      const fn = this.cleanups.pop();
      try {
        await fn();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length) throw errors[0];
  }
}

function lineReader(stream, onLine) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i).replace(/\r$/, ''));
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => {
    if (buf) onLine(buf);
    buf = '';
  });
}

/** Spawns `node <script> ...args` and waits for `LISTENING <port>` on stdout. */
export async function spawnListening(script, args = [], { timeoutMs = 15000, name = path.basename(script) } = {}) {
  const child = track(
    spawn(process.execPath, [script, ...args], { cwd: E2E_DIR, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } }),
  );
  const stdout = [];
  const stderr = [];
  lineReader(child.stderr, (l) => {
    stderr.push(l);
    if (VERBOSE) process.stderr.write(`[${name}] ${l}\n`);
  });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: no LISTENING line within ${timeoutMs} ms; stderr:\n${stderr.join('\n')}`)), timeoutMs);
    lineReader(child.stdout, (l) => {
      stdout.push(l);
      const m = /^LISTENING (\d+)$/.exec(l);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before listening; stderr:\n${stderr.join('\n')}`));
    });
  });
  return { child, port, stdout, stderr };
}

/**
 * A free TCP port on 127.0.0.1 for a server a test starts later.
 *
 * Taken from below the kernel's ephemeral range: a port from listen(0) could be
 * handed again, before the gateway binds it, to an upstream, an IdP or an
 * outgoing connection started in between (seen: "cannot listen: Address already
 * in use"). Below that range nothing is assigned automatically. Each test process
 * starts at its own offset (parallel test files) and skips ports it cannot bind.
 */
let nextPort = 0;
function ephemeralLow() {
  try {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 12000 ? low : 32768;
  } catch {
    return 32768;
  }
}
const PORT_LOW = 10000;
const PORT_HIGH = ephemeralLow(); // exclusive

function tryBind(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export async function freePort() {
  const span = PORT_HIGH - PORT_LOW;
  if (nextPort === 0) nextPort = PORT_LOW + ((process.pid * 7919) % span);
  for (let i = 0; i < span; i++) {
    const port = nextPort;
    nextPort = nextPort + 1 >= PORT_HIGH ? PORT_LOW : nextPort + 1;
    if (await tryBind(port)) return port;
  }
  throw new Error(`no free port in ${PORT_LOW}-${PORT_HIGH - 1}`);
}

// ---- upstream fixtures ----

/**
 * Starts fixtures/upstream.mjs. opts: {stateless, json}. Returns
 * {port, base, url (the MCP endpoint), mode, child, requests(), events(), sessions(), reset(), stop()}.
 */
export async function startUpstream({ stateless = false, json = false, stack } = {}) {
  const args = ['0'];
  if (stateless) args.push('--stateless');
  if (json) args.push('--json');
  const mode = `${stateless ? 'stateless' : 'stateful'}${json ? '+json' : '+sse'}`;
  const { child, port, stderr } = await spawnListening(path.join(FIXTURES, 'upstream.mjs'), args, { name: `upstream ${mode}` });
  const base = `http://127.0.0.1:${port}`;
  const getJson = async (p) => (await fetch(base + p)).json();
  const up = {
    port,
    base,
    url: `${base}/mcp`,
    mode,
    child,
    stderr,
    requests: () => getJson('/__requests'),
    events: () => getJson('/__events'),
    sessions: () => getJson('/__sessions'),
    reset: async () => (await fetch(base + '/__reset', { method: 'POST' })).json(),
    stop: () => stopProcess(child),
  };
  stack?.add(up.stop);
  return up;
}

/** Starts fixtures/hostile-upstream.mjs. Returns {port, base, url(path), requests(), stop()}. */
export async function startHostileUpstream({ stack } = {}) {
  const { child, port, stderr } = await spawnListening(path.join(FIXTURES, 'hostile-upstream.mjs'), ['0'], { name: 'hostile-upstream' });
  const base = `http://127.0.0.1:${port}`;
  const h = {
    port,
    base,
    url: (p) => base + p,
    child,
    stderr,
    requests: async () => (await fetch(base + '/__requests')).json(),
    stop: () => stopProcess(child),
  };
  stack?.add(h.stop);
  return h;
}

// ---- gateway config ----

const PLAIN = /^[A-Za-z0-9_./:@-]+$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;

function yamlScalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  const s = String(v);
  if (/^[0-9]+(ms|s|m|h|B|KiB|MiB|GiB)$/.test(s)) return s; // durations and sizes, unquoted as in the docs
  if (PLAIN.test(s) && !RESERVED.test(s) && !/^[-:@0-9.]/.test(s) && !/: /.test(s) && !/:$/.test(s)) return s;
  return JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar
}

/** A small YAML emitter (block style) for plain objects, arrays and scalars. */
export function toYaml(value, indent = 0) {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return value
      .map((item) => {
        if (item && typeof item === 'object' && !Array.isArray(item)) {
          const body = toYaml(item, indent + 2);
          return `${pad}- ${body.slice(indent + 2)}`;
        }
        return `${pad}- ${typeof item === 'object' ? toYaml(item, indent + 2) : yamlScalar(item)}`;
      })
      .join('\n');
  }
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined);
    if (keys.length === 0) return '{}';
    return keys
      .map((k) => {
        const v = value[k];
        if (Array.isArray(v)) return v.length === 0 ? `${pad}${k}: []` : `${pad}${k}:\n${toYaml(v, indent + 2)}`;
        if (v && typeof v === 'object') return Object.keys(v).length === 0 ? `${pad}${k}: {}` : `${pad}${k}:\n${toYaml(v, indent + 2)}`;
        return `${pad}${k}: ${yamlScalar(v)}`;
      })
      .join('\n');
  }
  return yamlScalar(value);
}

let configSeq = 0;
export function writeTempFile(name, text) {
  fs.mkdirSync(TMP_DIR, { recursive: true });
  const file = path.join(TMP_DIR, `${process.pid}-${++configSeq}-${name}`);
  fs.writeFileSync(file, text);
  return file;
}

// ---- the gateway ----

export function gatewayAvailable() {
  try {
    fs.accessSync(GATEWAY_BIN, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes `config` (an object shaped like contract.md's YAML) to a temp file,
 * filling server.listen with a free 127.0.0.1 port, starts
 * `portcullis run --config FILE`, and waits for GET /healthz 200.
 *
 * The gateway's stderr is also copied to .tmp/<...>.stderr.log next to its config.
 * `env` adds environment variables (e.g. PORTCULLIS_INSTANCE).
 * Returns {port, base, url(path), configFile, logFile, child, stderrLines, stdoutLines,
 * jsonLogs(), logText(), alive(), healthz(), stop()}.
 */
export async function startGateway(config, { stack, timeoutMs = 20000, extraArgs = [], env = {} } = {}) {
  if (!gatewayAvailable()) {
    throw new Error(`gateway binary not found or not executable: ${GATEWAY_BIN} (set PORTCULLIS_BIN, or DIRECT=1 to test fixtures only)`);
  }
  const cfg = structuredClone(config);
  cfg.server ??= {};
  let port;
  if (!cfg.server.listen) {
    port = await freePort();
    cfg.server.listen = `127.0.0.1:${port}`;
  } else {
    port = Number(String(cfg.server.listen).split(':').pop());
  }
  const text = `# written by tests/e2e/lib/gateway.mjs\n${toYaml(cfg)}\n`;
  const configFile = writeTempFile('portcullis.yaml', text);

  const child = track(
    spawn(GATEWAY_BIN, ['run', '--config', configFile, ...extraArgs], {
      cwd: TMP_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    }),
  );
  const stderrLines = [];
  const stdoutLines = [];
  const logFile = configFile.replace(/\.yaml$/, '.stderr.log');
  const logStream = fs.createWriteStream(logFile);
  child.once('exit', () => logStream.end());
  lineReader(child.stderr, (l) => {
    stderrLines.push(l);
    logStream.write(l + '\n');
    if (VERBOSE) process.stderr.write(`[portcullis] ${l}\n`);
  });
  lineReader(child.stdout, (l) => {
    stdoutLines.push(l);
    if (VERBOSE) process.stderr.write(`[portcullis:out] ${l}\n`);
  });
  const base = `http://127.0.0.1:${port}`;
  const gw = {
    port,
    base,
    url: (p) => base + p,
    config: cfg,
    configText: text,
    configFile,
    logFile,
    child,
    stderrLines,
    stdoutLines,
    logText: () => stderrLines.join('\n'),
    jsonLogs: () =>
      stderrLines.flatMap((l) => {
        try {
          const o = JSON.parse(l);
          return o && typeof o === 'object' ? [o] : [];
        } catch {
          return [];
        }
      }),
    alive: () => !exited(child),
    healthz: async () => {
      const r = await fetch(base + '/healthz', { signal: AbortSignal.timeout(3000) });
      await r.arrayBuffer();
      return r.status;
    },
    stop: () => stopProcess(child),
  };
  stack?.add(gw.stop);

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited(child)) {
      throw new Error(
        `portcullis exited (${child.exitCode ?? child.signalCode}) before /healthz answered 200.\nconfig ${configFile}:\n${text}\nstderr:\n${gw.logText()}`,
      );
    }
    try {
      if ((await gw.healthz()) === 200) break;
    } catch {}
    if (Date.now() > deadline) {
      await gw.stop();
      throw new Error(`portcullis did not answer GET /healthz 200 within ${timeoutMs} ms.\nconfig:\n${text}\nstderr:\n${gw.logText()}`);
    }
    await sleep(100);
  }
  return gw;
}

const SANITIZER_REPORT = /ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error: |WARNING: ThreadSanitizer/;

/**
 * Stops the gateway with SIGTERM and asserts a clean exit: within 5 s, exit
 * code 0, and no sanitizer report on stderr (the suite also runs an ASan build).
 */
export async function stopGatewayCleanly(assert, gw) {
  const r = await gw.stop();
  const report = gw.stderrLines.find((l) => SANITIZER_REPORT.test(l));
  assert.equal(report, undefined, `sanitizer report on stderr:\n${gw.stderrLines.slice(-60).join('\n')}`);
  assert.ok(r.graceful, 'exited within 5 s of SIGTERM');
  assert.equal(r.signal, null, `exited by itself, not by signal ${r.signal}`);
  assert.equal(r.code, 0, `exit code after SIGTERM (stderr tail:\n${gw.stderrLines.slice(-10).join('\n')})`);
  return r;
}

/**
 * The usual proxy scenario: one upstream fixture, named `crm`, behind the
 * gateway at /mcp/crm (auth: none, since identity is not configured here).
 * With DIRECT=1 the gateway is skipped and mcpUrl is the upstream itself.
 */
export async function startProxyStack({ stateless = false, json = false, server = {}, upstream = {}, stack } = {}) {
  const up = await startUpstream({ stateless, json, stack });
  if (DIRECT) return { direct: true, upstream: up, gateway: null, mcpUrl: up.url };
  const gateway = await startGateway(
    {
      server: { ...server },
      upstreams: [{ name: 'crm', url: up.url, path: '/mcp/crm', auth: 'none', ...upstream }],
    },
    { stack },
  );
  return { direct: false, upstream: up, gateway, mcpUrl: gateway.url('/mcp/crm') };
}
