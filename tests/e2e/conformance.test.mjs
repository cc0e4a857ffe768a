// The official MCP conformance suite (@modelcontextprotocol/conformance,
// server mode, the active scenarios) through the gateway, against the
// project's own fixture upstream: runs conformance/run.sh (which installs its
// own pinned packages, including the Node 22 the suite needs) and expects
// every check to pass; then the frozen 2026-07-28 requirement set
// (`--requirements 2026-07-28`, against the SDK 2.x fixture
// conformance/fixture-server-2026.mjs), where every scored scenario must pass
// and only the unscored tasks extension (not implemented by the fixture) may
// fail. See conformance/README.md.
//
// With DIRECT=1 the suite is pointed at the fixture itself
// (CONFORMANCE_DIRECT=1); dns-rebinding-protection is then expected to fail,
// since the gateway is the one that checks Origin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { DIRECT, E2E_DIR, gatewayAvailable } from './lib/gateway.mjs';

function runConformance(args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(E2E_DIR, 'conformance', 'run.sh'), args, {
      cwd: E2E_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(DIRECT ? { CONFORMANCE_DIRECT: '1' } : {}) },
      detached: true, // its own process group, so a timeout can take down the whole tree
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    // npm ci on a cold cache plus the suite on a loaded 2-core machine: be generous.
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, 540_000);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

test(
  'MCP conformance suite (server, active scenarios) through the gateway',
  { timeout: 600_000, skip: !DIRECT && !gatewayAvailable() && 'gateway binary not built' },
  async (t) => {
    const r = await runConformance();
    const summary = r.out.slice(r.out.lastIndexOf('=== SUMMARY ==='));
    t.diagnostic(summary.trim().split('\n').filter((l) => !l.startsWith('✓')).join('\n'));
    const failed = summary.split('\n').filter((l) => l.startsWith('✗'));
    if (DIRECT) {
      assert.deepEqual(
        failed.map((l) => l.slice(2).split(':')[0]),
        ['dns-rebinding-protection'],
        `DIRECT: only dns-rebinding-protection may fail (the fixture has no Origin check).\n${r.out.slice(-4000)}`,
      );
      return;
    }
    assert.ok(summary.startsWith('=== SUMMARY ==='), `the suite printed a summary (exit ${r.code ?? r.signal}):\n${r.out.slice(-4000)}`);
    assert.deepEqual(failed, [], `failing scenarios:\n${failed.join('\n')}\n\n${r.out.slice(-6000)}`);
    assert.match(summary, /^Total: \d+ passed, 0 failed$/m);
    assert.equal(r.code, 0, `conformance/run.sh exit code (signal ${r.signal}):\n${r.out.slice(-3000)}`);
  },
);

test(
  'MCP conformance suite, 2026-07-28 requirement set, through the gateway',
  { timeout: 600_000, skip: !DIRECT && !gatewayAvailable() && 'gateway binary not built' },
  async (t) => {
    const r = await runConformance(['--requirements', '2026-07-28']);
    const at = r.out.lastIndexOf('=== SUMMARY ===');
    assert.ok(at >= 0, `the suite printed a summary (exit ${r.code ?? r.signal}):\n${r.out.slice(-4000)}`);
    const summary = r.out.slice(at);
    t.diagnostic(summary.trim().split('\n').filter((l) => !l.startsWith('✓')).join('\n'));
    const failed = summary
      .split('\n')
      .filter((l) => l.startsWith('✗'))
      .map((l) => l.slice(2).split(':')[0]);
    // "Not scored" lists the scenarios that do not count for the revision.
    const unscored = new Set(
      summary
        .split('\n')
        .map((l) => /^\s+[✓✗] (\S+) \((extension|pending|added-after-release)\)/.exec(l)?.[1])
        .filter(Boolean),
    );
    const expected = DIRECT ? ['dns-rebinding-protection'] : [];
    const scoredFailures = failed.filter((n) => !unscored.has(n) && !expected.includes(n));
    assert.deepEqual(scoredFailures, [], `scored 2026-07-28 scenarios failing:\n${r.out.slice(-6000)}`);
    assert.deepEqual(
      failed.filter((n) => unscored.has(n) && !n.startsWith('tasks-')),
      [],
      'among the unscored scenarios only the tasks extension (not implemented by the fixture) may fail',
    );
    if (!DIRECT) assert.equal(r.code, 0, `conformance/run.sh exit code (signal ${r.signal}):\n${r.out.slice(-3000)}`);
  },
);
