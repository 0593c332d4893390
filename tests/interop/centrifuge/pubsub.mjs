// wsp-demo's channels and server API against the official centrifuge client
// (Node, over the ws package): publications from another client and from
// the API, join/leave and presence with three clients, pushes to a user
// with two connections, broadcast, server-side subscriptions, denied
// subscriptions, wildcard subscriptions, disconnect and info.
//   node pubsub.mjs WSP_DEMO_EXE
// Prints one line per check and "N passed, M failed"; exits 1 on failure
// and 1 also when the npm packages are missing (run setup.sh).
import http from 'node:http';
import { assert, callApi, check, clientAndExe, errorOf, run, sleep, startDemo, waitFor, withTimeout } from './harness.mjs';

const { Centrifuge, WebSocket, exe } = await clientAndExe('pubsub.mjs', 'WSP_DEMO_EXE');

const KEY = 'test-key-' + process.pid;
let server;
const clients = [];
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const api = (method, body) => callApi(server.port, KEY, method, body);

// The API call's result, or a failed check.
async function result(method, body) {
  const r = await api(method, body);
  assert(r.status === 200 && r.json && r.json.result, `${method} ${JSON.stringify(body)}: ${r.status} ${r.body}`);
  return r.json.result;
}

// Each message as its own task, as in a browser (PROTOCOL.md, testing note).
class BrowserLikeWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols, { allowSynchronousEvents: false, perMessageDeflate: false });
  }
}

// A connected client as user (null: anonymous). log holds the client-level
// events: message pushes, server-side subscription events and publications.
async function connect(user) {
  const c = new Centrifuge(`${server.url}/connection/websocket`, {
    websocket: BrowserLikeWebSocket,
    data: user ? { user } : null,
    minReconnectDelay: 200,
    maxReconnectDelay: 1000,
  });
  clients.push(c);
  const log = { messages: [], pubs: [], subscribed: [], unsubscribed: [], disconnected: [], connecting: [] };
  c.on('message', (ctx) => log.messages.push(ctx.data));
  c.on('publication', (ctx) => log.pubs.push(ctx));
  c.on('subscribed', (ctx) => log.subscribed.push(ctx));
  c.on('unsubscribed', (ctx) => log.unsubscribed.push(ctx));
  c.on('disconnected', (ctx) => log.disconnected.push(ctx));
  c.on('connecting', (ctx) => log.connecting.push(ctx));
  const connected = new Promise((resolve, reject) => {
    c.once('connected', resolve);
    c.once('disconnected', (ctx) => reject(new Error(`disconnected ${ctx.code} ${ctx.reason}`)));
  });
  c.connect();
  const ctx = await withTimeout(connected, 5000, `connect ${user}`);
  return { c, id: ctx.client, user, log };
}

// A client-side subscription; resolves once subscribed unless wait is false.
async function subscribe(cl, channel, { joinLeave = false, wait = true } = {}) {
  const sub = cl.c.newSubscription(channel, { joinLeave });
  const log = { pubs: [], joins: [], leaves: [], errors: [], unsubscribed: [] };
  sub.on('publication', (ctx) => log.pubs.push(ctx));
  sub.on('join', (ctx) => log.joins.push(ctx.info));
  sub.on('leave', (ctx) => log.leaves.push(ctx.info));
  sub.on('error', (ctx) => log.errors.push(ctx.error));
  sub.on('unsubscribed', (ctx) => log.unsubscribed.push(ctx));
  sub.subscribe();
  if (wait) await sub.ready(5000);
  return { sub, log };
}

function close(...cls) {
  for (const cl of cls) cl.c.disconnect();
}

// A marker sent to user after an action that must not have reached it:
// the connection's pushes are in order, so anything owed by the action
// would arrive before the marker.
async function marker(cl, tag) {
  const r = await result('send', { user: cl.user, data: { marker: tag } });
  assert(r.connections >= 1, `marker to ${cl.user}: ${JSON.stringify(r)}`);
  await waitFor(() => cl.log.messages.some((m) => m && m.marker === tag), 3000, `marker ${tag} at ${cl.user}`);
}

// ---- The API itself ---------------------------------------------------------

check('API: 401 without or with a wrong key, 400 bad JSON, 405 GET, 104 unknown method', async () => {
  const none = await callApi(server.port, null, 'info', {});
  assert(none.status === 401, `no key: ${none.status}`);
  const wrong = await callApi(server.port, KEY + 'x', 'info', {});
  assert(wrong.status === 401, `wrong key: ${wrong.status}`);
  const shortKey = await callApi(server.port, KEY.slice(0, -1), 'info', {});
  assert(shortKey.status === 401, `key prefix: ${shortKey.status}`);
  const bad = await callApi(server.port, KEY, 'publish', '{"channel":"x",');
  assert(bad.status === 400 && bad.json && bad.json.error, `bad JSON: ${bad.status} ${bad.body}`);
  const notObject = await callApi(server.port, KEY, 'info', '[1]');
  assert(notObject.status === 400, `array body: ${notObject.status}`);
  const get = await callApi(server.port, KEY, 'info', {}, { httpMethod: 'GET' });
  assert(get.status === 405, `GET: ${get.status}`);
  const unknown = await api('frobnicate', {});
  assert(unknown.status === 200 && unknown.json.error && unknown.json.error.code === 104, unknown.body);
  const missing = await api('publish', { data: 1 });
  assert(missing.status === 200 && missing.json.error && missing.json.error.code === 107, missing.body);
  const pattern = await api('publish', { channel: 'a.*', data: 1 });
  assert(pattern.json.error && pattern.json.error.code === 107, `publish to a pattern: ${pattern.body}`);
  const info = await result('info', {});
  assert(typeof info.connections === 'number' && typeof info.channels === 'number', JSON.stringify(info));
  // Centrifugo's other way to give the key
  const byHeader = await xApiKey(KEY, 'info');
  assert(byHeader.status === 200 && byHeader.json.result && typeof byHeader.json.result.connections === 'number',
    `X-API-Key: ${byHeader.status} ${byHeader.body}`);
  const wrongHeader = await xApiKey(KEY + 'x', 'info');
  assert(wrongHeader.status === 401, `wrong X-API-Key: ${wrongHeader.status}`);
  return JSON.stringify(info);
});

// POST /api/method with the key in X-API-Key instead of Authorization.
function xApiKey(key, method, body = {}) {
  const payload = JSON.stringify(body);
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, path: `/api/${method}`, method: 'POST', agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), 'X-API-Key': key } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, body: text, json });
      });
    });
    req.on('error', reject);
    req.end(payload);
  }), 5000, `X-API-Key ${method}`);
}

check('API: 404 without --api-key', async () => {
  const other = await startDemo(exe, []);
  try {
    for (const m of ['info', 'publish', '']) {
      const r = await callApi(other.port, KEY, m, {});
      assert(r.status === 404, `/api/${m}: ${r.status}`);
    }
  } finally {
    other.proc.kill('SIGTERM');
    await withTimeout(other.exited, 3000, 'second wsp-demo exit');
  }
});

// ---- Publications ------------------------------------------------------------

check('publications from another client and from the API, in order', async () => {
  const sue = await connect('sue');
  const pete = await connect('pete');
  const s = await subscribe(sue, 'news');
  const N = 200;
  // Not subscribed, pete may still publish; all in flight at once.
  await Promise.all(Array.from({ length: N }, (_, i) => pete.c.publish('news', { n: i })));
  const api1 = await result('publish', { channel: 'news', data: { n: 'api', s: 'é\u2028"' } });
  assert(api1.delivered === 1, `delivered ${JSON.stringify(api1)}`);
  await waitFor(() => s.log.pubs.length >= N + 1, 5000, `${N + 1} publications (have ${s.log.pubs.length})`);
  const ns = s.log.pubs.map((p) => p.data.n);
  assert(same(ns.slice(0, N), Array.from({ length: N }, (_, i) => i)), `order ${ns.slice(0, 20)}...`);
  const first = s.log.pubs[0], last = s.log.pubs[N];
  assert(first.channel === 'news' && first.info && first.info.user === 'pete' && first.info.client === pete.id,
    `client publication info ${JSON.stringify(first)}`);
  assert(same(last.data, { n: 'api', s: 'é\u2028"' }) && last.info === undefined, `API publication ${JSON.stringify(last)}`);
  await sleep(100);
  assert(s.log.pubs.length === N + 1, `${s.log.pubs.length} publications`);
  assert(pete.log.pubs.length === 0, 'the publisher got its own publications without subscribing');
  close(sue, pete);
  return `${N} from a client + 1 from the API`;
});

check('a subscriber that publishes: the publish reply, then its publication (raw protocol)', async () => {
  const ws = new WebSocket(`${server.url}/connection/websocket`);
  const lines = [];
  ws.on('message', (d) => lines.push(...d.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l))));
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  ws.send('{"id":1,"connect":{"data":{"user":"ava"}}}\n{"id":2,"subscribe":{"channel":"echoes"}}\n' +
    '{"id":3,"publish":{"channel":"echoes","data":{"x":1}}}');
  await waitFor(() => lines.length >= 4, 3000, `replies ${JSON.stringify(lines)}`);
  assert(same(lines[2], { id: 3, publish: {} }), `publish reply ${JSON.stringify(lines[2])}`);
  const p = lines[3].push;
  assert(p && p.channel === 'echoes' && same(p.pub.data, { x: 1 }) && p.pub.info.user === 'ava' &&
    p.pub.info.client === lines[0].connect.client, `publication ${JSON.stringify(lines[3])}`);
  ws.close(1000);
});

// ---- Join, leave and presence -------------------------------------------------

// A document of rows where one field changes per publication: the
// case delta compression is for.
const doc = (n) => ({ n, rows: Array.from({ length: 40 }, (_, i) => ({ id: i, name: `row-${i} \u00e9\u20ac`, v: i === n % 40 ? n : i })) });

check('fossil delta: negotiated, decoded by centrifuge-js, across a cut and recovery', async () => {
  const cl = await connect('tess');
  const d = cl.c.newSubscription('deltas', { delta: 'fossil' });
  const pubs = [], subs = [];
  d.on('publication', (ctx) => pubs.push(ctx));
  d.on('subscribed', (ctx) => subs.push(ctx));
  d.subscribe();
  await d.ready(5000);
  for (let n = 1; n <= 6; n++) await result('publish', { channel: 'deltas', data: doc(n) });
  await waitFor(() => pubs.length === 6, 3000, 'six publications');
  pubs.forEach((p, i) => assert(same(p.data, doc(i + 1)), `publication ${i + 1}: ${JSON.stringify(p.data).slice(0, 80)}`));
  let st = d.deltaStats();
  // the first whole, then deltas much smaller than the documents
  assert(st.numFullPayloads === 1 && st.numDeltaPayloads === 5, `stats ${JSON.stringify(st)}`);
  assert(st.bytesReceived * 4 < st.bytesDecoded, `not much smaller: ${JSON.stringify(st)}`);
  // cut: the recovered ones come whole, then live ones as deltas again
  pubs.length = 0;
  cl.c.disconnect();
  for (let n = 7; n <= 9; n++) await result('publish', { channel: 'deltas', data: doc(n) });
  cl.c.connect();
  await waitFor(() => subs.length === 2, 5000, 'resubscribed');
  assert(subs[1].recovered, `recovery ${JSON.stringify(subs[1])}`);
  await waitFor(() => pubs.length === 3, 3000, 'three recovered');
  for (let n = 10; n <= 11; n++) await result('publish', { channel: 'deltas', data: doc(n) });
  await waitFor(() => pubs.length === 5, 3000, 'two live after recovery');
  pubs.forEach((p, i) => assert(same(p.data, doc(i + 7)), `after the cut ${i + 7}: ${JSON.stringify(p.data).slice(0, 80)}`));
  st = d.deltaStats();
  assert(st.numDeltaPayloads >= 7, `deltas after recovery ${JSON.stringify(st)}`);
  // a second subscriber joining late starts whole, then deltas
  const cl2 = await connect('tim');
  const d2 = cl2.c.newSubscription('deltas', { delta: 'fossil' });
  const pubs2 = [];
  d2.on('publication', (ctx) => pubs2.push(ctx.data));
  d2.subscribe();
  await d2.ready(5000);
  for (let n = 12; n <= 14; n++) await result('publish', { channel: 'deltas', data: doc(n) });
  await waitFor(() => pubs2.length === 3, 3000, 'three to the late one');
  pubs2.forEach((p, i) => assert(same(p, doc(i + 12)), `late ${i + 12}`));
  const st2 = d2.deltaStats();
  assert(st2.numFullPayloads === 1 && st2.numDeltaPayloads === 2, `late stats ${JSON.stringify(st2)}`);
  close(cl);
  close(cl2);
});

check('join/leave and presence with three clients', async () => {
  const ann = await connect('ann'), bob = await connect('bob'), cat = await connect('cat');
  const A = await subscribe(ann, 'room', { joinLeave: true });
  const B = await subscribe(bob, 'room', { joinLeave: true });
  const C = await subscribe(cat, 'room', { joinLeave: true });
  // As in Centrifuge, each is told of its own join too.
  await waitFor(() => A.log.joins.length >= 3 && B.log.joins.length >= 2 && C.log.joins.length >= 1, 3000,
    `joins (ann ${JSON.stringify(A.log.joins)}, bob ${JSON.stringify(B.log.joins)})`);
  assert(same(A.log.joins.map((i) => i.user), ['ann', 'bob', 'cat']), `ann saw ${JSON.stringify(A.log.joins)}`);
  assert(A.log.joins[0].client === ann.id && A.log.joins[1].client === bob.id && A.log.joins[2].client === cat.id,
    'join client ids');
  assert(same(B.log.joins.map((i) => i.user), ['bob', 'cat']), `bob saw ${JSON.stringify(B.log.joins)}`);
  assert(same(C.log.joins.map((i) => i.user), ['cat']), `cat saw ${JSON.stringify(C.log.joins)}`);

  const p = await A.sub.presence();
  const users = Object.values(p.clients).map((c) => c.user).sort();
  assert(same(users, ['ann', 'bob', 'cat']), `presence ${JSON.stringify(p)}`);
  for (const cl of [ann, bob, cat]) {
    const e = p.clients[cl.id];
    assert(e && e.client === cl.id && e.user === cl.user, `presence entry of ${cl.user}: ${JSON.stringify(e)}`);
  }
  const st = await C.sub.presenceStats();
  assert(st.numClients === 3 && st.numUsers === 3, `presence stats ${JSON.stringify(st)}`);
  const apiP = await result('presence', { channel: 'room' });
  assert(same(Object.keys(apiP.presence).sort(), [ann.id, bob.id, cat.id].sort()), `API presence ${JSON.stringify(apiP)}`);
  assert(apiP.presence[bob.id].user === 'bob', JSON.stringify(apiP.presence[bob.id]));
  const apiSt = await result('presence_stats', { channel: 'room' });
  assert(apiSt.num_clients === 3 && apiSt.num_users === 3, `API presence_stats ${JSON.stringify(apiSt)}`);

  // A second connection of ann: 4 clients, still 3 users.
  const ann2 = await connect('ann');
  await subscribe(ann2, 'room', { joinLeave: true });
  const st2 = await result('presence_stats', { channel: 'room' });
  assert(st2.num_clients === 4 && st2.num_users === 3, `with a second ann ${JSON.stringify(st2)}`);
  close(ann2);

  // cat unsubscribes, bob disconnects: both show as leaves.
  C.sub.unsubscribe();
  await waitFor(() => A.log.leaves.some((i) => i.user === 'cat') && B.log.leaves.some((i) => i.user === 'cat'), 3000,
    `cat's leave (ann ${JSON.stringify(A.log.leaves)}, bob ${JSON.stringify(B.log.leaves)})`);
  close(bob);
  await waitFor(() => A.log.leaves.some((i) => i.user === 'bob' && i.client === bob.id), 3000,
    `bob's leave (${JSON.stringify(A.log.leaves)})`);
  const st3 = await A.sub.presenceStats();
  assert(st3.numClients === 1 && st3.numUsers === 1, `after the leaves ${JSON.stringify(st3)}`);

  // presence is for subscribers only.
  const e = await errorOf(cat.c.presence('room'));
  assert(e && e.code === 103, `presence by a non-subscriber: ${JSON.stringify(e)}`);
  close(ann, cat);
  return `leaves seen by ann: ${A.log.leaves.map((i) => i.user).join(', ')}`;
});

check('no join/leave for a subscription that did not ask', async () => {
  const quiet = await connect('quiet'), loud = await connect('loud');
  const Q = await subscribe(quiet, 'room2');
  const L = await subscribe(loud, 'room2', { joinLeave: true });
  L.sub.unsubscribe();
  const pub = await result('publish', { channel: 'room2', data: { after: 1 } });
  assert(pub.delivered === 1, JSON.stringify(pub));
  await waitFor(() => Q.log.pubs.length === 1, 3000, 'publication after the leave');
  assert(Q.log.joins.length === 0 && Q.log.leaves.length === 0, `joins ${Q.log.joins.length} leaves ${Q.log.leaves.length}`);
  close(quiet, loud);
});

// ---- Pushes ----------------------------------------------------------------------

check('send to a user reaches both of its connections, not another user', async () => {
  const pat1 = await connect('pat'), pat2 = await connect('pat'), quinn = await connect('quinn');
  const r = await result('send', { user: 'pat', data: { hello: 'pat', list: [1, 2] } });
  assert(r.connections === 2, `connections ${JSON.stringify(r)}`);
  await waitFor(() => pat1.log.messages.length === 1 && pat2.log.messages.length === 1, 3000, 'both connections');
  assert(same(pat1.log.messages[0], { hello: 'pat', list: [1, 2] }) && same(pat2.log.messages[0], pat1.log.messages[0]),
    JSON.stringify([pat1.log.messages, pat2.log.messages]));
  await marker(quinn, 'q1');
  assert(quinn.log.messages.length === 1, `quinn got ${JSON.stringify(quinn.log.messages)}`);
  const nobody = await result('send', { user: 'nobody-here', data: 1 });
  assert(nobody.connections === 0, JSON.stringify(nobody));
  close(pat1, pat2, quinn);
});

check('broadcast reaches the subscribers of the listed channels only', async () => {
  const x = await connect('bx'), y = await connect('by'), z = await connect('bz');
  const X = await subscribe(x, 'b.one'), Y = await subscribe(y, 'b.two'), Z = await subscribe(z, 'b.three');
  const Y2 = await subscribe(y, 'b.one');
  const r = await result('broadcast', { channels: ['b.one', 'b.two', 'b.empty'], data: { all: true } });
  assert(same(r.responses.map((e) => e.result && e.result.delivered), [2, 1, 0]), `responses ${JSON.stringify(r)}`);
  await waitFor(() => X.log.pubs.length === 1 && Y.log.pubs.length === 1 && Y2.log.pubs.length === 1, 3000, 'broadcast');
  assert(same(X.log.pubs[0].data, { all: true }) && Y.log.pubs[0].channel === 'b.two' && Y2.log.pubs[0].channel === 'b.one',
    JSON.stringify([X.log.pubs, Y.log.pubs, Y2.log.pubs]));
  await marker(z, 'z1');
  assert(Z.log.pubs.length === 0, `b.three got ${JSON.stringify(Z.log.pubs)}`);
  const bad = await result('broadcast', { channels: ['b.one', 'b.*', 7], data: 1 });
  assert(bad.responses.length === 3 && bad.responses[0].result && bad.responses[1].error && bad.responses[2].error,
    `mixed ${JSON.stringify(bad)}`);
  close(x, y, z);
});

check('server-side subscribe and unsubscribe through the API', async () => {
  const sam = await connect('sam'), sam2 = await connect('sam'), other = await connect('other');
  const r = await result('subscribe', { user: 'sam', channel: 'srv.news' });
  assert(r.connections === 2, JSON.stringify(r));
  await waitFor(() => sam.log.subscribed.length === 1 && sam2.log.subscribed.length === 1, 3000, 'subscribed events');
  assert(sam.log.subscribed[0].channel === 'srv.news', JSON.stringify(sam.log.subscribed[0]));
  const pub = await result('publish', { channel: 'srv.news', data: { n: 1 } });
  assert(pub.delivered === 2, JSON.stringify(pub));
  await waitFor(() => sam.log.pubs.length === 1 && sam2.log.pubs.length === 1, 3000, 'server-side publications');
  assert(sam.log.pubs[0].channel === 'srv.news' && sam.log.pubs[0].data.n === 1, JSON.stringify(sam.log.pubs[0]));
  // Server-side subscribers are in the presence too.
  const st = await result('presence_stats', { channel: 'srv.news' });
  assert(st.num_clients === 2 && st.num_users === 1, JSON.stringify(st));

  const connecting = sam.log.connecting.length;
  const u = await result('unsubscribe', { user: 'sam', channel: 'srv.news' });
  assert(u.connections === 2, JSON.stringify(u));
  await waitFor(() => sam.log.unsubscribed.length === 1 && sam2.log.unsubscribed.length === 1, 3000, 'unsubscribed events');
  assert(sam.log.unsubscribed[0].channel === 'srv.news', JSON.stringify(sam.log.unsubscribed[0]));
  const pub2 = await result('publish', { channel: 'srv.news', data: { n: 2 } });
  assert(pub2.delivered === 0, JSON.stringify(pub2));
  await marker(sam, 's1');
  assert(sam.log.pubs.length === 1, `after unsubscribe: ${JSON.stringify(sam.log.pubs)}`);
  // The unsubscribe push is valid JSON: the client kept its connection.
  assert(sam.log.disconnected.length === 0 && sam.log.connecting.length === connecting,
    `reconnected after the unsubscribe push: ${JSON.stringify(sam.log.disconnected)}`);
  assert(other.log.subscribed.length === 0 && other.log.pubs.length === 0, 'another user was touched');
  const again = await result('unsubscribe', { user: 'sam', channel: 'srv.news' });
  assert(again.connections === 0, `unsubscribe twice: ${JSON.stringify(again)}`);
  close(sam, sam2, other);
});

check('API "client": subscribe, unsubscribe and disconnect one connection of a user', async () => {
  const kim = await connect('kim'), kim2 = await connect('kim');
  const r = await result('subscribe', { user: 'kim', channel: 'one.news', client: kim2.id });
  assert(r.connections === 1, JSON.stringify(r));
  await waitFor(() => kim2.log.subscribed.length === 1, 3000, 'the named connection subscribed');
  await marker(kim, 'k1');
  assert(kim.log.subscribed.length === 0, `the other connection was subscribed: ${JSON.stringify(kim.log.subscribed)}`);
  const none = await result('subscribe', { user: 'kim', channel: 'one.news', client: 'no-such-client' });
  assert(none.connections === 0, `unknown client: ${JSON.stringify(none)}`);
  const wrongUser = await result('subscribe', { user: 'someone', channel: 'one.news', client: kim.id });
  assert(wrongUser.connections === 0, `another user's client: ${JSON.stringify(wrongUser)}`);
  const u = await result('unsubscribe', { user: 'kim', channel: 'one.news', client: kim2.id });
  assert(u.connections === 1, JSON.stringify(u));
  await waitFor(() => kim2.log.unsubscribed.length === 1, 3000, 'the named connection unsubscribed');
  const d = await result('disconnect', { user: 'kim', client: kim.id, disconnect: { code: 4501, reason: 'only you' } });
  assert(d.connections === 1, JSON.stringify(d));
  await waitFor(() => kim.log.disconnected.length === 1, 3000, 'the named connection disconnected');
  assert(kim.log.disconnected[0].code === 4501, JSON.stringify(kim.log.disconnected[0]));
  await marker(kim2, 'k2');
  assert(kim2.log.disconnected.length === 0, 'the other connection was disconnected');
  close(kim, kim2);
});

// ---- Refusals ---------------------------------------------------------------------

check('a denied subscription gets 103 and nothing published there', async () => {
  const dee = await connect('dee');
  const D = await subscribe(dee, 'denied:secret', { wait: false });
  await waitFor(() => D.log.unsubscribed.length >= 1, 3000, `unsubscribed (errors ${JSON.stringify(D.log.errors)})`);
  assert(D.log.unsubscribed[0].code === 103, `unsubscribed ${JSON.stringify(D.log.unsubscribed)}`);
  const r = await result('publish', { channel: 'denied:secret', data: { leak: 1 } });
  assert(r.delivered === 0, JSON.stringify(r));
  const e = await errorOf(dee.c.publish('denied:secret', { x: 1 }));
  assert(e && e.code === 103, `client publish to denied: ${JSON.stringify(e)}`);
  // Patterns that could reach a denied channel are refused too.
  const W = await subscribe(dee, '>', { wait: false });
  const W2 = await subscribe(dee, '*.x', { wait: false });
  await waitFor(() => W.log.unsubscribed.length && W2.log.unsubscribed.length, 3000, 'pattern refusals');
  assert(W.log.unsubscribed[0].code === 103 && W2.log.unsubscribed[0].code === 103,
    JSON.stringify([W.log.unsubscribed, W2.log.unsubscribed]));
  await marker(dee, 'd1');
  assert(D.log.pubs.length === 0 && W.log.pubs.length === 0 && dee.log.pubs.length === 0, 'a publication leaked');
  assert(dee.c.state === 'connected', `client state ${dee.c.state}`);
  close(dee);
  return `${D.log.unsubscribed[0].code} ${D.log.unsubscribed[0].reason}`;
});

check('subscribing twice to one channel: 105 on the raw protocol', async () => {
  const ws = new WebSocket(`${server.url}/connection/websocket`);
  const lines = [];
  ws.on('message', (d) => lines.push(...d.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l))));
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  ws.send('{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"dup"}}\n{"id":3,"subscribe":{"channel":"dup"}}');
  await waitFor(() => lines.length >= 3, 3000, `replies ${JSON.stringify(lines)}`);
  assert(lines[1].id === 2 && lines[1].subscribe && !lines[1].error, JSON.stringify(lines[1]));
  assert(lines[2].id === 3 && lines[2].error && lines[2].error.code === 105, JSON.stringify(lines[2]));
  ws.close(1000);
});

// ---- Wildcards ---------------------------------------------------------------------

check('wildcard subscriptions: * one segment, > one or more', async () => {
  const w = await connect('wanda'), pub = await connect('publisher');
  const star = await subscribe(w, 'wc.*');
  const rest = await subscribe(w, 'wc.>');
  const mid = await subscribe(w, 'wc.*.end');
  const sends = ['wc.a', 'wc.a.b', 'wc', 'wc.b.end', 'other.a', 'wcx.a', 'wc.z'];
  for (const ch of sends) await pub.c.publish(ch, { ch });
  const r = await result('publish', { channel: 'wc.api.end', data: { ch: 'wc.api.end' } });
  assert(r.delivered === 2, `API publish delivered ${JSON.stringify(r)}`);
  await marker(w, 'w1');
  const got = (s) => s.log.pubs.map((p) => p.data.ch);
  assert(same(got(star), ['wc.a', 'wc.z']), `wc.* got ${got(star)}`);
  assert(same(got(rest), ['wc.a', 'wc.a.b', 'wc.b.end', 'wc.z', 'wc.api.end']), `wc.> got ${got(rest)}`);
  assert(same(got(mid), ['wc.b.end', 'wc.api.end']), `wc.*.end got ${got(mid)}`);
  assert(star.log.pubs.every((p) => p.channel === 'wc.*'), 'publications arrive on the pattern');
  const info = await result('info', {});
  close(w, pub);
  return `channels with subscribers: ${info.channels}`;
});

check('a wildcard publication names its channel (raw protocol)', async () => {
  const ws = new WebSocket(`${server.url}/connection/websocket`);
  const lines = [];
  ws.on('message', (d) => lines.push(...d.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l))));
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  ws.send('{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"raw.>"}}\n{"id":3,"subscribe":{"channel":"raw.x"}}');
  await waitFor(() => lines.length >= 3, 3000, `replies ${JSON.stringify(lines)}`);
  const r = await result('publish', { channel: 'raw.x', data: [1] });
  assert(r.delivered === 2, JSON.stringify(r));
  await waitFor(() => lines.length >= 5, 3000, `pushes ${JSON.stringify(lines)}`);
  const pushes = lines.slice(3).map((l) => l.push);
  const byPattern = pushes.find((p) => p.channel === 'raw.>');
  const exact = pushes.find((p) => p.channel === 'raw.x');
  assert(byPattern && byPattern.pub.channel === 'raw.x' && same(byPattern.pub.data, [1]), `pattern push ${JSON.stringify(byPattern)}`);
  assert(exact && exact.pub.channel === undefined, `exact push ${JSON.stringify(exact)}`);
  ws.close(1000);
});

// ---- Disconnect and info -------------------------------------------------------------

check('disconnect through the API: every connection of the user, 3503 by default', async () => {
  const d1 = await connect('dora'), d2 = await connect('dora'), keep = await connect('keep');
  const r = await result('disconnect', { user: 'dora' });
  assert(r.connections === 2, JSON.stringify(r));
  await waitFor(() => d1.log.disconnected.length === 1 && d2.log.disconnected.length === 1, 3000, 'disconnected');
  assert(d1.log.disconnected[0].code === 3503 && d2.log.disconnected[0].code === 3503,
    JSON.stringify([d1.log.disconnected, d2.log.disconnected]));
  // An application code in the reconnect range: the client comes back.
  const e1 = await connect('eve');
  const r2 = await result('disconnect', { user: 'eve', code: 4001, reason: 'come back' });
  assert(r2.connections === 1, JSON.stringify(r2));
  await waitFor(() => e1.log.connecting.some((c) => c.code === 4001), 3000, `connecting ${JSON.stringify(e1.log.connecting)}`);
  await withTimeout(e1.c.ready(), 5000, 'reconnect');
  const bad = await api('disconnect', { user: 'eve', code: 1000 });
  assert(bad.json.error && bad.json.error.code === 107, `code 1000: ${bad.body}`);
  // Centrifugo's shape: the code and reason in a disconnect object
  const f1 = await connect('fay');
  const r3 = await result('disconnect', { user: 'fay', disconnect: { code: 4502, reason: 'bye for good' } });
  assert(r3.connections === 1, JSON.stringify(r3));
  await waitFor(() => f1.log.disconnected.length === 1, 3000, 'disconnected by the nested shape');
  assert(f1.log.disconnected[0].code === 4502 && f1.log.disconnected[0].reason === 'bye for good',
    JSON.stringify(f1.log.disconnected));
  const badNested = await api('disconnect', { user: 'fay', disconnect: 3503 });
  assert(badNested.json.error && badNested.json.error.code === 107, `disconnect not an object: ${badNested.body}`);
  await marker(keep, 'k1');
  assert(keep.c.state === 'connected', 'another user was disconnected');
  close(e1, keep);
  return `${d1.log.disconnected[0].code} ${d1.log.disconnected[0].reason}`;
});

check('info counts connections, channels and publications', async () => {
  const before = await result('info', {});
  const i1 = await connect('ina');
  await subscribe(i1, 'info.a');
  await subscribe(i1, 'info.*');
  const after = await result('info', {});
  assert(after.connections === before.connections + 1, `connections ${before.connections} -> ${after.connections}`);
  assert(after.channels === before.channels + 2, `channels ${before.channels} -> ${after.channels}`);
  assert(after.subscriptions === before.subscriptions + 2, `subscriptions ${before.subscriptions} -> ${after.subscriptions}`);
  await result('publish', { channel: 'info.a', data: 1 });
  const later = await result('info', {});
  assert(later.publications === after.publications + 1 && later.deliveries === after.deliveries + 2,
    `publications ${after.publications} -> ${later.publications}, deliveries ${after.deliveries} -> ${later.deliveries}`);
  close(i1);
  return JSON.stringify(later);
});

await run({
  perCheckMs: 15000,
  totalMs: 60000,
  before: async () => {
    server = await startDemo(exe, ['--api-key', KEY]);
  },
  after: async () => {
    for (const c of clients) c.disconnect();
    server.proc.kill('SIGTERM');
    const { code } = await withTimeout(server.exited, 3000, 'wsp-demo exit');
    assert(code === 0, `wsp-demo exit code ${code}`);
  },
});
