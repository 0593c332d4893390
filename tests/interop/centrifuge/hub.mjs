// The README's complete hub (examples/hub.c) with the official centrifuge
// client: "whoami" answered at once with the caller's id, "next" answered
// at a later tick, a send pushed back to its sender alone, the "ticks"
// channel recoverable and positioned with every tick once and in order,
// and a subscriber whose socket is cut while ticks go on recovers exactly
// the ticks it missed; SIGTERM then ends the hub with status 0.
//   node hub.mjs HUB_EXE
// Prints one line per check and "N passed, M failed"; exits 1 on failure.
import { assert, check, clientAndExe, cutAndWait, errorOf, exactly, run, sleep, startDemo, waitFor, withTimeout } from './harness.mjs';

const { Centrifuge, WebSocket, exe } = await clientAndExe('hub.mjs', 'HUB_EXE');

const TICK_MS = 200; // examples/hub.c
const RECONNECT_MS = 1500; // several ticks happen while a client is away
const clients = [];
let hub;

// A WebSocket class that keeps every socket it opens in list, so that a
// test can cut one as a network failure would (no close handshake).
function browserLike(list) {
  return class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { allowSynchronousEvents: false, perMessageDeflate: false });
      list.push(this);
    }
  };
}

// A connected client; log.messages holds its message pushes,
// log.connecting its connecting events; cut() ends its current socket.
async function client() {
  const sockets = [];
  const c = new Centrifuge(`${hub.url}/connection/websocket`, {
    websocket: browserLike(sockets),
    minReconnectDelay: RECONNECT_MS,
    maxReconnectDelay: RECONNECT_MS,
  });
  clients.push(c);
  const log = { messages: [], connecting: [] };
  c.on('message', (ctx) => log.messages.push(ctx.data));
  c.on('connecting', (ctx) => log.connecting.push(ctx));
  const connected = new Promise((resolve) => c.once('connected', resolve));
  c.connect();
  const ctx = await withTimeout(connected, 5000, 'connect');
  return { c, id: ctx.client, log, cut: () => sockets[sockets.length - 1].terminate() };
}

// Subscribe c to "ticks"; log.pubs gets {n, offset} of every publication
// and log.subscribed every subscribed event. onPub runs on each.
async function ticks(cl, onPub = () => {}) {
  const sub = cl.c.newSubscription('ticks');
  Object.assign(cl.log, { pubs: [], subscribed: [] });
  sub.on('publication', (ctx) => {
    cl.log.pubs.push({ n: ctx.data.n, offset: ctx.offset, keys: Object.keys(ctx.data).join() });
    onPub(ctx);
  });
  sub.on('subscribed', (ctx) => cl.log.subscribed.push(ctx));
  sub.subscribe();
  await sub.ready(5000);
  return sub;
}

// Every tick once, in order, numbered as its offset (the hub's first
// tick is offset 1 of a fresh memory log).
function inOrder(pubs, what) {
  assert(pubs.length > 0, `${what}: no publications`);
  exactly(pubs, pubs[0].n, pubs.length, what);
  for (const p of pubs) assert(p.keys === 'n' && p.n === p.offset, `${what}: ${JSON.stringify(p)}`);
}

check('the hub starts and prints its port', async () => {
  hub = await startDemo(exe);
  return `port ${hub.port}`;
});

check('rpc whoami: answered at once with the caller\'s connection id', async () => {
  const a = await client(), b = await client();
  assert(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(a.id), `client id ${a.id}`);
  const ra = await a.c.rpc('whoami', {});
  const rb = await b.c.rpc('whoami', {});
  assert(JSON.stringify(ra.data) === JSON.stringify({ id: a.id }), `a: ${JSON.stringify(ra.data)} for ${a.id}`);
  assert(JSON.stringify(rb.data) === JSON.stringify({ id: b.id }), `b: ${JSON.stringify(rb.data)} for ${b.id}`);
  assert(a.id !== b.id, 'two clients, one id');
  a.c.disconnect();
  b.c.disconnect();
});

check('ticks: recoverable and positioned, live every TICK_MS, in order', async () => {
  const s = await client();
  const t0 = Date.now();
  await ticks(s);
  const first = s.log.subscribed[0];
  assert(first.recoverable && first.positioned && first.streamPosition && first.streamPosition.epoch &&
    Number.isInteger(first.streamPosition.offset), `subscribed ${JSON.stringify(first)}`);
  await waitFor(() => s.log.pubs.length >= 5, 5 * TICK_MS + 3000, 'five ticks');
  const ms = Date.now() - t0;
  inOrder(s.log.pubs, 'live');
  assert(s.log.pubs[0].offset === first.streamPosition.offset + 1,
    `first live offset ${s.log.pubs[0].offset} after position ${first.streamPosition.offset}`);
  assert(ms >= 4 * TICK_MS, `five ticks in ${ms} ms`);
  s.c.disconnect();
  return `five ticks in ${ms} ms`;
});

check('rpc next: answered later, by the tick after the call, with its number', async () => {
  const s = await client();
  const replies = [];
  let calls = 0;
  // From inside tick k's publication, two calls: both wait for the same
  // later tick, which reaches this client before their replies.
  await ticks(s, (ctx) => {
    if (calls >= 3) return;
    calls++;
    const k = ctx.data.n, at = Date.now();
    for (let j = 0; j < 2; j++) {
      s.c.rpc('next', {}).then((r) => replies.push({ k, data: r.data, ms: Date.now() - at,
        seen: s.log.pubs.map((p) => p.n) }), (e) => replies.push({ k, error: e }));
    }
  });
  await waitFor(() => replies.length === 6, 3 * TICK_MS + 5000, 'six replies');
  for (const r of replies) {
    assert(!r.error, `next after tick ${r.k}: ${JSON.stringify(r.error)}`);
    assert(JSON.stringify(Object.keys(r.data)) === '["n"]' && Number.isInteger(r.data.n),
      `reply ${JSON.stringify(r.data)}`);
    assert(r.data.n > r.k, `called after tick ${r.k}, answered with tick ${r.data.n}`);
    assert(r.seen.includes(r.data.n) && r.seen[r.seen.length - 1] === r.data.n,
      `reply ${r.data.n} before its tick arrived (seen ${r.seen})`);
  }
  for (let i = 0; i < 6; i += 2)
    assert(replies[i].data.n === replies[i + 1].data.n, `one tick answers both: ${replies[i].data.n}, ${replies[i + 1].data.n}`);
  s.c.disconnect();
  return replies.filter((_, i) => i % 2 === 0).map((r) => `tick ${r.k} -> ${r.data.n} in ${r.ms} ms`).join(', ');
});

check('rpc next from a client that leaves: the hub goes on', async () => {
  const gone = await client(), stays = await client();
  await ticks(gone);
  const n0 = gone.log.pubs.length;
  await waitFor(() => gone.log.pubs.length > n0, 3 * TICK_MS + 3000, 'a tick');
  // Called just after a tick, cut before the next: the hub then answers
  // a call whose client it has freed.
  const lost = errorOf(gone.c.rpc('next', {}));
  await sleep(TICK_MS / 4);
  gone.cut();
  const e = await withTimeout(lost, 3000, 'the call ended');
  gone.c.disconnect();
  await sleep(2 * TICK_MS);
  const r = await withTimeout(stays.c.rpc('next', {}), 3000, 'next');
  assert(Number.isInteger(r.data.n) && r.data.n > gone.log.pubs[gone.log.pubs.length - 1].n,
    `reply ${JSON.stringify(r.data)}`);
  const me = await stays.c.rpc('whoami', {});
  assert(me.data.id === stays.id, JSON.stringify(me.data));
  assert(hub.proc.exitCode === null && hub.proc.signalCode === null, 'the hub exited');
  stays.c.disconnect();
  return e ? `the cut call failed with ${e.code}` : 'the call was answered before the cut';
});

check('send: pushed back to its sender alone', async () => {
  const a = await client(), b = await client();
  const data = { text: 'h\u00e9llo', list: [1, 2.5, null, true], nested: { k: 'v' } };
  await a.c.send(data);
  await waitFor(() => a.log.messages.length === 1, 3000, 'the message push');
  assert(JSON.stringify(a.log.messages[0]) === JSON.stringify(data), `pushed ${JSON.stringify(a.log.messages[0])}`);
  await b.c.send({ to: 'b' });
  await waitFor(() => b.log.messages.length === 1, 3000, 'b\'s message push');
  await sleep(TICK_MS);
  assert(a.log.messages.length === 1 && b.log.messages.length === 1 &&
    JSON.stringify(b.log.messages[0]) === '{"to":"b"}',
  `a got ${JSON.stringify(a.log.messages)}, b got ${JSON.stringify(b.log.messages)}`);
  a.c.disconnect();
  b.c.disconnect();
});

check('a cut socket: on reconnect exactly the missed ticks, recovered: true', async () => {
  const s = await client(), watcher = await client();
  const sub = await ticks(s);
  await ticks(watcher);
  // What the watcher has seen when s is subscribed again: s missed those.
  let seenAtResubscribe = 0;
  sub.on('subscribed', () => { seenAtResubscribe = watcher.log.pubs[watcher.log.pubs.length - 1].n; });
  await waitFor(() => s.log.pubs.length >= 3, 3 * TICK_MS + 3000, 'three live ticks');
  let lastBefore, awayTop;
  const ctx = await cutAndWait(async () => s.cut(), s.log, async () => {
    lastBefore = s.log.pubs[s.log.pubs.length - 1].n;
    // the watcher sees three ticks the subscriber misses
    await waitFor(() => watcher.log.pubs.some((p) => p.n >= lastBefore + 3), 5 * TICK_MS, 'ticks while away');
    awayTop = watcher.log.pubs[watcher.log.pubs.length - 1].n;
  }, RECONNECT_MS);
  assert(ctx.wasRecovering && ctx.recovered, `subscribed ${JSON.stringify(ctx)}`);
  const why = s.log.connecting[s.log.connecting.length - 1];
  assert(why.code === 1, `connecting ${JSON.stringify(why)} (want 1, transport closed)`);
  const top = seenAtResubscribe;
  assert(top >= awayTop, `the watcher saw ${top} at the resubscribe, ${awayTop} before`);
  await waitFor(() => s.log.pubs[s.log.pubs.length - 1].n >= top + 2, 2 * TICK_MS + 3000,
    'live ticks after the recovery');
  inOrder(s.log.pubs, 'before, missed, then live');
  const missed = s.log.pubs.filter((p) => p.n > lastBefore && p.n <= top).length;
  assert(missed === top - lastBefore && missed >= 3, `missed ${missed}: ${lastBefore}..${top}`);
  inOrder(watcher.log.pubs, 'the watcher');
  s.c.disconnect();
  watcher.c.disconnect();
  return `ticks ${lastBefore + 1}..${top} recovered, then live to ${s.log.pubs[s.log.pubs.length - 1].n}`;
});

check('SIGTERM: the hub closes its connections and exits 0', async () => {
  const s = await client();
  const closed = new Promise((resolve) => s.c.once('connecting', resolve));
  hub.proc.kill('SIGTERM');
  const { code, signal } = await withTimeout(hub.exited, 5000, 'hub exit');
  assert(code === 0, `exit code ${code}, signal ${signal}`);
  const ctx = await withTimeout(closed, 3000, 'the client told');
  assert(ctx.code === 3001, `connecting ${JSON.stringify(ctx)}`);
  s.c.disconnect();
});

await run({
  perCheckMs: 15000,
  totalMs: 60000,
  after: async () => {
    for (const c of clients) c.disconnect();
  },
});
