// The quickstart demo (examples/quickstart/run.sh, what scripts/demo.sh runs)
// end to end, so it stays current: it must exit 0 and show what the README
// says it shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DIRECT, GATEWAY_BIN, REPO, TMP_DIR } from './lib/gateway.mjs';

test('the quickstart demo runs and shows allow, deny, a verified and a tampered log, and the kill switch', { skip: DIRECT, timeout: 180000 }, async () => {
  const run = path.join(TMP_DIR, `${process.pid}-demo`);
  fs.mkdirSync(TMP_DIR, { recursive: true });
  const child = spawn('bash', [path.join(REPO, 'examples', 'quickstart', 'run.sh')], {
    env: { ...process.env, PORTCULLIS_BIN: GATEWAY_BIN, DEMO_RUN: run },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise((resolve) => child.on('close', resolve));
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  assert.equal(code, 0, `run.sh exited ${code}:\n${plain}`);
  const want = [
    [/stored audit-signing-key version 1/, 'the signing key goes into the vault'],
    [/3 passed, 0 failed/, "check runs the policy's tests"],
    [/tools\/call read_record \{"id":"r-3"\} -> \{"id":"r-3"/, 'an allowed call reaches the CRM'],
    [/REFUSED: Denied by policy/, 'a call the policy denies'],
    [/Unknown tool: delete_record/, 'a tool the agent may not see'],
    [/seq \d+ +deny /, 'the audit trail lists the deny'],
    [/audit: instance portcullis: 1 segment\(s\), \d+ record\(s\) \(seq 1\.\.\d+\), [1-9]\d* checkpoint\(s\), last signed seq [1-9]\d*; trusted key: pinned key\(s\)/, 'verify checks a signed checkpoint with the pinned key'],
    [/FAILED: .*audit-tampered\/audit-\d+\.log: seq \d+: .*hash mismatch/, 'the edited copy fails at the edited record'],
    [/-32003.*stopped by kill switch/, 'the kill switch refuses the agent'],
    [/"lifted":true/, 'the kill switch is lifted'],
  ];
  for (const [re, what] of want) assert.match(plain, re, `${what}:\n${plain}`);
  // Verify passes on the real log (an OK line right after the pinned-key summary).
  assert.match(plain, /trusted key: pinned key\(s\) ed25519:[0-9a-f]+\nOK\n/, `verify OK on the untouched log:\n${plain}`);
  assert.doesNotMatch(plain, /authorization header seen: true/, 'the agent\'s Authorization header never reaches the CRM');
  // After the lift, the agent's call goes through again: the last read_record succeeds.
  const afterLift = plain.slice(plain.indexOf('Lifting the kill switch'));
  assert.match(afterLift, /tools\/call read_record \{"id":"r-3"\} -> \{"id":"r-3"/, `a call after the lift:\n${afterLift}`);
  fs.rmSync(run, { recursive: true, force: true });
});
