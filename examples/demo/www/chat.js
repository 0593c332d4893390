// The wsp-demo chat: one centrifuge client, a subscription (with join/leave)
// per joined channel, messages sent with client.publish(), a presence list
// kept from presence() plus join/leave pushes. ?user=NAME picks the name
// and ?join=a,b joins channels at start. window.wspChat exposes the state
// to scripts.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const endpoint = scheme + location.host + '/connection/websocket';
  const params = new URLSearchParams(location.search);
  const MAX_MESSAGES = 500;

  let client = null;
  let clientId = '';
  let active = '';
  // channel -> {sub, messages: [{kind, who, text}], presence: Map(id -> user), unread}
  const channels = new Map();

  const nameOf = (info) => (info && info.user) || (info && info.client ? 'anonymous ' + info.client.slice(0, 8) : '?');

  function setStatus(text) {
    $('status').textContent = text;
  }

  // ---- Rendering ----------------------------------------------------------

  function renderChannels() {
    const ul = $('channels');
    ul.replaceChildren();
    for (const [name, ch] of channels) {
      const li = document.createElement('li');
      li.dataset.channel = name;
      if (name === active) li.className = 'active';
      const label = document.createElement('span');
      label.textContent = name;
      li.append(label);
      if (ch.unread > 0) {
        const n = document.createElement('span');
        n.className = 'unread';
        n.textContent = String(ch.unread);
        li.append(n);
      }
      li.onclick = () => show(name);
      ul.append(li);
    }
  }

  function messageItem(m) {
    const li = document.createElement('li');
    li.className = m.kind;
    if (m.kind === 'msg') {
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = m.who;
      const text = document.createElement('span');
      text.className = 'text';
      text.textContent = m.text;
      li.append(who, text);
    } else {
      li.textContent = m.text;
    }
    return li;
  }

  function renderMessages() {
    const ch = channels.get(active);
    $('title').textContent = ch ? active : 'no channel';
    $('messages').replaceChildren(...(ch ? ch.messages.map(messageItem) : []));
    $('messages').scrollTop = $('messages').scrollHeight;
  }

  function renderPresence() {
    const ch = channels.get(active);
    const ul = $('presence');
    ul.replaceChildren();
    if (!ch) return;
    const entries = [...ch.presence].sort((a, b) => a[1].localeCompare(b[1]));
    for (const [id, user] of entries) {
      const li = document.createElement('li');
      li.dataset.client = id;
      li.textContent = user;
      if (id === clientId) li.className = 'me';
      ul.append(li);
    }
  }

  function show(name) {
    active = channels.has(name) ? name : '';
    const ch = channels.get(active);
    if (ch) ch.unread = 0;
    renderChannels();
    renderMessages();
    renderPresence();
  }

  function add(name, m) {
    const ch = channels.get(name);
    if (!ch) return;
    ch.messages.push(m);
    if (ch.messages.length > MAX_MESSAGES) ch.messages.shift();
    if (name === active) {
      $('messages').append(messageItem(m));
      while ($('messages').childElementCount > MAX_MESSAGES) $('messages').firstElementChild.remove();
      $('messages').scrollTop = $('messages').scrollHeight;
    } else {
      ch.unread++;
      renderChannels();
    }
  }

  // ---- Channels -------------------------------------------------------------

  function join(name) {
    name = name.trim();
    if (!name || !client) return;
    if (channels.has(name)) {
      show(name);
      return;
    }
    const sub = client.newSubscription(name, { joinLeave: true });
    const ch = { sub, messages: [], presence: new Map(), unread: 0 };
    channels.set(name, ch);
    sub.on('subscribed', async () => {
      add(name, { kind: 'sys', text: 'you joined ' + name });
      try {
        const p = await sub.presence();
        ch.presence = new Map(Object.values(p.clients).map((c) => [c.client, nameOf(c)]));
      } catch (e) {
        ch.presence = new Map([[clientId, nameOf({ user: $('user').value, client: clientId })]]);
      }
      if (name === active) renderPresence();
    });
    sub.on('publication', (ctx) => {
      const text = ctx.data && typeof ctx.data.text === 'string' ? ctx.data.text : JSON.stringify(ctx.data);
      add(name, { kind: 'msg', who: ctx.info ? nameOf(ctx.info) : 'server', text });
    });
    sub.on('join', (ctx) => {
      ch.presence.set(ctx.info.client, nameOf(ctx.info));
      add(name, { kind: 'sys', text: nameOf(ctx.info) + ' joined' });
      if (name === active) renderPresence();
    });
    sub.on('leave', (ctx) => {
      ch.presence.delete(ctx.info.client);
      add(name, { kind: 'sys', text: nameOf(ctx.info) + ' left' });
      if (name === active) renderPresence();
    });
    sub.on('error', (ctx) => add(name, { kind: 'bad', text: `error ${ctx.error.code} ${ctx.error.message}` }));
    sub.on('unsubscribed', (ctx) => {
      if (ctx.code !== 0) add(name, { kind: 'bad', text: `unsubscribed: ${ctx.code} ${ctx.reason}` });
      ch.presence.clear();
      if (name === active) renderPresence();
    });
    sub.subscribe();
    show(name);
  }

  function leave(name) {
    const ch = channels.get(name);
    if (!ch) return;
    client.removeSubscription(ch.sub);
    channels.delete(name);
    show(channels.size ? channels.keys().next().value : '');
  }

  async function send(text) {
    if (!active || !text) return;
    const name = active;
    try {
      await client.publish(name, { text });
    } catch (e) {
      add(name, { kind: 'bad', text: `not sent: ${e.code} ${e.message}` });
    }
  }

  // ---- Connection -----------------------------------------------------------

  function connect(user) {
    if (typeof Centrifuge === 'undefined') {
      setStatus('centrifuge.js did not load');
      return Promise.reject(new Error('no centrifuge.js'));
    }
    for (const name of [...channels.keys()]) leave(name);
    if (client) client.disconnect();
    clientId = '';
    // DEMO ONLY: wsp-demo believes whatever user name the connect data says.
    client = new Centrifuge(endpoint, { data: user ? { user } : null });
    client.on('connecting', (ctx) => setStatus(`connecting (${ctx.code} ${ctx.reason})`));
    client.on('connected', (ctx) => {
      clientId = ctx.client;
      setStatus(`connected as ${user || 'anonymous'}`);
    });
    client.on('disconnected', (ctx) => setStatus(`disconnected (${ctx.code} ${ctx.reason})`));
    client.connect();
    return client.ready(5000);
  }

  $('user').value = params.get('user') || 'guest-' + Math.floor(Math.random() * 10000);
  $('connect').onclick = () => {
    const joined = [...channels.keys()];
    connect($('user').value.trim()).then(() => joined.forEach(join), (e) => setStatus('connect: ' + (e.message || e.code)));
  };
  $('joinform').onsubmit = (e) => {
    e.preventDefault();
    join($('channel').value);
  };
  $('leave').onclick = () => leave(active);
  $('compose').onsubmit = (e) => {
    e.preventDefault();
    const text = $('text').value;
    $('text').value = '';
    send(text);
  };

  window.wspChat = {
    join, leave, send, show,
    get client() { return client; },
    get clientId() { return clientId; },
    get active() { return active; },
    channels,
  };
  window.wspChatReady = connect($('user').value.trim()).then(() => {
    for (const name of (params.get('join') || '').split(',')) if (name) join(name);
  }, (e) => setStatus('connect: ' + (e.message || e.code)));
})();
