// examples/echo-server against the Node `ws` client, and examples/echo-client
// against a `ws` WebSocketServer.
//   node node_echo.mjs ECHO_SERVER_EXE ECHO_CLIENT_EXE [--deflate]
// --deflate (a build with zlib): echo-client --deflate against a ws server
// with permessage-deflate too.
// Prints one line per check and "N passed, M failed"; exits 1 on failure,
// also when `ws` is not installed (run tests/interop/setup.sh).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';

let WebSocket, WebSocketServer;
try {
  ({ WebSocket, WebSocketServer } = await import('ws'));
} catch {
  console.log('the ws package is missing (run tests/interop/setup.sh); skipping');
  process.exit(1);
}

const [serverExe, clientExe, deflateArg] = process.argv.slice(2);
if (!serverExe || !clientExe) {
  console.log('usage: node node_echo.mjs ECHO_SERVER_EXE ECHO_CLIENT_EXE');
  process.exit(2);
}
const MiB = 1 << 20;
const checks = [];
const check = (name, fn) => checks.push({ name, fn });
const assert = (cond, msg) => { if (!cond) throw new Error(msg); };

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

async function startEchoServer() {
  const proc = spawn(serverExe, ['--host', '127.0.0.1', '--port', '0'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  for await (const chunk of proc.stdout) {
    out += chunk;
    if (out.includes('\n')) break;
  }
  const m = /^listening on 127\.0\.0\.1:(\d+)/.exec(out);
  if (!m) throw new Error(`echo-server did not start: ${JSON.stringify(out)}`);
  return { proc, port: Number(m[1]) };
}

async function open(port, path = '/echo') {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false });
  await once(ws, 'open');
  return ws;
}

// Send one message and wait for its echo; then close with 1000.
async function roundtrip(port, data, binary) {
  const ws = await open(port);
  const got = once(ws, 'message');
  ws.send(data, { binary });
  const [reply, isBinary] = await got;
  assert(isBinary === binary, `isBinary ${isBinary}, sent ${binary}`);
  assert(Buffer.compare(reply, Buffer.from(data)) === 0,
    `echo differs (${reply.length} bytes back, ${Buffer.byteLength(data)} sent)`);
  const closed = once(ws, 'close');
  ws.close(1000);
  const [code] = await closed;
  assert(code === 1000, `close code ${code}`);
}

let server;

check('text echo', () => roundtrip(server.port, 'hello, κόσμε 🙂', false));
check('binary echo', () => roundtrip(server.port, randomBytes(1000), true));
check('empty text', () => roundtrip(server.port, '', false));
check('1 MiB binary', () => roundtrip(server.port, randomBytes(MiB), true));
check('1 MiB text', () => roundtrip(server.port, 'x'.repeat(MiB), false));
check('16 MiB binary', () => roundtrip(server.port, randomBytes(16 * MiB), true));

check('ping gets pong', async () => {
  const ws = await open(server.port);
  const pong = once(ws, 'pong');
  ws.ping(Buffer.from('are you there'));
  const [payload] = await pong;
  assert(payload.toString() === 'are you there', `pong payload ${payload}`);
  ws.close(1000);
  await once(ws, 'close');
});

for (const [code, reason] of [[1000, ''], [4000, 'bye'], [3001, 'x'.repeat(100)]]) {
  check(`close ${code} is echoed`, async () => {
    const ws = await open(server.port);
    const closed = once(ws, 'close');
    ws.close(code, reason);
    const [got] = await closed;
    assert(got === code, `server replied ${got}, want ${code}`);
  });
}

check('404 for an unknown path', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/nope`);
  ws.on('error', () => {});
  const [, res] = await once(ws, 'unexpected-response');
  assert(res.statusCode === 404, `status ${res.statusCode}`);
  res.destroy();
});

// echo-client against a ws server.
function runClient(port, args) {
  return new Promise((resolve) => {
    execFile(clientExe, ['--host', '127.0.0.1', '--port', String(port), ...args],
      { timeout: 20000, maxBuffer: 64 * MiB, encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? -1) : 0, stdout, stderr }));
  });
}

async function withWsServer(options, onConnection, fn) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  await once(wss, 'listening');
  wss.on('connection', onConnection);
  try {
    return await fn(wss.address().port);
  } finally {
    for (const c of wss.clients) c.terminate();
    wss.close();
  }
}

// An echo handler that records the close code the client sent.
function echoRecorder() {
  let seen;
  const closed = new Promise((resolve) => { seen = resolve; });
  const handler = (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('close', (code) => seen(code));
  };
  // The server's 'close' event may come just after the client exited.
  const code = () => withTimeout(closed, 3000, 'server close event');
  return { handler, code };
}

check('echo-client: text messages', async () => {
  const rec = echoRecorder();
  const msgs = ['hello', 'κόσμε', '', 'last one'];
  const r = await withWsServer({}, rec.handler, async (port) => {
    const res = await runClient(port, msgs);
    res.close = await rec.code();
    return res;
  });
  assert(r.code === 0, `exit ${r.code}: ${r.stderr}`);
  assert(r.stdout === msgs.map((m) => m + '\n').join(''), `stdout ${JSON.stringify(r.stdout)}`);
  assert(r.close === 1000, `server saw close ${r.close}`);
});

check('echo-client: binary --count/--size', async () => {
  const rec = echoRecorder();
  const r = await withWsServer({}, rec.handler, async (port) => {
    const res = await runClient(port, ['--binary', '--count', '5', '--size', '300000']);
    res.close = await rec.code();
    return res;
  });
  assert(r.code === 0, `exit ${r.code}: ${r.stderr}`);
  const want = [1, 2, 3, 4, 5].map((i) => `${i}: 300000 bytes\n`).join('');
  assert(r.stdout === want, `stdout ${JSON.stringify(r.stdout)}`);
  assert(r.close === 1000, `server saw close ${r.close}`);
});

check('echo-client: rejected handshake fails', async () => {
  const r = await withWsServer(
    { verifyClient: (info, cb) => cb(false, 404) }, () => {},
    (port) => runClient(port, ['hello']));
  assert(r.code !== 0, 'exit 0 after a 404');
  assert(r.stdout === '', `stdout ${JSON.stringify(r.stdout)}`);
});

check('echo-client: server closing first fails', async () => {
  const r = await withWsServer({}, (ws) => ws.close(1001, 'going away'),
    (port) => runClient(port, ['hello']));
  assert(r.code !== 0, 'exit 0 although nothing was echoed');
});

check('echo-client: garbled echo fails', async () => {
  const r = await withWsServer({}, (ws) => ws.on('message', () => ws.send('other')),
    (port) => runClient(port, ['hello']));
  assert(r.code !== 0, 'exit 0 although the echo differed');
});

if (deflateArg === '--deflate') {
  // The client's offer, what it takes from ws's answer, and the bytes:
  // ws compresses everything (threshold 0), so does the client.
  const offer = 'permessage-deflate; server_no_context_takeover; ' +
    'client_no_context_takeover; client_max_window_bits';
  for (const [what, options] of [
    ['ws defaults', {}],
    ['ws keeps no context, small windows', { serverMaxWindowBits: 10, clientMaxWindowBits: 9 }],
  ]) {
    check(`echo-client --deflate: ${what}`, async () => {
      let req, read = 0, ext;
      const done = new Promise((resolve) => { req = resolve; });
      const r = await withWsServer({ perMessageDeflate: { threshold: 0, ...options } }, (ws, request) => {
        ext = request.headers['sec-websocket-extensions'];
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
        ws.on('close', () => { read = ws._socket.bytesRead; req(ws.extensions); });
      }, async (port) => {
        const res = await runClient(port, ['--deflate', '--count', '5', '--size', '300000']);
        res.used = await withTimeout(done, 3000, 'server close event');
        return res;
      });
      assert(r.code === 0, `exit ${r.code}: ${r.stderr}`);
      const want = [1, 2, 3, 4, 5].map((i) => `${i}: 300000 bytes\n`).join('');
      assert(r.stdout === want, `stdout ${JSON.stringify(r.stdout)}`);
      assert(ext === offer, `offer ${JSON.stringify(ext)}`);
      assert(r.used === 'permessage-deflate', `in use: ${JSON.stringify(r.used)}`);
      assert(read < 5 * 300000 / 10, `the server read ${read} bytes for 1.5 MB`);
      return `${read} bytes for 1.5 MB`;
    });
  }
  check('echo-client --deflate: a ws server without it', async () => {
    const rec = echoRecorder();
    const r = await withWsServer({ perMessageDeflate: false }, rec.handler,
      (port) => runClient(port, ['--deflate', 'hello', 'again']));
    assert(r.code === 0, `exit ${r.code}: ${r.stderr}`);
    assert(r.stdout === 'hello\nagain\n', `stdout ${JSON.stringify(r.stdout)}`);
  });
}

let passed = 0, failed = 0;
try {
  server = await startEchoServer();
} catch (e) {
  console.log(`FAIL start echo-server: ${e.message}`);
  process.exit(1);
}
for (const { name, fn } of checks) {
  try {
    await withTimeout(fn(), 30000, name);
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
server.proc.kill('SIGTERM');
const [status] = await withTimeout(once(server.proc, 'exit'), 5000, 'server exit')
  .catch(() => { server.proc.kill('SIGKILL'); return [null]; });
if (status === 0) { passed++; console.log('ok   echo-server exits 0 on SIGTERM'); }
else { failed++; console.log(`FAIL echo-server exits 0 on SIGTERM: status ${status}`); }
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
