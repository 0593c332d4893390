// wsp-demo against the official centrifuge client (Node, over the ws
// package): connect, every RPC method, 1000 concurrent calls, out-of-order
// replies, errors, send/message, in-flight calls failing when the
// connection drops, and the server's ping keeping an idle client alive.
//   node rpc.mjs WSP_DEMO_EXE
// Prints one line per check and "N passed, M failed"; exits 1 on failure
// and 1 also when the npm packages are missing (run setup.sh).
import { assert, check, clientAndExe, errorOf, run, sleep, startDemo, withTimeout } from './harness.mjs';

const { Centrifuge, WebSocket, exe } = await clientAndExe('rpc.mjs', 'WSP_DEMO_EXE');

const PING_MS = 1000;
const serverArgs = ['--ping-interval', String(PING_MS), '--pong-timeout', '1000'];

// A ws class for one client: each message as its own task, as in a browser
// (see PROTOCOL.md, testing note); counts the protocol pings ("{}") the
// server sends on it.
function socketClass(counter) {
  return class BrowserLikeWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { allowSynchronousEvents: false, perMessageDeflate: false });
      this.on('message', (data, isBinary) => {
        if (!isBinary) for (const line of data.toString().split('\n')) if (line === '{}') counter.pings++;
        // Protobuf: the empty Reply, length-delimited, alone in its message
        // (an ArrayBuffer: the client sets binaryType to 'arraybuffer')
        if (isBinary && new Uint8Array(data).join() === '0') counter.pings++;
      });
    }
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

let server;
const clients = [];

// A connected client; resolves to {c, id, events, counter}: events logs
// every connecting/disconnected/error event after the connect, counter.pings
// counts the server's pings.
async function connect(url, opts = {}) {
  const counter = { pings: 0 };
  const c = new Centrifuge(`${url}/connection/websocket`, {
    websocket: socketClass(counter),
    minReconnectDelay: 200,
    maxReconnectDelay: 1000,
    ...opts,
  });
  clients.push(c);
  const events = [];
  const connected = new Promise((resolve, reject) => {
    c.once('connected', resolve);
    c.once('disconnected', (ctx) => reject(new Error(`disconnected ${ctx.code} ${ctx.reason}`)));
  });
  c.connect();
  const ctx = await withTimeout(connected, 5000, 'connect');
  for (const ev of ['connecting', 'disconnected', 'error'])
    c.on(ev, (x) => events.push({ ev, code: x.code ?? x.error?.code, reason: x.reason ?? x.error?.message }));
  return { c, id: ctx.client, events, counter };
}

let main; // the shared client of most checks

check('connect: client id is a UUID v4', async () => {
  main = await connect(server.url);
  assert(UUID.test(main.id), `client id ${JSON.stringify(main.id)}`);
  return main.id;
});

check('echo returns its data unchanged', async () => {
  // (null is not here: the protocol omits zero values, so data null is no
  // data, and the reply comes without data.)
  for (const data of [{ a: 1, b: [true, null, 'x'] }, 'text', 42, -0.5, [], {}, false, 'κόσμε 🙂 "\\\n']) {
    const r = await main.c.rpc('echo', data);
    assert(same(r.data, data), `echo ${JSON.stringify(data)} -> ${JSON.stringify(r.data)}`);
  }
});

check('echo without data replies without data', async () => {
  const r = await main.c.rpc('echo');
  assert(r.data === undefined, `data ${JSON.stringify(r.data)}`);
});

check('add: integers and decimals', async () => {
  for (const [a, b] of [[2, 3], [0.1, 0.2], [-1500, 2.5], [1e300, 1e300], [0, -0]]) {
    const r = await main.c.rpc('add', { a, b });
    assert(r.data && r.data.sum === a + b, `add ${a} ${b} -> ${JSON.stringify(r.data)}`);
  }
});

check('add: bad input is error 107', async () => {
  for (const data of [{ a: 'x', b: 1 }, { a: 1 }, [1, 2], 'a', undefined, { a: 1e308, b: 1e308 }]) {
    const e = await errorOf(main.c.rpc('add', data));
    assert(e && e.code === 107, `add ${JSON.stringify(data)} -> ${JSON.stringify(e)}`);
  }
});

check('sleep replies after the time asked', async () => {
  const t0 = Date.now();
  const r = await main.c.rpc('sleep', { ms: 200 });
  const took = Date.now() - t0;
  assert(same(r.data, { slept: 200 }), `reply ${JSON.stringify(r.data)}`);
  assert(took >= 190 && took < 2000, `took ${took} ms`);
  return `${took} ms`;
});

check('sleep: bad input is error 107', async () => {
  for (const data of [{ ms: 10001 }, { ms: -1 }, { ms: 1.5 }, { ms: '5' }, {}]) {
    const e = await errorOf(main.c.rpc('sleep', data));
    assert(e && e.code === 107, `sleep ${JSON.stringify(data)} -> ${JSON.stringify(e)}`);
  }
});

check('sleep replies arrive out of order', async () => {
  const order = [];
  const call = (ms) => main.c.rpc('sleep', { ms }).then((r) => order.push(r.data.slept));
  await Promise.all([call(300), call(50)]);
  assert(same(order, [50, 300]), `order ${order}`);
  order.length = 0;
  await Promise.all([call(250), call(0), call(150), call(60)]);
  assert(same(order, [0, 60, 150, 250]), `order ${order}`);
});

check('fail is error 1000 "fail"', async () => {
  const e = await errorOf(main.c.rpc('fail', { x: 1 }));
  assert(e && e.code === 1000 && e.message === 'fail', JSON.stringify(e));
});

check('whoami: the client id of the connected event, anonymous user', async () => {
  const r = await main.c.rpc('whoami');
  assert(r.data && r.data.client === main.id, `whoami ${JSON.stringify(r.data)} vs ${main.id}`);
  assert(r.data.user === '', `user ${JSON.stringify(r.data.user)}`);
});

check('whoami: user from the connect data (demo only)', async () => {
  const ann = await connect(server.url, { data: { user: 'ann "the" \u00e9' } });
  const r = await ann.c.rpc('whoami');
  assert(same(r.data, { user: 'ann "the" \u00e9', client: ann.id }), JSON.stringify(r.data));
  assert(ann.id !== main.id, 'two connections share a client id');
  ann.c.disconnect();
});

check('unknown method is error 104', async () => {
  const e = await errorOf(main.c.rpc('no.such.method', {}));
  assert(e && e.code === 104, JSON.stringify(e));
});

check('send comes back as a message push', async () => {
  const data = { typing: true, n: Math.random() };
  const got = new Promise((resolve) => main.c.once('message', (ctx) => resolve(ctx.data)));
  await main.c.send(data);
  const back = await withTimeout(got, 3000, 'message push');
  assert(same(back, data), `push ${JSON.stringify(back)}`);
});

check('1000 concurrent RPCs are correlated', async () => {
  const calls = [];
  for (let i = 0; i < 1000; i++) {
    const data = { i, pad: 'x'.repeat(i % 97), r: Math.random() };
    calls.push(main.c.rpc('echo', data).then((r) => {
      assert(same(r.data, data), `call ${i} got ${JSON.stringify(r.data).slice(0, 80)}`);
    }));
  }
  const t0 = Date.now();
  await Promise.all(calls);
  return `${Date.now() - t0} ms`;
});

check('1000 concurrent RPCs over 10 connections, mixed methods', async () => {
  const conns = await Promise.all(Array.from({ length: 10 }, () => connect(server.url)));
  const calls = [];
  for (let i = 0; i < 1000; i++) {
    const { c } = conns[i % 10];
    if (i % 3 === 0)
      calls.push(c.rpc('add', { a: i, b: 0.5 }).then((r) => assert(r.data.sum === i + 0.5, `add ${i}`)));
    else if (i % 3 === 1)
      calls.push(c.rpc('echo', [i]).then((r) => assert(same(r.data, [i]), `echo ${i}`)));
    else
      calls.push(c.rpc('sleep', { ms: i % 50 }).then((r) => assert(r.data.slept === i % 50, `sleep ${i}`)));
  }
  await Promise.all(calls);
  for (const { c } of conns) c.disconnect();
});

check(`server pings keep an idle client connected past 2x ${PING_MS} ms`, async () => {
  const idle = await connect(server.url);
  await sleep(2 * PING_MS + 600);
  assert(idle.events.length === 0, `events while idle: ${JSON.stringify(idle.events)}`);
  assert(idle.counter.pings >= 2, `${idle.counter.pings} pings seen`);
  const r = await idle.c.rpc('echo', 'still here');
  assert(r.data === 'still here', 'rpc after idle');
  idle.c.disconnect();
  return `${idle.counter.pings} pings`;
});

check('in-flight calls fail when the server is killed', async () => {
  const victim = await startDemo(exe, serverArgs);
  const { c } = await connect(victim.url);
  const pending = [c.rpc('sleep', { ms: 5000 }), c.rpc('sleep', { ms: 4000 })].map(errorOf);
  await sleep(100);
  const t0 = Date.now();
  victim.proc.kill('SIGKILL');
  const errs = await withTimeout(Promise.all(pending), 3000, 'in-flight calls');
  c.disconnect();
  assert(errs.every((e) => e !== null), 'a call resolved');
  assert(Date.now() - t0 < 2000, `rejected after ${Date.now() - t0} ms`);
  return `error codes ${errs.map((e) => e.code)}`;
});

check('SIGTERM: clients see close 3001, in-flight calls fail, exit 0', async () => {
  const victim = await startDemo(exe, serverArgs);
  const a = await connect(victim.url);
  const pending = errorOf(a.c.rpc('sleep', { ms: 5000 }));
  const closed = new Promise((resolve) => a.c.once('connecting', resolve));
  await sleep(100);
  victim.proc.kill('SIGTERM');
  const ctx = await withTimeout(closed, 3000, 'close');
  assert(ctx.code === 3001, `connecting code ${ctx.code} ${ctx.reason}`);
  const e = await withTimeout(pending, 3000, 'in-flight call');
  assert(e !== null, 'the call resolved');
  const { code, signal } = await withTimeout(victim.exited, 3000, 'exit');
  a.c.disconnect();
  assert(code === 0, `exit code ${code} signal ${signal}`);
  return `reason "${ctx.reason}"`;
});

await run({
  perCheckMs: 15000,
  totalMs: 60000,
  before: async () => { server = await startDemo(exe, serverArgs); },
  after: async () => {
    for (const c of clients) c.disconnect();
    server.proc.kill('SIGTERM');
    const { code } = await withTimeout(server.exited, 3000, 'wsp-demo exit');
    assert(code === 0, `wsp-demo exit code ${code}`);
  },
});
