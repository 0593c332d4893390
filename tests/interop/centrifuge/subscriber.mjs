// The C client role (examples/subscriber.c, on wsp_rpc_client) as a
// subscriber of wsp-demo next to the official centrifuge client (Node,
// over the ws package): the centrifuge client sees what the C program
// publishes, and the C program sees what the centrifuge client publishes;
// cut, it reconnects and recovers exactly the publications it missed,
// with recovered set, then goes on live; with the history exceeded
// meanwhile it is told it did not recover.
//   node subscriber.mjs WSP_DEMO_EXE SUBSCRIBER_EXE
// Prints one line per check and "N passed, M failed"; exits 1 on failure.
import { spawn } from 'node:child_process';
import { assert, callApi, check, clientAndExe, run, startDemo, waitFor, withTimeout } from './harness.mjs';

const { Centrifuge, WebSocket, exe } = await clientAndExe('subscriber.mjs', 'WSP_DEMO_EXE SUBSCRIBER_EXE');
const subscriberExe = process.argv[3];
if (!subscriberExe) {
  console.log('usage: node subscriber.mjs WSP_DEMO_EXE SUBSCRIBER_EXE');
  process.exit(2);
}

const KEY = 'test-key-' + process.pid;
const RECONNECT_MS = 1500; // long enough to publish 50 while it is away
const clients = [];
const procs = new Set();

class BrowserLikeWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols, { allowSynchronousEvents: false, perMessageDeflate: false });
  }
}

// The centrifuge client of user js subscribed to channel: log holds the
// publications it gets, as {n, offset, user}.
async function jsClient(s, channel) {
  const c = new Centrifuge(`${s.url}/connection/websocket`, { websocket: BrowserLikeWebSocket, data: { user: 'js' } });
  clients.push(c);
  const log = [];
  const sub = c.newSubscription(channel);
  sub.on('publication', (ctx) => log.push({ n: ctx.data.n, offset: ctx.offset, user: ctx.info && ctx.info.user }));
  c.connect();
  sub.subscribe();
  await sub.ready(5000);
  return { c, sub, log };
}

// examples/subscriber as user cee; out.lines grows with its output,
// out.exited resolves to its exit code.
function cSubscriber(port, args) {
  const p = spawn(subscriberExe, ['--port', String(port), '--user', 'cee', '--reconnect-ms', String(RECONNECT_MS),
    '--timeout', '20000', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.add(p);
  const out = { lines: [], p };
  let buf = '';
  p.stdout.on('data', (d) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop();
    out.lines.push(...parts);
  });
  out.exited = new Promise((resolve) => p.on('exit', (code) => { procs.delete(p); resolve(code); }));
  return out;
}

// The publications the C program printed: {offset, recovered, n}.
const pubsOf = (out) => out.lines.filter((l) => l.startsWith('pub ')).map((l) => {
  const [, offset, how, ...data] = l.split(' ');
  return { offset: Number(offset), recovered: how === 'r', n: JSON.parse(data.join(' ')).n };
});
const subscribedOf = (out) => out.lines.filter((l) => l.startsWith('subscribed ')).map((l) => {
  const [, recovered, offset, epoch] = l.split(' ');
  return { recovered: recovered === '1', offset: Number(offset), epoch };
});

async function publishJs(sub, from, n) {
  for (let i = from; i < from + n; i++) await sub.publish({ n: i });
}

async function cut(s) {
  const r = await callApi(s.port, KEY, 'disconnect', { user: 'cee', code: 3011, reason: 'cut' });
  assert(r.status === 200 && r.json && r.json.result && r.json.result.connections === 1, `disconnect: ${r.body}`);
}

check('C publishes to a centrifuge client, is cut and recovers exactly the 50 it missed', async () => {
  const s = await startDemo(exe, ['--api-key', KEY]);
  const js = await jsClient(s, 'feed');
  const out = cSubscriber(s.port, ['--publish', '{"n":1}', 'feed', '60']);
  // its own publication, seen by the centrifuge client with its user
  await waitFor(() => js.log.length === 1, 5000, 'the C publication at the centrifuge client');
  assert(js.log[0].n === 1 && js.log[0].user === 'cee' && js.log[0].offset === 1, `js saw ${JSON.stringify(js.log[0])}`);
  await waitFor(() => out.lines.includes('published 0'), 3000, 'the publish reply in C');
  await publishJs(js.sub, 2, 4);
  await waitFor(() => pubsOf(out).length === 5, 3000, 'five live publications in C');
  const first = subscribedOf(out)[0];
  assert(first && !first.recovered && first.offset === 0 && first.epoch, `first subscribe ${JSON.stringify(first)}`);
  await cut(s);
  await waitFor(() => out.lines.includes('disconnected 3011'), 3000, 'C saw the cut');
  const t0 = Date.now();
  await publishJs(js.sub, 6, 50);
  assert(Date.now() - t0 < RECONNECT_MS, `publishing took ${Date.now() - t0} ms: longer than the reconnect delay`);
  await waitFor(() => subscribedOf(out).length === 2, 5000, 'C subscribed again');
  const again = subscribedOf(out)[1];
  assert(again.recovered && again.offset === 5 && again.epoch === first.epoch, `resubscribe ${JSON.stringify(again)}`);
  await waitFor(() => pubsOf(out).length === 55, 3000, `55 in C (have ${pubsOf(out).length})`);
  await publishJs(js.sub, 56, 5);
  const code = await withTimeout(out.exited, 5000, 'C subscriber exit');
  assert(code === 0, `C subscriber exit code ${code}`);
  const pubs = pubsOf(out);
  assert(JSON.stringify(pubs.map((p) => p.n)) === JSON.stringify(Array.from({ length: 60 }, (_, i) => i + 1)),
    `C got ${JSON.stringify(pubs.map((p) => p.n))}`);
  for (let i = 0; i < 60; i++) {
    assert(pubs[i].offset === i + 1, `offset of n=${i + 1}: ${pubs[i].offset}`);
    assert(pubs[i].recovered === (i >= 5 && i < 55), `n=${i + 1} recovered ${pubs[i].recovered}`);
  }
  await waitFor(() => js.log.length === 60, 3000, 'all 60 at the centrifuge client');
  js.c.disconnect();
  s.proc.kill('SIGTERM');
  return 'offsets 1..60, 6..55 recovered';
});

check('history exceeded while C was away: recovered false, then live', async () => {
  const s = await startDemo(exe, ['--api-key', KEY, '--history-size', '10']);
  const js = await jsClient(s, 'small');
  const out = cSubscriber(s.port, ['small', '3']);
  await waitFor(() => subscribedOf(out).length === 1, 5000, 'C subscribed');
  await publishJs(js.sub, 1, 2);
  await waitFor(() => pubsOf(out).length === 2, 3000, 'two live publications in C');
  await cut(s);
  await waitFor(() => out.lines.includes('disconnected 3011'), 3000, 'C saw the cut');
  await publishJs(js.sub, 3, 30);
  await waitFor(() => subscribedOf(out).length === 2, 5000, 'C subscribed again');
  const again = subscribedOf(out)[1];
  assert(!again.recovered && again.offset === 32, `resubscribe ${JSON.stringify(again)}`);
  await publishJs(js.sub, 33, 1);
  const code = await withTimeout(out.exited, 5000, 'C subscriber exit');
  assert(code === 0, `C subscriber exit code ${code}`);
  assert(JSON.stringify(pubsOf(out)) === JSON.stringify([
    { offset: 1, recovered: false, n: 1 }, { offset: 2, recovered: false, n: 2 },
    { offset: 33, recovered: false, n: 33 }]), `C got ${JSON.stringify(pubsOf(out))}`);
  js.c.disconnect();
  s.proc.kill('SIGTERM');
});

await run({
  perCheckMs: 25000,
  totalMs: 60000,
  after: async () => {
    for (const c of clients) c.disconnect();
    for (const p of procs) p.kill('SIGKILL');
  },
});
