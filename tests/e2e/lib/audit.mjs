// Helpers for the audit end-to-end tests (audit.test.mjs): a policy that
// allows, denies and hides tools of the upstream fixture for the anonymous
// agent, a gateway config with policy + audit, reading the audit directory's
// segments, `portcullis audit verify`, tampering, and a small tmpfs for the
// disk-full test.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TMP_DIR, toYaml, writeTempFile } from './gateway.mjs';
import { runPortcullis } from './oauth.mjs';

export const SEGMENT_RE = /^audit-(\d{20})\.log$/;

/**
 * The policy used by the audit tests (the agent is "anonymous": no identity
 * configured, routes with auth: none; an unregistered agent's clearance is the
 * lowest level, so every classified tool is `public`):
 *   crm/echo          allowed for anyone                      (rule anyone-echo)
 *   crm/read_record   allowed for anyone when /limit <= 10    (rule small-reads); limit 50 => default deny
 *   crm/delete_record no rule: hidden (-32602 Unknown tool)
 */
export function auditPolicy({ version = 'e2e-audit-1' } = {}) {
  return {
    version,
    sensitivity_levels: ['public', 'internal', 'confidential', 'restricted'],
    default_sensitivity: 'public',
    tools: [
      { match: { upstream: 'crm', tool: 'echo' }, action: 'read', sensitivity: 'public' },
      { match: { upstream: 'crm', tool: 'read_*' }, action: 'read', sensitivity: 'public' },
      { match: { upstream: 'crm', tool: 'delete_*' }, action: 'delete', sensitivity: 'public' },
    ],
    rules: [
      { id: 'anyone-echo', effect: 'allow', agents: { any: true }, tools: { upstream: 'crm', tool: 'echo' } },
      {
        id: 'small-reads',
        effect: 'allow',
        agents: { any: true },
        tools: { upstream: 'crm', tool: 'read_record' },
        when: [{ argument: '/limit', max: 10 }],
      },
    ],
  };
}

export function writePolicyFile(policy = auditPolicy()) {
  return writeTempFile('policy.yaml', `# written by tests/e2e/lib/audit.mjs\n${toYaml(policy)}\n`);
}

/** A fresh Ed25519 key pair: {privatePem (PKCS#8), publicPem (SPKI), publicKeyFile}. */
export function auditSigningKey() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' });
  const publicKeyFile = writeTempFile('audit-signing.pub.pem', publicPem);
  return { privatePem, publicPem, publicKeyFile };
}

/** A new empty directory under .tmp/ (or under `parent`). */
export function makeAuditDir(name = 'audit', parent = TMP_DIR) {
  fs.mkdirSync(parent, { recursive: true });
  return fs.mkdtempSync(path.join(parent, `${process.pid}-${name}-`));
}

/**
 * The gateway config for the audit tests: one upstream `crm` at /mcp/crm with
 * auth: none, the policy file, and audit.dir. `audit` entries override
 * (on_failure, signing_key, checkpoint_every, ...).
 */
export function auditGatewayConfig({ upstreamUrl, policyFile, auditDir, audit = {}, server = {} }) {
  return {
    server: { ...server },
    upstreams: [{ name: 'crm', url: upstreamUrl, path: '/mcp/crm', auth: 'none' }],
    ...(policyFile ? { policy: { files: [policyFile], mode: 'enforce' } } : {}),
    audit: { dir: auditDir, on_failure: 'fail_closed', ...audit },
  };
}

/** The segment files of an audit dir, oldest first. */
export function segmentFiles(dir) {
  return fs
    .readdirSync(dir)
    .filter((f) => SEGMENT_RE.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/**
 * Every complete record of every segment, oldest first, each with `_file` and
 * `_line` (1-based). An unterminated last line (the log may be writing it) is
 * skipped; a complete line that is not JSON throws.
 */
export function readAuditRecords(dir) {
  const out = [];
  for (const file of segmentFiles(dir)) {
    const text = fs.readFileSync(file, 'utf8');
    const lines = text.split('\n');
    lines.pop(); // '' after the final \n, or an unterminated tail
    lines.forEach((line, i) => {
      let rec;
      try {
        rec = JSON.parse(line);
      } catch (e) {
        throw new Error(`${file}:${i + 1}: not JSON (${e.message}): ${line.slice(0, 200)}`);
      }
      Object.defineProperty(rec, '_file', { value: file, enumerable: false });
      Object.defineProperty(rec, '_line', { value: i + 1, enumerable: false });
      out.push(rec);
    });
  }
  return out;
}

export const decisionsOf = (records) => records.filter((r) => r.kind === 'decision');
export const outcomesOf = (records) => records.filter((r) => r.kind === 'outcome');

/** `portcullis audit verify DIR [--pubkey FILE]`: {code, stdout, stderr, ok}. */
export async function verifyAudit(dir, { pubkey, extraArgs = [] } = {}) {
  const args = ['audit', 'verify', dir, ...(pubkey ? ['--pubkey', pubkey] : []), ...extraArgs];
  const r = await runPortcullis(args, { timeoutMs: 60000 });
  return { ...r, ok: r.code === 0, args };
}

/** `portcullis audit tail DIR ...args`: the parsed JSON lines. */
export async function tailAudit(dir, args = []) {
  const r = await runPortcullis(['audit', 'tail', dir, ...args], { timeoutMs: 60000 });
  if (r.code !== 0) throw new Error(`audit tail exited ${r.code}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/**
 * Flips one byte of `record`'s line inside the value of `field` (a string
 * field of the record), in place in its segment. Returns {file, offset, before, after}.
 */
export function tamperRecordField(record, field) {
  const file = record._file;
  const buf = fs.readFileSync(file);
  // Byte offset of the record's line.
  let offset = 0;
  for (let line = 1; line < record._line; line++) {
    const nl = buf.indexOf(0x0a, offset);
    if (nl < 0) throw new Error(`${file}: line ${record._line} not found`);
    offset = nl + 1;
  }
  const end = buf.indexOf(0x0a, offset);
  const line = buf.subarray(offset, end).toString('utf8');
  const needle = `"${field}":${JSON.stringify(record[field])}`;
  const at = line.indexOf(needle);
  if (at < 0) throw new Error(`field ${field} not found verbatim in ${file}:${record._line}`);
  // The first character of the value inside its quotes (an ASCII letter or digit here).
  const pos = offset + Buffer.byteLength(line.slice(0, at + field.length + 4), 'utf8');
  const before = String.fromCharCode(buf[pos]);
  buf[pos] = before === 'x' ? 0x79 : 0x78; // 'x' (or 'y' if it already was an x): same length, same JSON validity
  fs.writeFileSync(file, buf);
  return { file, offset: pos, before, after: String.fromCharCode(buf[pos]) };
}

// ---- tmpfs for the disk-full test ----

/** Mounts a tmpfs of `size` (e.g. "256k") on `dir`. Returns null on success, the error text on failure. */
export function mountTmpfs(dir, size) {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    return null;
  } catch (e) {
    return String(e.stderr || e.message).trim() || 'mount failed';
  }
}

export function unmountTmpfs(dir) {
  try {
    execFileSync('umount', [dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    try {
      execFileSync('umount', ['-l', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch {}
  }
}

/**
 * Fills the file system holding `dir` with one file (`name`): writes chunks of
 * decreasing size until even a single byte gets ENOSPC. Returns the file's path
 * and the bytes written.
 */
export function fillFileSystem(dir, name = 'filler.bin') {
  const file = path.join(dir, name);
  const fd = fs.openSync(file, 'a');
  let written = 0;
  try {
    for (let chunk = 1 << 20; chunk >= 1; chunk >>= 1) {
      const buf = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        try {
          written += fs.writeSync(fd, buf);
        } catch (e) {
          if (e.code === 'ENOSPC') break;
          throw e;
        }
      }
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return { file, written };
}

/** statfs free bytes of the file system holding `dir`. */
export function freeBytes(dir) {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}
