// A minimal token issuer for the JWT variants of bench/run.sh: serves one
// RS256 public key at /jwks and writes COUNT distinct access tokens (RFC 9068
// at+jwt, audience AUD, valid for an hour) to OUT, one per line. Node's own
// crypto only: the benchmark must not depend on the e2e harness's packages.
//
//   node bench/jwt/issuer.mjs PORT AUD COUNT OUT     prints READY when serving
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';

const [port, aud, count, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: issuer.mjs PORT AUD COUNT OUT');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench-1', alg: 'RS256', use: 'sig' };
const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const header = b64({ alg: 'RS256', typ: 'at+jwt', kid: 'bench-1' });
const now = Math.floor(Date.now() / 1000);
const tokens = [];
for (let i = 0; i < Number(count); i++) {
  const payload = b64({
    iss: issuer, aud, sub: 'bench-agent', client_id: 'bench-agent', scope: 'mcp',
    iat: now, exp: now + 3600, jti: randomUUID(),
  });
  const input = `${header}.${payload}`;
  tokens.push(`${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`);
}
writeFileSync(out, tokens.join('\n') + '\n');

const jwks = JSON.stringify({ keys: [jwk] });
http
  .createServer((req, res) => {
    if (req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' });
      res.end(jwks);
    } else if (req.url === '/healthz') {
      res.end('ok');
    } else {
      res.writeHead(404).end();
    }
  })
  .listen(Number(port), '127.0.0.1', () => console.log('READY'));
