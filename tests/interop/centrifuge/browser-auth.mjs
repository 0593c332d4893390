// wsp-demo's session cookie and its defence against cross-site WebSocket
// hijacking, in headless Chromium (Debian's chromium driven by
// playwright-core). The browser itself keeps and sends the cookie:
// - login.html's form logs in; the cookie in the browser's jar is
//   HttpOnly, SameSite=Lax, Path=/ and hidden from document.cookie; the
//   page's connection is that user (whoami), whatever its connect data
//   claims;
// - a page of another origin on the same host (a second wsp-demo on
//   another port: same site, so the browser sends the cookie) cannot open
//   a WebSocket to the first server: the browser sees the connection fail
//   and the server counts the 403 (refused_origin in /api/info);
// - a page of an origin given with --allowed-origin connects as the user;
// - a page of another site (localhost instead of 127.0.0.1) does not send
//   the SameSite=Lax cookie: its connection is anonymous;
// - logout closes the page's connection with 3503, clears the cookie, and
//   a new connection is anonymous (no --token-* flags), or refused with
//   3500 (a server with --token-hmac-secret).
//   node browser-auth.mjs WSP_DEMO_EXE [CHROMIUM]
// Prints one line per check and "N passed, M failed"; exits 1 on failure
// and 1 also when playwright-core or chromium is missing.
import { assert, callApi, check, chromiumLauncher, run, startDemo, withTimeout } from './harness.mjs';

const exe = process.argv[2];
const chromiumPath = process.argv[3] || process.env.CHROMIUM || '/usr/bin/chromium';
if (!exe) {
  console.log('usage: node browser-auth.mjs WSP_DEMO_EXE [CHROMIUM]');
  process.exit(2);
}
const launchChromium = await chromiumLauncher(chromiumPath);

const KEY = 'browser-auth-key-' + process.pid;
const USER = 'ann+1';
// main: the server the user logs in to; friend: another origin that main
// allows (--allowed-origin); stranger: another origin it does not;
// guarded: a server with tokens, which refuses anonymous connections.
let main, friend, stranger, guarded, browser, context, page;
const pageErrors = [];
const consoleLines = [];

const info = async () => {
  const r = await callApi(main.port, KEY, 'info', {});
  assert(r.status === 200 && r.json && r.json.result, `info: ${r.status} ${r.body}`);
  return r.json.result;
};

async function openPage(url, what) {
  const p = await context.newPage();
  p.on('pageerror', (e) => pageErrors.push(`${what}: ${e.message}`));
  p.on('console', (m) => consoleLines.push(`${what} ${m.type()}: ${m.text()}`));
  await p.goto(url, { timeout: 10000 });
  return p;
}

// In a page: open a plain WebSocket to url; resolves to {opened, code}
// once it closes or has been open for a moment (then it is closed).
const tryWebSocket = (p, url) => withTimeout(p.evaluate((u) => new Promise((resolve) => {
  const ws = new WebSocket(u);
  let opened = false;
  ws.onopen = () => { opened = true; setTimeout(() => ws.close(), 100); };
  ws.onclose = (ev) => resolve({ opened, code: ev.code });
}), url), 8000, `WebSocket from ${p.url()}`);

// In a page that loaded /centrifuge.js: connect to url, whoami, disconnect.
const whoamiAt = (p, url) => withTimeout(p.evaluate(async (u) => {
  const c = new Centrifuge(u, { minReconnectDelay: 100, maxReconnectDelay: 300 });
  c.connect();
  try {
    await c.ready(5000);
    return (await c.rpc('whoami', {})).data;
  } catch (e) {
    throw new Error(e instanceof Error ? e.message : JSON.stringify(e));
  } finally {
    c.disconnect();
  }
}, url), 8000, `whoami from ${p.url()}`);

const sessionCookies = async () => (await context.cookies()).filter((c) => c.name === 'wsp_sid');

check('login.html: the form logs in, the page connects as the user', async () => {
  page = await openPage(`http://127.0.0.1:${main.port}/login.html`, 'main');
  await withTimeout(page.evaluate(() => window.wspLoginReady), 8000, 'first connect');
  // not logged in yet: an anonymous connection, the form shows
  assert(await page.evaluate(() => window.wspLogin.user) === '', 'user before login');
  await page.waitForSelector('#loginform:not([hidden])', { timeout: 5000 });
  assert((await sessionCookies()).length === 0, 'a cookie before login');
  await page.fill('#user', USER);
  await page.click('#login');
  await page.waitForFunction((u) => document.getElementById('who').textContent === u, USER, { timeout: 5000 });
  assert(await page.isHidden('#loginform'), 'the form is still shown');
  const me = await page.evaluate(() => window.wspLogin.connect());
  assert(me.user === USER, `whoami: ${JSON.stringify(me)}`);
});

check('the cookie in the browser: HttpOnly, SameSite=Lax, Path=/', async () => {
  const cs = await sessionCookies();
  assert(cs.length === 1, `cookies ${JSON.stringify(cs)}`);
  const c = cs[0];
  assert(c.httpOnly === true, `httpOnly ${c.httpOnly}`);
  assert(c.sameSite === 'Lax', `sameSite ${c.sameSite}`);
  assert(c.path === '/', `path ${c.path}`);
  assert(c.domain === '127.0.0.1', `domain ${c.domain}`);
  assert(c.secure === false, 'secure on plain http');
  const ttl = c.expires - Date.now() / 1000;
  assert(ttl > 3500 && ttl <= 3601, `expires in ${ttl} s`);
  assert(/^[A-Za-z0-9_-]{16,}$/.test(c.value), `value ${c.value}`);
  const visible = await page.evaluate(() => document.cookie);
  assert(!visible.includes('wsp_sid'), `document.cookie shows ${visible}`);
  return `${c.value.length}-character id`;
});

check('the cookie decides the user, not the connect data', async () => {
  const user = await withTimeout(page.evaluate(async () => {
    const c = new Centrifuge(`ws://${location.host}/connection/websocket`, { data: { user: 'mallory' } });
    c.connect();
    try {
      await c.ready(5000);
      return (await c.rpc('whoami', {})).data.user;
    } finally {
      c.disconnect();
    }
  }), 8000, 'whoami');
  assert(user === USER, `user ${user}`);
});

check('another origin on the same site: the browser sends the cookie, the server says 403', async () => {
  const before = await info();
  const p = await openPage(`http://127.0.0.1:${stranger.port}/login.html`, 'stranger');
  await withTimeout(p.evaluate(() => window.wspLoginReady), 8000, 'stranger page');
  const r = await tryWebSocket(p, `ws://127.0.0.1:${main.port}/connection/websocket`);
  assert(!r.opened && r.code === 1006, `opened ${r.opened}, code ${r.code}`);
  const after = await info();
  assert(after.refused_origin === before.refused_origin + 1,
    `refused_origin ${before.refused_origin} -> ${after.refused_origin}`);
  // it reached the server: accepted counts it and this info request
  assert(after.accepted === before.accepted + 2, `accepted ${before.accepted} -> ${after.accepted}`);
  const said = consoleLines.filter((l) => l.startsWith('stranger') && /403/.test(l));
  assert(said.length === 1, `console: ${JSON.stringify(consoleLines)}`);
  // the page's own server does not know the session: anonymous there
  const own = await p.evaluate(() => window.wspLogin.user);
  assert(own === '', `user on the stranger's own server ${JSON.stringify(own)}`);
  await p.close();
  return said[0].replace(/^stranger error: /, '');
});

check('an --allowed-origin page connects as the user', async () => {
  const before = await info();
  const p = await openPage(`http://127.0.0.1:${friend.port}/login.html`, 'friend');
  await withTimeout(p.evaluate(() => window.wspLoginReady), 8000, 'friend page');
  const me = await whoamiAt(p, `ws://127.0.0.1:${main.port}/connection/websocket`);
  assert(me.user === USER, `whoami: ${JSON.stringify(me)}`);
  const after = await info();
  assert(after.refused_origin === before.refused_origin, `refused_origin ${before.refused_origin} -> ${after.refused_origin}`);
  await p.close();
});

check('another site (localhost): the SameSite=Lax cookie stays home, the connection is anonymous', async () => {
  const before = await info();
  const p = await openPage(`http://localhost:${stranger.port}/login.html`, 'other-site');
  await withTimeout(p.evaluate(() => window.wspLoginReady), 8000, 'localhost page');
  const me = await whoamiAt(p, `ws://127.0.0.1:${main.port}/connection/websocket`);
  assert(me.user === '', `whoami: ${JSON.stringify(me)}`);
  const after = await info();
  assert(after.refused_origin === before.refused_origin, `refused_origin ${before.refused_origin} -> ${after.refused_origin}`);
  await p.close();
});

check('logout: the page\'s connection closes with 3503, the cookie goes, a new connection is anonymous', async () => {
  const n = await page.evaluate(() => window.wspLogin.disconnects.length);
  await page.click('#logout');
  await page.waitForFunction((k) => window.wspLogin.disconnects.length > k, n, { timeout: 5000 });
  const d = await page.evaluate((k) => window.wspLogin.disconnects.slice(k), n);
  assert(d.length === 1 && d[0].code === 3503, `disconnects ${JSON.stringify(d)}`);
  await page.waitForSelector('#loginform:not([hidden])', { timeout: 5000 });
  assert(await page.evaluate(() => window.wspLogin.state) === 'disconnected', 'the client reconnected by itself');
  assert((await sessionCookies()).length === 0, `cookies ${JSON.stringify(await sessionCookies())}`);
  const me = await page.evaluate(() => window.wspLogin.connect());
  assert(me.user === '', `whoami after logout: ${JSON.stringify(me)}`);
  // the allowed origin gets nothing either now
  const p = await openPage(`http://127.0.0.1:${friend.port}/login.html`, 'friend');
  const them = await whoamiAt(p, `ws://127.0.0.1:${main.port}/connection/websocket`);
  assert(them.user === '', `friend after logout: ${JSON.stringify(them)}`);
  await p.close();
});

check('with --token-* flags: no anonymous connections, before login nor after logout (3500)', async () => {
  // its own cookie jar: cookies are per host, not per port, so this
  // server's wsp_sid would replace the main one's
  const ctx = await browser.newContext();
  try {
    const p = await ctx.newPage();
    p.on('pageerror', (e) => pageErrors.push(`guarded: ${e.message}`));
    await p.goto(`http://127.0.0.1:${guarded.port}/login.html`, { timeout: 10000 });
    await withTimeout(p.evaluate(() => window.wspLoginReady), 8000, 'first connect');
    await p.waitForSelector('#loginform:not([hidden])', { timeout: 5000 });
    const first = await p.evaluate(() => window.wspLogin.disconnects.map((d) => d.code));
    assert(first.join() === '3500', `before login: ${first}`);
    await p.fill('#user', 'bo');
    await p.click('#login');
    await p.waitForFunction(() => document.getElementById('who').textContent === 'bo', null, { timeout: 5000 });
    await p.click('#logout');
    await p.waitForFunction(() => window.wspLogin.disconnects.length === 2, null, { timeout: 5000 });
    const codes = await p.evaluate(() => window.wspLogin.disconnects.map((d) => d.code));
    assert(codes[1] === 3503, `disconnects ${codes}`);
    const again = await withTimeout(p.evaluate(() => window.wspLogin.connect().then(
      (me) => `connected as ${JSON.stringify(me.user)}`, () => window.wspLogin.disconnects.at(-1).code)),
    8000, 'connect after logout');
    assert(again === 3500, `after logout: ${again}`);
    return `closes ${codes.join(' ')} ${again}`;
  } finally {
    await ctx.close();
  }
});

check('no page errors', async () => {
  const errors = consoleLines.filter((l) => / error: /.test(l) && !/^stranger error: .*403/.test(l));
  assert(pageErrors.length === 0 && errors.length === 0, [...pageErrors, ...errors].join('; '));
});

await run({
  perCheckMs: 20000,
  totalMs: 80000,
  before: async () => {
    friend = await startDemo(exe, ['--ping-interval', '0']);
    stranger = await startDemo(exe, ['--ping-interval', '0']);
    main = await startDemo(exe, ['--api-key', KEY, '--ping-interval', '0',
      '--allowed-origin', `http://127.0.0.1:${friend.port}`]);
    guarded = await startDemo(exe, ['--ping-interval', '0', '--token-hmac-secret', 'guarded-' + process.pid]);
    browser = await launchChromium();
    context = await browser.newContext();
  },
  after: async () => {
    await browser.close();
    for (const s of [main, friend, stranger, guarded]) {
      s.proc.kill('SIGTERM');
      const { code } = await withTimeout(s.exited, 3000, 'wsp-demo exit');
      assert(code === 0, `wsp-demo exit code ${code}`);
    }
  },
});
