// permessage-deflate (RFC 7692) between wsp-demo --deflate and the Node
// `ws` package (its own zlib-based implementation): the negotiated
// parameters for several offers, round trips on /echo with and without
// context takeover and small windows, the bytes on the wire, a message
// that inflates past --max-message (1009), and the official centrifuge
// client over compressing connections: publications fanned out to
// several subscribers arrive intact and compressed.
//   node deflate.mjs WSP_DEMO_EXE
// Prints one line per check and "N passed, M failed"; exits 1 on failure
// and 1 also when the npm packages are missing (run setup.sh).
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { assert, check, clientAndExe, run, startDemo, waitFor, withTimeout } from './harness.mjs';

const { Centrifuge, WebSocket, exe } = await clientAndExe('deflate.mjs', 'WSP_DEMO_EXE');

const MAX_MESSAGE = 65536;
const PMD = 'permessage-deflate';
const NCT = `${PMD}; server_no_context_takeover; client_no_context_takeover`;
let server, plain;

// JSON-like text that compresses well, n bytes.
function jsonText(n, seed = 0) {
  let s = '';
  for (let i = 0; s.length < n; i++) s += `{"channel":"news","seq":${seed + i},"text":"item ${i % 7}"},`;
  return s.slice(0, n);
}

// ws.response: the server's Sec-WebSocket-Extensions ('' for none).
async function open(url, perMessageDeflate) {
  const ws = new WebSocket(`${url}/echo`, { perMessageDeflate, maxPayload: 1 << 24 });
  ws.on('error', () => {}); // a close follows; the checks look at that
  ws.on('upgrade', (res) => { ws.response = res.headers['sec-websocket-extensions'] || ''; });
  await withTimeout(once(ws, 'open'), 5000, 'open');
  return ws;
}

// Send each message and wait for its echo, in order; returns the bytes
// the socket read meanwhile.
async function echoAll(ws, messages) {
  const before = ws._socket.bytesRead;
  for (const [i, m] of messages.entries()) {
    const got = once(ws, 'message');
    ws.send(m, { binary: Buffer.isBuffer(m) });
    const [data, isBinary] = await withTimeout(got, 5000, `echo ${i}`);
    assert(isBinary === Buffer.isBuffer(m), `echo ${i}: binary ${isBinary}`);
    assert(Buffer.isBuffer(m) ? data.equals(m) : data.toString() === m, `echo ${i}: ${data.length} bytes differ`);
  }
  return ws._socket.bytesRead - before;
}

async function closeClean(ws) {
  const closed = once(ws, 'close');
  ws.close(1000);
  const [code] = await withTimeout(closed, 3000, 'close');
  assert(code === 1000, `close ${code}`);
}

check('ws offer with defaults: accepted, both sides reset per message', async () => {
  const ws = await open(server.url, true);
  assert(ws.response === NCT, `extensions "${ws.response}"`);
  assert(ws.extensions === PMD, `in use: "${ws.extensions}"`);
  await closeClean(ws);
  return ws.response;
});

check('round trips: text, binary, small, UTF-8; the echo of big text is compressed', async () => {
  const ws = await open(server.url, true);
  const big = jsonText(MAX_MESSAGE - 1000);
  const msgs = ['hi', 'κόσμε ☃ 😀 '.repeat(50), randomBytes(5000), jsonText(3000, 7), Buffer.alloc(0), ''];
  await echoAll(ws, msgs);
  const read = await echoAll(ws, [big]);
  assert(read < big.length / 5, `${read} bytes read for a ${big.length}-byte echo`);
  await closeClean(ws);
  return `${big.length} bytes came back in ${read}`;
});

check('small windows asked by ws: kept within', async () => {
  const ws = await open(server.url, {
    serverNoContextTakeover: false, serverMaxWindowBits: 10, clientMaxWindowBits: 9,
  });
  assert(ws.response === `${NCT}; server_max_window_bits=10; client_max_window_bits=9`,
    `extensions "${ws.response}"`);
  const msgs = [];
  for (let i = 0; i < 30; i++) msgs.push(jsonText(1000 + 97 * i, i));
  await echoAll(ws, msgs);
  await closeClean(ws);
  return ws.response;
});

check('server_max_window_bits=15 and client_no_context_takeover offered by ws', async () => {
  const ws = await open(server.url, { serverMaxWindowBits: 15, clientNoContextTakeover: true, threshold: 0 });
  assert(ws.response === `${NCT}; server_max_window_bits=15`, `extensions "${ws.response}"`);
  await echoAll(ws, [jsonText(10000), 'x', randomBytes(300)]);
  await closeClean(ws);
});

check('a message inflating past --max-message is closed with 1009', async () => {
  const ws = await open(server.url, true);
  const closed = once(ws, 'close');
  const sentBefore = ws._socket.bytesWritten;
  ws.send('a'.repeat(4 * MAX_MESSAGE));
  const [code] = await withTimeout(closed, 5000, 'close');
  const sent = ws._socket.bytesWritten - sentBefore;
  assert(code === 1009, `close ${code}`);
  assert(sent < MAX_MESSAGE / 4, `${sent} bytes on the wire`);
  return `${4 * MAX_MESSAGE} bytes compressed to about ${sent}`;
});

check('without --deflate the offer is declined', async () => {
  const ws = await open(plain.url, true);
  assert(ws.response === '' && ws.extensions === '', `extensions "${ws.response}"`);
  await echoAll(ws, [jsonText(5000)]);
  await closeClean(ws);
});

// One gauge of the hub's GET /metrics.
function metric(name) {
  return withTimeout(new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: server.port, path: '/metrics', agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
        if (m) resolve(Number(m[1]));
        else reject(new Error(`${name} not in /metrics`));
      });
    }).on('error', reject);
  }), 5000, 'metrics');
}

// centrifuge over ws with its default offer; every socket is recorded
// so that the bytes read can be counted.
const sockets = [];
class CountedWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols, { perMessageDeflate: true });
    sockets.push(this);
  }
}

async function connect() {
  const c = new Centrifuge(`${server.url}/connection/websocket`, { websocket: CountedWebSocket });
  const connected = once(c, 'connected');
  c.connect();
  await withTimeout(connected, 5000, 'connect');
  return c;
}

check('centrifuge: 4 compressing subscribers get 50 publications each, intact', async () => {
  const subs = [];
  for (let i = 0; i < 4; i++) {
    const c = await connect();
    const sub = c.newSubscription('deflate-news');
    const got = [];
    sub.on('publication', (ctx) => got.push(ctx.data));
    sub.subscribe();
    await sub.ready(5000);
    subs.push({ c, got, ws: sockets[sockets.length - 1] });
  }
  for (const s of subs)
    assert(s.ws.extensions === PMD, `extensions "${s.ws.extensions}"`);
  const gauge = await metric('wsp_deflate_connections');
  assert(gauge === 4, `wsp_deflate_connections ${gauge}`);
  const publisher = await connect();
  const before = subs.map((s) => s.ws._socket.bytesRead);
  const sent = [];
  for (let i = 0; i < 50; i++) {
    const data = { n: i, text: jsonText(2000, i) };
    sent.push(data);
    await publisher.publish('deflate-news', data);
  }
  await waitFor(() => subs.every((s) => s.got.length === 50), 5000, 'all publications');
  let total = 0;
  for (const [k, s] of subs.entries()) {
    assert(JSON.stringify(s.got) === JSON.stringify(sent), `subscriber ${k}: publications differ`);
    total += s.ws._socket.bytesRead - before[k];
  }
  const payload = 4 * JSON.stringify(sent).length;
  assert(total < payload / 4, `${total} bytes read for ${payload} bytes of publications`);
  for (const s of subs) s.c.disconnect();
  publisher.disconnect();
  return `${payload} bytes of publications in ${total} on the wire`;
});

await run({
  perCheckMs: 20000,
  totalMs: 80000,
  before: async () => {
    server = await startDemo(exe, ['--deflate', '--max-message', String(MAX_MESSAGE)]);
    plain = await startDemo(exe, []);
  },
  after: async () => {
    for (const s of [server, plain]) {
      s.proc.kill('SIGTERM');
      const { code } = await withTimeout(s.exited, 3000, 'wsp-demo exit');
      assert(code === 0, `wsp-demo exit code ${code}`);
    }
  },
});
