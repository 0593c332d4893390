// permessage-deflate with headless Chromium (Debian's chromium driven by
// playwright-core) against wsp-demo --deflate: Chromium negotiates the
// extension, with its own zlib, on a plain WebSocket to /echo and on the
// centrifuge browser client's connection (seen in the handshake through
// the DevTools protocol); messages round trip intact both ways, and the
// publications the page receives cost the server a fraction of their
// size in bytes written (GET /metrics, wsp_bytes_out_total).
//   node browser-deflate.mjs WSP_DEMO_EXE [CHROMIUM]
// Prints one line per check and "N passed, M failed"; exits 1 on failure
// and 1 also when playwright-core or chromium is missing.
import http from 'node:http';
import { assert, check, chromiumLauncher, run, startDemo, withTimeout } from './harness.mjs';

const exe = process.argv[2];
const chromiumPath = process.argv[3] || process.env.CHROMIUM || '/usr/bin/chromium';
if (!exe) {
  console.log('usage: node browser-deflate.mjs WSP_DEMO_EXE [CHROMIUM]');
  process.exit(2);
}
const launchChromium = await chromiumLauncher(chromiumPath);
const NCT = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

let server, browser, page;
const pageErrors = [];
const handshakes = []; // {url, extensions} of every WebSocket the page opened

// One counter of the hub's metrics.
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

check('Chromium negotiates permessage-deflate on /echo; messages round trip', async () => {
  const r = await page.evaluate(async (url) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
    const text = (n, seed) => {
      let s = '';
      for (let i = 0; s.length < n; i++) s += `{"seq":${seed + i},"word":"κόσμε ☃"},`;
      return s.slice(0, n);
    };
    const bytes = new Uint8Array(4096).map((_, i) => (i * 7919) % 251);
    const msgs = ['hi', text(20000, 1), '', text(300, 2), bytes.buffer, text(30000, 3)];
    const bad = [];
    for (const [i, m] of msgs.entries()) {
      const got = new Promise((resolve, reject) => {
        ws.onmessage = (e) => resolve(e.data);
        ws.onclose = (e) => reject(new Error(`closed ${e.code} at message ${i}`));
      });
      ws.send(m);
      const d = await got;
      const same = typeof m === 'string' ? d === m
        : d instanceof ArrayBuffer && d.byteLength === m.byteLength &&
          new Uint8Array(d).every((b, k) => b === new Uint8Array(m)[k]);
      if (!same) bad.push(i);
    }
    const ext = ws.extensions;
    ws.close(1000);
    return { ext, bad };
  }, `ws://127.0.0.1:${server.port}/echo`);
  assert(r.ext === NCT, `extensions "${r.ext}"`);
  assert(r.bad.length === 0, `echoes differ: ${r.bad}`);
  return r.ext;
});

check('the centrifuge browser client over a compressing connection', async () => {
  const outBefore = await metric('wsp_bytes_out_total');
  const r = await page.evaluate(async (url) => {
    const text = (n, seed) => {
      let s = '';
      for (let i = 0; s.length < n; i++) s += `{"seq":${seed + i},"item":"news ${i % 5}"},`;
      return s.slice(0, n);
    };
    const c = new Centrifuge(url);
    c.connect();
    await c.ready(5000);
    const sub = c.newSubscription('deflate-browser');
    const got = [];
    sub.on('publication', (ctx) => got.push(ctx.data));
    sub.subscribe();
    await sub.ready(5000);
    const sent = [];
    for (let i = 0; i < 20; i++) {
      const data = { n: i, text: text(3000, i) };
      sent.push(data);
      await c.publish('deflate-browser', data);
    }
    const until = Date.now() + 5000;
    while (got.length < sent.length && Date.now() < until)
      await new Promise((resolve) => setTimeout(resolve, 10));
    const echo = await c.rpc('echo', { s: text(5000, 9) });
    c.disconnect();
    return {
      same: JSON.stringify(got) === JSON.stringify(sent),
      count: got.length,
      bytes: JSON.stringify(sent).length,
      echoOk: echo.data.s === text(5000, 9),
    };
  }, `ws://127.0.0.1:${server.port}/connection/websocket`);
  const out = (await metric('wsp_bytes_out_total')) - outBefore;
  assert(r.same, `publications differ (${r.count} of 20)`);
  assert(r.echoOk, 'rpc echo differs');
  const hs = handshakes.filter((h) => h.url.endsWith('/connection/websocket'));
  assert(hs.length >= 1 && hs.every((h) => h.extensions === NCT),
    `centrifuge handshakes: ${JSON.stringify(hs)}`);
  // The publications, their replies and the echo together, written.
  assert(out < r.bytes / 3, `${out} bytes written for ${r.bytes} bytes of publications`);
  return `${r.bytes} bytes of publications, ${out} bytes written`;
});

check('no page errors', async () => {
  assert(pageErrors.length === 0, pageErrors.join('; '));
});

await run({
  perCheckMs: 20000,
  totalMs: 60000,
  before: async () => {
    server = await startDemo(exe, ['--deflate']);
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    const urls = new Map();
    cdp.on('Network.webSocketCreated', (e) => urls.set(e.requestId, e.url));
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
      const h = e.response.headers;
      const key = Object.keys(h).find((k) => k.toLowerCase() === 'sec-websocket-extensions');
      handshakes.push({ url: urls.get(e.requestId) || '', extensions: key ? h[key] : '' });
    });
    // The page loads the centrifuge bundle from wsp-demo.
    await page.goto(`http://127.0.0.1:${server.port}/`, { timeout: 10000 });
    await withTimeout(page.evaluate(() => window.wspDemoReady), 8000, 'page connect');
  },
  after: async () => {
    await browser.close();
    server.proc.kill('SIGTERM');
    const { code } = await withTimeout(server.exited, 3000, 'wsp-demo exit');
    assert(code === 0, `wsp-demo exit code ${code}`);
  },
});
