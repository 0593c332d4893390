// The wsp-demo page: connects to /connection/websocket with the centrifuge
// browser client and calls the demo's RPC methods. window.wspDemo exposes
// the same functions to scripts (the browser interop test uses them).
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const endpoint = scheme + location.host + '/connection/websocket';
  let client = null;
  let clientId = '';
  const pushes = [];

  function log(text, cls) {
    const li = document.createElement('li');
    li.textContent = new Date().toLocaleTimeString() + '  ' + text;
    if (cls) li.className = cls;
    $('log').prepend(li);
  }

  function setStatus(text) {
    $('status').textContent = text;
  }

  // Connect (again) as user; resolves once the connect reply arrived.
  function connect(user) {
    if (typeof Centrifuge === 'undefined') {
      setStatus('centrifuge.js did not load (see the server\'s 404 text)');
      return Promise.reject(new Error('no centrifuge.js'));
    }
    if (client) client.disconnect();
    clientId = '';
    client = new Centrifuge(endpoint, { data: user ? { user } : null });
    client.on('connecting', (ctx) => setStatus(`connecting (${ctx.code} ${ctx.reason})`));
    client.on('connected', (ctx) => {
      clientId = ctx.client;
      setStatus(`connected, client ${ctx.client}`);
    });
    client.on('disconnected', (ctx) => setStatus(`disconnected (${ctx.code} ${ctx.reason})`));
    client.on('message', (ctx) => {
      pushes.push(ctx.data);
      log('message push: ' + JSON.stringify(ctx.data));
    });
    client.connect();
    return client.ready(5000);
  }

  // One RPC, logged; resolves with the reply's data, rejects with
  // {code, message} for an error reply.
  async function call(method, data) {
    const t0 = performance.now();
    const shown = `${method}(${data === undefined ? '' : JSON.stringify(data)})`;
    try {
      const r = await client.rpc(method, data);
      log(`${shown} -> ${JSON.stringify(r.data)}  ${(performance.now() - t0).toFixed(1)} ms`);
      return r.data;
    } catch (e) {
      log(`${shown} -> error ${e.code} ${e.message}`, 'bad');
      throw e;
    }
  }

  // send: the server answers with a message push carrying the same data.
  function sendAndWait(data, timeoutMs = 3000) {
    const before = pushes.length;
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      const poll = () => {
        if (pushes.length > before) return resolve(pushes[before]);
        if (Date.now() - t0 > timeoutMs) return reject(new Error('no message push'));
        setTimeout(poll, 10);
      };
      client.send(data).then(poll, reject);
    });
  }

  const errorOf = (p) => p.then(() => null, (e) => e);

  // Every method once; returns [{name, ok, detail}] and shows it.
  async function selfTest() {
    const results = [];
    const check = async (name, fn) => {
      let ok = false, detail = '';
      try { detail = await fn(); ok = true; } catch (e) { detail = String(e && e.message || e); }
      results.push({ name, ok, detail });
      log(`${ok ? 'PASS' : 'FAIL'} ${name} ${detail || ''}`, ok ? 'ok' : 'bad');
    };
    const expect = (cond, what) => { if (!cond) throw new Error(what); };

    await check('echo', async () => {
      const data = { text: 'héllo', n: [1, 2.5, null, true] };
      const got = await call('echo', data);
      expect(JSON.stringify(got) === JSON.stringify(data), 'echo differs: ' + JSON.stringify(got));
    });
    await check('add', async () => {
      const got = await call('add', { a: 2, b: 3.25 });
      expect(got && got.sum === 5.25, 'sum ' + JSON.stringify(got));
    });
    await check('add bad request', async () => {
      const e = await errorOf(call('add', { a: 'x' }));
      expect(e && e.code === 107, 'error ' + JSON.stringify(e));
    });
    await check('sleep out of order', async () => {
      const order = [];
      const slow = call('sleep', { ms: 300 }).then((d) => order.push(d.slept));
      const fast = call('sleep', { ms: 50 }).then((d) => order.push(d.slept));
      await Promise.all([slow, fast]);
      expect(order.join() === '50,300', 'order ' + order.join());
    });
    await check('fail', async () => {
      const e = await errorOf(call('fail', {}));
      expect(e && e.code === 1000 && e.message === 'fail', 'error ' + JSON.stringify(e));
    });
    await check('whoami', async () => {
      const got = await call('whoami');
      expect(got && got.client === clientId, `client ${got && got.client} vs ${clientId}`);
      return `user "${got.user}"`;
    });
    await check('send', async () => {
      const data = { ping: Math.random() };
      const got = await sendAndWait(data);
      expect(JSON.stringify(got) === JSON.stringify(data), 'push ' + JSON.stringify(got));
    });
    await check('unknown method', async () => {
      const e = await errorOf(call('no-such-method', {}));
      expect(e && e.code === 104, 'error ' + JSON.stringify(e));
    });
    return results;
  }

  function parseData(text) {
    if (text.trim() === '') return undefined;
    return JSON.parse(text);
  }

  $('connect').onclick = () => connect($('user').value).catch((e) => log('connect: ' + e.message, 'bad'));
  $('disconnect').onclick = () => client && client.disconnect();
  $('call').onclick = () => {
    let data;
    try { data = parseData($('data').value); } catch (e) { log('data: ' + e.message, 'bad'); return; }
    call($('method').value, data).catch(() => {});
  };
  $('send').onclick = () => {
    let data;
    try { data = parseData($('data').value); } catch (e) { log('data: ' + e.message, 'bad'); return; }
    client.send(data).catch((e) => log('send: ' + e.message, 'bad'));
  };
  $('selftest').onclick = () => selfTest();

  window.wspDemo = {
    connect, call, selfTest, sendAndWait,
    get client() { return client; },
    get clientId() { return clientId; },
  };
  window.wspDemoReady = connect($('user').value).catch((e) => log('connect: ' + e.message, 'bad'));
})();
