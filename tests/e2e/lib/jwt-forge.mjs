// Hand-made compact JWS for the identity tests: any header and payload text
// (duplicate keys, odd spellings), signed with node:crypto by any algorithm,
// or not at all. Nothing here validates anything: it is the attacker's kit.
import crypto from 'node:crypto';

export const b64u = (x) => Buffer.from(x).toString('base64url');
export const now = () => Math.floor(Date.now() / 1000);

const HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

/**
 * A signing function for `alg` with `key` (a KeyObject, or for HS* a secret:
 * string/Buffer). Returns (signingInput: Buffer) => Buffer.
 */
export function signer(alg, key) {
  const bits = alg.slice(2);
  if (alg.startsWith('RS')) return (input) => crypto.sign(HASH[bits], input, key);
  if (alg.startsWith('PS')) {
    return (input) =>
      crypto.sign(HASH[bits], input, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 });
  }
  if (alg.startsWith('ES')) return (input) => crypto.sign(HASH[bits], input, { key, dsaEncoding: 'ieee-p1363' });
  if (alg.startsWith('HS')) return (input) => crypto.createHmac(HASH[bits], key).update(input).digest();
  if (alg === 'EdDSA') return (input) => crypto.sign(null, input, key);
  throw new Error(`signer: no algorithm ${alg}`);
}

/**
 * header, payload: objects (JSON.stringify'd) or raw strings (sent as they
 * are, e.g. with duplicate keys). sign: a function from signer(), a Buffer
 * (a fixed signature), or null (empty signature part).
 */
export function forge(header, payload, sign = null) {
  const h = typeof header === 'string' ? header : JSON.stringify(header);
  const p = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const input = `${b64u(h)}.${b64u(p)}`;
  let sig = '';
  if (typeof sign === 'function') sig = b64u(sign(Buffer.from(input)));
  else if (Buffer.isBuffer(sign)) sig = b64u(sign);
  return `${input}.${sig}`;
}

/** Key pairs with their public JWK (kid, alg, use set). */
export function keyPair(kind, kid, alg) {
  let pair;
  if (kind === 'rsa') pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  else if (kind === 'ed25519') pair = crypto.generateKeyPairSync('ed25519');
  else pair = crypto.generateKeyPairSync('ec', { namedCurve: kind });
  const jwk = { ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  return { ...pair, kid, alg, jwk };
}

/** The curve orders, for ECDSA signatures with r or s out of range. */
export const P256_N = Buffer.from('FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551', 'hex');

/** Replaces one character in the middle of a base64url string by another valid one. */
export function flipMiddle(s) {
  const i = Math.floor(s.length / 2);
  const c = s[i] === 'A' ? 'B' : 'A';
  return s.slice(0, i) + c + s.slice(i + 1);
}
