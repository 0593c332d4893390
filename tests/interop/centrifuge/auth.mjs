// wsp-demo's authentication against the official centrifuge client and
// tokens signed by the jose package: a connection token (user, info,
// server-side channels), an expired token with getToken and the refresh
// that follows, an invalid token (3500, no reconnecting), a private
// channel with a subscription token; then the session cookie of
// POST /login on a plain WebSocket (the ws package), a cross-origin
// upgrade with that cookie refused, and POST /logout closing it.
//   node auth.mjs WSP_DEMO_EXE
// Prints one line per check and "N passed, M failed"; exits 1 on failure
// and 1 also when the npm packages are missing (run tests/interop/setup.sh).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { assert, callApi, check, loadCentrifuge, run, sleep, startDemo, waitFor, withTimeout } from './harness.mjs';

let Centrifuge, WebSocket, jose;
try {
  Centrifuge = await loadCentrifuge();
  ({ WebSocket } = await import('ws'));
  const here = path.dirname(fileURLToPath(import.meta.url));
  const req = createRequire(path.join(here, '..', 'package.json'));
  jose = await import(pathToFileURL(req.resolve('jose')).href);
} catch {
  console.log('centrifuge, ws or jose is missing (run tests/interop/setup.sh); skipping');
  process.exit(1);
}

const exe = process.argv[2];
if (!exe) {
  console.log('usage: node auth.mjs WSP_DEMO_EXE');
  process.exit(2);
}

const SECRET = 'auth-test-secret-' + process.pid;
const AUD = 'wsp-auth-test';
const GOOD_ORIGIN = 'http://good.example';
let server;
const clients = [];
const now = () => Math.floor(Date.now() / 1000);

// An HS256 token made by jose.
function token(claims, { key = SECRET, aud = AUD } = {}) {
  let jwt = new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' });
  if (aud) jwt = jwt.setAudience(aud);
  return jwt.sign(new TextEncoder().encode(key));
}

class BrowserLikeWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols, { allowSynchronousEvents: false, perMessageDeflate: false });
  }
}

function client(opts) {
  const c = new Centrifuge(`${server.url}/connection/websocket`, {
    websocket: BrowserLikeWebSocket,
    minReconnectDelay: 100,
    maxReconnectDelay: 300,
    ...opts,
  });
  clients.push(c);
  const log = { connecting: [], disconnected: [], subscribed: [], errors: [] };
  c.on('connecting', (ctx) => log.connecting.push(ctx));
  c.on('disconnected', (ctx) => log.disconnected.push(ctx));
  c.on('subscribed', (ctx) => log.subscribed.push(ctx));
  c.on('error', (ctx) => log.errors.push(ctx));
  return { c, log };
}

const connected = (c) => withTimeout(new Promise((resolve, reject) => {
  c.once('connected', resolve);
  c.once('disconnected', (ctx) => reject(new Error(`disconnected ${ctx.code} ${ctx.reason}`)));
}), 5000, 'connect');

// POST to the demo: resolves to {status, headers, json}.
function post(p, body, headers = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: server.port, path: p, method: 'POST', agent: false,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded',
        'Content-Length': Buffer.byteLength(body), ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (ch) => chunks.push(ch));
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(Buffer.concat(chunks).toString()); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  }), 5000, `POST ${p}`);
}

// A plain WebSocket on the protocol path with these headers; resolves to
// {ws, lines, closed} once open, or rejects with the HTTP status.
function rawSocket(headers) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.url}/connection/websocket`, { headers, perMessageDeflate: false });
    const lines = [];
    let closeCode = null;
    ws.on('message', (d) => lines.push(...d.toString().split('\n').map((l) => JSON.parse(l))));
    ws.on('close', (code) => { closeCode = code; });
    ws.on('open', () => resolve({ ws, lines, closeCode: () => closeCode }));
    ws.on('unexpected-response', (req, res) => {
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
      req.destroy();
    });
    ws.on('error', (e) => reject(e));
  }), 5000, 'raw upgrade');
}

// Close and wait for the closing handshake, so that the server has
// forgotten the connection before the next check counts connections.
const closeWs = (ws) => withTimeout(new Promise((resolve) => {
  ws.on('close', resolve);
  ws.close();
}), 3000, 'close');

check('a connection token: user, info and the token\'s channels', async () => {
  const t = await token({ sub: 'ann', info: { role: 'tester' }, channels: ['news:ann'], exp: now() + 3600 });
  const { c, log } = client({ token: t });
  const ctx = connected(c);
  c.connect();
  await ctx;
  const r = await c.rpc('whoami', {});
  assert(r.data.user === 'ann', `whoami: ${JSON.stringify(r.data)}`);
  await waitFor(() => log.subscribed.some((s) => s.channel === 'news:ann'), 3000, 'server-side subscription');
  c.disconnect();
});

check('no token, or a bad one: 3500 and no reconnecting', async () => {
  const wrongKey = await token({ sub: 'eve', exp: now() + 3600 }, { key: 'not-the-secret' });
  const wrongAud = await token({ sub: 'eve', exp: now() + 3600 }, { aud: 'other' });
  const notes = [];
  for (const t of [undefined, wrongKey, wrongAud, 'not.a.jwt']) {
    const { c, log } = client(t ? { token: t } : {});
    c.connect();
    await waitFor(() => log.disconnected.length > 0, 5000, 'disconnected');
    assert(log.disconnected[0].code === 3500, `code ${log.disconnected[0].code}`);
    await sleep(700); // several reconnect delays
    assert(c.state === 'disconnected' && log.connecting.length === 1,
      `state ${c.state}, ${log.connecting.length} connecting events`);
    notes.push(log.disconnected[0].code);
  }
  return notes.join(' ');
});

check('an expired token: getToken, then the refresh at ttl', async () => {
  const expired = await token({ sub: 'bob', exp: now() - 120 });
  let calls = 0;
  const { c } = client({
    token: expired,
    getToken: async () => {
      calls++;
      // the first new token expires soon, so that the client refreshes it
      return token({ sub: 'bob', exp: now() + (calls === 1 ? 2 : 3600) });
    },
  });
  const ctx = connected(c);
  c.connect();
  await ctx;
  assert(calls === 1, `getToken called ${calls} times before connecting`);
  await waitFor(() => calls >= 2, 8000, 'the refresh');
  await sleep(300);
  assert(c.state === 'connected', `state ${c.state}`);
  const r = await c.rpc('whoami', {});
  assert(r.data.user === 'bob', `whoami after refresh: ${JSON.stringify(r.data)}`);
  c.disconnect();
  return `getToken x${calls}`;
});

check('a private channel needs a subscription token', async () => {
  const t = await token({ sub: 'cy', exp: now() + 3600 });
  const { c } = client({ token: t });
  const ctx = connected(c);
  c.connect();
  await ctx;
  // without a token: 103, terminal
  const bare = c.newSubscription('$room:1');
  const refused = withTimeout(new Promise((resolve) => bare.once('unsubscribed', resolve)), 5000, 'refusal');
  bare.subscribe();
  const u = await refused;
  assert(u.code === 103, `unsubscribed code ${u.code}`);
  c.removeSubscription(bare);
  // with getToken: the token names this user and channel; the first one
  // expires soon, so the client refreshes it (sub_refresh)
  let asked = null, calls = 0;
  const sub = c.newSubscription('$room:2', {
    getToken: async (ctx2) => {
      asked = ctx2.channel;
      calls++;
      return new jose.SignJWT({ sub: 'cy', channel: ctx2.channel, exp: now() + (calls === 1 ? 2 : 600) })
        .setProtectedHeader({ alg: 'HS256' }).setAudience(AUD)
        .sign(new TextEncoder().encode(SECRET));
    },
  });
  const ok = withTimeout(new Promise((resolve, reject) => {
    sub.once('subscribed', resolve);
    sub.once('unsubscribed', (x) => reject(new Error(`unsubscribed ${x.code}`)));
  }), 5000, 'subscribe');
  sub.subscribe();
  await ok;
  assert(asked === '$room:2', `getToken for ${asked}`);
  const pubs = [];
  sub.on('publication', (p) => pubs.push(p.data));
  await c.publish('$room:2', { hi: 1 });
  await waitFor(() => pubs.length === 1, 3000, 'publication');
  await waitFor(() => calls >= 2, 8000, 'the subscription refresh');
  await sleep(300);
  assert(sub.state === 'subscribed', `after sub_refresh: ${sub.state}`);
  await c.publish('$room:2', { hi: 2 });
  await waitFor(() => pubs.length === 2, 3000, 'publication after refresh');
  c.disconnect();
  return `getToken x${calls}`;
});

check('keys from a PEM file (ES256) and a JWK Set (EdDSA, by kid)', async () => {
  const ec = await jose.generateKeyPair('ES256', { extractable: true });
  const ed = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsp-auth-'));
  const pem = path.join(dir, 'ec.pem'), jwks = path.join(dir, 'jwks.json');
  fs.writeFileSync(pem, await jose.exportSPKI(ec.publicKey));
  fs.writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await jose.exportJWK(ed.publicKey)), kid: 'ed-1' }] }));
  const other = await startDemo(exe, ['--token-public-key', pem, '--token-jwks', jwks,
    '--token-issuer', 'https://issuer.test', '--ping-interval', '0']);
  try {
    const users = [];
    const toks = [
      await new jose.SignJWT({ sub: 'es' }).setProtectedHeader({ alg: 'ES256' })
        .setIssuer('https://issuer.test').setExpirationTime('1h').sign(ec.privateKey),
      await new jose.SignJWT({ sub: 'ed' }).setProtectedHeader({ alg: 'EdDSA', kid: 'ed-1' })
        .setIssuer('https://issuer.test').setExpirationTime('1h').sign(ed.privateKey),
    ];
    for (const t of toks) {
      const c = new Centrifuge(`${other.url}/connection/websocket`, { websocket: BrowserLikeWebSocket, token: t });
      clients.push(c);
      const ctx = connected(c);
      c.connect();
      await ctx;
      users.push((await c.rpc('whoami', {})).data.user);
      c.disconnect();
    }
    assert(users.join() === 'es,ed', `users ${users.join()}`);
    // another issuer: 3500
    const wrong = await new jose.SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'ES256' })
      .setIssuer('https://evil.test').setExpirationTime('1h').sign(ec.privateKey);
    const c = new Centrifuge(`${other.url}/connection/websocket`, { websocket: BrowserLikeWebSocket, token: wrong });
    clients.push(c);
    const closed = withTimeout(new Promise((resolve) => c.once('disconnected', resolve)), 5000, 'refusal');
    c.connect();
    assert((await closed).code === 3500, 'wrong issuer');
  } finally {
    other.proc.kill('SIGTERM');
    await other.exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

let cookie;
check('POST /login sets a cookie; an upgrade with it is that user', async () => {
  const r = await post('/login', 'user=dee%2B1');
  assert(r.status === 200 && r.json && r.json.user === 'dee+1', `login: ${r.status} ${JSON.stringify(r.json)}`);
  const set = (r.headers['set-cookie'] || [])[0] || '';
  assert(/HttpOnly/.test(set) && /SameSite=Lax/.test(set), `Set-Cookie: ${set}`);
  cookie = set.split(';')[0];
  const s = await rawSocket({ Cookie: cookie });
  s.ws.send('{"connect":{"name":"raw"},"id":1}\n{"rpc":{"method":"whoami","data":{}},"id":2}');
  await waitFor(() => s.lines.length >= 2, 3000, 'replies');
  assert(s.lines[0].connect && s.lines[1].rpc.data.user === 'dee+1', JSON.stringify(s.lines));
  await closeWs(s.ws);
  const bad = await post('/login', 'name=x');
  assert(bad.status === 400, `login without user: ${bad.status}`);
});

check('a cross-origin upgrade with the cookie is refused (403)', async () => {
  const e = await rawSocket({ Cookie: cookie, Origin: 'http://evil.example' }).then(() => null, (x) => x);
  assert(e && e.status === 403, `evil origin: ${e ? e.message : 'opened'}`);
  const own = await rawSocket({ Cookie: cookie, Origin: `http://127.0.0.1:${server.port}` });
  await closeWs(own.ws);
  const good = await rawSocket({ Cookie: cookie, Origin: GOOD_ORIGIN });
  await closeWs(good.ws);
  // no cookie: judged by the token alone, from any origin
  const t = await token({ sub: 'eve', exp: now() + 60 });
  const tok = await rawSocket({ Origin: 'http://evil.example' });
  tok.ws.send(JSON.stringify({ connect: { token: t }, id: 1 }));
  await waitFor(() => tok.lines.length >= 1, 3000, 'connect reply');
  assert(tok.lines[0].connect, JSON.stringify(tok.lines));
  await closeWs(tok.ws);
});

check('?token= in the URL authenticates the upgrade', async () => {
  const t = await token({ sub: 'fay', exp: now() + 60 });
  const ws = new WebSocket(`${server.url}/connection/websocket?token=${t}`, { perMessageDeflate: false });
  const lines = [];
  ws.on('message', (d) => lines.push(...d.toString().split('\n').map((l) => JSON.parse(l))));
  await withTimeout(new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); }), 5000, 'open');
  ws.send('{"connect":{},"id":1}\n{"rpc":{"method":"whoami","data":{}},"id":2}');
  await waitFor(() => lines.length >= 2, 3000, 'replies');
  assert(lines[1].rpc && lines[1].rpc.data.user === 'fay', JSON.stringify(lines));
  ws.close();
});

check('POST /logout closes the session\'s connections', async () => {
  const a = await rawSocket({ Cookie: cookie });
  a.ws.send('{"connect":{},"id":1}');
  await waitFor(() => a.lines.length >= 1, 3000, 'connect');
  const closed = new Promise((resolve) => a.ws.on('close', (code) => resolve(code)));
  const r = await post('/logout', '', { Cookie: cookie });
  assert(r.status === 200 && r.json.disconnected === 1, `logout: ${JSON.stringify(r.json)}`);
  const code = await withTimeout(closed, 3000, 'close');
  assert(code === 3503, `close code ${code}`);
  // the session is gone: the cookie proves nothing now
  const again = await rawSocket({ Cookie: cookie });
  const gone = new Promise((resolve) => again.ws.on('close', (c2) => resolve(c2)));
  again.ws.send('{"connect":{},"id":1}');
  assert(await withTimeout(gone, 3000, 'refusal') === 3500, 'connect after logout');
});

check('a full session store ends the oldest session, never the next login', async () => {
  const main = server;
  server = await startDemo(exe, ['--max-sessions', '3', '--api-key', 'k']);
  try {
    const cookies = [];
    for (let i = 0; i < 5; i++) {
      const r = await post('/login', `user=u${i}`);
      assert(r.status === 200, `login ${i}: ${r.status} ${JSON.stringify(r.json)}`);
      cookies.push(r.headers['set-cookie'][0].split(';')[0]);
    }
    const users = [];
    for (const ck of cookies) {
      const s = await rawSocket({ Cookie: ck });
      s.ws.send('{"connect":{},"id":1}\n{"rpc":{"method":"whoami","data":{}},"id":2}');
      await waitFor(() => s.lines.length >= 2, 3000, 'whoami');
      users.push(s.lines[1].rpc.data.user);
      await closeWs(s.ws);
    }
    assert(JSON.stringify(users) === '["","","u2","u3","u4"]', `users by cookie ${JSON.stringify(users)}`);
    const info = await callApi(server.port, 'k', 'info');
    assert(info.json.result.sessions === 3 && info.json.result.sessions_evicted === 2, `info ${info.body}`);
  } finally {
    server.proc.kill('SIGTERM');
    await server.exited;
    server = main;
  }
});

await run({
  perCheckMs: 20000,
  totalMs: 90000,
  before: async () => {
    server = await startDemo(exe, ['--token-hmac-secret', SECRET, '--token-audience', AUD,
      '--allowed-origin', GOOD_ORIGIN, '--ping-interval', '0']);
  },
  after: async () => {
    for (const c of clients) c.disconnect();
  },
});
