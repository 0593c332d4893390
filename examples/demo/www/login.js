// The demo's login page: POST /login with the form, then a centrifuge
// connection authenticated by the session cookie the browser sends with
// the upgrade, whoami to show the user, and POST /logout (the server then
// closes the connection with 3503). window.wspLogin exposes the state to
// scripts (the browser-auth interop test reads it).
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const endpoint = scheme + location.host + '/connection/websocket';
  const disconnects = []; // {code, reason} of every disconnected event
  let client = null;
  let user = null; // whoami's user of the current connection

  const setStatus = (text) => { $('status').textContent = text; };

  // Show the form (no user) or the session (a user).
  function show(u) {
    user = u;
    $('loginform').hidden = !!u;
    $('session').hidden = !u;
    $('who').textContent = u || '';
  }

  // A new connection; resolves to whoami's {user, client}. Anonymous
  // connections are fine without --token-* flags; with them the server
  // closes one without a cookie with 3500, and this rejects.
  async function connect() {
    if (typeof Centrifuge === 'undefined') {
      setStatus('centrifuge.js did not load');
      throw new Error('no centrifuge.js');
    }
    if (client) client.disconnect();
    const c = new Centrifuge(endpoint);
    client = c;
    c.on('connecting', (ctx) => setStatus(`connecting (${ctx.code} ${ctx.reason})`));
    c.on('connected', () => setStatus('connected'));
    c.on('disconnected', (ctx) => {
      disconnects.push({ code: ctx.code, reason: ctx.reason });
      setStatus(`disconnected (${ctx.code} ${ctx.reason})`);
      if (c === client) show(null);
    });
    c.connect();
    await c.ready(5000);
    const me = (await c.rpc('whoami', {})).data;
    $('client').textContent = me.client;
    setStatus(me.user ? 'connected' : 'connected, anonymous: log in to be someone');
    show(me.user);
    return me;
  }

  // POST the form as application/x-www-form-urlencoded, as a browser's
  // own submit would, but stay on the page.
  async function login(name) {
    $('error').textContent = '';
    const r = await fetch('/login', {
      method: 'POST',
      body: new URLSearchParams({ user: name }),
      credentials: 'same-origin',
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      $('error').textContent = body.error || `HTTP ${r.status}`;
      throw new Error(`login: HTTP ${r.status}`);
    }
    return connect();
  }

  // POST /logout; the server closes this page's connection (3503) and
  // clears the cookie. Resolves to the server's {"disconnected": N}.
  async function logout() {
    const r = await fetch('/logout', { method: 'POST', credentials: 'same-origin' });
    return r.json();
  }

  $('loginform').addEventListener('submit', (ev) => {
    ev.preventDefault();
    login($('user').value).catch((e) => setStatus(e.message));
  });
  $('logout').onclick = () => logout().catch((e) => setStatus('logout: ' + e.message));

  window.wspLogin = {
    connect, login, logout, disconnects,
    get user() { return user; },
    get state() { return client ? client.state : 'none'; },
  };
  // Already logged in? Connect and see; a refused connection shows the form.
  window.wspLoginReady = connect().catch((e) => {
    show(null);
    setStatus(`not connected: ${e.message || e}`);
  });
})();
