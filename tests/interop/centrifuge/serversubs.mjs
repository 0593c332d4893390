// Server-side subscriptions of wsp-demo against the official centrifuge
// client (Node, over the ws package): a connection token whose channels
// claim names a channel with history gives the client that subscription
// in the connect result (its 'subscribed' event, publications through
// the client's own 'publication' event); its connection is cut, 50
// publications happen meanwhile, and on reconnect (the client sends its
// position in the connect command's subs) it gets exactly those 50, in
// order, with recovered: true. With the retention exceeded it is told
// recovered: false. On the wire: the subscription is in the connect
// reply, not a subscribe push, and a bad subs entry is error 107.
//   node serversubs.mjs WSP_DEMO_EXE
// Prints one line per check and "N passed, M failed"; exits 1 on failure.
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { assert, callApi, check, cutAndWait, exactly, loadCentrifuge, run, startDemo, waitFor, withTimeout } from './harness.mjs';

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
  console.log('usage: node serversubs.mjs WSP_DEMO_EXE');
  process.exit(2);
}

const KEY = 'test-key-' + process.pid;
const SECRET = 'serversubs-secret-' + process.pid;
const AUD = 'wsp-serversubs-test';
const RECONNECT_MS = 1500; // long enough to publish 50 while it is away
const servers = [];
const clients = [];

class BrowserLikeWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols, { allowSynchronousEvents: false, perMessageDeflate: false });
  }
}

const token = (claims) => new jose.SignJWT({ ...claims, exp: Math.floor(Date.now() / 1000) + 3600 })
  .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
  .setAudience(AUD)
  .sign(new TextEncoder().encode(SECRET));

async function demo(args) {
  const s = await startDemo(exe, ['--api-key', KEY, '--token-hmac-secret', SECRET,
    '--token-audience', AUD, ...args]);
  servers.push(s);
  return s;
}

async function stop(s) {
  s.proc.kill('SIGTERM');
  const { code } = await withTimeout(s.exited, 5000, 'wsp-demo exit');
  assert(code === 0, `wsp-demo exit code ${code}`);
}

async function result(s, method, body) {
  const r = await callApi(s.port, KEY, method, body);
  assert(r.status === 200 && r.json && r.json.result, `${method} ${JSON.stringify(body)}: ${r.status} ${r.body}`);
  return r.json.result;
}

async function publishN(s, channel, from, n) {
  for (let i = from; i < from + n; i++) await result(s, 'publish', { channel, data: { n: i } });
}

// A client of user whose token names channel; no client-side
// subscription at all. log.pubs holds the publications of channel.
async function serverSubscriber(s, user, channel) {
  const c = new Centrifuge(`${s.url}/connection/websocket`, {
    websocket: BrowserLikeWebSocket,
    token: await token({ sub: user, channels: [channel] }),
    minReconnectDelay: RECONNECT_MS,
    maxReconnectDelay: RECONNECT_MS,
  });
  clients.push(c);
  const log = { pubs: [], subscribed: [], unsubscribed: [], connecting: [] };
  c.on('connecting', (ctx) => log.connecting.push(ctx));
  c.on('subscribed', (ctx) => { if (ctx.channel === channel) log.subscribed.push(ctx); });
  c.on('unsubscribed', (ctx) => log.unsubscribed.push(ctx));
  c.on('publication', (ctx) => {
    if (ctx.channel === channel) log.pubs.push({ n: ctx.data.n, offset: ctx.offset });
  });
  c.connect();
  await waitFor(() => log.subscribed.length === 1, 5000, 'the server-side subscription');
  return { c, log };
}

const cut = (s, sc, user, meanwhile) => cutAndWait(
  () => result(s, 'disconnect', { user, code: 3011, reason: 'cut' }), sc.log, meanwhile, RECONNECT_MS);

check('token channels: subscribed in the connect result; cut, 50 missed, recovered: true', async () => {
  const s = await demo([]);
  const sc = await serverSubscriber(s, 'rita', 'feed');
  const first = sc.log.subscribed[0];
  assert(first.recoverable && first.positioned && first.streamPosition && first.streamPosition.epoch &&
    !first.wasRecovering, `first subscribed ${JSON.stringify(first)}`);
  await publishN(s, 'feed', 1, 5);
  await waitFor(() => sc.log.pubs.length === 5, 3000, 'five live publications');
  exactly(sc.log.pubs, 1, 5, 'live');
  sc.log.pubs.length = 0;
  const ctx = await cut(s, sc, 'rita', () => publishN(s, 'feed', 6, 50));
  assert(ctx.wasRecovering && ctx.recovered && ctx.streamPosition.epoch === first.streamPosition.epoch,
    `subscribed ${JSON.stringify(ctx)}`);
  await waitFor(() => sc.log.pubs.length >= 50, 3000, `50 recovered (have ${sc.log.pubs.length})`);
  exactly(sc.log.pubs, 6, 50, 'recovered');
  assert(sc.log.pubs[0].offset === 6, `first offset ${sc.log.pubs[0].offset}`);
  // then live ones, with no gap and no duplicate
  await publishN(s, 'feed', 56, 3);
  await waitFor(() => sc.log.pubs.length >= 53, 3000, 'live after recovery');
  exactly(sc.log.pubs, 6, 53, 'recovered then live');
  // the subscription was never lost on the way
  assert(sc.log.unsubscribed.length === 0, `unsubscribed ${JSON.stringify(sc.log.unsubscribed)}`);
  sc.c.disconnect();
  await stop(s);
  return `offsets ${sc.log.pubs[0].offset}..${sc.log.pubs[52].offset}`;
});

check('retention exceeded while away: recovered: false, no publications', async () => {
  const s = await demo(['--history-size', '10']);
  const sc = await serverSubscriber(s, 'rex', 'feed');
  await publishN(s, 'feed', 1, 2);
  await waitFor(() => sc.log.pubs.length === 2, 3000, 'two live publications');
  sc.log.pubs.length = 0;
  const ctx = await cut(s, sc, 'rex', () => publishN(s, 'feed', 3, 50));
  assert(ctx.wasRecovering && !ctx.recovered, `subscribed ${JSON.stringify(ctx)}`);
  assert(ctx.streamPosition.offset === 52, `position ${JSON.stringify(ctx.streamPosition)}`);
  await publishN(s, 'feed', 53, 1);
  await waitFor(() => sc.log.pubs.length >= 1, 3000, 'the next live publication');
  exactly(sc.log.pubs, 53, 1, 'after a failed recovery, only live ones');
  sc.c.disconnect();
  await stop(s);
});

// A plain WebSocket: sends text, collects parsed lines.
function rawSocket(s) {
  return withTimeout(new Promise((resolve, reject) => {
    const ws = new WebSocket(`${s.url}/connection/websocket`, { perMessageDeflate: false });
    const lines = [];
    ws.on('message', (d) => lines.push(...d.toString().split('\n').map((l) => JSON.parse(l))));
    ws.on('open', () => resolve({ ws, lines }));
    ws.on('error', reject);
  }), 5000, 'raw upgrade');
}

check('on the wire: subs in the connect reply, no subscribe push; a bad entry is 107', async () => {
  const s = await demo([]);
  await publishN(s, 'wire', 1, 3);
  const t = await token({ sub: 'wes', channels: ['wire'] });
  const bad = await rawSocket(s);
  bad.ws.send(JSON.stringify({ connect: { token: t, subs: { wire: { offset: 'x' } } }, id: 1 }));
  await waitFor(() => bad.lines.length > 0, 3000, 'reply to the bad connect');
  assert(bad.lines[0].id === 1 && bad.lines[0].error && bad.lines[0].error.code === 107,
    `bad subs: ${JSON.stringify(bad.lines[0])}`);
  bad.ws.close();
  const r = await rawSocket(s);
  r.ws.send(JSON.stringify({ connect: { token: t, subs: { wire: { recover: true, offset: 1 } } }, id: 1 }));
  await waitFor(() => r.lines.length > 0, 3000, 'connect reply');
  const sub = r.lines[0].connect && r.lines[0].connect.subs && r.lines[0].connect.subs.wire;
  assert(sub && sub.recovered && sub.was_recovering && sub.offset === 1 &&
    JSON.stringify(sub.publications.map((p) => p.offset)) === '[2,3]', `connect reply ${JSON.stringify(r.lines[0])}`);
  await publishN(s, 'wire', 4, 1);
  await waitFor(() => r.lines.length > 1, 3000, 'a live publication');
  assert(r.lines.length === 2 && r.lines[1].push && r.lines[1].push.pub && r.lines[1].push.pub.offset === 4,
    `after the reply: ${JSON.stringify(r.lines.slice(1))}`);
  r.ws.close();
  await stop(s);
});

await run({
  perCheckMs: 20000,
  totalMs: 70000,
  after: async () => {
    for (const c of clients) c.disconnect();
  },
});
