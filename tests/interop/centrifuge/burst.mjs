// The hub examples (examples/hub.c, hub-uv.c, hub-event.c: one per event
// loop adapter) under bursts that their sockets cannot take at once, with
// the official centrifuge client: the "send" command comes back to its
// sender as a message push, so a client controls how much output its
// connection queues and how fast it is read.
//   - a paused reader (its TCP socket not read) is sent ~1 MB of pushes
//     and gets them when it reads again, whole and in order, while another
//     client is served;
//   - 12 MB through a reading client, a window of pushes in flight;
//   - a reader that never reads is closed 3008 (slow) once its output
//     passes the hub's 1 MiB cap: output queues in the hub only when the
//     socket is full (loopback buffers took up to 5 MB here), so this is
//     the adapter meeting EAGAIN and going on, with the pushes before the
//     close whole and in order;
//   - subscribe, an RPC answered at a tick, the publication of that tick.
//   node burst.mjs HUB_EXE
// Prints one line per check and "N passed, M failed"; exits 1 on failure.
import { assert, check, clientAndExe, run, sleep, startDemo, waitFor, withTimeout } from './harness.mjs';

const { Centrifuge, WebSocket, exe } = await clientAndExe('burst.mjs', 'HUB_EXE');

const clients = [];
let hub;

// A connected client whose socket can be paused; log.messages holds its
// message pushes and log.connecting its connecting events once connected.
async function client() {
  const sockets = [];
  const c = new Centrifuge(`${hub.url}/connection/websocket`, {
    websocket: class extends WebSocket {
      constructor(url, protocols) {
        super(url, protocols, { perMessageDeflate: false });
        sockets.push(this);
      }
    },
    minReconnectDelay: 60000,
    maxReconnectDelay: 60000,
  });
  clients.push(c);
  const log = { messages: [], connecting: [] };
  c.on('message', (ctx) => log.messages.push(ctx.data));
  const connected = new Promise((resolve) => c.once('connected', resolve));
  c.connect();
  await withTimeout(connected, 5000, 'connect');
  c.on('connecting', (ctx) => log.connecting.push(ctx)); // after the first
  const tcp = () => sockets[sockets.length - 1]._socket;
  return { c, log, pause: () => tcp().pause(), resume: () => tcp().resume() };
}

// Messages seq from..to-1, each with pad characters of a pattern of its own.
const message = (seq, pad) => ({ seq, pad: String.fromCharCode(97 + (seq % 26)).repeat(pad) });

function whole(messages, n, pad, what) {
  assert(messages.length === n, `${what}: ${messages.length} of ${n} pushes`);
  messages.forEach((m, i) => {
    const want = message(i, pad);
    assert(m.seq === i && m.pad === want.pad, `${what}: push ${i} is ${JSON.stringify(m).slice(0, 60)}`);
  });
}

check('the hub starts and prints its port', async () => {
  hub = await startDemo(exe);
  return `port ${hub.port}`;
});

check('subscribe, rpc "next" answered at a tick, that tick\'s publication', async () => {
  const s = await client();
  const pubs = [];
  const sub = s.c.newSubscription('ticks');
  sub.on('publication', (ctx) => pubs.push({ n: ctx.data.n, offset: ctx.offset }));
  sub.subscribe();
  await sub.ready(5000);
  const r = await withTimeout(s.c.rpc('next', {}), 3000, 'rpc next');
  await waitFor(() => pubs.some((p) => p.n === r.data.n), 3000, 'the tick\'s publication');
  const p = pubs.find((x) => x.n === r.data.n);
  assert(p.offset === p.n, `publication ${JSON.stringify(p)}`);
  s.c.disconnect();
  return `tick ${r.data.n}`;
});

check('a paused reader gets ~1 MB of pushes later, whole and in order; others are served', async () => {
  const N = 40, PAD = 24000; // under the hub's 1 MiB output cap
  const slow = await client(), other = await client();
  slow.pause();
  await Promise.all(Array.from({ length: N }, (_, i) => slow.c.send(message(i, PAD))));
  await sleep(300); // the hub has them all, with a full socket
  const t0 = Date.now();
  const me = await withTimeout(other.c.rpc('whoami', {}), 2000, 'whoami meanwhile');
  const rpcMs = Date.now() - t0;
  assert(typeof me.data.id === 'string', JSON.stringify(me.data));
  assert(slow.log.messages.length < N, 'every push arrived while paused');
  slow.resume();
  await waitFor(() => slow.log.messages.length >= N, 5000, 'the pushes after resume');
  whole(slow.log.messages, N, PAD, 'paused reader');
  assert(slow.log.connecting.length === 0, `closed: ${JSON.stringify(slow.log.connecting)}`);
  slow.c.disconnect();
  other.c.disconnect();
  return `another client's rpc took ${rpcMs} ms meanwhile`;
});

check('12 MB of pushes through a reading client, 8 in flight', async () => {
  const N = 200, PAD = 60000, WINDOW = 8;
  const s = await client();
  const t0 = Date.now();
  for (let i = 0; i < N; i++) {
    await waitFor(() => i - s.log.messages.length < WINDOW, 5000, `push ${i - WINDOW}`);
    s.c.send(message(i, PAD));
  }
  await waitFor(() => s.log.messages.length >= N, 10000, 'every push');
  whole(s.log.messages, N, PAD, 'reading client');
  s.c.disconnect();
  return `${((N * PAD) / 1e6).toFixed(0)} MB in ${Date.now() - t0} ms`;
});

check('a reader that never reads is closed 3008 past the 1 MiB cap; the hub goes on', async () => {
  const N = 400, PAD = 40000; // 16 MB: past the cap and the sockets' buffers
  const slow = await client(), other = await client();
  slow.pause();
  for (let i = 0; i < N; i++) slow.c.send(message(i, PAD)).catch(() => {});
  await sleep(500);
  const me = await withTimeout(other.c.rpc('whoami', {}), 2000, 'whoami meanwhile');
  assert(typeof me.data.id === 'string', JSON.stringify(me.data));
  slow.resume();
  await waitFor(() => slow.log.connecting.length > 0, 10000, 'the close')
    .catch((e) => { throw new Error(`${e.message} (${slow.log.messages.length} pushes)`); });
  const why = slow.log.connecting[0];
  assert(why.code === 3008, `connecting ${JSON.stringify(why)}`);
  const got = slow.log.messages.length;
  assert(got > 0 && got < N, `${got} pushes before the close`);
  whole(slow.log.messages, got, PAD, 'before the close');
  slow.c.disconnect();
  const again = await withTimeout(other.c.rpc('whoami', {}), 2000, 'whoami after');
  assert(again.data.id === me.data.id, JSON.stringify(again.data));
  other.c.disconnect();
  return `${got} pushes, then 3008 ${why.reason}`;
});

check('SIGTERM: the hub exits 0', async () => {
  hub.proc.kill('SIGTERM');
  const { code, signal } = await withTimeout(hub.exited, 5000, 'hub exit');
  assert(code === 0, `exit code ${code}, signal ${signal}`);
});

await run({
  perCheckMs: 20000,
  totalMs: 90000,
  after: async () => {
    for (const c of clients) c.disconnect();
  },
});
