// Channel history and recovery of wsp-demo against the official centrifuge
// client (Node, over the ws package): a subscriber's connection is cut,
// 50 publications happen meanwhile, and on reconnect it gets exactly those
// 50, in order, with recovered: true; with the retention exceeded it is
// told recovered: false; the same across a restart of wsp-demo with
// --data-dir, both ways (and recovered: false across a restart of the
// memory store).
// Also history() from the client and the history API methods.
//   node recovery.mjs WSP_DEMO_EXE
// Prints one line per check and "N passed, M failed"; exits 1 on failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assert, callApi, check, clientAndExe, cutAndWait, errorOf, exactly, run, startDemo, waitFor, withTimeout } from './harness.mjs';

const { Centrifuge, WebSocket, exe } = await clientAndExe('recovery.mjs', 'WSP_DEMO_EXE');

const KEY = 'test-key-' + process.pid;
const RECONNECT_MS = 1500; // long enough to publish 50 while it is away
const servers = [];
const clients = [];
const dirs = [];

class BrowserLikeWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols, { allowSynchronousEvents: false, perMessageDeflate: false });
  }
}

async function demo(args) {
  const s = await startDemo(exe, ['--api-key', KEY, ...args]);
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

// A client of user subscribed to channel (recovering from since, when
// given); log.pubs holds every publication it was handed, log.subscribed
// every subscribed event.
async function subscriber(s, user, channel, since = null) {
  const c = new Centrifuge(`${s.url}/connection/websocket`, {
    websocket: BrowserLikeWebSocket,
    data: { user },
    minReconnectDelay: RECONNECT_MS,
    maxReconnectDelay: RECONNECT_MS,
  });
  clients.push(c);
  const log = { pubs: [], subscribed: [], connecting: [] };
  c.on('connecting', (ctx) => log.connecting.push(ctx));
  const sub = c.newSubscription(channel, since ? { since } : {});
  sub.on('publication', (ctx) => log.pubs.push({ n: ctx.data.n, offset: ctx.offset }));
  sub.on('subscribed', (ctx) => log.subscribed.push(ctx));
  c.connect();
  sub.subscribe();
  await sub.ready(5000);
  return { c, sub, log };
}

const cut = (s, sc, user, meanwhile) => cutAndWait(
  () => result(s, 'disconnect', { user, code: 3011, reason: 'cut' }), sc.log, meanwhile, RECONNECT_MS);

check('cut connection: exactly the 50 missed publications, in order, recovered: true', async () => {
  const s = await demo([]);
  const sc = await subscriber(s, 'rita', 'feed');
  const first = sc.log.subscribed[0];
  assert(first.recoverable && first.positioned && first.streamPosition && first.streamPosition.epoch,
    `first subscribe ${JSON.stringify(first)}`);
  await publishN(s, 'feed', 1, 5);
  await waitFor(() => sc.log.pubs.length === 5, 3000, 'five live publications');
  sc.log.pubs.length = 0;
  const ctx = await cut(s, sc, 'rita', () => publishN(s, 'feed', 6, 50));
  assert(ctx.wasRecovering && ctx.recovered, `subscribed ${JSON.stringify(ctx)}`);
  await waitFor(() => sc.log.pubs.length >= 50, 3000, `50 recovered (have ${sc.log.pubs.length})`);
  exactly(sc.log.pubs, 6, 50, 'recovered');
  assert(sc.log.pubs[0].offset === 6, `first offset ${sc.log.pubs[0].offset}`);
  // then live ones, with no gap and no duplicate
  await publishN(s, 'feed', 56, 3);
  await waitFor(() => sc.log.pubs.length >= 53, 3000, 'live after recovery');
  exactly(sc.log.pubs, 6, 53, 'recovered then live');
  sc.c.disconnect();
  await stop(s);
  return `offsets ${sc.log.pubs[0].offset}..${sc.log.pubs[52].offset}`;
});

check('retention exceeded while away: recovered: false, no publications', async () => {
  const s = await demo(['--history-size', '10']);
  const sc = await subscriber(s, 'rex', 'feed');
  await publishN(s, 'feed', 1, 2);
  await waitFor(() => sc.log.pubs.length === 2, 3000, 'two live publications');
  sc.log.pubs.length = 0;
  const ctx = await cut(s, sc, 'rex', () => publishN(s, 'feed', 3, 50));
  assert(ctx.wasRecovering && !ctx.recovered, `subscribed ${JSON.stringify(ctx)}`);
  assert(ctx.streamPosition.offset === 52, `position ${JSON.stringify(ctx.streamPosition)}`);
  await publishN(s, 'feed', 53, 1);
  await waitFor(() => sc.log.pubs.length >= 1, 3000, 'the next live publication');
  exactly(sc.log.pubs, 53, 1, 'after a failed recovery, only live ones');
  // history from a position no longer kept: as Centrifuge, the kept ones
  // from the oldest (44..53), whose first offset shows what was missed
  const kept = await sc.sub.history({ limit: -1, since: { offset: 2, epoch: ctx.streamPosition.epoch } });
  assert(JSON.stringify(kept.publications.map((p) => p.offset)) ===
    JSON.stringify([44, 45, 46, 47, 48, 49, 50, 51, 52, 53]), `history since evicted ${JSON.stringify(kept)}`);
  sc.c.disconnect();
  await stop(s);
});

check('restart with --data-dir: the 50 published after the restart are recovered', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsp-recovery-'));
  dirs.push(dir);
  const args = ['--data-dir', dir, '--fsync', 'always'];
  let s = await demo(args);
  const port = s.port;
  const sc = await subscriber(s, 'sam', 'durable');
  await publishN(s, 'durable', 1, 7);
  await waitFor(() => sc.log.pubs.length === 7, 3000, 'seven live publications');
  const epoch = sc.log.subscribed[0].streamPosition.epoch;
  sc.log.pubs.length = 0;
  const before = sc.log.subscribed.length;
  await stop(s); // the client is cut with 3001 and reconnects
  s = await demo([...args, '--listen', `127.0.0.1:${port}`]);
  const t0 = Date.now();
  await publishN(s, 'durable', 8, 50);
  assert(Date.now() - t0 < RECONNECT_MS, 'publishing took longer than the reconnect delay');
  await waitFor(() => sc.log.subscribed.length > before, 10000, 'resubscribed after the restart');
  const ctx = sc.log.subscribed[sc.log.subscribed.length - 1];
  assert(ctx.wasRecovering && ctx.recovered, `subscribed ${JSON.stringify(ctx)}`);
  assert(ctx.streamPosition.epoch === epoch, `epoch ${epoch} -> ${ctx.streamPosition.epoch}`);
  await waitFor(() => sc.log.pubs.length >= 50, 3000, `50 recovered (have ${sc.log.pubs.length})`);
  exactly(sc.log.pubs, 8, 50, 'recovered across the restart');
  assert(sc.log.pubs[0].offset === 8, `offsets continue: first ${sc.log.pubs[0].offset}`);
  sc.c.disconnect();
  await stop(s);
  return `epoch ${epoch}, offsets 8..57`;
});

check('restart with --data-dir, retention exceeded meanwhile: recovered: false', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsp-recovery-'));
  dirs.push(dir);
  const args = ['--data-dir', dir, '--history-size', '10'];
  let s = await demo(args);
  const port = s.port;
  const sc = await subscriber(s, 'tom', 'durable');
  await publishN(s, 'durable', 1, 3);
  await waitFor(() => sc.log.pubs.length === 3, 3000, 'three live publications');
  const epoch = sc.log.subscribed[0].streamPosition.epoch;
  const before = sc.log.subscribed.length;
  await stop(s);
  s = await demo([...args, '--listen', `127.0.0.1:${port}`]);
  const t0 = Date.now();
  await publishN(s, 'durable', 4, 50);
  assert(Date.now() - t0 < RECONNECT_MS, 'publishing took longer than the reconnect delay');
  await waitFor(() => sc.log.subscribed.length > before, 10000, 'resubscribed after the restart');
  const ctx = sc.log.subscribed[sc.log.subscribed.length - 1];
  assert(ctx.wasRecovering && !ctx.recovered, `subscribed ${JSON.stringify(ctx)}`);
  assert(ctx.streamPosition.epoch === epoch && ctx.streamPosition.offset === 53,
    `position ${JSON.stringify(ctx.streamPosition)} (epoch before: ${epoch})`);
  sc.c.disconnect();
  await stop(s);
});

check('restart of the memory store: a new epoch, recovered: false', async () => {
  let s = await demo([]);
  const port = s.port;
  const sc = await subscriber(s, 'mo', 'volatile');
  await publishN(s, 'volatile', 1, 3);
  await waitFor(() => sc.log.pubs.length === 3, 3000, 'three live publications');
  const epoch = sc.log.subscribed[0].streamPosition.epoch;
  const before = sc.log.subscribed.length;
  await stop(s);
  s = await demo(['--listen', `127.0.0.1:${port}`]);
  await waitFor(() => sc.log.subscribed.length > before, 10000, 'resubscribed after the restart');
  const ctx = sc.log.subscribed[sc.log.subscribed.length - 1];
  assert(ctx.wasRecovering && !ctx.recovered, `subscribed ${JSON.stringify(ctx)}`);
  assert(ctx.streamPosition.epoch !== epoch, 'the epoch did not change');
  sc.c.disconnect();
  await stop(s);
});

check('history from the client and the history API methods', async () => {
  const s = await demo([]);
  const sc = await subscriber(s, 'hal', 'log');
  await publishN(s, 'log', 1, 12);
  const top = await sc.sub.history({ limit: 0 });
  assert(top.offset === 12 && top.publications.length === 0 && top.epoch, `top ${JSON.stringify(top)}`);
  const fwd = await sc.sub.history({ limit: 3, since: { offset: 4, epoch: top.epoch } });
  assert(JSON.stringify(fwd.publications.map((p) => p.data.n)) === '[5,6,7]', `forwards ${JSON.stringify(fwd)}`);
  const rev = await sc.sub.history({ limit: 2, reverse: true });
  assert(JSON.stringify(rev.publications.map((p) => p.data.n)) === '[12,11]', `reverse ${JSON.stringify(rev)}`);
  const bad = await errorOf(sc.sub.history({ limit: 1, since: { offset: 1, epoch: 'nope' } }));
  assert(bad && bad.code === 112, `wrong epoch: ${JSON.stringify(bad)}`);
  // as Centrifuge: beyond the top nothing, and no error, both ways
  for (const [opts, name] of [[{ limit: 5, since: { offset: 20, epoch: top.epoch } }, 'forwards'],
    [{ limit: 5, reverse: true, since: { offset: 20, epoch: top.epoch } }, 'reverse']]) {
    const beyond = await sc.sub.history(opts);
    assert(beyond.publications.length === 0 && beyond.offset === 12 && beyond.epoch === top.epoch,
      `${name} beyond the top ${JSON.stringify(beyond)}`);
    const apiBeyond = await result(s, 'history', { channel: 'log', ...opts });
    assert(apiBeyond.publications.length === 0 && apiBeyond.offset === 12,
      `API ${name} beyond the top ${JSON.stringify(apiBeyond)}`);
  }
  const api = await result(s, 'history', { channel: 'log', limit: 2, since: { offset: 10 } });
  assert(JSON.stringify(api.publications.map((p) => [p.data.n, p.offset])) === '[[11,11],[12,12]]' &&
    api.epoch === top.epoch && api.offset === 12, `API history ${JSON.stringify(api)}`);
  const apiRev = await result(s, 'history', { channel: 'log', limit: -1, reverse: true });
  assert(apiRev.publications.length === 12 && apiRev.publications[0].offset === 12, `API reverse ${apiRev.publications.length}`);
  const wrong = await callApi(s.port, KEY, 'history', { channel: 'log', limit: 1, since: { offset: 1, epoch: 'x' } });
  assert(wrong.json.error && wrong.json.error.code === 112, wrong.body);
  // history_remove, as Centrifugo's: the publications go, the position
  // (top offset and epoch) stays; the live subscriber goes on, the next
  // publication continues the offsets, and a client that missed some of
  // the removed ones learns it cannot recover them.
  await result(s, 'history_remove', { channel: 'log' });
  const gone = await result(s, 'history', { channel: 'log', limit: -1 });
  assert(gone.epoch === top.epoch && gone.offset === 12 && gone.publications.length === 0,
    `after history_remove ${JSON.stringify(gone)}`);
  const subscribed = sc.log.subscribed.length, got = sc.log.pubs.length;
  await publishN(s, 'log', 13, 1);
  await waitFor(() => sc.log.pubs.length === got + 1, 3000, 'the publication after history_remove');
  assert(sc.log.pubs[got].offset === 13 && sc.log.subscribed.length === subscribed,
    `live after history_remove ${JSON.stringify(sc.log.pubs[got])}, ${sc.log.subscribed.length} subscribes`);
  const late = await subscriber(s, 'lou', 'log', { offset: 5, epoch: top.epoch });
  const ctx = late.log.subscribed[0];
  assert(ctx.wasRecovering && !ctx.recovered && ctx.streamPosition.epoch === top.epoch &&
    ctx.streamPosition.offset === 13, `recovering removed publications ${JSON.stringify(ctx)}`);
  late.c.disconnect();
  sc.c.disconnect();
  await stop(s);
  const off = await demo(['--history-size', '0']);
  const na = await callApi(off.port, KEY, 'history', { channel: 'log' });
  assert(na.json.error && na.json.error.code === 108, `--history-size 0: ${na.body}`);
  await stop(off);
});

check('API publish and broadcast tell the offset and epoch a publication got', async () => {
  const s = await demo([]);
  const sc = await subscriber(s, 'pia', 'log');
  const epoch = sc.log.subscribed[0].streamPosition.epoch;
  await publishN(s, 'log', 1, 2);
  const pub = await result(s, 'publish', { channel: 'log', data: { n: 3 } });
  assert(pub.delivered === 1 && pub.offset === 3 && pub.epoch === epoch, `API publish ${JSON.stringify(pub)} (epoch ${epoch})`);
  const bc = await result(s, 'broadcast', { channels: ['log', 'other'], data: { n: 4 } });
  const [a, b] = bc.responses.map((r) => r.result);
  assert(a.delivered === 1 && a.offset === 4 && a.epoch === epoch && b.delivered === 0 && b.offset === 1 &&
    typeof b.epoch === 'string' && b.epoch && b.epoch !== epoch, `API broadcast ${JSON.stringify(bc)}`);
  await waitFor(() => sc.log.pubs.length === 4, 3000, 'four publications');
  assert(JSON.stringify(sc.log.pubs) === JSON.stringify([1, 2, 3, 4].map((n) => ({ n, offset: n }))),
    `publications ${JSON.stringify(sc.log.pubs)}`);
  // skip_history, as Centrifugo's: delivered, not stored, no position
  const skip = await result(s, 'publish', { channel: 'log', data: { n: 5 }, skip_history: true });
  assert(JSON.stringify(skip) === '{"delivered":1}', `skip_history ${JSON.stringify(skip)}`);
  await waitFor(() => sc.log.pubs.length === 5, 3000, 'the unstored publication');
  assert(sc.log.pubs[4].n === 5 && !sc.log.pubs[4].offset, `unstored ${JSON.stringify(sc.log.pubs[4])}`);
  const h = await result(s, 'history', { channel: 'log', limit: -1 });
  assert(h.offset === 4 && h.publications.length === 4, `history after skip_history ${JSON.stringify(h)}`);
  const bad = await callApi(s.port, KEY, 'publish', { channel: 'log', data: 1, skip_history: 'yes' });
  assert(bad.json.error && bad.json.error.code === 107, bad.body);
  // idempotency_key, as Centrifugo's: a repeat publishes nothing and gets the first result
  const once = await result(s, 'publish', { channel: 'log', data: { n: 6 }, idempotency_key: 'k-6' });
  const twice = await result(s, 'publish', { channel: 'log', data: { n: 6 }, idempotency_key: 'k-6' });
  assert(once.offset === 5 && JSON.stringify(once) === JSON.stringify(twice), `idempotent ${JSON.stringify([once, twice])}`);
  const after = await result(s, 'publish', { channel: 'log', data: { n: 7 } });
  assert(after.offset === 6, `after the repeat ${JSON.stringify(after)}`);
  await waitFor(() => sc.log.pubs.length === 7, 3000, 'two more publications');
  assert(JSON.stringify(sc.log.pubs.slice(5)) === JSON.stringify([{ n: 6, offset: 5 }, { n: 7, offset: 6 }]),
    `after idempotent publishing ${JSON.stringify(sc.log.pubs)}`);
  sc.c.disconnect();
  await stop(s);
  // Without history a publication has no position to tell.
  const off = await demo(['--history-size', '0']);
  const none = await result(off, 'publish', { channel: 'log', data: 1 });
  assert(JSON.stringify(none) === '{"delivered":0}', `no history: ${JSON.stringify(none)}`);
  await stop(off);
});

await run({
  perCheckMs: 20000,
  totalMs: 80000,
  after: async () => {
    for (const c of clients) c.disconnect();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  },
});
