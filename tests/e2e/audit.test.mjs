// The audit log, end to end: the stock SDK Client through the gateway (policy
// + audit configured) to the SDK upstream fixture, then the records on disk
// and `portcullis audit verify`.
//
//   a. every decided call leaves exactly one decision record (and one outcome
//      record when forwarded) that matches what the agent saw; verify passes;
//      a flipped byte makes it fail naming the record
//   b. SIGKILL the gateway repeatedly under load: every call that reached the
//      upstream has a durable allow record, and the chain verifies after each restart
//   c. audit dir on a tiny tmpfs, filled: 503 / -32013, nothing forwarded
//      unrecorded, /readyz not ready; space freed: service resumes by itself
//
// Gateway-only: skipped with DIRECT=1. Test (c) needs `mount -t tmpfs` (root);
// it is skipped, saying why, when the mount fails.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DIRECT, Stack, TMP_DIR, exited, sleep, startGateway, startUpstream, stopGatewayCleanly } from './lib/gateway.mjs';
import { closeQuietly, connectClient, httpRequest, postJson } from './lib/mcp.mjs';
import {
  auditGatewayConfig,
  auditSigningKey,
  decisionsOf,
  fillFileSystem,
  makeAuditDir,
  mountTmpfs,
  outcomesOf,
  readAuditRecords,
  segmentFiles,
  tailAudit,
  tamperRecordField,
  unmountTmpfs,
  verifyAudit,
  writePolicyFile,
} from './lib/audit.mjs';

const SKIP = DIRECT ? 'DIRECT=1: the audit log is a gateway feature' : false;
const POLICY_VERSION = 'e2e-audit-1';
const DECISION_ID_RE = /decision ([0-9a-f]{32})\b/;

async function waitFor(fn, { timeoutMs = 10000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The tools/call requests the upstream received: [{nonce, name, id, body}] (nonce = arguments.text or .id). */
async function upstreamToolCalls(up) {
  const reqs = await up.requests();
  const out = [];
  for (const r of reqs) {
    if (r.method !== 'POST') continue;
    const msgs = Array.isArray(r.body) ? r.body : [r.body];
    for (const m of msgs) {
      if (m && typeof m === 'object' && m.method === 'tools/call') {
        out.push({ name: m.params?.name, args: m.params?.arguments ?? {}, id: m.id, nonce: m.params?.arguments?.text });
      }
    }
  }
  return out;
}

const textOf = (result) => (result?.content ?? []).map((c) => c.text ?? '').join('\n');
const brief = (r) =>
  JSON.stringify({ seq: r.seq, kind: r.kind, decision: r.decision, status: r.status, decision_id: r.decision_id, tool: r.tool, args: r.args_redacted, reason: r.reason, rules: r.rules });

/**
 * Runs one agent step; if it throws and the gateway process has died, says so
 * (with its exit signal and stderr tail) instead of a bare "fetch failed".
 */
async function step(gw, what, fn) {
  try {
    return await fn();
  } catch (e) {
    await sleep(200); // let the exit be noticed
    if (!gw.alive()) {
      throw new Error(
        `the gateway died (exit ${gw.child.exitCode ?? gw.child.signalCode}) during: ${what}; the client saw: ${e?.message ?? e}\n` +
          `gateway stderr tail:\n${gw.stderrLines.slice(-8).join('\n')}`,
        { cause: e },
      );
    }
    throw e;
  }
}

function verifyMessage(v) {
  return `\`portcullis ${v.args.join(' ')}\` exited ${v.code ?? v.signal}\nstdout:\n${v.stdout}\nstderr:\n${v.stderr}`;
}

describe('audit: records match what the agent saw, verify, tamper', { skip: SKIP, timeout: 120000 }, () => {
  const stack = new Stack();
  after(() => stack.stopAll());

  test('allowed, denied and hidden calls each leave exactly the right records; verify passes; one flipped byte fails it', async () => {
    const up = await startUpstream({ stack });
    const key = auditSigningKey();
    const auditDir = makeAuditDir('audit-a');
    const gw = await startGateway(
      auditGatewayConfig({
        upstreamUrl: up.url,
        policyFile: writePolicyFile(),
        auditDir,
        audit: { signing_key: key.privatePem },
      }),
      { stack },
    );
    const ready = await httpRequest(gw.url('/readyz'));
    assert.equal(ready.status, 200, `/readyz: ${ready.body}`);
    assert.equal(JSON.parse(ready.body).audit_writable, true, `/readyz: ${ready.body}`);

    const { client } = await connectClient(gw.url('/mcp/crm'), { name: 'audit-a' });
    try {
      const listed = (await step(gw, 'tools/list', () => client.listTools())).tools.map((t) => t.name).sort();
      assert.ok(listed.includes('echo') && listed.includes('read_record'), `tools/list: ${listed}`);
      assert.ok(!listed.includes('delete_record'), `delete_record must be hidden from the anonymous agent; tools/list: ${listed}`);

      // 1. allowed
      const nonce = `audit-a-${process.pid}-${Date.now()}`;
      const echoed = await step(gw, 'tools/call echo (allowed)', () => client.callTool({ name: 'echo', arguments: { text: nonce } }));
      assert.ok(!echoed.isError, `echo must be allowed: ${JSON.stringify(echoed)}`);
      assert.equal(textOf(echoed), nonce);

      // 2. allowed (rule with a condition that holds)
      const read = await step(gw, 'tools/call read_record limit 5 (allowed)', () => client.callTool({ name: 'read_record', arguments: { id: 'r-1', limit: 5 } }));
      assert.ok(!read.isError, `read_record limit 5 must be allowed: ${JSON.stringify(read)}`);

      // 3. denied by policy (condition /limit <= 10 fails => default deny)
      const denied = await step(gw, 'tools/call read_record limit 50 (denied)', () => client.callTool({ name: 'read_record', arguments: { id: 'r-2', limit: 50 } }));
      assert.equal(denied.isError, true, `read_record limit 50 must be denied: ${JSON.stringify(denied)}`);
      const m = DECISION_ID_RE.exec(textOf(denied));
      assert.ok(m, `the denial names the decision id: ${textOf(denied)}`);
      const deniedId = m[1];

      // 4. hidden tool
      let hiddenErr;
      try {
        await step(gw, 'tools/call delete_record (hidden)', () => client.callTool({ name: 'delete_record', arguments: { id: 'r-1' } }));
      } catch (e) {
        hiddenErr = e;
      }
      assert.ok(hiddenErr, 'calling a hidden tool must fail');
      assert.equal(hiddenErr.code, -32602, `hidden tool: ${hiddenErr}`);
      assert.match(String(hiddenErr.message), /Unknown tool: delete_record/);

      // What reached the upstream.
      const calls = await upstreamToolCalls(up);
      assert.deepEqual(
        calls.map((c) => `${c.name} ${JSON.stringify(c.args)}`).sort(),
        [`echo ${JSON.stringify({ text: nonce })}`, `read_record ${JSON.stringify({ id: 'r-1', limit: 5 })}`].sort(),
        'exactly the two allowed calls reached the upstream',
      );

      // Outcome records are appended after the answer; give them a moment.
      const records = await waitFor(
        () => {
          const recs = readAuditRecords(auditDir);
          return outcomesOf(recs).length >= 2 ? recs : null;
        },
        { what: 'two outcome records' },
      );
      await sleep(300); // anything late (a stray third outcome) would show up now
      const all = readAuditRecords(auditDir);
      const decisions = decisionsOf(all).filter((r) => r.method === 'tools/call');
      const outcomes = outcomesOf(all);
      const dump = () => all.map(brief).join('\n');
      assert.equal(decisions.length, 4, `exactly one decision record per tools/call (4):\n${dump()}`);
      assert.equal(new Set(decisions.map((d) => d.decision_id)).size, 4, `decision ids are unique:\n${dump()}`);
      assert.ok(records.length > 0);

      for (const d of decisions) {
        assert.equal(d.schema, 'portcullis.audit/v1');
        assert.equal(d.agent, 'anonymous', brief(d));
        assert.equal(d.upstream, 'crm', brief(d));
        assert.equal(d.policy?.version, POLICY_VERSION, brief(d));
        assert.equal(d.policy?.mode, 'enforce', brief(d));
        assert.match(String(d.policy?.revision), /\S/, `policy revision recorded: ${brief(d)}`);
        assert.match(String(d.args_hmac), /^hmac-sha256:/, brief(d));
      }
      const byTool = (tool, pred = () => true) => decisions.filter((d) => d.tool === tool && pred(d));

      const [dEcho] = byTool('echo');
      assert.ok(dEcho, `decision for echo:\n${dump()}`);
      assert.equal(dEcho.decision, 'allow');
      assert.deepEqual(dEcho.rules, ['anyone-echo']);
      assert.deepEqual(dEcho.args_redacted, { text: nonce });
      const [dRead] = byTool('read_record', (d) => d.args_redacted?.limit === 5);
      assert.ok(dRead, `decision for read_record limit 5:\n${dump()}`);
      assert.equal(dRead.decision, 'allow');
      assert.deepEqual(dRead.rules, ['small-reads']);

      const [dDenied] = byTool('read_record', (d) => d.args_redacted?.limit === 50);
      assert.ok(dDenied, `decision for read_record limit 50:\n${dump()}`);
      assert.equal(dDenied.decision, 'deny');
      assert.equal(dDenied.decision_id, deniedId, 'the id the agent saw is the record\'s decision_id');

      const [dHidden] = byTool('delete_record');
      assert.ok(dHidden, `decision for the hidden delete_record:\n${dump()}`);
      assert.equal(dHidden.decision, 'deny');
      assert.match(String(dHidden.reason), /not visible/);

      // One outcome per forwarded call, none for refused ones.
      const outcomesFor = (d) => outcomes.filter((o) => o.decision_id === d.decision_id);
      for (const d of [dEcho, dRead]) {
        const os = outcomesFor(d);
        assert.equal(os.length, 1, `one outcome for ${d.tool} (${d.decision_id}):\n${dump()}`);
        assert.equal(os[0].status, 'ok', brief(os[0]));
        assert.equal(os[0].http_status, 200, brief(os[0]));
        assert.ok(os[0].seq > d.seq, 'the outcome follows its decision in the chain');
      }
      for (const d of [dDenied, dHidden]) assert.equal(outcomesFor(d).length, 0, `no outcome for refused ${d.tool}:\n${dump()}`);
      assert.equal(outcomes.length, 2, `exactly two outcome records:\n${dump()}`);

      // `audit tail` shows the same (newest first).
      const tail = await tailAudit(auditDir, ['--limit', '10']);
      assert.ok(tail.some((r) => r.decision_id === deniedId && r.decision === 'deny'), `audit tail shows the denial: ${JSON.stringify(tail)}`);
    } finally {
      await closeQuietly(client);
    }

    await stopGatewayCleanly(assert, gw);

    const v1 = await verifyAudit(auditDir, { pubkey: key.publicKeyFile });
    assert.equal(v1.code, 0, verifyMessage(v1));
    assert.match(v1.stdout, /^OK$/m, verifyMessage(v1));
    assert.doesNotMatch(v1.stdout, /unsigned tail/, `a clean shutdown ends with a checkpoint:\n${v1.stdout}`);
    const v2 = await verifyAudit(auditDir); // trusting the directory's own audit-pubkey.pem
    assert.equal(v2.code, 0, verifyMessage(v2));
    const wrongKey = auditSigningKey();
    const v3 = await verifyAudit(auditDir, { pubkey: wrongKey.publicKeyFile });
    assert.equal(v3.code, 1, `pinning another key must fail:\n${verifyMessage(v3)}`);

    // Flip one byte of the allowed echo call's decision record (its tool name).
    const target = decisionsOf(readAuditRecords(auditDir)).find((r) => r.tool === 'echo');
    const t = tamperRecordField(target, 'tool');
    const v4 = await verifyAudit(auditDir, { pubkey: key.publicKeyFile });
    assert.equal(v4.code, 1, `a flipped byte (${t.before}->${t.after} at ${t.file}:${t.offset}) must fail verify:\n${verifyMessage(v4)}`);
    const failed = v4.stdout.split('\n').find((l) => l.startsWith('FAILED: '));
    assert.ok(failed, `a FAILED: line:\n${verifyMessage(v4)}`);
    assert.ok(failed.includes(path.basename(target._file)), `names the segment ${path.basename(target._file)}: ${failed}`);
    assert.match(failed, new RegExp(`\\bseq ${target.seq}\\b`), `names seq ${target.seq}: ${failed}`);
  });
});

describe('audit: no policy', { skip: SKIP, timeout: 60000 }, () => {
  const stack = new Stack();
  after(() => stack.stopAll());

  test('without a policy every forwarded call still leaves one allow decision and one outcome record', async () => {
    const up = await startUpstream({ stack });
    const auditDir = makeAuditDir('audit-nopolicy');
    const gw = await startGateway(auditGatewayConfig({ upstreamUrl: up.url, policyFile: null, auditDir }), { stack });
    const { client } = await connectClient(gw.url('/mcp/crm'), { name: 'audit-nopolicy' });
    const nonces = [1, 2, 3].map((i) => `nopolicy-${process.pid}-${i}`);
    try {
      for (const text of nonces) {
        const r = await step(gw, 'tools/call echo', () => client.callTool({ name: 'echo', arguments: { text } }));
        assert.equal(textOf(r), text);
      }
    } finally {
      await closeQuietly(client);
    }
    const all = await waitFor(
      () => {
        const recs = readAuditRecords(auditDir);
        return outcomesOf(recs).length >= 3 ? recs : null;
      },
      { what: 'three outcome records' },
    );
    const dump = () => all.map(brief).join('\n');
    const decisions = decisionsOf(all).filter((r) => r.method === 'tools/call');
    assert.deepEqual(decisions.map((d) => d.args_redacted?.text), nonces, `one decision record per call, in order:\n${dump()}`);
    for (const d of decisions) {
      assert.equal(d.decision, 'allow', brief(d));
      assert.match(String(d.reason), /no policy/, brief(d));
      const os = outcomesOf(all).filter((o) => o.decision_id === d.decision_id);
      assert.equal(os.length, 1, `one outcome for ${d.decision_id}:\n${dump()}`);
      assert.ok(os[0].seq > d.seq, 'the outcome follows its decision');
    }
    // Each durable batch is timed in portcullis_audit_write_duration_seconds.
    const metrics = await httpRequest(gw.url('/metrics'));
    const writes = /^portcullis_audit_write_duration_seconds_count (\d+)/m.exec(metrics.body);
    assert.ok(writes && Number(writes[1]) >= 1, `audit batches counted: ${metrics.body.split('\n').filter((l) => l.includes('audit')).join(' | ')}`);
    await stopGatewayCleanly(assert, gw);
    const v = await verifyAudit(auditDir);
    assert.equal(v.code, 0, verifyMessage(v));
  });
});

describe('audit: SIGKILL under load', { skip: SKIP, timeout: 300000 }, () => {
  const stack = new Stack();
  after(() => stack.stopAll());

  test('every call that reached the upstream has a durable allow record; the chain verifies after every restart', async () => {
    const KILLS = Number(process.env.E2E_AUDIT_KILLS || 5);
    const CLIENTS = 4;
    const up = await startUpstream({ stack });
    const key = auditSigningKey();
    const auditDir = makeAuditDir('audit-b');
    const config = auditGatewayConfig({
      upstreamUrl: up.url,
      policyFile: writePolicyFile(),
      auditDir,
      // Preallocated: a kill leaves zeros after the last record, which the
      // verifier must accept and the next start must cut.
      audit: { signing_key: key.privatePem, preallocate: true },
    });
    let gw = await startGateway(config, { stack });
    config.server.listen = gw.config.server.listen; // restart on the same port
    const mcpUrl = gw.url('/mcp/crm');

    // Clients: call echo with a unique nonce, forever; on any error, reconnect.
    const acked = new Map(); // nonce -> gateway generation that answered it
    const failedCalls = [];
    let generation = 0;
    let running = true;
    let seqNo = 0;
    const loops = [];
    for (let c = 0; c < CLIENTS; c++) {
      loops.push(
        (async () => {
          let conn = null;
          while (running) {
            try {
              conn ??= await connectClient(mcpUrl, { name: `audit-crash-${c}` });
              const nonce = `crash-${process.pid}-c${c}-${++seqNo}`;
              const gen = generation;
              try {
                const r = await conn.client.callTool({ name: 'echo', arguments: { text: nonce } }, undefined, { timeout: 15000 });
                if (r.isError || textOf(r) !== nonce) failedCalls.push({ nonce, why: `unexpected result ${JSON.stringify(r)}` });
                else acked.set(nonce, gen);
              } catch (e) {
                failedCalls.push({ nonce, why: String(e?.message ?? e) });
                throw e;
              }
            } catch {
              await closeQuietly(conn?.client);
              conn = null;
              await sleep(50);
            }
          }
          await closeQuietly(conn?.client);
        })(),
      );
    }

    const check = async (when) => {
      // Upstream first: every one of these was forwarded, so its record was
      // durable before; reading the log afterwards must find it.
      const calls = (await upstreamToolCalls(up)).filter((c) => c.name === 'echo' && String(c.nonce).startsWith('crash-'));
      const decisions = decisionsOf(readAuditRecords(auditDir)).filter((d) => d.tool === 'echo');
      const byNonce = new Map();
      for (const d of decisions) {
        const n = d.args_redacted?.text;
        byNonce.set(n, [...(byNonce.get(n) ?? []), d]);
      }
      const missing = calls.filter((c) => !(byNonce.get(c.nonce) ?? []).some((d) => d.decision === 'allow'));
      assert.equal(missing.length, 0, `${when}: ${missing.length} of ${calls.length} calls reached the upstream without a durable allow record, e.g. ${JSON.stringify(missing.slice(0, 5))}`);
      const dup = [...byNonce].filter(([, ds]) => ds.length > 1);
      assert.equal(dup.length, 0, `${when}: one decision per call, but: ${JSON.stringify(dup.slice(0, 3).map(([n, ds]) => [n, ds.map(brief)]))}`);
      const unforwardedAcks = [...acked.keys()].filter((n) => !calls.some((c) => c.nonce === n));
      assert.equal(unforwardedAcks.length, 0, `${when}: answered calls that the upstream never saw: ${unforwardedAcks.slice(0, 5)}`);
      return { upstreamCalls: calls.length, decisions: decisions.length };
    };

    // True once 10 more calls were answered; throws if the gateway died by itself.
    const servedOrDied = (before) => {
      if (!gw.alive()) {
        const last = failedCalls.at(-1);
        throw new Error(
          `the gateway died on its own (exit ${gw.child.exitCode ?? gw.child.signalCode}) in generation ${generation}; ` +
            `last failed call: ${JSON.stringify(last)}\ngateway stderr tail:\n${gw.stderrLines.slice(-8).join('\n')}`,
        );
      }
      return acked.size >= before + 10;
    };
    const stats = [];
    let zeroTails = 0; // kills that left the open segment ending in preallocated zeros
    try {
      for (let k = 1; k <= KILLS; k++) {
        // Let this generation serve some calls, then kill it at a random moment.
        const before = acked.size;
        await waitFor(() => servedOrDied(before), { timeoutMs: 60000, intervalMs: 20, what: `10 answered calls in generation ${generation}` });
        await sleep(Math.floor(Math.random() * 700));
        const exit = new Promise((resolve) => (exited(gw.child) ? resolve() : gw.child.once('exit', resolve)));
        gw.child.kill('SIGKILL');
        await exit;

        const atKill = await check(`after SIGKILL #${k}`);
        const lastSeg = segmentFiles(auditDir).at(-1);
        const tail = fs.readFileSync(lastSeg);
        if (tail.length > 0 && tail[tail.length - 1] === 0) zeroTails++;
        const vDown = await verifyAudit(auditDir, { pubkey: key.publicKeyFile });
        assert.equal(vDown.code, 0, `after SIGKILL #${k} (gateway down): ${verifyMessage(vDown)}`);

        generation++;
        gw = await startGateway(config, { stack });
        const vUp = await verifyAudit(auditDir, { pubkey: key.publicKeyFile });
        assert.equal(vUp.code, 0, `after restart #${k} (gateway running): ${verifyMessage(vUp)}`);
        stats.push({ kill: k, ...atKill, acked: acked.size });
      }
      const before = acked.size;
      await waitFor(() => servedOrDied(before), { timeoutMs: 60000, intervalMs: 20, what: 'calls after the last restart' });
    } finally {
      running = false;
      await Promise.allSettled(loops);
    }
    await stopGatewayCleanly(assert, gw);
    const final = await check('after the final clean stop');
    const v = await verifyAudit(auditDir, { pubkey: key.publicKeyFile });
    assert.equal(v.code, 0, `final: ${verifyMessage(v)}`);
    assert.doesNotMatch(v.stdout, /unsigned tail/, `a clean shutdown ends with a checkpoint:\n${v.stdout}`);
    const segs = segmentFiles(auditDir).length;
    assert.ok(segs >= KILLS + 1, `a new segment per start: ${segs}`);
    assert.ok(zeroTails > 0, `no kill left preallocated zeros after the records (${KILLS} kills)`);
    const withZeros = segmentFiles(auditDir).filter((f) => fs.readFileSync(f).includes(0));
    assert.deepEqual(withZeros, [], 'every segment is plain JSON lines again after the restarts and the clean stop');
    // Every answered call was also allowed in the log (it had to be, to be forwarded).
    const allowed = new Set(decisionsOf(readAuditRecords(auditDir)).filter((d) => d.decision === 'allow').map((d) => d.args_redacted?.text));
    const notLogged = [...acked.keys()].filter((n) => !allowed.has(n));
    assert.equal(notLogged.length, 0, `answered but not recorded: ${notLogged.slice(0, 5)}`);
    console.log(
      `# audit crash: ${KILLS} SIGKILLs, ${acked.size} answered calls, ${final.upstreamCalls} reached the upstream, ` +
        `${final.decisions} echo decisions, ${failedCalls.length} failed (in flight at a kill or during restart), ${segs} segments; ` +
        `per kill ${JSON.stringify(stats)}`,
    );
  });
});

describe('audit: disk full', { skip: SKIP, timeout: 180000 }, () => {
  const stack = new Stack();
  after(() => stack.stopAll());

  test('a full audit disk refuses calls with 503/-32013 and forwards nothing; freeing space resumes service by itself', async (t) => {
    const mnt = path.join(TMP_DIR, `${process.pid}-auditfs`);
    const mountError = mountTmpfs(mnt, '1m');
    if (mountError) {
      t.skip(`SKIPPED: cannot mount a tmpfs for the disk-full test (needs root / CAP_SYS_ADMIN): ${mountError}`);
      return;
    }
    stack.add(() => unmountTmpfs(mnt));
    const auditDir = path.join(mnt, 'audit');
    fs.mkdirSync(auditDir);

    const up = await startUpstream({ stack });
    const key = auditSigningKey();
    const gw = await startGateway(
      auditGatewayConfig({
        upstreamUrl: up.url,
        policyFile: writePolicyFile(),
        auditDir,
        audit: { signing_key: key.privatePem, on_failure: 'fail_closed' },
      }),
      { stack },
    );
    const readyz = async () => {
      const r = await httpRequest(gw.url('/readyz'));
      return { status: r.status, body: JSON.parse(r.body) };
    };
    assert.deepEqual(
      await readyz().then((r) => [r.status, r.body.audit_writable]),
      [200, true],
      '/readyz before the disk fills',
    );

    const { client, transport } = await connectClient(gw.url('/mcp/crm'), { name: 'audit-diskfull' });
    let n = 0;
    const call = async () => {
      const nonce = `full-${process.pid}-${++n}`;
      try {
        const r = await client.callTool({ name: 'echo', arguments: { text: nonce } }, undefined, { timeout: 15000 });
        return { nonce, ok: !r.isError && textOf(r) === nonce, result: r };
      } catch (e) {
        return { nonce, ok: false, error: e, status: e?.code, message: String(e?.message ?? e) };
      }
    };
    try {
      const first = await step(gw, 'the first tools/call echo', async () => {
        const r = await call();
        if (r.error) throw r.error;
        return r;
      });
      assert.ok(first.ok, `a call before the disk fills: ${JSON.stringify(first.result)}`);

      const filler = fillFileSystem(mnt);
      // The open segment may still have room in its last page: a few calls can
      // succeed. Call until one is refused.
      const afterFill = [];
      let refused = null;
      for (let i = 0; i < 200 && !refused; i++) {
        const r = await call();
        afterFill.push(r);
        if (!r.ok) refused = r;
      }
      assert.ok(refused, `no call was refused after filling the disk (${filler.written} bytes written); ${afterFill.length} calls succeeded`);
      assert.equal(refused.status, 503, `first refused call: HTTP ${refused.status}: ${refused.message}`);
      assert.match(refused.message, /-32013/, `the 503 body carries JSON-RPC error -32013: ${refused.message}`);

      const upstreamAtRefusal = (await upstreamToolCalls(up)).length;

      // While the disk stays full: refused every time, exactly, with nothing forwarded.
      for (let i = 0; i < 5; i++) {
        const r = await call();
        assert.equal(r.ok, false, `call ${r.nonce} while the audit disk is full must be refused`);
        assert.equal(r.status, 503, `call ${r.nonce}: ${r.message}`);
      }
      const raw = await postJson(
        gw.url('/mcp/crm'),
        { jsonrpc: '2.0', id: 'raw-full-1', method: 'tools/call', params: { name: 'echo', arguments: { text: `full-${process.pid}-raw` } } },
        { sessionId: transport.sessionId, protocolVersion: transport.protocolVersion },
      );
      assert.equal(raw.status, 503, `raw tools/call while full: ${raw.status} ${raw.body}`);
      const body = JSON.parse(raw.body);
      assert.equal(body.jsonrpc, '2.0', raw.body);
      assert.equal(body.error?.code, -32013, raw.body);
      assert.ok(body.id === 'raw-full-1' || body.id === null, `id: ${raw.body}`);
      await sleep(1500); // a recovery probe or two run (and fail) meanwhile
      const r2 = await call();
      assert.equal(r2.status, 503, `still refused after a failed recovery probe: ${r2.message}`);
      const rz = await readyz();
      assert.equal(rz.status, 503, `/readyz while the audit disk is full: ${JSON.stringify(rz)}`);
      assert.equal(rz.body.audit_writable, false, `/readyz: ${JSON.stringify(rz)}`);
      const upstreamWhileFull = await upstreamToolCalls(up);
      assert.equal(upstreamWhileFull.length, upstreamAtRefusal, `nothing forwarded while refused: ${JSON.stringify(upstreamWhileFull.slice(upstreamAtRefusal))}`);

      // Whatever did reach the upstream has its allow record.
      const recsFull = decisionsOf(readAuditRecords(auditDir));
      for (const c of upstreamWhileFull) {
        assert.ok(
          recsFull.some((d) => d.decision === 'allow' && d.args_redacted?.text === c.nonce),
          `forwarded call ${c.nonce} has no durable allow record`,
        );
      }

      // Free the space: the log recovers on its own (probe every second).
      fs.unlinkSync(filler.file);
      const t0 = Date.now();
      const back = await waitFor(
        async () => {
          const r = await call();
          return r.ok ? r : null;
        },
        { timeoutMs: 15000, intervalMs: 250, what: 'a successful call after freeing space' },
      );
      const recoveredMs = Date.now() - t0;
      const rz2 = await readyz();
      assert.equal(rz2.status, 200, `/readyz after recovery: ${JSON.stringify(rz2)}`);
      assert.equal(rz2.body.audit_writable, true);
      for (let i = 0; i < 3; i++) {
        const r = await call();
        assert.ok(r.ok, `call after recovery: ${r.message ?? JSON.stringify(r.result)}`);
      }
      const upstreamAfter = await upstreamToolCalls(up);
      assert.ok(upstreamAfter.some((c) => c.nonce === back.nonce), 'the call after recovery was forwarded');
      console.log(
        `# audit disk full: ${afterFill.length - 1} call(s) succeeded after filling, then refused; recovered ${recoveredMs} ms after freeing space`,
      );
    } finally {
      await closeQuietly(client);
    }
    await stopGatewayCleanly(assert, gw);

    const recs = readAuditRecords(auditDir);
    const failures = recs.filter((r) => r.kind === 'audit_failure');
    assert.ok(
      failures.some((r) => r.reason === 'write_failed'),
      `an audit_failure record (reason write_failed) describes the gap: ${JSON.stringify(failures)}`,
    );
    const allowed = new Set(decisionsOf(recs).filter((d) => d.decision === 'allow').map((d) => d.args_redacted?.text));
    const unrecorded = (await upstreamToolCalls(up)).filter((c) => !allowed.has(c.nonce));
    assert.equal(unrecorded.length, 0, `forwarded without a durable allow record: ${JSON.stringify(unrecorded)}`);
    const v = await verifyAudit(auditDir, { pubkey: key.publicKeyFile });
    assert.equal(v.code, 0, verifyMessage(v));
  });
});
