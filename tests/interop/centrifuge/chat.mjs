// wsp-demo's chat page in headless Chromium (Debian's chromium driven by
// playwright-core): two pages, as two users, join a channel through the
// page's form, see each other in the presence list, see each other's
// messages (sent with the client's publish) and each other's join and
// leave; a second channel keeps its messages apart; a publication from the
// server API shows up too.
//   node chat.mjs WSP_DEMO_EXE [CHROMIUM]
// Prints one line per check and "N passed, M failed"; exits 1 on failure
// and 1 also when playwright-core or chromium is missing.
import { assert, callApi, check, chromiumLauncher, run, startDemo, withTimeout } from './harness.mjs';

const exe = process.argv[2];
const chromiumPath = process.argv[3] || process.env.CHROMIUM || '/usr/bin/chromium';
if (!exe) {
  console.log('usage: node chat.mjs WSP_DEMO_EXE [CHROMIUM]');
  process.exit(2);
}
const launchChromium = await chromiumLauncher(chromiumPath);

const KEY = 'chat-key-' + process.pid;
const CH = 'chat.test';
let server, browser, ann, bob;
const pageErrors = [];

async function openPage(user) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${user}: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`${user} console: ${m.text()}`); });
  await page.goto(`http://127.0.0.1:${server.port}/chat.html?user=${user}`, { timeout: 10000 });
  await withTimeout(page.evaluate(() => window.wspChatReady), 8000, `${user} connect`);
  await page.waitForFunction((u) => document.getElementById('status').textContent === `connected as ${u}`, user,
    { timeout: 5000 });
  return page;
}

async function join(page, channel) {
  await page.fill('#channel', channel);
  await page.click('#join');
  await page.waitForSelector(`#channels li[data-channel="${channel}"].active`, { timeout: 5000 });
}

async function say(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

// The visible message list: [{kind, who, text}].
const messages = (page) => page.$$eval('#messages li', (lis) => lis.map((li) => ({
  kind: li.className,
  who: li.querySelector('.who')?.textContent ?? '',
  text: li.querySelector('.text')?.textContent ?? li.textContent,
})));

const presence = (page) => page.$$eval('#presence li', (lis) => lis.map((li) => li.textContent));

// Wait until the page shows a message matching pred (the source of a
// function of the <li>, run in the page).
function seeMessage(page, pred, what) {
  return page.waitForFunction(`[...document.querySelectorAll('#messages li')].some(${pred})`, null,
    { timeout: 5000 }).catch(async () => {
    throw new Error(`${what}: not shown; messages ${JSON.stringify(await messages(page))}`);
  });
}

function seePresence(page, users, what) {
  return page.waitForFunction((want) => {
    const have = [...document.querySelectorAll('#presence li')].map((li) => li.textContent);
    return JSON.stringify(have) === JSON.stringify(want);
  }, users, { timeout: 5000 }).catch(async () => {
    throw new Error(`${what}: presence ${JSON.stringify(await presence(page))}, expected ${JSON.stringify(users)}`);
  });
}

check('two pages connect as ann and bob', async () => {
  ann = await openPage('ann');
  bob = await openPage('bob');
});

check('both join a channel: presence lists both, ann sees bob join', async () => {
  await join(ann, CH);
  await seePresence(ann, ['ann'], 'ann alone');
  await join(bob, CH);
  await seePresence(bob, ['ann', 'bob'], 'bob after joining');
  await seePresence(ann, ['ann', 'bob'], 'ann after bob joined');
  await seeMessage(ann, "(li) => li.className === 'sys' && li.textContent === 'bob joined'", 'bob joined');
});

check("each sees the other's messages, in order", async () => {
  await say(ann, 'hello bob');
  await seeMessage(bob, "(li) => li.querySelector('.who')?.textContent === 'ann' && li.querySelector('.text')?.textContent === 'hello bob'", 'bob sees ann');
  await say(bob, 'hi ann <b>not bold</b>');
  await seeMessage(ann, "(li) => li.querySelector('.who')?.textContent === 'bob' && li.querySelector('.text')?.textContent === 'hi ann <b>not bold</b>'", 'ann sees bob');
  for (let i = 0; i < 5; i++) await say(ann, `n${i}`);
  await seeMessage(bob, "(li) => li.querySelector('.text')?.textContent === 'n4'", 'the last of five');
  const texts = (await messages(bob)).filter((m) => m.kind === 'msg').map((m) => `${m.who}:${m.text}`);
  assert(JSON.stringify(texts) === JSON.stringify(['ann:hello bob', 'bob:hi ann <b>not bold</b>',
    'ann:n0', 'ann:n1', 'ann:n2', 'ann:n3', 'ann:n4']), `bob's messages ${JSON.stringify(texts)}`);
  assert(await bob.$('#messages b') === null, 'message text was rendered as HTML');
});

check('a second channel keeps its messages apart', async () => {
  await join(ann, 'chat.other');
  await join(bob, 'chat.other');
  await say(bob, 'over here');
  await seeMessage(ann, "(li) => li.querySelector('.text')?.textContent === 'over here'", 'message in chat.other');
  await ann.click(`#channels li[data-channel="${CH}"]`);
  const inTest = (await messages(ann)).map((m) => m.text);
  assert(!inTest.includes('over here'), `chat.test shows ${JSON.stringify(inTest)}`);
  await say(bob, 'back in other'); // bob is still looking at chat.other
  await ann.waitForSelector('#channels li[data-channel="chat.other"] .unread', { timeout: 5000 });
});

check('a publication from the server API shows up', async () => {
  const r = await callApi(server.port, KEY, 'publish', { channel: CH, data: { text: 'from the server' } });
  assert(r.status === 200 && r.json.result && r.json.result.delivered === 2, r.body);
  await seeMessage(ann, "(li) => li.querySelector('.who')?.textContent === 'server' && li.querySelector('.text')?.textContent === 'from the server'", 'API publication');
});

check('bob leaves, then closes his page: ann sees both', async () => {
  await bob.click(`#channels li[data-channel="${CH}"]`);
  await bob.click('#leave');
  await seeMessage(ann, "(li) => li.className === 'sys' && li.textContent === 'bob left'", 'bob left chat.test');
  await seePresence(ann, ['ann'], 'after bob left');
  await ann.click('#channels li[data-channel="chat.other"]');
  await seePresence(ann, ['ann', 'bob'], 'chat.other before bob closes');
  await bob.close();
  await seeMessage(ann, "(li) => li.className === 'sys' && li.textContent === 'bob left'", 'bob left chat.other');
  await seePresence(ann, ['ann'], 'chat.other after bob closed');
});

check('no page errors', async () => {
  assert(pageErrors.length === 0, pageErrors.join('; '));
});

await run({
  perCheckMs: 20000,
  totalMs: 60000,
  before: async () => {
    server = await startDemo(exe, ['--api-key', KEY]);
    browser = await launchChromium();
  },
  after: async () => {
    await browser.close();
    server.proc.kill('SIGTERM');
    const { code } = await withTimeout(server.exited, 3000, 'wsp-demo exit');
    assert(code === 0, `wsp-demo exit code ${code}`);
  },
});
