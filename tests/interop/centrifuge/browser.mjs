// wsp-demo's browser page in headless Chromium (Debian's chromium driven by
// playwright-core): the page loads the centrifuge browser bundle from
// wsp-demo, connects to /connection/websocket and calls the RPC methods.
//   node browser.mjs WSP_DEMO_EXE [CHROMIUM]
// Prints one line per check and "N passed, M failed"; exits 1 on failure
// and 1 also when playwright-core or chromium is missing.
import { assert, check, chromiumLauncher, run, startDemo, withTimeout } from './harness.mjs';

const exe = process.argv[2];
const chromiumPath = process.argv[3] || process.env.CHROMIUM || '/usr/bin/chromium';
if (!exe) {
  console.log('usage: node browser.mjs WSP_DEMO_EXE [CHROMIUM]');
  process.exit(2);
}
const launchChromium = await chromiumLauncher(chromiumPath);

let server, browser, page;
const pageErrors = [];

check('the page loads the bundle and connects', async () => {
  await page.goto(`http://127.0.0.1:${server.port}/`, { timeout: 10000 });
  await withTimeout(page.evaluate(() => window.wspDemoReady), 8000, 'page connect');
  const status = await page.textContent('#status');
  assert(/^connected, client [0-9a-f-]{36}$/.test(status), `status "${status}"`);
  assert(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
  return status;
});

check("the page's own run of every method", async () => {
  const results = await page.evaluate(() => window.wspDemo.selfTest());
  const failed = results.filter((r) => !r.ok);
  assert(results.length >= 8, `${results.length} results`);
  assert(failed.length === 0, failed.map((r) => `${r.name}: ${r.detail}`).join('; '));
  return results.map((r) => r.name).join(', ');
});

// The same methods again from page.evaluate with a fresh client, so the
// page's logic is not the only judge.
check('echo, add, sleep out of order, fail, whoami from a fresh client', async () => {
  const r = await page.evaluate(async (url) => {
    const c = new Centrifuge(url, { data: { user: 'chromium' } });
    const connected = new Promise((resolve) => c.once('connected', resolve));
    c.connect();
    const ctx = await connected;
    const err = (p) => p.then(() => null, (e) => ({ code: e.code, message: e.message }));
    const out = { client: ctx.client };
    out.echo = (await c.rpc('echo', { s: 'é🙂', n: [1, 2.5] })).data;
    out.add = (await c.rpc('add', { a: 0.1, b: 0.2 })).data;
    out.order = [];
    await Promise.all([300, 50].map((ms) => c.rpc('sleep', { ms }).then((x) => out.order.push(x.data.slept))));
    out.fail = await err(c.rpc('fail'));
    out.unknown = await err(c.rpc('missing'));
    out.whoami = (await c.rpc('whoami')).data;
    c.disconnect();
    return out;
  }, `ws://127.0.0.1:${server.port}/connection/websocket`);
  assert(JSON.stringify(r.echo) === JSON.stringify({ s: 'é🙂', n: [1, 2.5] }), `echo ${JSON.stringify(r.echo)}`);
  assert(r.add && r.add.sum === 0.1 + 0.2, `add ${JSON.stringify(r.add)}`);
  assert(r.order.join() === '50,300', `sleep order ${r.order}`);
  assert(r.fail && r.fail.code === 1000 && r.fail.message === 'fail', `fail ${JSON.stringify(r.fail)}`);
  assert(r.unknown && r.unknown.code === 104, `unknown ${JSON.stringify(r.unknown)}`);
  assert(r.whoami && r.whoami.client === r.client && r.whoami.user === 'chromium', `whoami ${JSON.stringify(r.whoami)}`);
});

check('1000 concurrent RPCs from the browser', async () => {
  const bad = await page.evaluate(async (url) => {
    const c = new Centrifuge(url);
    c.connect();
    await c.ready(5000);
    const calls = [];
    for (let i = 0; i < 1000; i++)
      calls.push(c.rpc('echo', { i }).then((r) => (r.data && r.data.i === i ? 0 : 1)));
    const n = (await Promise.all(calls)).reduce((a, b) => a + b, 0);
    c.disconnect();
    return n;
  }, `ws://127.0.0.1:${server.port}/connection/websocket`);
  assert(bad === 0, `${bad} wrong replies`);
});

check('no page errors', async () => {
  assert(pageErrors.length === 0, pageErrors.join('; '));
});

await run({
  perCheckMs: 20000,
  totalMs: 60000,
  before: async () => {
    server = await startDemo(exe, ['--ping-interval', '1000', '--pong-timeout', '1000']);
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });
  },
  after: async () => {
    await browser.close();
    server.proc.kill('SIGTERM');
    const { code } = await withTimeout(server.exited, 3000, 'wsp-demo exit');
    assert(code === 0, `wsp-demo exit code ${code}`);
  },
});
