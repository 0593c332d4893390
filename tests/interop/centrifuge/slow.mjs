// The slow-consumer policy through wsp-demo: a raw client (a plain TCP
// socket doing the WebSocket handshake and framing by hand) subscribes to
// a channel and stops reading; publications go out through the server API
// until its queued output passes --max-queued and the server closes it
// with 3008, while 100 other subscribers (ws clients speaking the protocol)
// receive every publication, in order. When the slow client reads again,
// it finds the publications it was owed, in order, then a close frame with
// 3008. That is the policy of channels without history (--history-size
// 0). On a channel with history the slow reader is instead fed from the
// log when it reads again: every publication, in order, and no close; and
// when its position has expired meanwhile, the unsubscribe push 2500.
//   node slow.mjs WSP_DEMO_EXE
// Prints one line per check and "N passed, M failed"; exits 1 on failure
// and 1 also when the npm packages are missing (run setup.sh).
import crypto from 'node:crypto';
import net from 'node:net';
import { assert, callApi, check, run, startDemo, waitFor, withTimeout } from './harness.mjs';

let WebSocket;
try {
  ({ WebSocket } = await import('ws'));
} catch {
  console.log('ws is missing (run tests/interop/centrifuge/setup.sh); skipping');
  process.exit(1);
}

const exe = process.argv[2];
if (!exe) {
  console.log('usage: node slow.mjs WSP_DEMO_EXE');
  process.exit(2);
}

const KEY = 'slow-key-' + process.pid;
const MAX_QUEUED = 65536;
const SUBSCRIBERS = 100;
const CHANNEL = 'feed';
const PAD = 'x'.repeat(8000);    // about 8 KB per publication
const WINDOW = 4;                // publications ahead of the slowest fast subscriber
const MAX_PUBLICATIONS = 4000;   // 32 MB: far beyond what sockets can buffer
const AFTER = 40;                // publications after the slow close
let server;

const api = async (method, body) => {
  const r = await callApi(server.port, KEY, method, body);
  assert(r.status === 200 && r.json && r.json.result, `${method}: ${r.status} ${r.body}`);
  return r.json.result;
};

// ---- A WebSocket client by hand ----------------------------------------------

function maskedFrame(opcode, payload) {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
    : len < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 255])
      : (() => { const b = Buffer.alloc(10); b[0] = 0x80 | opcode; b[1] = 0x80 | 127; b.writeBigUInt64BE(BigInt(len), 2); return b; })();
  const mask = crypto.randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

class RawClient {
  constructor(port) {
    this.key = crypto.randomBytes(16).toString('base64');
    this.sock = net.connect(port, '127.0.0.1');
    this.buf = Buffer.alloc(0);
    this.status = 0;       // the HTTP status once the response head is in
    this.lines = [];       // parsed protocol lines (not pings)
    this.close = null;     // {code, reason} of the server's close frame
    this.ended = false;    // the server closed the TCP connection
    this.bytes = 0;
    this.error = null;
    this.sock.on('data', (d) => this.onData(d));
    this.sock.on('end', () => { this.ended = true; });
    this.sock.on('close', () => { this.ended = true; });
    this.sock.on('error', (e) => { this.error = e; });
    this.sock.write(`GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${this.key}\r\n` +
      'Sec-WebSocket-Version: 13\r\n\r\n');
  }

  onData(d) {
    this.bytes += d.length;
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    if (!this.status) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString();
      this.buf = this.buf.subarray(end + 4);
      this.status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? -1);
      const accept = /\r\nsec-websocket-accept: *([^\r]*)/i.exec(head)?.[1];
      const want = crypto.createHash('sha1').update(this.key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      if (this.status !== 101 || accept !== want) this.error = new Error(`handshake: ${head}`);
    }
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      let len = b[1] & 127, off = 2;
      if (b[1] & 128) { this.error = new Error('masked frame from the server'); return; }
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (b.length < off + len) return;
      const opcode = b[0] & 15, payload = b.subarray(off, off + len);
      this.buf = b.subarray(off + len);
      if (!(b[0] & 0x80)) { this.error = new Error('fragmented frame (not expected here)'); return; }
      if (opcode === 1) {
        for (const line of payload.toString().split('\n')) {
          if (line === '') continue;
          if (line === '{}') { this.send('{}'); continue; } // a ping
          this.lines.push(JSON.parse(line));
        }
      } else if (opcode === 8) {
        this.close = { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString() };
        this.sock.write(maskedFrame(8, payload.subarray(0, 2)));
      } else if (opcode === 9) {
        this.sock.write(maskedFrame(10, payload));
      }
    }
  }

  send(text) {
    if (!this.close) this.sock.write(maskedFrame(1, Buffer.from(text)));
  }
}

// ---- Fast subscribers: ws clients speaking the protocol ------------------------

function fastSubscriber(url, i) {
  const ws = new WebSocket(`${url}/connection/websocket`, { perMessageDeflate: false });
  const s = { ws, i, seqs: [], bad: null, subscribed: false, closed: null };
  ws.on('open', () => ws.send(`{"id":1,"connect":{"data":{"user":"fast${i}"}}}\n{"id":2,"subscribe":{"channel":"${CHANNEL}"}}`));
  ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) {
      if (line === '') continue;
      if (line === '{}') { ws.send('{}'); continue; }
      const m = JSON.parse(line);
      if (m.id === 2) {
        if (m.error) s.bad = `subscribe error ${JSON.stringify(m.error)}`;
        s.subscribed = true;
      } else if (m.push && m.push.pub) {
        const seq = m.push.pub.data.seq;
        if (seq !== s.seqs.length + 1 && !s.bad) s.bad = `seq ${seq} after ${s.seqs.length}`;
        s.seqs.push(seq);
      }
    }
  });
  ws.on('close', (code) => { s.closed = code; });
  ws.on('error', (e) => { s.bad = s.bad || `error ${e.message}`; });
  return s;
}

let fast = [], slow = null, published = 0, slowAt = 0;

check(`a slow reader among ${SUBSCRIBERS} subscribers`, async () => {
  fast = Array.from({ length: SUBSCRIBERS }, (_, i) => fastSubscriber(server.url, i));
  slow = new RawClient(server.port);
  await waitFor(() => slow.status === 101, 5000, 'slow handshake');
  slow.send('{"id":1,"connect":{"data":{"user":"slowpoke"}}}');
  slow.send(`{"id":2,"subscribe":{"channel":"${CHANNEL}"}}`);
  await waitFor(() => slow.lines.length >= 2, 5000, `slow subscribe (${JSON.stringify(slow.lines)})`);
  assert(slow.lines[1].id === 2 && !slow.lines[1].error, JSON.stringify(slow.lines[1]));
  await waitFor(() => fast.every((s) => s.subscribed), 10000, 'fast subscribers');
  assert(fast.every((s) => !s.bad), fast.find((s) => s.bad)?.bad);
  const st = await api('presence_stats', { channel: CHANNEL });
  assert(st.num_clients === SUBSCRIBERS + 1, JSON.stringify(st));
  slow.sock.pause(); // from now on the slow client reads nothing
  return `${SUBSCRIBERS} + 1 subscribed`;
});

// Publish one by one through the API; never more than WINDOW ahead of the
// slowest fast subscriber, so that none of them nears the cap.
async function publishOne() {
  const seq = ++published;
  const r = await api('publish', { channel: CHANNEL, data: { seq, pad: PAD } });
  if (seq % WINDOW === 0) {
    await waitFor(() => fast.every((s) => s.seqs.length >= seq || s.bad || s.closed !== null), 10000,
      `fast subscribers at ${seq} (slowest ${Math.min(...fast.map((s) => s.seqs.length))})`);
    const bad = fast.find((s) => s.bad || s.closed !== null);
    assert(!bad, `fast subscriber ${bad?.i}: ${bad?.bad || `closed ${bad?.closed}`}`);
  }
  return r.delivered;
}

check('publications until the slow reader is closed with 3008', async () => {
  let delivered = SUBSCRIBERS + 1;
  while (delivered === SUBSCRIBERS + 1 && published < MAX_PUBLICATIONS) delivered = await publishOne();
  assert(delivered === SUBSCRIBERS, `delivered ${delivered} after ${published} publications`);
  slowAt = published;
  const info = await api('info', {});
  assert(info.slow_closes === 1, `slow_closes ${JSON.stringify(info)}`);
  return `closed at publication ${slowAt} (${(slowAt * PAD.length / 1048576).toFixed(1)} MiB), ` +
    `the slow client had read ${slow.bytes} bytes`;
});

check(`the other ${SUBSCRIBERS} go on: ${AFTER} more publications`, async () => {
  for (let i = 0; i < AFTER; i++) {
    const d = await publishOne();
    assert(d === SUBSCRIBERS, `delivered ${d} at ${published}`);
  }
  await waitFor(() => fast.every((s) => s.seqs.length === published || s.bad), 10000, 'the last publications');
  for (const s of fast) {
    assert(!s.bad && s.closed === null, `fast subscriber ${s.i}: ${s.bad || `closed ${s.closed}`}`);
    assert(s.seqs.length === published && s.seqs[published - 1] === published, `fast subscriber ${s.i}: ${s.seqs.length}`);
  }
  return `${SUBSCRIBERS} x ${published} publications, all in order`;
});

check('the slow reader, reading again, gets what it was owed, then close 3008', async () => {
  slow.sock.resume();
  await waitFor(() => slow.close !== null || slow.ended || slow.error, 10000, `close frame (read ${slow.bytes} bytes)`);
  assert(!slow.error, String(slow.error));
  assert(slow.close, `no close frame; the connection ended after ${slow.bytes} bytes`);
  assert(slow.close.code === 3008, `close ${JSON.stringify(slow.close)}`);
  const seqs = slow.lines.filter((m) => m.push && m.push.pub).map((m) => m.push.pub.data.seq);
  assert(seqs.every((q, i) => q === i + 1), `out of order: ${seqs.slice(0, 10)}...`);
  assert(seqs.length >= 1 && seqs.length < slowAt, `${seqs.length} publications before the close (closed at ${slowAt})`);
  await waitFor(() => slow.ended, 5000, 'the server closing the TCP connection');
  return `${seqs.length} publications then ${slow.close.code} "${slow.close.reason}"`;
});

check('stats: one slow close, counted under 3008', async () => {
  const info = await api('info', {});
  assert(info.slow_closes === 1 && info.closes['3008'] === 1, JSON.stringify(info));
  const st = await api('presence_stats', { channel: CHANNEL });
  assert(st.num_clients === SUBSCRIBERS, `presence ${JSON.stringify(st)}`);
  return JSON.stringify(info.closes);
});

// ---- Channels with history: delivery from the log --------------------------

// A raw reader of channel on a second wsp-demo started with args, paused
// once subscribed; publications go out until the server reports it lagging.
async function laggingReader(args, channel) {
  const s = await startDemo(exe, ['--api-key', KEY, '--max-queued', String(MAX_QUEUED), ...args]);
  const api2 = async (method, body) => {
    const r = await callApi(s.port, KEY, method, body);
    assert(r.status === 200 && r.json && r.json.result, `${method}: ${r.status} ${r.body}`);
    return r.json.result;
  };
  const r = new RawClient(s.port);
  await waitFor(() => r.status === 101, 5000, 'handshake');
  r.send('{"id":1,"connect":{"data":{"user":"lagger"}}}');
  r.send(`{"id":2,"subscribe":{"channel":"${channel}"}}`);
  await waitFor(() => r.lines.length >= 2, 5000, `subscribe (${JSON.stringify(r.lines)})`);
  assert(r.lines[1].subscribe && r.lines[1].subscribe.positioned, JSON.stringify(r.lines[1]));
  r.sock.pause();
  let n = 0;
  for (;;) {
    await api2('publish', { channel, data: { seq: ++n, pad: PAD } });
    if (n % 50 === 0 && (await api2('info', {})).lagged >= 1) break;
    assert(n < MAX_PUBLICATIONS, `not lagging after ${n} publications`);
  }
  return { s, r, api2, n };
}

const pubsOf = (r) => r.lines.filter((m) => m.push && m.push.pub);

check('history channel: the slow reader keeps its position and is fed from the log', async () => {
  const { s, r, api2, n: lagAt } = await laggingReader(['--history-size', '5000'], 'cursor');
  let n = lagAt;
  for (let i = 0; i < 100; i++) await api2('publish', { channel: 'cursor', data: { seq: ++n, pad: PAD } });
  const info = await api2('info', {});
  assert(info.slow_closes === 0 && info.lagged === 1, JSON.stringify(info));
  r.sock.resume();
  await waitFor(() => pubsOf(r).length >= n || r.close || r.error, 20000, `catching up (${pubsOf(r).length} of ${n})`);
  for (let i = 0; i < 3; i++) await api2('publish', { channel: 'cursor', data: { seq: ++n, pad: PAD } });
  await waitFor(() => pubsOf(r).length >= n || r.close || r.error, 5000, 'live again');
  assert(!r.error && !r.close, `${r.error} ${JSON.stringify(r.close)}`);
  const pubs = pubsOf(r);
  assert(pubs.length === n, `${pubs.length} publications of ${n}`);
  pubs.forEach((m, i) => assert(m.push.pub.data.seq === i + 1 && m.push.pub.offset === i + 1,
    `publication ${i + 1}: seq ${m.push.pub.data.seq} offset ${m.push.pub.offset}`));
  const after = await api2('info', {});
  assert(after.slow_closes === 0 && !after.closes['3008'], JSON.stringify(after));
  r.sock.destroy();
  s.proc.kill('SIGTERM');
  await withTimeout(s.exited, 3000, 'wsp-demo exit');
  return `lagging from about publication ${lagAt}, ${n} delivered in order, no close`;
});

check('history channel: a slow reader whose position expired gets 2500, not 3008', async () => {
  const { s, r, api2, n } = await laggingReader(['--history-size', '5000', '--history-ttl', '1'], 'expiring');
  await new Promise((resolve) => setTimeout(resolve, 2500)); // the history expires
  r.sock.resume();
  await waitFor(() => r.lines.some((m) => m.push && m.push.unsubscribe) || r.close || r.error, 20000,
    `the unsubscribe push (${pubsOf(r).length} publications so far)`);
  assert(!r.error && !r.close, `${r.error} ${JSON.stringify(r.close)}`);
  const u = r.lines.find((m) => m.push && m.push.unsubscribe);
  assert(u.push.channel === 'expiring' && u.push.unsubscribe.code === 2500, JSON.stringify(u));
  const pubs = pubsOf(r);
  assert(pubs.length < n && pubs.every((m, i) => m.push.pub.offset === i + 1),
    `${pubs.length} publications before the push, in order`);
  const info = await api2('info', {});
  assert(info.slow_closes === 0, JSON.stringify(info));
  r.sock.destroy();
  s.proc.kill('SIGTERM');
  await withTimeout(s.exited, 3000, 'wsp-demo exit');
  return `${pubs.length} publications, then 2500`;
});

await run({
  perCheckMs: 40000,
  totalMs: 85000,
  before: async () => {
    server = await startDemo(exe, ['--api-key', KEY, '--max-queued', String(MAX_QUEUED), '--history-size', '0']);
  },
  after: async () => {
    for (const s of fast) s.ws.close(1000);
    if (slow) slow.sock.destroy();
    server.proc.kill('SIGTERM');
    const { code } = await withTimeout(server.exited, 3000, 'wsp-demo exit');
    assert(code === 0, `wsp-demo exit code ${code}`);
  },
});
