// Shared pieces of the centrifuge interop tests: a tiny check runner, a
// wsp-demo process on a free port, timeouts, the checks of a recovery
// and headless Chromium. Each test file registers checks, then calls
// run(), which prints one line per check and "N passed, M failed" and
// exits non-zero on failure or after the overall time limit.
// With CENTRIFUGE_CODEC=protobuf in the environment the scripts that take
// their client from clientAndExe() run on the client's Protobuf build.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';

const checks = [];

export const check = (name, fn) => checks.push({ name, fn });

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// The error a promise rejects with (null when it resolves).
export const errorOf = (p) => p.then(() => null, (e) => e ?? new Error('rejected'));

const servers = new Set();

// Start wsp-demo on a free port; resolves to {proc, port, url, exited}.
// exited resolves to {code, signal} when the process ends.
export async function startDemo(exe, args = []) {
  const proc = spawn(exe, ['--listen', '127.0.0.1:0', ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.add(proc);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    servers.delete(proc);
    resolve({ code, signal });
  }));
  let out = '';
  const port = await withTimeout((async () => {
    for await (const chunk of proc.stdout) {
      out += chunk;
      const m = /^listening on 127\.0\.0\.1:(\d+)$/m.exec(out);
      if (m) return Number(m[1]);
    }
    throw new Error(`wsp-demo exited before listening: ${JSON.stringify(out)}`);
  })(), 5000, 'wsp-demo start');
  proc.stdout.resume(); // keep draining whatever it prints later
  return { proc, port, exited, url: `ws://127.0.0.1:${port}` };
}

function killAll() {
  for (const proc of servers) proc.kill('SIGKILL');
}
process.on('exit', killAll);

// Run the checks in order, each bounded by perCheckMs, all by totalMs.
export async function run({ perCheckMs = 15000, totalMs = 60000, before, after } = {}) {
  let passed = 0, failed = 0;
  const overall = setTimeout(() => {
    console.log(`overall time limit of ${totalMs} ms reached`);
    console.log(`${passed} passed, ${failed + 1} failed`);
    killAll();
    process.exit(1);
  }, totalMs);
  try {
    if (before) await withTimeout(before(), perCheckMs, 'setup');
    for (const { name, fn } of checks) {
      try {
        const note = await withTimeout(Promise.resolve().then(fn), perCheckMs, name);
        passed++;
        console.log(`ok   ${name}${note ? ` (${note})` : ''}`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${name}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`);
      }
    }
    if (after) await withTimeout(after(), perCheckMs, 'teardown');
  } catch (e) {
    failed++;
    console.log(`FAIL ${e && e.message}`);
  }
  clearTimeout(overall);
  console.log(`${passed} passed, ${failed} failed`);
  killAll();
  process.exit(failed ? 1 : 0);
}

// POST /api/<method> to a wsp-demo started with --api-key: resolves to
// {status, body (text), json (parsed or null)}. body is an object
// (sent as JSON) or a string (sent as it is); key null sends no
// Authorization header.
export function callApi(port, key, method, body = {}, { httpMethod = 'POST' } = {}) {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const headers = httpMethod === 'GET' ? {}
    : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) };
  if (key !== null) headers.Authorization = `apikey ${key}`;
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: `/api/${method}`, method: httpMethod, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, body: text, json });
      });
    });
    req.on('error', reject);
    req.end(httpMethod === 'GET' ? undefined : payload);
  }), 5000, `api ${method}`);
}

// Resolves once pred() is true, polling every 5 ms; rejects after ms.
export function waitFor(pred, ms, what) {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (pred()) resolve();
      else if (Date.now() > until) reject(new Error(`${what}: timed out after ${ms} ms`));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

// Publications (objects with the number n the test published and their
// offset) are exactly from..from+n-1, in order, each once, with
// contiguous offsets.
export function exactly(pubs, from, n, what) {
  const ns = pubs.map((p) => p.n);
  const want = Array.from({ length: n }, (_, i) => from + i);
  assert(JSON.stringify(ns) === JSON.stringify(want), `${what}: got ${JSON.stringify(ns)}`);
  for (let i = 1; i < pubs.length; i++)
    assert(pubs[i].offset === pubs[i - 1].offset + 1, `${what}: offsets ${pubs[i - 1].offset} then ${pubs[i].offset}`);
}

// Cut a client's connection with disconnect() (a code that makes it
// reconnect), run meanwhile() while it is away (it must finish within
// reconnectMs, the client's reconnect delay), and resolve to the next
// subscribed event in log (arrays log.connecting and log.subscribed).
export async function cutAndWait(disconnect, log, meanwhile, reconnectMs) {
  const before = log.subscribed.length;
  const connecting = log.connecting.length;
  await disconnect();
  await waitFor(() => log.connecting.length > connecting, 3000, 'the client noticed the cut');
  const t0 = Date.now();
  await meanwhile();
  assert(Date.now() - t0 < reconnectMs, `publishing took ${Date.now() - t0} ms: longer than the reconnect delay`);
  await waitFor(() => log.subscribed.length > before, 10000, 'subscribed again');
  return log.subscribed[log.subscribed.length - 1];
}

// Debian's chromium driven by playwright-core: resolves to a function
// that launches it headless, with the flags a closed network and root
// need. Exits 1 with the reason when either is missing.
export async function chromiumLauncher(path) {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    console.log('playwright-core is missing (run tests/interop/centrifuge/setup.sh); skipping');
    process.exit(1);
  }
  if (!existsSync(path)) {
    console.log(`${path} is missing (apt-get install chromium); skipping`);
    process.exit(1);
  }
  return () => chromium.launch({
    executablePath: path,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 15000,
  });
}

// The encoding the tests run with: CENTRIFUGE_CODEC=protobuf selects the
// client's Protobuf build (protobuf.mjs), anything else the JSON one.
export const PROTOBUF = process.env.CENTRIFUGE_CODEC === 'protobuf';

// The centrifuge client's class, of the build CENTRIFUGE_CODEC selects
// (throws when the npm package is missing).
export async function loadCentrifuge() {
  if (!PROTOBUF) return (await import('centrifuge')).Centrifuge;
  const { jsonOverProtobuf } = await import('./protobuf.mjs');
  return jsonOverProtobuf((await import('centrifuge/build/protobuf')).Centrifuge);
}

// The centrifuge client (the build CENTRIFUGE_CODEC selects), the ws
// package's WebSocket and the executable named on the command line, for a
// test script; exits 1 when the npm packages are missing (setup.sh
// installs them), 2 without the argument.
export async function clientAndExe(script, what) {
  let Centrifuge, WebSocket;
  try {
    Centrifuge = await loadCentrifuge();
    ({ WebSocket } = await import('ws'));
  } catch {
    console.log('centrifuge or ws is missing (run tests/interop/centrifuge/setup.sh); skipping');
    process.exit(1);
  }
  const exe = process.argv[2];
  if (!exe) {
    console.log(`usage: node ${script} ${what}`);
    process.exit(2);
  }
  return { Centrifuge, WebSocket, exe };
}
