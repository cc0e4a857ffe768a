// Runs the official MCP conformance suite (server mode) through the gateway:
// fixture-server.mjs (fixture-server-2026.mjs for `--requirements 2026-07-28`
// or `--spec-version 2026-07-28`) <- Portcullis (route /mcp/conformance, auth: none) <-
// `conformance server --url http://localhost:<port>/mcp/conformance`.
//
// Started by run.sh with the Node 22 of node_modules (the suite needs Node >= 22).
// Arguments after the script are passed to `conformance server` (for example
// `--scenario tools-call-sampling`, `--suite pending`, `--verbose`).
//
// Environment: PORTCULLIS_BIN (default <repo>/build/portcullis), E2E_VERBOSE=1,
// E2E_TMP_DIR (set by run.sh; the gateway's config and log go there, the
// suite's checks.json files under <tmp>/conformance-results/),
// CONFORMANCE_EXPECTED_FAILURES=<yaml> (passed as --expected-failures),
// CONFORMANCE_DIRECT=1 (no gateway: the suite talks to the fixture itself,
// to check the fixture; dns-rebinding-protection then fails, the fixture has
// no Host/Origin check of its own).
//
// Prints the suite's output, then its SUMMARY again with the gateway's log
// path; exits with the suite's exit code (1 when a check failed), or 2 when
// the stack could not start or the gateway did not stop cleanly.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO, Stack, TMP_DIR, freePort, spawnListening, startGateway } from '../lib/gateway.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
// CONFORMANCE_JS: another build of the suite's dist/index.js (to try other versions).
const CONFORMANCE = process.env.CONFORMANCE_JS || path.join(HERE, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const DIRECT = process.env.CONFORMANCE_DIRECT === '1';
const ROUTE = '/mcp/conformance';

const stack = new Stack();
let gateway = null;

function runSuite(url, extraArgs, outDir) {
  const args = [CONFORMANCE, 'server', '--url', url, '-o', outDir, ...extraArgs];
  if (process.env.CONFORMANCE_EXPECTED_FAILURES) args.push('--expected-failures', process.env.CONFORMANCE_EXPECTED_FAILURES);
  console.log(`conformance: node ${process.version}: conformance ${args.slice(1).join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: HERE, stdio: ['ignore', 'pipe', 'pipe'] });
    stack.add(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      process.stdout.write(c);
    });
    child.stderr.on('data', (c) => {
      out += c;
      process.stderr.write(c);
    });
    child.once('exit', (code, signal) => resolve({ code: code ?? 128, signal, out }));
  });
}

async function main() {
  // Revision 2026-07-28 (stateless) runs against the SDK 2.x fixture.
  const args = process.argv.slice(2);
  const modern = args.some((a, i) => (a === '--requirements' || a === '--spec-version') && args[i + 1] === '2026-07-28');
  const fixtureScript = modern ? 'fixture-server-2026.mjs' : 'fixture-server.mjs';
  const fixture = await spawnListening(path.join(HERE, fixtureScript), ['--port', '0'], { name: 'conformance-fixture', timeoutMs: 60000 });
  stack.add(async () => {
    fixture.child.kill('SIGTERM');
  });
  const upstreamUrl = `http://127.0.0.1:${fixture.port}/mcp`;

  let url;
  if (DIRECT) {
    url = `http://localhost:${fixture.port}/mcp`;
  } else {
    // The dns-rebinding scenario needs a localhost URL and checks that a
    // localhost Origin is accepted and a foreign one refused with a 4xx.
    const port = await freePort();
    gateway = await startGateway(
      {
        server: {
          listen: `127.0.0.1:${port}`,
          allowed_origins: [`http://localhost:${port}`, `http://127.0.0.1:${port}`],
        },
        upstreams: [{ name: 'conformance', url: upstreamUrl, path: ROUTE, auth: 'none' }],
      },
      { stack, timeoutMs: 60000 },
    );
    url = `http://localhost:${port}${ROUTE}`;
    console.log(`conformance: gateway on 127.0.0.1:${port} (config ${path.relative(REPO, gateway.configFile)}), upstream fixture ${upstreamUrl}`);
  }

  const outDir = path.join(TMP_DIR, 'conformance-results');
  fs.mkdirSync(outDir, { recursive: true });
  const suite = await runSuite(url, process.argv.slice(2), outDir);

  let rc = suite.code;
  // The whole suite ends with `=== SUMMARY ===`, one --scenario with `Test Results:`.
  const at = Math.max(suite.out.lastIndexOf('=== SUMMARY ==='), suite.out.lastIndexOf('Test Results:'));
  const summary = at >= 0 ? suite.out.slice(at) : '';
  const failed = summary
    .split('\n')
    .filter((l) => l.startsWith('✗'))
    .map((l) => l.slice(2).split(':')[0]);

  if (gateway) {
    const alive = gateway.alive();
    const r = await gateway.stop();
    const sanitizer = gateway.stderrLines.find((l) => /ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error: /.test(l));
    if (!alive || !r.graceful || r.code !== 0 || sanitizer) {
      console.log(`conformance: the gateway did not stop cleanly (alive before stop: ${alive}, exit ${JSON.stringify(r)})${sanitizer ? `; sanitizer: ${sanitizer}` : ''}`);
      if (rc === 0) rc = 2;
    }
  }

  console.log('');
  console.log(`conformance: ${DIRECT ? 'DIRECT (no gateway)' : `through Portcullis at ${url}`}`);
  if (failed.length) console.log(`conformance: failing scenarios: ${failed.join(', ')}`);
  console.log(`conformance: checks.json per scenario under ${path.relative(REPO, outDir)}`);
  if (gateway) console.log(`conformance: gateway log ${path.relative(REPO, gateway.logFile)}`);
  if (!summary) {
    console.log('conformance: no SUMMARY (or Test Results) in the suite output');
    if (rc === 0) rc = 2;
  }
  console.log(`conformance: exit ${rc}`);
  return rc;
}

let rc = 2;
try {
  rc = await main();
} catch (e) {
  console.error(`conformance: ${e?.stack ?? e}`);
  if (gateway) console.error(`conformance: gateway log ${gateway.logFile}`);
} finally {
  await stack.stopAll().catch(() => {});
}
process.exit(rc);
