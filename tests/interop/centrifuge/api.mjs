// The server API in Centrifugo's request shapes, against the official
// centrifuge client (Node, over the ws package) and the raw wire:
// subscribe with data, b64data and info (the client's subscribe push and
// presence), b64data on publish, broadcast and send, the channels method
// with its pattern, refresh (the refresh push, expiry, expired), and
// publication tags with the subscribe tags filter (tagsFilter).
//   node api.mjs WSP_DEMO_EXE
// Prints one line per check and "N passed, M failed"; exits 1 on failure.
import { assert, callApi, check, clientAndExe, run, startDemo, waitFor, withTimeout } from './harness.mjs';

const { Centrifuge, WebSocket, exe } = await clientAndExe('api.mjs', 'WSP_DEMO_EXE');

const KEY = 'api-key-' + process.pid;
const clients = [];
let s;

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');

async function api(method, body) {
  const r = await callApi(s.port, KEY, method, body);
  assert(r.status === 200 && r.json, `${method} ${JSON.stringify(body)}: ${r.status} ${r.body}`);
  return r.json;
}

async function result(method, body) {
  const j = await api(method, body);
  assert(j.result, `${method} ${JSON.stringify(body)}: ${JSON.stringify(j)}`);
  return j.result;
}

async function apiError(method, body) {
  const j = await api(method, body);
  assert(j.error, `${method} ${JSON.stringify(body)} should fail: ${JSON.stringify(j)}`);
  return j.error;
}

// A centrifuge client of user; log gathers its events.
async function client(user) {
  const c = new Centrifuge(`${s.url}/connection/websocket`, {
    websocket: WebSocket, data: { user }, minReconnectDelay: 100, maxReconnectDelay: 200,
  });
  clients.push(c);
  const log = { subscribed: [], pubs: [], messages: [], id: null };
  c.on('subscribed', (ctx) => log.subscribed.push(ctx));
  c.on('publication', (ctx) => log.pubs.push(ctx));
  c.on('message', (ctx) => log.messages.push(ctx.data));
  c.on('connected', (ctx) => { log.id = ctx.client; });
  c.connect();
  await waitFor(() => log.id, 5000, `${user} connected`);
  return { c, log };
}

// A raw protocol client of user: lines holds every parsed reply and
// push, closed the close code once closed.
async function raw(user) {
  const ws = new WebSocket(`${s.url}/connection/websocket`);
  const r = { ws, lines: [], closed: null };
  ws.on('message', (m) => {
    for (const line of m.toString().split('\n')) if (line) r.lines.push(JSON.parse(line));
  });
  ws.on('close', (code) => { r.closed = code; });
  await withTimeout(new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); }),
    3000, 'raw open');
  ws.send(JSON.stringify({ connect: { data: { user } }, id: 1 }));
  await waitFor(() => r.lines.some((l) => l.id === 1 && l.connect), 3000, 'raw connect reply');
  return r;
}

check('subscribe with data: the client\'s subscribed event carries it', async () => {
  const a = await client('ann');
  const res = await result('subscribe', { user: 'ann', channel: 'news', data: { hello: [1, 2] } });
  assert(res.connections === 1, `result ${JSON.stringify(res)}`);
  await waitFor(() => a.log.subscribed.some((x) => x.channel === 'news'), 3000, 'subscribed news');
  const ctx = a.log.subscribed.find((x) => x.channel === 'news');
  assert(JSON.stringify(ctx.data) === '{"hello":[1,2]}', `data ${JSON.stringify(ctx.data)}`);
  // and publications of the channel reach it
  await result('publish', { channel: 'news', data: { n: 1 } });
  await waitFor(() => a.log.pubs.length === 1, 3000, 'publication on news');
  a.c.disconnect();
});

check('subscribe with b64data and info: decoded data, chan_info in presence', async () => {
  const b = await client('bob');
  await result('subscribe', { user: 'bob', channel: 'room', b64data: b64({ x: 2 }), info: { seat: 7 } });
  await waitFor(() => b.log.subscribed.some((x) => x.channel === 'room'), 3000, 'subscribed room');
  const ctx = b.log.subscribed.find((x) => x.channel === 'room');
  assert(JSON.stringify(ctx.data) === '{"x":2}', `data ${JSON.stringify(ctx.data)}`);
  const p = await result('presence', { channel: 'room' });
  const member = p.presence[b.log.id];
  assert(member && member.user === 'bob' && member.chan_info && member.chan_info.seat === 7,
    `presence ${JSON.stringify(p)}`);
  await result('subscribe', { user: 'bob', channel: 'room2', b64info: b64({ seat: 8 }) });
  await waitFor(() => b.log.subscribed.some((x) => x.channel === 'room2'), 3000, 'subscribed room2');
  const p2 = await result('presence', { channel: 'room2' });
  assert(p2.presence[b.log.id].chan_info.seat === 8, `presence ${JSON.stringify(p2)}`);
  b.c.disconnect();
});

check('subscribe refuses data that is not JSON, and data with b64data', async () => {
  const c = await client('cid');
  const e1 = await apiError('subscribe', { user: 'cid', channel: 'x', b64data: b64('not json') });
  const e2 = await apiError('subscribe', { user: 'cid', channel: 'x', data: 1, b64data: b64(1) });
  const e3 = await apiError('subscribe', { user: 'cid', channel: 'x', b64data: '***' });
  for (const e of [e1, e2, e3]) assert(e.code === 107, `error ${JSON.stringify(e)}`);
  // nothing was subscribed
  const ch = await result('channels', { pattern: 'x' });
  assert(Object.keys(ch.channels).length === 0, `channels ${JSON.stringify(ch)}`);
  c.c.disconnect();
});

check('subscribe with client: only that connection, with its data', async () => {
  const d1 = await client('dan');
  const d2 = await client('dan');
  const res = await result('subscribe', { user: 'dan', client: d2.log.id, channel: 'solo', data: 'two' });
  assert(res.connections === 1, `result ${JSON.stringify(res)}`);
  await waitFor(() => d2.log.subscribed.some((x) => x.channel === 'solo'), 3000, 'd2 subscribed');
  assert(d2.log.subscribed.find((x) => x.channel === 'solo').data === 'two', 'data of d2');
  await new Promise((r) => setTimeout(r, 100));
  assert(!d1.log.subscribed.some((x) => x.channel === 'solo'), 'd1 must not be subscribed');
  d1.c.disconnect();
  d2.c.disconnect();
});

check('b64data on publish, broadcast and send', async () => {
  const e = await client('eve');
  await result('subscribe', { user: 'eve', channel: 'b1' });
  await result('subscribe', { user: 'eve', channel: 'b2' });
  await waitFor(() => e.log.subscribed.length === 2, 3000, 'two subscriptions');
  await result('publish', { channel: 'b1', b64data: b64({ p: 1 }) });
  const br = await result('broadcast', { channels: ['b1', 'b2'], b64data: b64({ p: 2 }) });
  assert(br.responses.length === 2 && br.responses.every((x) => x.result), `broadcast ${JSON.stringify(br)}`);
  await result('send', { user: 'eve', b64data: b64({ m: 3 }) });
  await waitFor(() => e.log.pubs.length === 3 && e.log.messages.length === 1, 3000, 'three pubs, one message');
  const got = e.log.pubs.map((p) => `${p.channel}:${JSON.stringify(p.data)}`).sort();
  assert(JSON.stringify(got) === '["b1:{\\"p\\":1}","b1:{\\"p\\":2}","b2:{\\"p\\":2}"]', `pubs ${got}`);
  assert(e.log.messages[0].m === 3, `message ${JSON.stringify(e.log.messages)}`);
  const bad = await apiError('publish', { channel: 'b1', b64data: b64('{"unterminated') });
  assert(bad.code === 107, `bad ${JSON.stringify(bad)}`);
  e.c.disconnect();
});

check('channels: subscribed channels with their clients, filtered by pattern', async () => {
  const f1 = await client('fay');
  const f2 = await client('gus');
  await result('subscribe', { user: 'fay', channel: 'chat:1' });
  await result('subscribe', { user: 'gus', channel: 'chat:1' });
  await result('subscribe', { user: 'gus', channel: 'chat:2' });
  await result('subscribe', { user: 'gus', channel: 'misc' });
  await waitFor(() => f2.log.subscribed.length === 3 && f1.log.subscribed.length === 1, 3000, 'subscribed');
  const all = (await result('channels', {})).channels;
  assert(all['chat:1'].num_clients === 2 && all['chat:2'].num_clients === 1 && all.misc.num_clients === 1,
    `channels ${JSON.stringify(all)}`);
  const chat = (await result('channels', { pattern: 'chat:*' })).channels;
  assert(JSON.stringify(Object.keys(chat).sort()) === '["chat:1","chat:2"]', `chat:* ${JSON.stringify(chat)}`);
  const one = (await result('channels', { pattern: 'chat:?' })).channels;
  assert(Object.keys(one).length === 2, `chat:? ${JSON.stringify(one)}`);
  const none = (await result('channels', { pattern: 'nope*' })).channels;
  assert(Object.keys(none).length === 0, `nope* ${JSON.stringify(none)}`);
  await result('unsubscribe', { user: 'gus', channel: 'chat:2' });
  const after = (await result('channels', { pattern: 'chat:*' })).channels;
  assert(!('chat:2' in after) && after['chat:1'].num_clients === 2, `after ${JSON.stringify(after)}`);
  f1.c.disconnect();
  f2.c.disconnect();
});

check('refresh: the refresh push with the new ttl, none, then expired closes 3005', async () => {
  const r = await raw('hal');
  const at = Math.floor(Date.now() / 1000) + 100;
  const res = await result('refresh', { user: 'hal', expire_at: at });
  assert(res.connections === 1, `result ${JSON.stringify(res)}`);
  await waitFor(() => r.lines.some((l) => l.push && l.push.refresh), 3000, 'refresh push');
  const push = r.lines.find((l) => l.push && l.push.refresh).push;
  assert(push.refresh.expires === true && push.refresh.ttl >= 98 && push.refresh.ttl <= 100,
    `push ${JSON.stringify(push)}`);
  assert(Object.keys(push).length === 1, `push has only refresh: ${JSON.stringify(push)}`);
  r.lines.length = 0;
  await result('refresh', { user: 'hal' });
  await waitFor(() => r.lines.some((l) => l.push && l.push.refresh), 3000, 'second refresh push');
  assert(JSON.stringify(r.lines.find((l) => l.push).push.refresh) === '{}', `push ${JSON.stringify(r.lines)}`);
  const none = await result('refresh', { user: 'nobody' });
  assert(none.connections === 0, `nobody ${JSON.stringify(none)}`);
  const bad = await apiError('refresh', { user: 'hal', expired: 'yes' });
  assert(bad.code === 107, `bad ${JSON.stringify(bad)}`);
  await result('refresh', { user: 'hal', expired: true });
  await waitFor(() => r.closed !== null, 3000, 'closed');
  assert(r.closed === 3005, `close code ${r.closed}`);
});

check('refresh with a past expire_at closes 3005; with client, only that one', async () => {
  const r1 = await raw('ivy');
  const r2 = await raw('ivy');
  const id2 = r2.lines.find((l) => l.id === 1).connect.client;
  await result('refresh', { user: 'ivy', client: id2, expire_at: 1 });
  await waitFor(() => r2.closed !== null, 3000, 'second closed');
  assert(r2.closed === 3005, `close code ${r2.closed}`);
  await new Promise((res) => setTimeout(res, 100));
  assert(r1.closed === null, 'the first connection stays');
  r1.ws.close();
});

check('tags: publish carries them; a tags filter delivers, recovers and skips by them', async () => {
  const tf = { op: 'and', nodes: [{ key: 'ticker', cmp: 'eq', val: 'BTC' }, { key: 'price', cmp: 'gt', val: '50000' }] };
  const a = await client('tia');
  const b = await client('tom');
  const fa = a.c.newSubscription('prices', { tagsFilter: tf });
  const fb = b.c.newSubscription('prices');
  const got = { a: [], b: [] };
  fa.on('publication', (ctx) => got.a.push(ctx));
  fb.on('publication', (ctx) => got.b.push(ctx));
  fa.subscribe();
  fb.subscribe();
  await fa.ready(5000);
  await fb.ready(5000);
  const pubs = [
    [{ n: 1 }, { ticker: 'BTC', price: '60000' }],
    [{ n: 2 }, { ticker: 'BTC', price: '40000.5' }],
    [{ n: 3 }, { ticker: 'ETH', price: '70000' }],
    [{ n: 4 }, null],
    [{ n: 5 }, { ticker: 'BTC', price: '50000.01' }],
  ];
  for (const [data, tags] of pubs) await result('publish', tags ? { channel: 'prices', data, tags } : { channel: 'prices', data });
  await waitFor(() => got.b.length === 5, 3000, 'all five to the unfiltered subscriber');
  await waitFor(() => got.a.length === 2, 3000, 'two to the filtered one');
  await new Promise((r) => setTimeout(r, 100));
  assert(JSON.stringify(got.a.map((x) => x.data.n)) === '[1,5]', `filtered ${JSON.stringify(got.a.map((x) => x.data))}`);
  assert(got.a[0].tags.ticker === 'BTC' && got.a[0].tags.price === '60000', `tags ${JSON.stringify(got.a[0].tags)}`);
  assert(got.b[3].tags === undefined || Object.keys(got.b[3].tags).length === 0, `no tags ${JSON.stringify(got.b[3])}`);
  // history keeps them, through the SDK and the API
  const h = await fb.history({ limit: 10 });
  assert(h.publications.length === 5 && h.publications[2].tags.ticker === 'ETH', `history ${JSON.stringify(h)}`);
  const ah = await result('history', { channel: 'prices', limit: 10 });
  assert(ah.publications[0].tags.price === '60000' && !ah.publications[3].tags, `api history ${JSON.stringify(ah)}`);
  // cut the filtered client: it recovers only what passes its filter
  const before = got.a.length;
  const sub = [];
  fa.on('subscribed', (ctx) => sub.push(ctx));
  a.c.disconnect();
  await result('publish', { channel: 'prices', data: { n: 6 }, tags: { ticker: 'BTC', price: '90000' } });
  await result('publish', { channel: 'prices', data: { n: 7 }, tags: { ticker: 'BTC', price: '1' } });
  await result('publish', { channel: 'prices', data: { n: 8 }, tags: { ticker: 'BTC', price: '99999' } });
  a.c.connect();
  await waitFor(() => sub.length === 1, 5000, 'resubscribed');
  assert(sub[0].wasRecovering && sub[0].recovered, `recovery ${JSON.stringify(sub[0])}`);
  await waitFor(() => got.a.length === before + 2, 3000, 'two recovered');
  assert(JSON.stringify(got.a.slice(before).map((x) => x.data.n)) === '[6,8]', `recovered ${JSON.stringify(got.a.map((x) => x.data))}`);
  // and live after it, still filtered
  await result('publish', { channel: 'prices', data: { n: 9 }, tags: { ticker: 'BTC', price: '1' } });
  await result('publish', { channel: 'prices', data: { n: 10 }, tags: { ticker: 'BTC', price: '50001' } });
  await waitFor(() => got.a.length === before + 3, 3000, 'the live one');
  assert(got.a[got.a.length - 1].data.n === 10, `live ${JSON.stringify(got.a.map((x) => x.data))}`);
  // tags that are not an object of strings are refused
  for (const tags of [{ a: 1 }, ['x'], 'x']) {
    const e = await apiError('publish', { channel: 'prices', data: 1, tags });
    assert(e.code === 107, `tags ${JSON.stringify(tags)}: ${JSON.stringify(e)}`);
  }
  a.c.disconnect();
  b.c.disconnect();
});

check('--server-time on: time in the connect result, publications and history', async () => {
  const t = await startDemo(exe, ['--api-key', KEY, '--server-time', 'on']);
  try {
    const ws = new WebSocket(`${t.url}/connection/websocket`);
    const lines = [];
    ws.on('message', (m) => { for (const l of m.toString().split('\n')) if (l) lines.push(JSON.parse(l)); });
    await withTimeout(new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); }), 3000, 'open');
    const before = Date.now();
    ws.send('{"connect":{},"id":1}\n{"subscribe":{"channel":"clock"},"id":2}');
    await waitFor(() => lines.length >= 2, 3000, 'connect and subscribe');
    const ct = lines[0].connect.time;
    assert(Number.isInteger(ct) && ct >= before - 2000 && ct <= Date.now() + 2000, `connect time ${ct} vs ${before}`);
    const r = await callApi(t.port, KEY, 'publish', { channel: 'clock', data: { x: 1 } });
    assert(r.json && r.json.result, `publish ${r.body}`);
    await waitFor(() => lines.length >= 3, 3000, 'the publication');
    const pt = lines[2].push.pub.time;
    assert(Number.isInteger(pt) && pt >= ct && pt <= Date.now() + 2000, `publication time ${pt}`);
    ws.send('{"history":{"channel":"clock","limit":-1},"id":3}');
    await waitFor(() => lines.length >= 4, 3000, 'history');
    assert(lines[3].history.publications[0].time === pt, `history time ${JSON.stringify(lines[3])}`);
    ws.close();
  } finally {
    t.proc.kill('SIGTERM');
    await withTimeout(t.exited, 5000, 'second wsp-demo exit');
  }
});

check('members of Centrifugo requests this API cannot honour are refused, named', async () => {
  const cases = [
    ['publish', { channel: 'v', data: 1, version: 2 }, 'version'],
    ['publish', { channel: 'v', data: 1, version_epoch: 'e' }, 'version_epoch'],
    ['broadcast', { channels: ['v'], data: 1, version: 2 }, 'version'],
    ['subscribe', { user: 'u', channel: 'v', recover_since: { offset: 1, epoch: 'e' } }, 'recover_since'],
    ['subscribe', { user: 'u', channel: 'v', override: { presence: { value: true } } }, 'override'],
    ['subscribe', { user: 'u', channel: 'v', session: 's' }, 'session'],
    ['unsubscribe', { user: 'u', channel: 'v', session: 's' }, 'session'],
    ['disconnect', { user: 'u', whitelist: ['c'] }, 'whitelist'],
    ['refresh', { user: 'u', info: { a: 1 } }, 'info'],
  ];
  for (const [method, body, member] of cases) {
    const e = await apiError(method, body);
    assert(e.code === 107 && e.message === `${member} is not supported`, `${method} ${member}: ${JSON.stringify(e)}`);
  }
  // null is as good as absent
  const ok = await result('publish', { channel: 'v', data: 1, version: null });
  assert(ok.delivered === 0, `null version ${JSON.stringify(ok)}`);
  const unknown = await api('batch', { commands: [] });
  assert(unknown.error && unknown.error.code === 104, `batch ${JSON.stringify(unknown)}`);
});

await run({
  before: async () => { s = await startDemo(exe, ['--api-key', KEY]); },
  after: async () => {
    for (const c of clients) c.disconnect();
    s.proc.kill('SIGTERM');
    const { code } = await withTimeout(s.exited, 5000, 'wsp-demo exit');
    assert(code === 0, `wsp-demo exit code ${code}`);
  },
});
