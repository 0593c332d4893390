// The centrifuge client's Protobuf build (centrifuge/build/protobuf), made
// to look like the JSON one to the tests: that build carries every payload
// (data, connInfo, chanInfo) as bytes, and libwsp's hub carries JSON text
// in them, so values going out are written as JSON text and bytes coming
// in (events, call results) are parsed back. Nothing else changes: the
// client speaks the centrifuge-protobuf subprotocol and binary frames.
const enc = new TextEncoder();
const dec = new TextDecoder();

const toBytes = (v) => (v instanceof Uint8Array ? v : enc.encode(JSON.stringify(v)));

// Replace every byte payload under x (in place) by its JSON value; an
// empty one, which Protobuf cannot tell from an absent one, goes.
function fromBytes(x, seen = new WeakSet(), depth = 0) {
  if (x === null || typeof x !== 'object' || seen.has(x) || depth > 6) return x;
  seen.add(x);
  for (const k of Object.keys(x)) {
    const v = x[k];
    if (v instanceof Uint8Array) {
      if (v.length) x[k] = JSON.parse(dec.decode(v));
      else delete x[k];
    } else if (v && typeof v === 'object' && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype ||
        v.constructor?.name === 'ClientInfo' || v.constructor?.name === 'Publication')) {
      fromBytes(v, seen, depth + 1);
    }
  }
  return x;
}

const wrapListener = (fn) => (ctx) => fn(fromBytes(ctx));

// Options whose data and getData carry a payload.
function options(opts) {
  if (!opts) return opts;
  const o = { ...opts };
  if (o.data !== undefined && o.data !== null) o.data = toBytes(o.data);
  if (o.getData) {
    const get = o.getData;
    o.getData = async () => toBytes(await get());
  }
  return o;
}

function patchSubscription(sub) {
  if (sub.__jsonOverBytes) return sub;
  sub.__jsonOverBytes = true;
  for (const m of ['on', 'once', 'addListener']) {
    const orig = sub[m].bind(sub);
    sub[m] = (ev, fn) => orig(ev, wrapListener(fn));
  }
  const publish = sub.publish.bind(sub);
  sub.publish = (data) => publish(toBytes(data));
  for (const m of ['history', 'presence']) {
    const orig = sub[m].bind(sub);
    sub[m] = (...args) => orig(...args).then(fromBytes);
  }
  return sub;
}

export function jsonOverProtobuf(Base) {
  return class Centrifuge extends Base {
    constructor(endpoint, opts) {
      super(endpoint, options(opts));
    }
    on(ev, fn) { return super.on(ev, wrapListener(fn)); }
    once(ev, fn) { return super.once(ev, wrapListener(fn)); }
    addListener(ev, fn) { return super.addListener(ev, wrapListener(fn)); }
    publish(channel, data) { return super.publish(channel, toBytes(data)); }
    send(data) { return super.send(toBytes(data)); }
    rpc(method, data) { return super.rpc(method, toBytes(data)).then(fromBytes); }
    history(...args) { return super.history(...args).then(fromBytes); }
    presence(...args) { return super.presence(...args).then(fromBytes); }
    newSubscription(channel, opts) {
      return patchSubscription(super.newSubscription(channel, options(opts)));
    }
    getSubscription(channel) {
      const sub = super.getSubscription(channel);
      return sub ? patchSubscription(sub) : sub;
    }
  };
}
