// The event-sourcing example (examples/counter.c) with the official
// centrifuge client: a client rebuilds the counter from the server's
// snapshot plus the events after it, keeps it current from the live
// events, recovers what it missed after a reconnect and after a restart of
// the server with --data-dir, and reloads from the snapshot when it is
// told it cannot recover (a restart without --data-dir).
//   node counter.mjs COUNTER_EXE
// Prints one line per check and "N passed, M failed"; exits 1 on failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assert, check, clientAndExe, run, startDemo, waitFor, withTimeout } from './harness.mjs';

const { Centrifuge, WebSocket, exe } = await clientAndExe('counter.mjs', 'COUNTER_EXE');

class BrowserLikeWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols, { allowSynchronousEvents: false, perMessageDeflate: false });
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsp-counter-'));
let server, port;
const all = [];

function client() {
  const c = new Centrifuge(`ws://127.0.0.1:${port}/connection/websocket`, {
    websocket: BrowserLikeWebSocket, minReconnectDelay: 300, maxReconnectDelay: 300,
  });
  all.push(c);
  return c;
}

// The example's client: value = snapshot + every event after it, applied
// once each, in offset order.
class Counter {
  constructor() {
    this.c = client();
    this.subscribed = [];
    this.errors = [];
    this.loads = 0;
  }

  async start() {
    const ready = new Promise((resolve) => this.c.once('connected', resolve));
    this.c.connect();
    await withTimeout(ready, 5000, 'connect');
    await this.load();
  }

  // Take the snapshot and subscribe from its position: the subscribe
  // result brings the events after it.
  async load() {
    if (this.sub) this.c.removeSubscription(this.sub);
    const { data } = await this.c.rpc('snapshot', {});
    this.loads++;
    this.value = data.state.value;
    this.offset = data.offset;
    this.snapshotAt = data.offset;
    this.applied = 0;
    const sub = this.c.newSubscription('counter', { since: { offset: data.offset, epoch: data.epoch } });
    this.sub = sub;
    sub.on('publication', (ctx) => {
      if (sub !== this.sub) return;
      if (ctx.offset !== this.offset + 1) this.errors.push(`offset ${ctx.offset} after ${this.offset}`);
      this.offset = ctx.offset;
      this.value += ctx.data.add;
      this.applied++;
    });
    sub.on('error', (ctx) => this.errors.push(`sub error ${JSON.stringify(ctx.error)}`));
    sub.on('subscribed', (ctx) => {
      this.subscribed.push(ctx);
      // Told it cannot recover: the state is rebuilt from the snapshot.
      if (ctx.wasRecovering && !ctx.recovered) setTimeout(() => this.load().catch((e) => this.errors.push(String(e))), 0);
    });
    sub.subscribe();
    await sub.ready(5000);
  }
}

let writer;
async function add(by) {
  const { data } = await writer.rpc('add', { by });
  return data.offset;
}

async function start(args) {
  server = await startDemo(exe, [...args, ...(port ? ['--listen', `127.0.0.1:${port}`] : [])]);
  port = server.port;
}

async function stop() {
  server.proc.kill('SIGTERM');
  const { code } = await withTimeout(server.exited, 5000, 'counter exit');
  assert(code === 0, `counter exit code ${code}`);
}

let sum = 0, reader;

check('a new client: the snapshot plus the events after it', async () => {
  await start(['--data-dir', dir]);
  writer = client();
  writer.connect();
  for (let i = 1; i <= 23; i++) {
    const off = await add(i);
    assert(off === i, `add ${i} stored at offset ${off}`);
    sum += i;
  }
  reader = new Counter();
  await reader.start();
  await waitFor(() => reader.value === sum, 3000, `value ${reader.value}, want ${sum}`);
  assert(reader.snapshotAt === 20 && reader.applied === 3, `snapshot at ${reader.snapshotAt}, ${reader.applied} events applied`);
  assert(reader.errors.length === 0, reader.errors.join('; '));
  return `snapshot at 20 + 3 events = ${sum}`;
});

check('live events, then a reconnect: only the missed events are applied', async () => {
  for (let i = 24; i <= 26; i++) sum += i, await add(i);
  await waitFor(() => reader.value === sum, 3000, `live: value ${reader.value}, want ${sum}`);
  reader.c.disconnect();
  const before = reader.subscribed.length, applied = reader.applied;
  for (let i = 27; i <= 30; i++) sum += i, await add(i);
  reader.c.connect();
  await waitFor(() => reader.subscribed.length > before && reader.value === sum, 5000, `value ${reader.value}, want ${sum}`);
  const ctx = reader.subscribed[reader.subscribed.length - 1];
  assert(ctx.wasRecovering && ctx.recovered, JSON.stringify(ctx));
  assert(reader.applied === applied + 4 && reader.loads === 1, `${reader.applied - applied} applied, ${reader.loads} loads`);
  assert(reader.errors.length === 0, reader.errors.join('; '));
});

check('a restart with --data-dir: the client recovers, the server kept its state', async () => {
  const before = reader.subscribed.length;
  await stop();
  await start(['--data-dir', dir]);
  await waitFor(() => writer.state === 'connected', 5000, 'the writer reconnected');
  for (let i = 0; i < 5; i++) {
    const off = await add(100);
    assert(off === 31 + i, `offsets continue: ${off}`);
    sum += 100;
  }
  await waitFor(() => reader.subscribed.length > before && reader.value === sum, 5000, `value ${reader.value}, want ${sum}`);
  const ctx = reader.subscribed[reader.subscribed.length - 1];
  assert(ctx.wasRecovering && ctx.recovered && reader.loads === 1, `${JSON.stringify(ctx)}, ${reader.loads} loads`);
  const fresh = new Counter();
  await fresh.start();
  await waitFor(() => fresh.value === sum, 3000, `a new client: ${fresh.value}, want ${sum}`);
  assert(fresh.snapshotAt === 30 && fresh.applied === 5, `snapshot at ${fresh.snapshotAt}, ${fresh.applied} applied`);
  assert(reader.errors.length === 0 && fresh.errors.length === 0, [...reader.errors, ...fresh.errors].join('; '));
  return `value ${sum} at offset 35`;
});

check('a restart without --data-dir: recovered false, the client reloads', async () => {
  await stop();
  await start([]);
  await waitFor(() => reader.loads === 2 && reader.sub.state === 'subscribed', 5000, 'reload')
    .catch((e) => { throw new Error(`${e.message}: ${reader.loads} loads, ${reader.sub.state}, ${reader.errors}`); });
  await waitFor(() => writer.state === 'connected', 5000, 'the writer reconnected');
  await add(7);
  await waitFor(() => reader.value === 7, 3000, `value ${reader.value}, want 7 (a new counter)`);
  assert(reader.errors.length === 0, reader.errors.join('; '));
  await stop();
});

await run({
  perCheckMs: 15000,
  totalMs: 60000,
  after: async () => {
    for (const c of all) c.disconnect();
    fs.rmSync(dir, { recursive: true, force: true });
  },
});
