// wsp-demo's protocol endpoint against a plain `ws` client writing the
// Centrifuge JSON protocol by hand: reply formats, batching, and every way
// to be disconnected (each close must arrive as a close frame with the
// protocol's code, not as a dropped connection, 1006). Also the /echo
// endpoint and the static files.
//   node raw.mjs WSP_DEMO_EXE
// Prints one line per check and "N passed, M failed"; exits 1 on failure
// and 1 also when the npm packages are missing (run setup.sh).
import http from 'node:http';
import { once } from 'node:events';
import { assert, check, run, sleep, startDemo, withTimeout } from './harness.mjs';

let WebSocket;
try {
  ({ WebSocket } = await import('ws'));
} catch {
  console.log('ws is missing (run tests/interop/centrifuge/setup.sh); skipping');
  process.exit(1);
}

const exe = process.argv[2];
if (!exe) {
  console.log('usage: node raw.mjs WSP_DEMO_EXE');
  process.exit(2);
}

const PING_MS = 1000, PONG_MS = 1000, STALE_MS = 1500;
let server;
const unparsable = []; // lines that were not exactly one JSON object

// One raw connection: every text frame is split into lines and parsed;
// pings ("{}") are answered when autoPong is set. The /echo checks look
// at frames only.
class Peer {
  constructor(path = '/connection/websocket', { autoPong = true } = {}) {
    this.ws = new WebSocket(`${server.url}${path}`, { perMessageDeflate: false, maxPayload: 1 << 24 });
    this.frames = [];   // raw text of every message
    this.replies = [];  // parsed lines other than pings
    this.pings = 0;
    this.waiters = [];
    this.opened = once(this.ws, 'open');
    this.closed = new Promise((resolve) => this.ws.on('close', (code, reason) =>
      resolve({ code, reason: reason.toString(), at: Date.now() })));
    this.ws.on('error', () => {}); // a close follows; the checks look at that
    this.ws.on('message', (data, isBinary) => {
      const text = data.toString();
      this.frames.push(isBinary ? data : text);
      if (isBinary) return;
      for (const line of text.split('\n')) {
        if (line === '') continue;
        if (line === '{}') {
          this.pings++;
          if (autoPong) this.ws.send('{}');
          continue;
        }
        try {
          const reply = JSON.parse(line);
          // JSON.parse takes any JSON value with surrounding white space;
          // the protocol sends objects and nothing around them.
          if (line[0] !== '{' || line[line.length - 1] !== '}') throw new Error('not an object');
          this.replies.push(reply);
        } catch {
          if (path === '/connection/websocket') unparsable.push(line);
          this.replies.push({ unparsable: line });
        }
      }
      this.waiters = this.waiters.filter((w) => !w());
    });
  }

  send(text) { this.ws.send(text); }

  // Resolves with the first n replies once they have arrived.
  async take(n, ms = 3000) {
    await withTimeout(new Promise((resolve) => {
      const ready = () => (this.replies.length >= n ? (resolve(), true) : false);
      if (!ready()) this.waiters.push(ready);
    }), ms, `${n} replies (have ${JSON.stringify(this.replies)})`);
    return this.replies.slice(0, n);
  }

  // Connect and return the connect reply.
  async connect(id = 1) {
    await this.opened;
    this.send(JSON.stringify({ id, connect: { name: 'raw' } }));
    const [r] = await this.take(this.replies.length + 1);
    assert(r.id === id && r.connect, `connect reply ${JSON.stringify(r)}`);
    return r;
  }

  async closeCode(ms = 5000) {
    return withTimeout(this.closed, ms, 'close');
  }
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function expectClose(p, code, ms = 5000) {
  const c = await p.closeCode(ms);
  assert(c.code === code, `closed with ${c.code} "${c.reason}", expected ${code}`);
  return `${c.code} "${c.reason}"`;
}

// ---- Replies --------------------------------------------------------------

check('connect reply: client UUID, ping in seconds, pong', async () => {
  const p = new Peer();
  const r = await p.connect();
  assert(UUID.test(r.connect.client), `client ${r.connect.client}`);
  assert(r.connect.ping === PING_MS / 1000 && r.connect.pong === true, JSON.stringify(r.connect));
  assert(!('error' in r), 'error in the connect reply');
  p.ws.close(1000);
  return JSON.stringify(r);
});

check('rpc reply carries the data bytes as sent', async () => {
  const p = new Peer();
  await p.connect();
  const data = '{"b":1,"a":[1.50,"\\u00e9",-0,1e2],"c":{ "d" :\tnull}}';
  p.send(`{"id":2,"rpc":{"method":"echo","data":${data}}}`);
  const [, r2] = await p.take(2);
  assert(r2.id === 2 && p.frames.some((f) => f.includes(data)), `frames ${JSON.stringify(p.frames)}`);
  p.ws.close(1000);
});

check('rpc with data null: reply without data', async () => {
  const p = new Peer();
  await p.connect();
  p.send('{"id":2,"rpc":{"method":"echo","data":null}}');
  const [, r] = await p.take(2);
  assert(r.id === 2 && r.rpc && r.rpc.data === undefined, JSON.stringify(r));
  p.ws.close(1000);
});

check('rpc without data: reply without data', async () => {
  const p = new Peer();
  await p.connect();
  p.send('{"id":2,"rpc":{"method":"echo"}}');
  const [, r] = await p.take(2);
  assert(r.id === 2 && r.rpc && r.rpc.data === undefined && !r.error, JSON.stringify(r));
  p.ws.close(1000);
});

check('error replies: fail 1000, unknown method 104, bad add 107', async () => {
  const p = new Peer();
  await p.connect();
  p.send('{"id":2,"rpc":{"method":"fail"}}');
  p.send('{"id":3,"rpc":{"method":"nope","data":{}}}');
  p.send('{"id":4,"rpc":{"method":"add","data":{"a":true,"b":1}}}');
  const [, r2, r3, r4] = await p.take(4);
  assert(same(r2, { id: 2, error: { code: 1000, message: 'fail' } }), JSON.stringify(r2));
  assert(r3.id === 3 && r3.error && r3.error.code === 104 && !r3.rpc, JSON.stringify(r3));
  assert(r4.id === 4 && r4.error && r4.error.code === 107, JSON.stringify(r4));
  p.ws.close(1000);
});

check('batched frame: connect + 2 rpc -> 3 replies in order', async () => {
  const p = new Peer();
  await p.opened;
  p.send('{"id":1,"connect":{}}\n{"id":2,"rpc":{"method":"echo","data":"a"}}\n{"id":3,"rpc":{"method":"whoami"}}');
  const rs = await p.take(3);
  assert(same(rs.map((r) => r.id), [1, 2, 3]), `ids ${rs.map((r) => r.id)}`);
  assert(rs[2].rpc.data.client === rs[0].connect.client, 'whoami client differs from connect');
  // A trailing newline is tolerated.
  p.send('{"id":4,"rpc":{"method":"echo","data":4}}\n{"id":5,"rpc":{"method":"add","data":{"a":2,"b":3}}}\n');
  const more = await p.take(5);
  assert(same(more.slice(3).map((r) => r.id), [4, 5]) && more[4].rpc.data.sum === 5, JSON.stringify(more));
  p.ws.close(1000);
  return `${p.frames.length} frame(s)`;
});

check('unknown fields are ignored', async () => {
  const p = new Peer();
  await p.opened;
  p.send('{"id":1,"connect":{"zz":1,"name":"x"},"extra":[1,{"y":2}]}');
  p.send('{"id":2,"rpc":{"method":"echo","data":7,"zzz":true},"flag":3}');
  const [r1, r2] = await p.take(2);
  assert(r1.connect && r2.id === 2 && r2.rpc.data === 7, JSON.stringify([r1, r2]));
  p.ws.close(1000);
});

check('send comes back as a message push', async () => {
  const p = new Peer();
  await p.connect();
  p.send('{"send":{"data":{"hello":["w",1]}}}');
  const [, push] = await p.take(2);
  assert(same(push, { push: { message: { data: { hello: ['w', 1] } } } }), JSON.stringify(push));
  p.ws.close(1000);
});

check('more than 128 calls pending: the excess gets error 111, the rest replies', async () => {
  const p = new Peer();
  await p.connect();
  const lines = [];
  for (let id = 2; id < 2 + 130; id++) lines.push(`{"id":${id},"rpc":{"method":"sleep","data":{"ms":150}}}`);
  p.send(lines.join('\n'));
  const rs = await p.take(131);
  const errs = rs.filter((r) => r.error);
  assert(errs.length === 2 && errs.every((r) => r.error.code === 111), JSON.stringify(errs));
  assert(rs.filter((r) => r.rpc && r.rpc.data.slept === 150).length === 128, 'sleep replies');
  p.ws.close(1000);
});

check('a deferred reply after its client left is harmless', async () => {
  const p = new Peer();
  await p.connect();
  p.send('{"id":2,"rpc":{"method":"sleep","data":{"ms":100}}}');
  p.ws.terminate();
  await sleep(250);
  const q = new Peer();
  await q.connect();
  q.send('{"id":2,"rpc":{"method":"echo","data":"fine"}}');
  const [, r] = await q.take(2);
  assert(r.rpc.data === 'fine', JSON.stringify(r));
  q.ws.close(1000);
});

// ---- Disconnects ----------------------------------------------------------

check('broken JSON before connect: 3501', async () => {
  const p = new Peer();
  await p.opened;
  p.send('{"id":1,"connect":');
  return expectClose(p, 3501);
});

check('broken JSON after connect: 3501', async () => {
  const p = new Peer();
  await p.connect();
  p.send('{"id":2,"rpc":{"method":"echo"}}\n{"id":3,');
  return expectClose(p, 3501);
});

check('a message ending in an empty command: 3501, as Centrifuge', async () => {
  const p = new Peer();
  await p.connect();
  p.send('{"id":2,"rpc":{"method":"echo","data":1}}\n\n');
  return expectClose(p, 3501);
});

check('a message of only a newline: 3501', async () => {
  const p = new Peer();
  await p.connect();
  p.send('\n');
  return expectClose(p, 3501);
});

check('several request fields: the first in client.proto order runs', async () => {
  const p = new Peer();
  await p.connect();
  // rpc comes before subscribe in the text, after it in client.proto
  p.send('{"id":2,"rpc":{"method":"echo","data":1},"subscribe":{"channel":"multi"}}');
  const [, r] = await p.take(2);
  assert(r.id === 2 && r.subscribe && !r.rpc, JSON.stringify(r));
  p.ws.close(1000);
});

check('subscribe: another type is 108, an unknown delta or a malformed tags filter 107', async () => {
  const p = new Peer();
  await p.connect();
  p.send('{"id":2,"subscribe":{"channel":"m","type":1}}');
  p.send('{"id":3,"subscribe":{"channel":"m","type":4}}');
  p.send('{"id":4,"subscribe":{"channel":"m","delta":"zstd"}}');
  p.send('{"id":5,"subscribe":{"channel":"m","tf":{"key":"a","cmp":"like","val":"b"}}}');
  p.send('{"id":6,"subscribe":{"channel":"m","type":0,"delta":"","tf":null}}');
  p.send('{"id":7,"subscribe":{"channel":"m2","delta":"fo\\u0073sil"}}');
  const [, r2, r3, r4, r5, r6, r7] = await p.take(7);
  assert(r2.error && r2.error.code === 108 && r3.error && r3.error.code === 108, JSON.stringify([r2, r3]));
  assert(r4.error && r4.error.code === 107 && r5.error && r5.error.code === 107, JSON.stringify([r4, r5]));
  assert(r6.id === 6 && r6.subscribe, JSON.stringify(r6));
  assert(r7.id === 7 && r7.subscribe, `"fossil" written with an escape: ${JSON.stringify(r7)}`);
  // more filters that are not FilterNode trees
  const bad = ['1', '{"op":"not","nodes":[]}', '{"op":"and"}', '{"op":"xor","nodes":[{"key":"a","cmp":"ex"}]}',
    '{"key":"a","cmp":"in","val":"b"}', '{"cmp":"eq","val":"b"}', '{"key":"a","cmp":"eq"}',
    '{"op":"not","nodes":[{"key":"a","cmp":"ex"},{"key":"b","cmp":"ex"}]}'];
  bad.forEach((tf, i) => p.send(`{"id":${10 + i},"subscribe":{"channel":"b${i}","tf":${tf}}}`));
  const rs = (await p.take(7 + bad.length)).slice(7);
  rs.forEach((r, i) => assert(r.id === 10 + i && r.error && r.error.code === 107, `tf ${bad[i]}: ${JSON.stringify(r)}`));
  // a deep one: nesting beyond 8 levels is refused too
  let deep = '{"key":"a","cmp":"ex"}';
  for (let i = 0; i < 9; i++) deep = `{"op":"not","nodes":[${deep}]}`;
  p.send(`{"id":30,"subscribe":{"channel":"deep","tf":${deep}}}`);
  const rd = (await p.take(8 + bad.length))[7 + bad.length];
  assert(rd.id === 30 && rd.error && rd.error.code === 107, `deep: ${JSON.stringify(rd)}`);
  p.ws.close(1000);
});

check('fossil delta on the wire: "delta":true, then strings: whole, then deltas', async () => {
  const sub = new Peer(), pub = new Peer();
  await sub.connect();
  await pub.connect();
  sub.send('{"id":2,"subscribe":{"channel":"dl","delta":"fossil"}}');
  sub.send('{"id":3,"subscribe":{"channel":"dl.*","delta":"fossil"}}');
  const [, r2, r3] = await sub.take(3);
  assert(r2.id === 2 && r2.subscribe.delta === true, `exact channel with history: ${JSON.stringify(r2)}`);
  assert(r3.id === 3 && r3.subscribe && !('delta' in r3.subscribe), `a pattern has none: ${JSON.stringify(r3)}`);
  const doc = (n) => JSON.stringify({ n, text: 'the same long text that does not change at all '.repeat(4) });
  for (let n = 1; n <= 3; n++) pub.send(`{"id":${n + 1},"publish":{"channel":"dl","data":${doc(n)}}}`);
  const got = (await sub.take(6)).slice(3).map((l) => l.push.pub);
  assert(typeof got[0].data === 'string' && got[0].data === doc(1) && !got[0].delta, `first ${JSON.stringify(got[0])}`);
  for (const p of got.slice(1)) {
    assert(p.delta === true && typeof p.data === 'string' && p.data.length < doc(2).length / 2 &&
      /^[0-9A-Za-z_~]+\n/.test(p.data) && p.data.endsWith(';'), `delta ${JSON.stringify(p)}`);
  }
  assert(got.map((p) => p.offset).join() === '1,2,3', `offsets ${got.map((p) => p.offset)}`);
  sub.ws.close(1000);
  pub.ws.close(1000);
});

check('a command before connect: 3501', async () => {
  const p = new Peer();
  await p.opened;
  p.send('{"id":1,"rpc":{"method":"echo","data":1}}');
  return expectClose(p, 3501);
});

check('a second connect: 3501', async () => {
  const p = new Peer();
  await p.connect();
  p.send('{"id":2,"connect":{}}');
  return expectClose(p, 3501);
});

check('a command with an unknown request field and an id: 3501', async () => {
  const p = new Peer();
  await p.connect();
  p.send('{"id":2,"frobnicate":{}}');
  return expectClose(p, 3501);
});

check('a command with id 0 that is not a pong or send: 3501', async () => {
  const p = new Peer();
  await p.connect();
  p.send('{"rpc":{"method":"echo","data":1}}');
  return expectClose(p, 3501);
});

check('replies owed before a bad command are delivered first', async () => {
  const p = new Peer();
  await p.opened;
  p.send('{"id":1,"connect":{}}\n{"id":2,"rpc":{"method":"echo","data":2}}\n{"id":3,"bogus":{}}');
  const c = await expectClose(p, 3501);
  assert(same(p.replies.map((r) => r.id), [1, 2]), `replies ${JSON.stringify(p.replies)}`);
  return c;
});

check('an oversized frame (> 65536 bytes): 1009', async () => {
  const p = new Peer();
  await p.connect();
  p.send(`{"id":2,"rpc":{"method":"echo","data":"${'x'.repeat(70000)}"}}`);
  return expectClose(p, 1009);
});

check('a 60000-byte echo still fits', async () => {
  const p = new Peer();
  await p.connect();
  const s = 'y'.repeat(60000);
  p.send(`{"id":2,"rpc":{"method":"echo","data":"${s}"}}`);
  const [, r] = await p.take(2);
  assert(r.rpc.data === s, 'echo differs');
  p.ws.close(1000);
});

check('a binary frame: 3506', async () => {
  const p = new Peer();
  await p.connect();
  p.ws.send(Buffer.from('{"id":2,"rpc":{"method":"echo"}}'), { binary: true });
  return expectClose(p, 3506);
});

check(`no connect within the stale timeout (${STALE_MS} ms): 3502`, async () => {
  const p = new Peer();
  await p.opened;
  const t0 = Date.now();
  const c = await expectClose(p, 3502, STALE_MS + 4000);
  const took = (await p.closed).at - t0;
  assert(took >= STALE_MS - 100, `closed after ${took} ms`);
  return `${c} after ${took} ms`;
});

check('ignoring the server pings: 3012 as a close frame', async () => {
  const p = new Peer('/connection/websocket', { autoPong: false });
  await p.connect();
  const t0 = Date.now();
  const c = await expectClose(p, 3012, PING_MS + PONG_MS + 4000);
  assert(p.pings >= 1, 'no ping seen before the close');
  return `${c} after ${(await p.closed).at - t0} ms`;
});

check('answering the pings keeps the connection', async () => {
  const p = new Peer();
  await p.connect();
  await sleep(2 * PING_MS + PONG_MS + 300);
  assert(p.pings >= 2, `${p.pings} pings`);
  p.send('{"id":2,"rpc":{"method":"echo","data":"alive"}}');
  const rs = await p.take(2);
  assert(rs[1].rpc.data === 'alive', JSON.stringify(rs));
  p.ws.close(1000);
  return `${p.pings} pings`;
});

// ---- /echo and HTTP -------------------------------------------------------

check('/echo: text and binary come back', async () => {
  const p = new Peer('/echo');
  await p.opened;
  p.ws.send('not json {');
  p.ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
  await withTimeout((async () => { while (p.frames.length < 2) await sleep(10); })(), 3000, 'echo');
  assert(p.frames[0] === 'not json {', `text ${p.frames[0]}`);
  assert(Buffer.isBuffer(p.frames[1]) && p.frames[1].equals(Buffer.from([0, 1, 2, 255])), 'binary');
  p.ws.close(1000);
  const c = await p.closeCode();
  assert(c.code === 1000, `close ${c.code}`);
});

function get(path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: server.port, path, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
  });
}

check('HTTP: the page, its script and the centrifuge bundle', async () => {
  const index = await get('/');
  assert(index.status === 200 && /text\/html/.test(index.type) && index.body.includes('/centrifuge.js'), `/ ${index.status}`);
  const app = await get('/app.js');
  assert(app.status === 200 && /javascript/.test(app.type), `/app.js ${app.status}`);
  const bundle = await get('/centrifuge.js');
  assert(bundle.status === 200 && bundle.body.includes('Centrifuge'), `/centrifuge.js ${bundle.status}`);
});

check('HTTP: 404 for unknown or escaping paths, upgrade elsewhere', async () => {
  for (const path of ['/nope.html', '/../meson.build', '/%2e%2e/meson.build', '/.hidden', '//etc/passwd', '/www/index.html']) {
    const r = await get(path);
    assert(r.status === 404, `${path}: ${r.status}`);
  }
  const ws = new WebSocket(`${server.url}/elsewhere`);
  const status = await withTimeout(new Promise((resolve) => {
    ws.on('unexpected-response', (req, res) => resolve(res.statusCode));
    ws.on('error', () => resolve('error'));
  }), 3000, 'upgrade');
  assert(status === 404, `upgrade to /elsewhere: ${status}`);
});

check('every protocol line received was exactly one JSON object', async () => {
  assert(unparsable.length === 0, `not JSON objects: ${JSON.stringify(unparsable.slice(0, 5))}`);
});

await run({
  perCheckMs: 15000,
  totalMs: 60000,
  before: async () => {
    server = await startDemo(exe, ['--ping-interval', String(PING_MS), '--pong-timeout', String(PONG_MS),
      '--stale-timeout', String(STALE_MS)]);
  },
  after: async () => {
    server.proc.kill('SIGTERM');
    const { code } = await withTimeout(server.exited, 3000, 'wsp-demo exit');
    assert(code === 0, `wsp-demo exit code ${code}`);
  },
});
