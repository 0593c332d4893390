// Three wsp-demo nodes on one Redis (the Redis engine, wsp_redis(3))
// against the official centrifuge client: a publication on one node
// reaches the subscribers of the others, in order with gapless offsets;
// a client cut from one node recovers on another exactly what it
// missed; a Redis that lost its data gives recovered: false with a new
// epoch, never a false recovered: true; with Redis stopped the nodes
// answer with errors, stay up and work again once it is back.
//   node redis.mjs WSP_DEMO_EXE
// A real redis-server is started on a free loopback port (skipped, with
// exit code 77, when redis-server is not installed).
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { assert, callApi, check, clientAndExe, errorOf, exactly, run, sleep, startDemo, waitFor, withTimeout } from './harness.mjs';

const { Centrifuge, WebSocket, exe } = await clientAndExe('redis.mjs', 'WSP_DEMO_EXE');

if (spawnSync('redis-server', ['--version']).status !== 0) {
  console.log('redis-server is not installed; skipping');
  process.exit(77);
}

class NodeWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols, { perMessageDeflate: false });
  }
}

const freePort = () => new Promise((resolve, reject) => {
  const srv = net.createServer();
  srv.on('error', reject);
  srv.listen(0, '127.0.0.1', () => {
    const { port } = srv.address();
    srv.close(() => resolve(port));
  });
});

const KEY = 'test-key-' + process.pid;
let redis = null;
const redisPort = await freePort();

async function startRedis() {
  const proc = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => proc.on('exit', () => resolve()));
  let out = '';
  await withTimeout((async () => {
    for await (const chunk of proc.stdout) {
      out += chunk;
      if (/Ready to accept connections/.test(out)) return;
    }
    throw new Error(`redis-server exited: ${out}`);
  })(), 5000, 'redis-server start');
  proc.stdout.resume();
  redis = { proc, exited };
}

async function stopRedis() {
  redis.proc.kill('SIGKILL');
  await redis.exited;
  redis = null;
}
process.on('exit', () => { if (redis) redis.proc.kill('SIGKILL'); });

const nodes = [];
const clients = [];

async function node(name) {
  const s = await startDemo(exe, ['--redis', `127.0.0.1:${redisPort}`, '--node-name', name,
    '--redis-prefix', `t${process.pid}`, '--api-key', KEY, '--history-size', '1000',
    '--redis-timeout', '1000', '--redis-probe', '500']);
  nodes.push(s);
  return s;
}

function client(s, user) {
  const c = new Centrifuge(`${s.url}/connection/websocket`, {
    websocket: NodeWebSocket,
    data: { user },
    minReconnectDelay: 200,
    maxReconnectDelay: 500,
  });
  clients.push(c);
  c.connect();
  return c;
}

// A subscriber of channel on s (from since, when given): log.pubs holds
// {n, offset} of every publication, log.subscribed the subscribed events.
async function subscriber(s, user, channel, since = null) {
  const c = client(s, user);
  const log = { pubs: [], subscribed: [] };
  const sub = c.newSubscription(channel, since ? { since } : {});
  sub.on('publication', (ctx) => log.pubs.push({ n: ctx.data.n, offset: ctx.offset }));
  sub.on('subscribed', (ctx) => log.subscribed.push(ctx));
  sub.subscribe();
  await sub.ready(5000);
  return { c, sub, log };
}

// Publish n publications {n: from..} from a client of s, each
// acknowledged before the next.
async function publishN(c, channel, from, n) {
  for (let i = from; i < from + n; i++) await c.publish(channel, { n: i });
}

let n1, n2, n3;

// POST a form to a node: {status, headers, json}.
function postForm(port, path, body, headers = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, path, method: 'POST', agent: false,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded',
        'Content-Length': Buffer.byteLength(body), ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(Buffer.concat(chunks).toString()); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  }), 5000, `POST ${path}`);
}

// A centrifuge client of s whose upgrade carries cookie.
function cookieClient(s, cookie) {
  class CookieWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { headers: { Cookie: cookie }, perMessageDeflate: false });
    }
  }
  const c = new Centrifuge(`${s.url}/connection/websocket`, {
    websocket: CookieWebSocket, minReconnectDelay: 200, maxReconnectDelay: 500,
  });
  clients.push(c);
  c.connect();
  return c;
}

check('a publication on node 1 reaches subscribers on nodes 2 and 3, in order', async () => {
  const a = await subscriber(n2, 'ann', 'news');
  const b = await subscriber(n3, 'bob', 'news');
  const first = a.log.subscribed[0];
  assert(first.recoverable && first.positioned && first.streamPosition.epoch,
    `subscribed ${JSON.stringify(first)}`);
  const p = client(n1, 'pat');
  await publishN(p, 'news', 1, 40);
  await waitFor(() => a.log.pubs.length >= 40 && b.log.pubs.length >= 40, 5000,
    `deliveries (${a.log.pubs.length}, ${b.log.pubs.length})`);
  exactly(a.log.pubs, 1, 40, 'node 2');
  exactly(b.log.pubs, 1, 40, 'node 3');
  assert(a.log.pubs[0].offset === b.log.pubs[0].offset, 'the same offsets on both nodes');
  a.c.disconnect(); b.c.disconnect(); p.disconnect();
  return `offsets ${a.log.pubs[0].offset}..${a.log.pubs[39].offset}`;
});

check('tags cross nodes: a filtered subscriber on node 2 gets only matching publications from node 1', async () => {
  const c = client(n2, 'tag');
  await c.ready(5000);
  const sub = c.newSubscription('tagged', { tagsFilter: { key: 'k', cmp: 'in', vals: ['a', 'c'] } });
  const got = [];
  sub.on('publication', (ctx) => got.push({ n: ctx.data.n, k: ctx.tags && ctx.tags.k, offset: ctx.offset }));
  sub.subscribe();
  await sub.ready(5000);
  for (const [n, k] of [[1, 'a'], [2, 'b'], [3, 'c'], [4, 'b']]) {
    const r = await callApi(n1.port, KEY, 'publish', { channel: 'tagged', data: { n }, tags: { k } });
    assert(r.status === 200 && r.json.result, `publish ${r.body}`);
  }
  await waitFor(() => got.length >= 2, 5000, `filtered (${JSON.stringify(got)})`);
  await new Promise((r) => setTimeout(r, 200));
  assert(JSON.stringify(got.map((x) => [x.n, x.k])) === '[[1,"a"],[3,"c"]]', `got ${JSON.stringify(got)}`);
  const h = await callApi(n3.port, KEY, 'history', { channel: 'tagged', limit: -1 });
  assert(h.json.result.publications.map((p) => p.tags.k).join() === 'a,b,c,b', `history ${h.body}`);
  c.disconnect();
});

check('wildcard subscribers on another node get exact and pattern channels once', async () => {
  const w = await subscriber(n3, 'wes', 'scores.*');
  const e = await subscriber(n3, 'eve', 'scores.home');
  const p = client(n1, 'pat');
  await publishN(p, 'scores.home', 1, 5);
  await waitFor(() => w.log.pubs.length >= 5 && e.log.pubs.length >= 5, 5000, 'deliveries');
  await sleep(100);
  assert(w.log.pubs.length === 5 && e.log.pubs.length === 5,
    `each once: ${w.log.pubs.length} and ${e.log.pubs.length}`);
  w.c.disconnect(); e.c.disconnect(); p.disconnect();
});

check('cut from node 1, back on node 2: exactly the missed ones, recovered: true', async () => {
  const a = await subscriber(n1, 'rita', 'feed');
  const p = client(n3, 'pat');
  await publishN(p, 'feed', 1, 5);
  await waitFor(() => a.log.pubs.length === 5, 5000, 'five live');
  const last = a.log.pubs[4];
  const epoch = a.log.subscribed[0].streamPosition.epoch;
  a.c.disconnect();
  await publishN(p, 'feed', 6, 30); // missed while away
  const b = await subscriber(n2, 'rita', 'feed', { offset: last.offset, epoch });
  const ctx = b.log.subscribed[0];
  assert(ctx.wasRecovering && ctx.recovered, `subscribed ${JSON.stringify(ctx)}`);
  await waitFor(() => b.log.pubs.length >= 30, 5000, `30 recovered (have ${b.log.pubs.length})`);
  exactly(b.log.pubs, 6, 30, 'recovered');
  assert(b.log.pubs[0].offset === last.offset + 1, `first offset ${b.log.pubs[0].offset}`);
  await publishN(p, 'feed', 36, 3);
  await waitFor(() => b.log.pubs.length >= 33, 5000, 'live after recovery');
  exactly(b.log.pubs, 6, 33, 'recovered then live');
  b.c.disconnect(); p.disconnect();
});

check('API on other nodes: publish answered once stored, with its offset; history and presence of every node', async () => {
  const a = await subscriber(n3, 'ivy', 'api');
  const r1 = await callApi(n2.port, KEY, 'publish', { channel: 'api', data: { n: 1 } });
  const r2 = await callApi(n2.port, KEY, 'publish', { channel: 'api', data: { n: 2 } });
  assert(r1.status === 200 && r1.json && r1.json.result, `publish: ${r1.status} ${r1.body}`);
  assert(r1.json.result.offset === 1 && r2.json.result.offset === 2 && r1.json.result.epoch &&
    r1.json.result.epoch === r2.json.result.epoch, `results ${r1.body} ${r2.body}`);
  assert(r1.json.result.epoch === a.log.subscribed[0].streamPosition.epoch, 'the stream\'s epoch');
  await waitFor(() => a.log.pubs.length >= 2, 5000, 'two deliveries');
  exactly(a.log.pubs, 1, 2, 'api publications');
  const bad = await callApi(n2.port, KEY, 'publish', { channel: 'a.*', data: 1 });
  assert(bad.status === 200 && bad.json.error && bad.json.error.code === 107, `wildcard: ${bad.body}`);
  // history and presence through the API of a node without the subscriber
  const h = await callApi(n1.port, KEY, 'history', { channel: 'api', limit: -1 });
  assert(h.json && h.json.result, `history ${h.body}`);
  const ns = h.json.result.publications.map((x) => x.data.n);
  assert(JSON.stringify(ns) === '[1,2]' && h.json.result.offset === 2 &&
    h.json.result.epoch === r1.json.result.epoch, `history ${h.body}`);
  const wrong = await callApi(n1.port, KEY, 'history', { channel: 'api', limit: -1, since: { offset: 1, epoch: 'nope' } });
  assert(wrong.json && wrong.json.error && wrong.json.error.code === 112, `history, another epoch: ${wrong.body}`);
  const pr = await callApi(n1.port, KEY, 'presence', { channel: 'api' });
  const members = Object.values((pr.json && pr.json.result && pr.json.result.presence) || {});
  assert(members.length === 1 && members[0].user === 'ivy', `presence ${pr.body}`);
  const ps = await callApi(n1.port, KEY, 'presence_stats', { channel: 'api' });
  assert(ps.json && ps.json.result && ps.json.result.num_clients === 1 && ps.json.result.num_users === 1,
    `presence_stats ${ps.body}`);
  a.c.disconnect();
});

check('a publisher subscribed to its channel gets each publish reply before the publication', async () => {
  // raw protocol lines, to see the order on the wire
  const ws = new WebSocket(`${n2.url}/connection/websocket`, { perMessageDeflate: false });
  const lines = [];
  ws.on('message', (d) => lines.push(...d.toString().split('\n').map((l) => JSON.parse(l))));
  await withTimeout(new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); }), 5000, 'open');
  ws.send('{"id":1,"connect":{"data":{"user":"own"}}}\n{"id":2,"subscribe":{"channel":"own"}}');
  await waitFor(() => lines.some((l) => l.id === 2), 5000, 'subscribed');
  const N = 30;
  ws.send(Array.from({ length: N }, (_, i) => JSON.stringify({ id: 100 + i, publish: { channel: 'own', data: { n: i } } })).join('\n'));
  await waitFor(() => lines.filter((l) => l.push && l.push.pub).length >= N, 8000, 'publications');
  for (let i = 0; i < N; i++) {
    const reply = lines.findIndex((l) => l.id === 100 + i);
    const pub = lines.findIndex((l) => l.push && l.push.pub && l.push.pub.data.n === i);
    assert(reply >= 0 && reply < pub, `publish ${i}: reply at ${reply}, publication at ${pub}`);
  }
  ws.close();
});

check('history from another node than the publisher', async () => {
  const p = client(n1, 'pat');
  await publishN(p, 'log', 1, 7);
  const h = await subscriber(n3, 'hal', 'log');
  const r = await h.sub.history({ limit: -1 });
  const ns = r.publications.map((x) => x.data.n);
  assert(JSON.stringify(ns) === JSON.stringify([1, 2, 3, 4, 5, 6, 7]), `history ${JSON.stringify(ns)}`);
  assert(r.offset === 7 && r.epoch, `position ${r.offset} ${r.epoch}`);
  h.c.disconnect(); p.disconnect();
});

check('presence lists the clients of every node; join and leave cross nodes', async () => {
  const a = client(n1, 'amy');
  const joins = [], leaves = [];
  const sa = a.newSubscription('room', { joinLeave: true });
  sa.on('join', (ctx) => joins.push(ctx.info.user));
  sa.on('leave', (ctx) => leaves.push(ctx.info.user));
  sa.subscribe();
  await sa.ready(5000);
  const b = await subscriber(n2, 'ben', 'room');
  const c = await subscriber(n3, 'cal', 'room');
  const c2 = await subscriber(n3, 'cal', 'room');
  const p = await sa.presence();
  const users = Object.values(p.clients).map((x) => x.user).sort();
  assert(JSON.stringify(users) === JSON.stringify(['amy', 'ben', 'cal', 'cal']),
    `presence ${JSON.stringify(p.clients)}`);
  const st = await b.sub.presenceStats();
  assert(st.numClients === 4 && st.numUsers === 3, `stats ${JSON.stringify(st)}`);
  await waitFor(() => joins.length >= 4, 5000, `joins ${JSON.stringify(joins)}`);
  assert(JSON.stringify([...joins].sort()) === JSON.stringify(['amy', 'ben', 'cal', 'cal']),
    `joins ${JSON.stringify(joins)}`);
  b.c.disconnect();
  await waitFor(() => leaves.includes('ben'), 5000, `leave of ben (${JSON.stringify(leaves)})`);
  const after = await sa.presence();
  assert(Object.keys(after.clients).length === 3, `presence after ben left ${JSON.stringify(after.clients)}`);
  a.disconnect(); c.c.disconnect(); c2.c.disconnect();
});

check('the API on one node reaches the user on every node: send, subscribe, disconnect', async () => {
  const on2 = client(n2, 'zed'), on3 = client(n3, 'zed');
  const msgs = [], subs = [], closes = [], zoneData = [];
  for (const c of [on2, on3]) {
    c.on('message', (ctx) => msgs.push(ctx.data));
    c.on('subscribed', (ctx) => subs.push(ctx.channel));
    c.on('subscribed', (ctx) => { if (ctx.channel === 'zone') zoneData.push(ctx.data); });
    c.on('disconnected', (ctx) => closes.push(ctx.code));
  }
  await on2.ready(5000);
  await on3.ready(5000);
  const api = (method, body) => callApi(n1.port, KEY, method, body);
  const r = await api('send', { user: 'zed', data: { hi: 1 } });
  assert(r.status === 200 && r.json.result, `send ${r.body}`);
  await waitFor(() => msgs.length >= 2, 5000, `messages (${JSON.stringify(msgs)})`);
  await api('subscribe', { user: 'zed', channel: 'zone', data: { z: [1] }, info: { seat: 3 } });
  await waitFor(() => subs.filter((x) => x === 'zone').length >= 2, 5000, `server-side subscriptions (${JSON.stringify(subs)})`);
  assert(zoneData.length === 2 && zoneData.every((d) => JSON.stringify(d) === '{"z":[1]}'),
    `subscribe data on each node ${JSON.stringify(zoneData)}`);
  const pr = await api('presence', { channel: 'zone' });
  const members = Object.values(pr.json.result.presence);
  assert(members.length === 2 && members.every((m) => m.user === 'zed' && m.chan_info && m.chan_info.seat === 3),
    `presence with the channel info ${pr.body}`);
  const p = client(n1, 'pat');
  await p.publish('zone', { n: 1 });
  await api('disconnect', { user: 'zed', code: 4500, reason: 'bye' });
  await waitFor(() => closes.length >= 2, 5000, `disconnects (${JSON.stringify(closes)})`);
  assert(closes.every((x) => x === 4500), `codes ${JSON.stringify(closes)}`);
  p.disconnect();
});

check('API refresh on one node reaches the user on every node: expired closes 3005', async () => {
  const on2 = client(n2, 'rae'), on3 = client(n3, 'rae');
  const codes = [];
  for (const c of [on2, on3]) c.on('connecting', (ctx) => codes.push(ctx.code));
  await on2.ready(5000);
  await on3.ready(5000);
  codes.length = 0;
  const r = await callApi(n1.port, KEY, 'refresh', { user: 'rae', expired: true });
  assert(r.status === 200 && r.json.result, `refresh ${r.body}`);
  await waitFor(() => codes.length >= 2, 5000, `reconnects (${JSON.stringify(codes)})`);
  assert(codes.every((x) => x === 3005), `codes ${JSON.stringify(codes)}`);
  on2.disconnect();
  on3.disconnect();
});

check('a login on node 1 is good on node 3; a logout on node 2 ends it on every node', async () => {
  const login = await postForm(n1.port, '/login', 'user=sam');
  assert(login.status === 200 && login.json && login.json.user === 'sam', `login ${login.status} ${JSON.stringify(login.json)}`);
  const cookie = String(login.headers['set-cookie']).split(';')[0];
  assert(/^wsp_sid=[0-9a-f]{32}$/.test(cookie), `cookie ${cookie}`);
  const c3 = cookieClient(n3, cookie), c1 = cookieClient(n1, cookie);
  await c3.ready(5000);
  await c1.ready(5000);
  for (const c of [c3, c1]) {
    const who = await c.rpc('whoami', {});
    assert(who.data.user === 'sam', `whoami ${JSON.stringify(who.data)}`);
  }
  const closes = [];
  c3.on('disconnected', (ctx) => closes.push(ctx.code));
  c1.on('disconnected', (ctx) => closes.push(ctx.code));
  const out = await postForm(n2.port, '/logout', '', { Cookie: cookie });
  assert(out.status === 200, `logout ${out.status} ${JSON.stringify(out.json)}`);
  await waitFor(() => closes.length >= 2, 5000, `disconnects (${JSON.stringify(closes)})`);
  assert(closes.every((x) => x === 3503), `codes ${JSON.stringify(closes)}`);
  // the cookie proves nothing any more, on any node
  const again = cookieClient(n3, cookie);
  await again.ready(5000);
  const who = await again.rpc('whoami', {});
  assert(who.data.user === '', `after logout: ${JSON.stringify(who.data)}`);
  again.disconnect();
});

check('node 1 killed (SIGKILL) while publishing: every acknowledged publication kept', async () => {
  const live = await subscriber(n3, 'liv', 'kill');
  const p = client(n1, 'pat');
  await p.ready(5000);
  const acked = [];
  let stop = false;
  const loop = (async () => {
    for (let i = 1; !stop && i <= 250; i++) { // all fit one history call
      try { await p.publish('kill', { n: i }); acked.push(i); } catch { return; }
    }
  })();
  await waitFor(() => acked.length >= 100, 10000, 'a hundred acknowledged');
  n1.proc.kill('SIGKILL');
  n1.killed = true;
  await withTimeout(n1.exited, 5000, 'node 1 exit');
  stop = true;
  p.disconnect();
  await loop;
  const h = await subscriber(n2, 'his', 'kill');
  const r = await h.sub.history({ limit: -1 });
  const stored = r.publications.map((x) => x.data.n);
  const want = new Set(acked);
  for (const n of want) assert(stored.includes(n), `acknowledged ${n} not in the history`);
  for (let i = 1; i < r.publications.length; i++)
    assert(r.publications[i].offset === r.publications[i - 1].offset + 1, 'gapless offsets');
  assert(JSON.stringify(stored) === JSON.stringify([...stored].sort((x, y) => x - y)), 'in order');
  await waitFor(() => live.log.pubs.length >= acked.length, 5000, `live deliveries on node 3 (${live.log.pubs.length} of ${acked.length})`);
  exactly(live.log.pubs.slice(0, acked.length), 1, acked.length, 'live on node 3');
  live.c.disconnect(); h.c.disconnect();
  return `${acked.length} acknowledged, ${stored.length} stored`;
});

check('Redis restarted empty: recovered: false with a new epoch, then live again', async () => {
  if (n1.killed) n1 = await node('n1b');
  const a = await subscriber(n1, 'rob', 'lost');
  const p = client(n2, 'pat');
  await publishN(p, 'lost', 1, 3);
  await waitFor(() => a.log.pubs.length === 3, 5000, 'three live');
  const pos = { offset: a.log.pubs[2].offset, epoch: a.log.subscribed[0].streamPosition.epoch };
  a.c.disconnect();
  await stopRedis();
  await startRedis();
  // the nodes reconnect by themselves; the publisher's publish works again
  const pubErr = await (async () => {
    for (let i = 0; i < 50; i++) {
      const e = await errorOf(p.publish('lost', { n: 100 }));
      if (!e) return null;
      await sleep(100);
    }
    return new Error('publish never worked again');
  })();
  assert(!pubErr, pubErr && pubErr.message);
  const b = await subscriber(n3, 'rob', 'lost', pos);
  const ctx = b.log.subscribed[0];
  assert(ctx.wasRecovering && !ctx.recovered, `subscribed ${JSON.stringify(ctx)}`);
  assert(ctx.streamPosition.epoch !== pos.epoch, `epoch ${ctx.streamPosition.epoch} unchanged`);
  b.c.disconnect(); p.disconnect();
});

check('Redis stalled (SIGSTOP): noticed by the probe, subscribers told 2500, live again after', async () => {
  const a = client(n2, 'sal');
  const codes = [];
  const sub = a.newSubscription('stall');
  const got = [];
  sub.on('subscribing', (ctx) => codes.push(ctx.code));
  sub.on('publication', (ctx) => got.push(ctx.data.n));
  sub.subscribe();
  await sub.ready(5000);
  redis.proc.kill('SIGSTOP');
  try {
    await waitFor(() => codes.includes(2500), 8000, `the stall noticed (${JSON.stringify(codes)})`);
  } finally {
    redis.proc.kill('SIGCONT');
  }
  await sub.ready(8000);
  const p = client(n1, 'pat');
  await withTimeout((async () => {
    for (;;) {
      if (!(await errorOf(p.publish('stall', { n: 1 })))) return;
      await sleep(100);
    }
  })(), 8000, 'publish after the stall');
  await waitFor(() => got.includes(1), 5000, 'live after the stall');
  a.disconnect(); p.disconnect();
});

check('Redis stopped: errors, no crash; back to work when it returns', async () => {
  const p = client(n1, 'pat');
  await p.ready(5000);
  await stopRedis();
  const e = await errorOf(withTimeout(p.publish('down', { n: 1 }), 8000, 'publish while down'));
  assert(e && e.code === 100, `publish while Redis is down: ${e && JSON.stringify(e)}`);
  for (const s of nodes) assert(s.proc.exitCode === null, 'a node exited');
  await startRedis();
  const a = await (async () => {
    for (let i = 0; i < 50; i++) {
      try { return await subscriber(n2, 'sue', 'down'); } catch { await sleep(100); }
    }
    throw new Error('subscribe never worked again');
  })();
  await withTimeout((async () => {
    for (;;) {
      if (!(await errorOf(p.publish('down', { n: 2 })))) return;
      await sleep(100);
    }
  })(), 8000, 'publish after Redis returned');
  await waitFor(() => a.log.pubs.length >= 1, 5000, 'delivery after Redis returned');
  a.c.disconnect(); p.disconnect();
});

await run({
  perCheckMs: 20000,
  totalMs: 120000,
  before: async () => {
    await startRedis();
    n1 = await node('n1');
    n2 = await node('n2');
    n3 = await node('n3');
    await sleep(200); // the nodes connect to Redis
  },
  after: async () => {
    for (const c of clients) c.disconnect();
    if (redis) await stopRedis();
  },
});
