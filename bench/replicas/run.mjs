// Scale-out benchmark (issue 9): replicas sharing state through Redis.
//
//   1 kill propagation  two replicas (A, B) on one Redis; a stream (SSE,
//                       slow_count) open on B; a kill switch pulled through
//                       A's admin API; the time from sending the kill to B
//                       closing the stream. BENCH_KILLS times (default 60),
//                       p50/p90/p99/max reported. Target: p99 <= 100 ms.
//   2 throughput        wrk (bench/wrk/tools-call.lua, closed loop) against
//                       Portcullis with policy (one allow rule with a rate
//                       limit, so that every call counts in the limit store),
//                       audit (on tmpfs when /dev/shm exists, so that fsync
//                       does not hide the cost of Redis), in front of the
//                       nginx null upstream:
//                         a) one replica, state: file (limits in memory)
//                         b) one replica, state: redis (limits in Redis)
//                         c) two replicas behind nginx round robin, state: redis
//                       Target: b costs at most 10 % more per call than a.
//
//   node bench/replicas/run.mjs            (from the repo root; needs build/portcullis,
//                                           nginx, redis-server, wrk: scripts/setup.sh)
//   BENCH_MODE=cost     only the cost of Redis per call: the state: file and
//                       state: redis replicas run side by side and are measured
//                       in alternation (file, redis, file, redis, ...), so that
//                       a change in the machine's other load hits both alike;
//                       reports each run's CPU per call and the medians.
//                       BENCH_PROFILE=<dir>: one more run of each under
//                       `perf record -g` (perf.data files in <dir>).
// Env: BENCH_KILLS [60], BENCH_DURATION [10] s per wrk run, BENCH_RUNS [3],
//      BENCH_CONNS [32], PORTCULLIS_BIN.
// Prints tables and writes bench/results/replicas-<date>.md (gitignored).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Stack, freePort, sleep, startGateway, startUpstream, stopProcess } from '../../tests/e2e/lib/gateway.mjs';
import { httpRequest, postJson } from '../../tests/e2e/lib/mcp.mjs';
import { NGINX, redisCommand, startNginx, startRedis } from '../../tests/e2e/lib/replicas.mjs';
import { openStream } from '../../tests/e2e/lib/stream.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BENCH = path.resolve(HERE, '..');
const KILLS = Number(process.env.BENCH_KILLS ?? 60);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONNS = Number(process.env.BENCH_CONNS ?? 32);

const say = (s) => console.log(`[bench/replicas] ${s}`);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const median = (xs) => pct(xs, 50);

const stack = new Stack();
const work = fs.mkdtempSync('/tmp/portcullis-bench-replicas-');
const AUDIT_ROOT = fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/portcullis-bench-audit-') : path.join(work, 'audit');
process.on('exit', () => {
  if (process.env.BENCH_KEEP_WORKDIR !== '1') fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(AUDIT_ROOT, { recursive: true, force: true });
});

// ---- the nginx null upstream of bench/run.sh ----
async function startNullUpstream() {
  const port = await freePort();
  const dir = path.join(work, 'null');
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const canned = fs.readFileSync(path.join(BENCH, 'nginx', 'tools-call-result.json'), 'utf8').trim();
  const q = (s) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  const values = { WORKDIR: dir, PORT: String(port), CANNED_JSON: q(canned), CANNED_SSE: q(`event: message\ndata: ${canned}\n\n`) };
  const text = fs.readFileSync(path.join(BENCH, 'nginx', 'null-upstream.conf.in'), 'utf8').replace(/@([A-Z_]+)@/g, (_, k) => values[k]);
  const conf = path.join(dir, 'null.conf');
  fs.writeFileSync(conf, text);
  const child = spawn(NGINX, ['-p', dir, '-c', conf], { stdio: 'ignore' });
  stack.add(() => stopProcess(child, 3000));
  for (let i = 0; i < 100; i++) {
    try {
      if ((await httpRequest(`http://127.0.0.1:${port}/healthz`, { timeoutMs: 500 })).status === 200) return `http://127.0.0.1:${port}/mcp`;
    } catch {}
    await sleep(50);
  }
  throw new Error('null upstream did not start');
}

function wrk(url) {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${CONNS}`, `-d${DURATION}s`, '--timeout', '5s', '-s', path.join(BENCH, 'wrk', 'tools-call.lua'), url], {
      env: { ...process.env, BENCH_BODY: path.join(BENCH, 'wrk', 'tools-call-request.json'), BENCH_DELAY_MS: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', () => {
      const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT'));
      if (!line) return reject(new Error(`wrk: ${out}`));
      const f = Object.fromEntries(line.split(' ').slice(1).map((kv) => kv.split('=')));
      const errors = ['connect_err', 'read_err', 'write_err', 'timeout_err', 'status_err'].reduce((s, k) => s + Number(f[k]), 0);
      resolve({ rps: Number(f.rps), requests: Number(f.requests), p50: Number(f.p50_us) / 1000, p99: Number(f.p99_us) / 1000, errors });
    });
  });
}

const POLICY = `version: "bench-replicas-1"
sensitivity_levels: [public, internal]
default_sensitivity: public
rules:
  - id: bench-limited
    effect: allow
    agents: { any: true }
    tools: { upstream: bench, tool: "*" }
    limits: [ { rate: 100000000/1m, per: tool } ]
`;

async function replica(name, { upstreamUrl, redisPort, prefix, extraServer = {} }) {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  const policyFile = path.join(work, 'policy.yaml');
  fs.writeFileSync(policyFile, POLICY);
  const adminPort = await freePort();
  const cfg = {
    server: { threads: 1, ...extraServer },
    upstreams: [{ name: 'bench', url: upstreamUrl, path: '/mcp/bench', auth: 'none' }],
    policy: { files: [policyFile] },
    // On tmpfs (when there is one): the disk's fsync would dominate and hide
    // what Redis costs; bench/run.sh measures durable audit on disk.
    audit: { dir: path.join(AUDIT_ROOT, name) },
    admin: { listen: `127.0.0.1:${adminPort}`, tokens: [{ name: 'ops', sha256: 'a'.repeat(64), roles: ['viewer'] }] },
  };
  if (redisPort) cfg.state = { backend: 'redis', url: `redis://127.0.0.1:${redisPort}/0`, prefix };
  const gw = await startGateway(cfg, { stack, env: { PORTCULLIS_INSTANCE: name, PORTCULLIS_LOG_LEVEL: 'warn' }, timeoutMs: 30000 });
  return gw;
}

// CPU seconds (user + system) a process has used: less sensitive than
// throughput to other load on a shared machine.
const TICK = 100; // USER_HZ on Linux
function cpuSeconds(pids) {
  let t = 0;
  for (const pid of pids) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      t += (Number(f[11]) + Number(f[12])) / TICK;
    } catch {}
  }
  return t;
}

// One wrk run: requests and CPU per call of `cpuPids` (and of redis-server alone).
async function cpuRun(url, cpuPids, redisPid) {
  const cpu0 = cpuSeconds(cpuPids);
  const redis0 = redisPid ? cpuSeconds([redisPid]) : 0;
  const r = await wrk(url);
  r.cpuUs = ((cpuSeconds(cpuPids) - cpu0) * 1e6) / r.requests;
  r.redisUs = redisPid ? ((cpuSeconds([redisPid]) - redis0) * 1e6) / r.requests : 0;
  return r;
}

async function probe(label, url) {
  const probe = await postJson(url, fs.readFileSync(path.join(BENCH, 'wrk', 'tools-call-request.json'), 'utf8').trim(), {
    protocolVersion: '2025-06-18',
  });
  if (probe.status !== 200 || !probe.body.includes('bench-null-upstream')) throw new Error(`${label}: probe answered ${probe.status}: ${probe.body.slice(0, 300)}`);
}

async function measure(label, url, cpuPids = [], redisPid = null) {
  await probe(label, url);
  await wrk(url); // warm-up
  const runs = [];
  const cpu0 = cpuSeconds(cpuPids);
  const redis0 = redisPid ? cpuSeconds([redisPid]) : 0;
  for (let i = 0; i < RUNS; i++) {
    const r = await wrk(url);
    say(`  ${label} run ${i + 1}/${RUNS}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, errors ${r.errors}`);
    runs.push(r);
  }
  const total = runs.reduce((s, r) => s + r.requests, 0);
  const cpuUs = ((cpuSeconds(cpuPids) - cpu0) * 1e6) / total;
  const redisUs = redisPid ? ((cpuSeconds([redisPid]) - redis0) * 1e6) / total : 0;
  return { label, cpuUs, redisUs, rps: median(runs.map((r) => r.rps)), p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)), errors: runs.reduce((s, r) => s + r.errors, 0) };
}

async function killPropagation(redisPort) {
  const up = await startUpstream({ stateless: true, stack });
  const mk = async (name) => {
    const adminPort = await freePort();
    const token = `bench-ops-token-${name}-0123456789`;
    const { createHash } = await import('node:crypto');
    const gw = await startGateway(
      {
        server: { threads: 1 },
        upstreams: [{ name: 'crm', url: up.url, path: '/mcp/crm', auth: 'none' }],
        admin: { listen: `127.0.0.1:${adminPort}`, tokens: [{ name: 'ops', sha256: createHash('sha256').update(token).digest('hex'), roles: ['viewer', 'operator'] }] },
        state: { backend: 'redis', url: `redis://127.0.0.1:${redisPort}/0`, prefix: 'bench-kill:' },
      },
      { stack, env: { PORTCULLIS_INSTANCE: name, PORTCULLIS_LOG_LEVEL: 'warn' }, timeoutMs: 30000 },
    );
    return { gw, admin: (method, p, body) => httpRequest(`http://127.0.0.1:${adminPort}${p}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined }) };
  };
  const a = await mk('replica-a');
  const b = await mk('replica-b');
  const cut = [];
  const answered = [];
  let id = 1;
  for (let k = 0; k < KILLS; k++) {
    const s = openStream(b.gw.url('/mcp/crm'), { jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name: 'slow_count', arguments: { n: 1000, delay_ms: 20, label: `k${k}` }, _meta: { progressToken: `k${k}` } } });
    await s.waitFor((x) => x.messages.some((m) => m.method === 'notifications/progress'), 10000, 'stream flowing on B');
    const t0 = performance.now();
    const r = await a.admin('POST', '/admin/v1/kill', { upstream: 'crm', reason: 'bench' });
    const tAns = performance.now();
    if (r.status !== 201) throw new Error(`kill: ${r.status} ${r.body}`);
    await s.waitFor((x) => x.ended, 5000, 'stream on B cut');
    cut.push(s.endedAt - t0);
    answered.push(tAns - t0);
    const ksId = JSON.parse(r.body).id;
    const l = await a.admin('DELETE', `/admin/v1/kill/${ksId}`);
    if (l.status !== 200) throw new Error(`lift: ${l.status} ${l.body}`);
    // B must have seen the lift before the next round.
    for (let i = 0; i < 200; i++) {
      const list = JSON.parse((await b.admin('GET', '/admin/v1/kill')).body);
      if (list.kill_switches.length === 0) break;
      await sleep(5);
    }
  }
  return { cut, answered };
}

function perfRecord(pid, out) {
  const child = spawn('perf', ['record', '-F', '1999', '-g', '-p', String(pid), '-o', out], { stdio: 'ignore' });
  return () => new Promise((resolve) => {
    child.on('exit', resolve);
    child.kill('SIGINT');
  });
}

// BENCH_MODE=cost: file and redis replicas side by side, measured in alternation.
async function costOnly() {
  const os = await import('node:os');
  const load = () => os.loadavg().map((x) => x.toFixed(1)).join(' ');
  const loadStart = load();
  const redis = await startRedis({ port: await freePort(), dir: path.join(work, 'redis'), stack });
  const upstreamUrl = await startNullUpstream();
  const file = await replica('file-1', { upstreamUrl });
  const red = await replica('redis-1', { upstreamUrl, redisPort: redis.port, prefix: 'bench-cost:' });
  const targets = [
    { label: 'state: file', url: file.url('/mcp/bench'), pids: [file.child.pid], redisPid: null, runs: [] },
    { label: 'state: redis', url: red.url('/mcp/bench'), pids: [red.child.pid, redis.child.pid], redisPid: redis.child.pid, runs: [] },
  ];
  for (const t of targets) {
    await probe(t.label, t.url);
    await wrk(t.url); // warm-up
  }
  const scripts = async () => {
    const info = await redisCommand(redis.port, 'INFO commandstats');
    return ['evalsha', 'eval'].reduce((n, c) => n + Number((info.match(new RegExp(`cmdstat_${c}:calls=(\\d+)`)) || [0, 0])[1]), 0);
  };
  for (let i = 0; i < RUNS; i++) {
    for (const t of targets) {
      const s0 = t.redisPid ? await scripts() : 0;
      const r = await cpuRun(t.url, t.pids, t.redisPid);
      if (t.redisPid) r.callsPerScript = r.requests / Math.max(1, (await scripts()) - s0);
      t.runs.push(r);
      say(`  run ${i + 1}/${RUNS} ${t.label}: ${r.rps.toFixed(0)} req/s, CPU ${r.cpuUs.toFixed(1)} µs/call (redis-server ${r.redisUs.toFixed(1)}${r.callsPerScript ? `, ${r.callsPerScript.toFixed(1)} calls per script` : ''}), load ${load()}`);
    }
  }
  if (process.env.BENCH_VERBOSE) say(`redis commandstats:\n${(await redisCommand(redis.port, 'INFO commandstats')).split('\n').filter((l) => l.startsWith('cmdstat')).join('\n')}`);
  if (process.env.BENCH_PROFILE) {
    fs.mkdirSync(process.env.BENCH_PROFILE, { recursive: true });
    for (const t of targets) {
      const stop = perfRecord(t.pids[0], path.join(process.env.BENCH_PROFILE, `${t.label.replace(/\W+/g, '-')}.data`));
      await sleep(300);
      const r = await wrk(t.url);
      await stop();
      say(`  profiled ${t.label}: ${r.requests} requests`);
    }
  }
  const [f, r] = targets;
  const ratios = f.runs.map((x, i) => r.runs[i].cpuUs / x.cpuUs - 1);
  const lines = [
    `# Cost of state: redis per call, ${new Date().toISOString()}`,
    '',
    `${RUNS} alternating runs of ${DURATION} s, ${CONNS} connections; load average (1/5/15 min) at start ${loadStart}, at end ${load()}.`,
    '',
    '| target | CPU µs per call, median (runs) | of which redis-server | req/s median |',
    '|---|---:|---:|---:|',
    ...targets.map((t) => `| ${t.label} | ${median(t.runs.map((x) => x.cpuUs)).toFixed(1)} (${t.runs.map((x) => x.cpuUs.toFixed(0)).join(', ')}) | ${median(t.runs.map((x) => x.redisUs)).toFixed(1)} | ${median(t.runs.map((x) => x.rps)).toFixed(0)} |`),
    '',
    `Redis adds ${(median(ratios) * 100).toFixed(1)} % (median of the per-pair ratios: ${ratios.map((x) => (x * 100).toFixed(1)).join(', ')} %) to the CPU cost of a call; target <= 10 %.`,
  ];
  console.log('\n' + lines.join('\n'));
}

let LOAD_AT_START = '';
async function main() {
  if (process.env.BENCH_MODE === 'cost') return costOnly();
  LOAD_AT_START = (await import('node:os')).loadavg()[0].toFixed(1);
  const redis = await startRedis({ port: await freePort(), dir: path.join(work, 'redis'), stack });
  say(`phase 1: kill propagation over ${KILLS} kills (kill through replica A's admin API -> stream on replica B closed)`);
  const kp = await killPropagation(redis.port);
  const row = (xs) => `${pct(xs, 50).toFixed(1)} | ${pct(xs, 90).toFixed(1)} | ${pct(xs, 99).toFixed(1)} | ${Math.max(...xs).toFixed(1)}`;
  say(`  kill -> stream on B closed: p50 ${pct(kp.cut, 50).toFixed(1)} ms, p99 ${pct(kp.cut, 99).toFixed(1)} ms, max ${Math.max(...kp.cut).toFixed(1)} ms`);

  say(`phase 2: throughput (${RUNS} x ${DURATION} s, ${CONNS} connections, medians)`);
  const upstreamUrl = await startNullUpstream();
  const results = [];
  {
    const gw = await replica('file-1', { upstreamUrl });
    results.push(await measure('1 replica, state: file', gw.url('/mcp/bench'), [gw.child.pid]));
    await gw.stop();
  }
  {
    const gw = await replica('redis-1', { upstreamUrl, redisPort: redis.port, prefix: 'bench-1:' });
    results.push(await measure('1 replica, state: redis', gw.url('/mcp/bench'), [gw.child.pid, redis.child.pid], redis.child.pid));
    await gw.stop();
  }
  {
    const g1 = await replica('redis-2a', { upstreamUrl, redisPort: redis.port, prefix: 'bench-2:' });
    const g2 = await replica('redis-2b', { upstreamUrl, redisPort: redis.port, prefix: 'bench-2:' });
    const lb = await startNginx({ port: await freePort(), backends: [g1.port, g2.port], dir: path.join(work, 'lb'), stack });
    results.push(await measure('2 replicas behind nginx, state: redis', `${lb.base}/mcp/bench`, [g1.child.pid, g2.child.pid, redis.child.pid], redis.child.pid));
    await lb.stop();
    await g1.stop();
    await g2.stop();
  }
  const [file, red, two] = results;
  const cost = (1 / red.rps) / (1 / file.rps) - 1;
  const cpuCost = red.cpuUs / file.cpuUs - 1;
  const lines = [
    `# Scale-out benchmark, ${new Date().toISOString()}`,
    '',
    `Kill propagation (${KILLS} kills; kill sent to replica A's admin API -> stream on replica B closed), ms:`,
    '',
    '| measure | p50 | p90 | p99 | max |',
    '|---|---:|---:|---:|---:|',
    `| stream on B closed | ${row(kp.cut)} |`,
    `| admin answer on A | ${row(kp.answered)} |`,
    '',
    `Throughput (policy with a rate limit + audit ${AUDIT_ROOT.startsWith('/dev/shm') ? 'on tmpfs' : 'on disk'}, ${CONNS} connections, ${RUNS} x ${DURATION} s, medians; load average at start ${LOAD_AT_START}):`,
    '',
    '| target | req/s | p50 ms | p99 ms | errors | CPU µs per call (replicas + Redis) | of which redis-server |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...results.map((r) => `| ${r.label} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} | ${r.cpuUs.toFixed(0)} | ${r.redisUs.toFixed(1)} |`),
    '',
    `Redis adds ${(cpuCost * 100).toFixed(1)} % to the CPU cost of a call (replica + redis-server CPU per call against the file backend's; target <= 10 %); by throughput ${(cost * 100).toFixed(1)} %. Two replicas give ${(two.rps / red.rps).toFixed(2)}x one (on ${(await import('node:os')).cpus().length} CPUs shared by wrk, nginx, Redis and the replicas).`,
    `Kill propagation p99 ${pct(kp.cut, 99).toFixed(1)} ms (target <= 100 ms).`,
  ];
  console.log('\n' + lines.join('\n'));
  const out = path.join(BENCH, 'results');
  fs.mkdirSync(out, { recursive: true });
  const file_ = path.join(out, `replicas-${new Date().toISOString().slice(0, 10)}.md`);
  fs.writeFileSync(file_, lines.join('\n') + '\n');
  say(`written ${file_}`);
}

try {
  await main();
} finally {
  await stack.stopAll().catch(() => {});
}
