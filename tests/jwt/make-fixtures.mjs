// Generate the JWT fixtures of tests/test_jwt.c with the jose npm package
// (an implementation independent of libwsp; tests/interop/setup.sh
// installs it):
//   node tests/jwt/make-fixtures.mjs [DIR]     (DIR: this directory)
// Writes public keys (PEM and a JWK Set) and tokens.txt, one
// "name token" line per token. Keys are new on every run; every token's
// claims are relative to NOW, which the test passes as the current time.
// Private keys are not kept. Tokens with a well-formed header are signed
// by jose (CompactSign, UnsecuredJWT); the few whose header jose refuses
// to produce (bad JSON, duplicate or non-string members, unknown
// algorithms) are assembled here, their signature made by Node's crypto.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = process.argv[2] || here;
const fromInterop = createRequire(path.join(here, '..', 'interop', 'package.json'));
const jose = await import(pathToFileURL(fromInterop.resolve('jose')).href);

const NOW = 1700000000;
const SECRET = 'libwsp-test-hmac-secret-0123456789abcdef';

const b64u = (buf) => Buffer.from(buf).toString('base64url');
// A jose key pair, plus Node KeyObjects of it for the assembled tokens
// and the PKCS #1 export jose does not offer. jose's Node build hands out
// KeyObjects, its WebCrypto build CryptoKeys: either is taken.
const keyObject = (k) => (k instanceof crypto.KeyObject ? k : crypto.KeyObject.from(k));
async function gen(alg, opts) {
  const kp = await jose.generateKeyPair(alg, { extractable: true, ...opts });
  return { ...kp, pub: keyObject(kp.publicKey), priv: keyObject(kp.privateKey) };
}

const rsa = await gen('RS256', { modulusLength: 2048 });
const rsa2 = await gen('PS256', { modulusLength: 2048 });
const rsa1024 = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }); // jose refuses < 2048
const ec = await gen('ES256');
const ec2 = await gen('ES256');
const ec384 = await gen('ES384');
const ed = await gen('EdDSA', { crv: 'Ed25519' });
const x25519 = await gen('ECDH-ES', { crv: 'X25519' });

const spki = async (k) => (k.publicKey instanceof crypto.KeyObject
  ? k.publicKey.export({ type: 'spki', format: 'pem' }) : jose.exportSPKI(k.publicKey));
const write = (name, text) => fs.writeFileSync(path.join(dir, name), text);

write('hmac.txt', SECRET);
write('rsa.pem', await spki(rsa));
write('rsa-pkcs1.pem', rsa.pub.export({ type: 'pkcs1', format: 'pem' }));
write('rsa2.pem', await spki(rsa2));
write('rsa1024.pem', await spki(rsa1024));
write('ec.pem', await spki(ec));
write('ec384.pem', await spki(ec384));
write('ed25519.pem', await spki(ed));

// The JWK Set: usable keys with kids, and keys that must be skipped.
const jwkOf = async (k) => jose.exportJWK(k.publicKey);
const jwk = async (k, extra) => ({ ...(await jwkOf(k)), ...extra });
const jwks = {
  keys: [
    await jwk(rsa, { kid: 'rsa1', use: 'sig' }),
    await jwk(rsa2, { kid: 'rsa2', alg: 'PS256' }),
    await jwk(ec, { kid: 'ec1', alg: 'ES256', key_ops: ['verify'] }),
    await jwk(ed, { kid: 'ed1' }),
    { kty: 'oct', kid: 'hmac1', k: b64u(SECRET) },
    await jwk(ec2, { kid: 'ec-enc', use: 'enc' }),
    await jwk(ec384, { kid: 'ec384' }),
    await jwk(x25519, { kid: 'x25519' }),
    { kty: 'RSA', kid: 'oaep', alg: 'RSA-OAEP', n: (await jwkOf(rsa)).n, e: 'AQAB' },
    { kty: 'XYZ', kid: 'other' },
  ],
};
write('jwks.json', JSON.stringify(jwks, null, 2) + '\n');

// ---- Tokens --------------------------------------------------------------
const bytes = (x) => (typeof x === 'string' || Buffer.isBuffer(x)
  ? Buffer.from(x) : Buffer.from(JSON.stringify(x)));
const secretOf = (k) => new TextEncoder().encode(k);
// KeyObjects, not CryptoKeys: a CryptoKey is bound to one algorithm and the
// RSA key signs RS* and PS* alike.
const privOf = (k) => (typeof k === 'string' ? secretOf(k) : k.priv);

// jose signs: header an object, payload an object or the exact JSON text.
// signAlg null: jose's unsecured JWT (alg none, empty signature).
async function token(header, payload, signAlg, key, crit) {
  if (signAlg === null) {
    const p = JSON.parse(bytes(payload).toString());
    return new jose.UnsecuredJWT(p).encode();
  }
  if (typeof header === 'string') return assemble(header, payload, signAlg, key);
  const jws = new jose.CompactSign(bytes(payload)).setProtectedHeader(header);
  return jws.sign(privOf(key), crit ? { crit } : undefined);
}

// Tokens jose will not produce: header[0..] taken as the exact JSON text,
// signed with Node's crypto.
function rawSign(alg, input, key) {
  const data = Buffer.from(input);
  if (alg.startsWith('HS'))
    return crypto.createHmac('sha' + alg.slice(2), key).update(data).digest();
  if (alg.startsWith('RS')) return crypto.sign('sha' + alg.slice(2), data, key.priv);
  throw new Error('alg ' + alg);
}
function assemble(header, payload, signAlg, key) {
  const input = b64u(bytes(header)) + '.' + b64u(bytes(payload));
  return input + '.' + (signAlg ? b64u(rawSign(signAlg, input, key)) : ''); // false: unsigned
}

// An ECDSA signature in DER (what some libraries wrongly put in a JWS)
// from jose's r || s.
function p1363ToDer(sig) {
  const int = (b) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    b = b.subarray(i);
    if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return Buffer.concat([Buffer.from([0x02, b.length]), b]);
  };
  const r = int(sig.subarray(0, 32)), s = int(sig.subarray(32));
  return Buffer.concat([Buffer.from([0x30, r.length + s.length]), r, s]);
}

const claims = {
  sub: 'user-42', iss: 'https://issuer.example', aud: 'wsp-test',
  iat: NOW - 10, nbf: NOW - 10, exp: NOW + 3600,
  info: { name: 'Ann' }, channels: ['news', 'chat'],
};
const keyFor = { HS: SECRET, RS: rsa, PS: rsa, ES: ec, Ed: ed };
const out = [];
const add = async (name, tok) => out.push(name + ' ' + (await tok));
const H = (alg, extra) => JSON.stringify({ alg, ...extra });

for (const alg of ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512', 'ES256', 'EdDSA', 'Ed25519']) {
  await add('valid-' + alg, token({ alg, typ: 'JWT' }, claims, alg, keyFor[alg.slice(0, 2)]));
}
// kids for the JWK Set
await add('kid-rsa1', token({ alg: 'RS256', kid: 'rsa1' }, claims, 'RS256', rsa));
await add('kid-rsa2-ps256', token({ alg: 'PS256', kid: 'rsa2' }, claims, 'PS256', rsa2));
await add('kid-rsa2-rs256', token({ alg: 'RS256', kid: 'rsa2' }, claims, 'RS256', rsa2));
await add('kid-ec1', token({ alg: 'ES256', kid: 'ec1' }, claims, 'ES256', ec));
await add('kid-ed1', token({ alg: 'EdDSA', kid: 'ed1' }, claims, 'EdDSA', ed));
await add('kid-hmac1', token({ alg: 'HS256', kid: 'hmac1' }, claims, 'HS256', SECRET));
await add('kid-ec-enc', token({ alg: 'ES256', kid: 'ec-enc' }, claims, 'ES256', ec2));
await add('kid-unknown', token({ alg: 'RS256', kid: 'nope' }, claims, 'RS256', rsa));
await add('kid-wrong-key', token({ alg: 'RS256', kid: 'rsa1' }, claims, 'RS256', rsa2));
await add('kid-long', token({ alg: 'HS256', kid: 'k'.repeat(300) }, claims, 'HS256', SECRET));
await add('kid-escaped', token('{"alg":"RS256","kid":"rs\\u0061\\u0031"}', claims, 'RS256', rsa));
// tampering and wrong keys
const good = (await token({ alg: 'RS256' }, claims, 'RS256', rsa)).split('.');
await add('tampered-payload', good[0] + '.' + b64u(bytes({ ...claims, sub: 'admin' })) + '.' + good[2]);
const sig = Buffer.from(good[2], 'base64url');
sig[100] ^= 0x01;
await add('tampered-signature', good[0] + '.' + good[1] + '.' + b64u(sig));
await add('wrong-key-RS256', token({ alg: 'RS256' }, claims, 'RS256', rsa2));
await add('wrong-key-ES256', token({ alg: 'ES256' }, claims, 'ES256', ec2));
await add('wrong-secret-HS256', token({ alg: 'HS256' }, claims, 'HS256', SECRET + 'x'));
// the classic confusion: HMAC keyed with the RSA public key's PEM text
await add('hs256-rsa-pem-secret', token({ alg: 'HS256' }, claims, 'HS256', await spki(rsa)));
await add('ps256-signed-as-rs256', token(H('PS256'), claims, 'RS256', rsa));
// unsigned and unusual headers
await add('alg-none', token({ alg: 'none' }, claims, null));
await add('alg-None', token(H('None'), claims, false));
await add('alg-none-signed', token(H('none'), claims, 'HS256', SECRET));
await add('alg-unknown', token(H('HS1024'), claims, 'HS256', SECRET));
await add('alg-missing', token('{"typ":"JWT"}', claims, 'HS256', SECRET));
await add('alg-number', token('{"alg":256}', claims, 'HS256', SECRET));
await add('kid-number', token('{"alg":"HS256","kid":7}', claims, 'HS256', SECRET));
await add('crit', token({ alg: 'HS256', crit: ['exp'], exp: NOW + 60 }, claims, 'HS256', SECRET,
  { exp: true }));
await add('crit-empty', token(H('HS256', { crit: [] }), claims, 'HS256', SECRET));
await add('header-duplicate', token('{"alg":"HS256","alg":"none"}', claims, 'HS256', SECRET));
await add('header-bad-json', token('{"alg":"HS256",}', claims, 'HS256', SECRET));
await add('header-array', token('["HS256"]', claims, 'HS256', SECRET));
await add('header-jwk-embedded', token({ alg: 'RS256', jwk: await jwkOf(rsa2) }, claims, 'RS256', rsa2));
// payloads
await add('payload-bad-json', token({ alg: 'HS256' }, '{"sub":"x",}', 'HS256', SECRET));
await add('payload-not-object', token({ alg: 'HS256' }, '"sub"', 'HS256', SECRET));
await add('payload-bad-utf8', token({ alg: 'HS256' }, Buffer.from('{"sub":"\xff"}', 'latin1'), 'HS256', SECRET));
await add('payload-duplicate', token({ alg: 'HS256' }, '{"sub":"a","sub":"b"}', 'HS256', SECRET));
await add('payload-duplicate-escaped',
  token({ alg: 'HS256' }, `{"exp":${NOW - 100},"\\u0065xp":${NOW + 100}}`, 'HS256', SECRET));
await add('payload-duplicate-utf8', token({ alg: 'HS256' }, '{"\\u00e9":1,"\u00e9":2}', 'HS256', SECRET));
await add('payload-duplicate-surrogates',
  token({ alg: 'HS256' }, '{"\\ud83d\\ude00":1,"\u{1f600}":2}', 'HS256', SECRET));
await add('payload-escaped-distinct', token({ alg: 'HS256' },
  '{"\\u00e9":1,"\\u00e8":2,"\\ud83d\\ude00":3,"\\ud83d\\ude01":4,"\\n":5,"\\t":6}',
  'HS256', SECRET));
await add('payload-escapes', token({ alg: 'HS256' },
  '{"sub":"\\u00e9t\\u00e9\\n","iss":"a\\/b","aud":["x","w\\u0073p-test"],"channel":"$priv\\u0061te"}',
  'HS256', SECRET));
await add('sub-number', token({ alg: 'HS256' }, { sub: 42 }, 'HS256', SECRET));
await add('exp-string', token({ alg: 'HS256' }, { exp: String(NOW + 60) }, 'HS256', SECRET));
await add('exp-fraction', token({ alg: 'HS256' }, `{"exp":${NOW}.5}`, 'HS256', SECRET));
await add('exp-exponent', token({ alg: 'HS256' }, '{"exp":1.7e9,"nbf":-1.5,"iat":1e400}', 'HS256', SECRET));
await add('exp-negative-exponent', token({ alg: 'HS256' }, '{"exp":17000036000e-1}', 'HS256', SECRET));
await add('aud-number', token({ alg: 'HS256' }, { aud: 1 }, 'HS256', SECRET));
await add('aud-array-number', token({ alg: 'HS256' }, { aud: ['a', 1] }, 'HS256', SECRET));
await add('channels-not-strings', token({ alg: 'HS256' }, { channels: ['a', {}] }, 'HS256', SECRET));
await add('channels-object', token({ alg: 'HS256' }, { channels: {} }, 'HS256', SECRET));
await add('empty-claims', token({ alg: 'HS256' }, {}, 'HS256', SECRET));
await add('no-claims-info', token({ alg: 'HS256' }, { sub: '', info: null }, 'HS256', SECRET));
// time: exp at NOW, nbf and iat 30 s ahead, an old iat
await add('exp-now', token({ alg: 'HS256' }, { sub: 'u', exp: NOW, iat: NOW - 100 }, 'HS256', SECRET));
await add('nbf-ahead', token({ alg: 'HS256' }, { sub: 'u', nbf: NOW + 30, exp: NOW + 3600 }, 'HS256', SECRET));
await add('iat-ahead', token({ alg: 'HS256' }, { sub: 'u', iat: NOW + 30 }, 'HS256', SECRET));
await add('iat-old', token({ alg: 'HS256' }, { sub: 'u', iat: NOW - 7200, exp: NOW + 3600 }, 'HS256', SECRET));
// issuer and audience
await add('aud-array', token({ alg: 'HS256' }, { aud: ['first', 'wsp-test', 'third'], iss: 'https://issuer.example' }, 'HS256', SECRET));
await add('aud-other', token({ alg: 'HS256' }, { aud: 'other', iss: 'https://evil.example' }, 'HS256', SECRET));
// a subscription token
await add('subscription', token({ alg: 'HS256' }, { sub: 'user-42', channel: '$private', exp: NOW + 60 }, 'HS256', SECRET));
// signature lengths
const es = (await token({ alg: 'ES256' }, claims, 'ES256', ec)).split('.');
await add('es256-der-signature', es[0] + '.' + es[1] + '.' + b64u(p1363ToDer(Buffer.from(es[2], 'base64url'))));
const t = (s, n) => { const p = s.split('.'); return p[0] + '.' + p[1] + '.' + b64u(Buffer.from(p[2], 'base64url').subarray(n)); };
await add('rs256-short-signature', t(await token({ alg: 'RS256' }, claims, 'RS256', rsa), 1));
await add('hs256-short-signature', t(await token({ alg: 'HS256' }, claims, 'HS256', SECRET), 16));
await add('eddsa-long-signature', (await token({ alg: 'EdDSA' }, claims, 'EdDSA', ed)) + 'AAAA');
await add('rs256-huge-signature', (await token({ alg: 'RS256' }, claims, 'RS256', rsa)) + 'A'.repeat(2000));
await add('empty-signature', token(H('HS256'), claims, false));
// size: over 16 KiB, valid otherwise
await add('large', token({ alg: 'HS256' }, { sub: 'big', pad: 'x'.repeat(20000) }, 'HS256', SECRET));

write('tokens.txt', out.join('\n') + '\n');
console.log(`wrote ${out.length} tokens to ${dir}`);
