// ws-bench-server: the fan-out benchmark's Node.js peer, on the `ws`
// package installed for the interop tests (tests/interop/node_modules).
// Same paths as wsp-bench-server: /sub subscribes, every message on /pub
// is sent to each subscriber as it came, /echo echoes, GET /stats
// answers heap figures (after a full GC when run with --expose-gc).
//
//   node [--expose-gc] bench/pubsub/ws-bench-server.mjs [--port N]
import { createRequire } from 'node:module';
import http from 'node:http';

const require = createRequire(import.meta.url);
const { WebSocketServer } = require('../../tests/interop/node_modules/ws');

let port = 0;
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port' && i + 1 < process.argv.length) {
    port = Number(process.argv[++i]);
  } else {
    console.error('usage: ws-bench-server.mjs [--port N]');
    process.exit(2);
  }
}

const subs = new Set();
const stats = { connections: 0, published: 0, delivered: 0 };

function statsText() {
  if (typeof globalThis.gc === 'function') globalThis.gc();
  const m = process.memoryUsage();
  return `heap_bytes ${m.heapUsed + m.external}\n` +
    `rss_bytes ${m.rss}\nconnections ${stats.connections}\n` +
    `subscribers ${subs.size}\npublished ${stats.published}\n` +
    `delivered ${stats.delivered}\n`;
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  const ok = req.method === 'GET' && path === '/stats';
  const body = ok ? statsText() : 'not found\n';
  res.writeHead(ok ? 200 : 404, {
    'Content-Type': 'text/plain',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  });
  res.end(body);
});

const wss = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  maxPayload: 16 << 20,
});

server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0];
  if (path !== '/sub' && path !== '/pub' && path !== '/echo') {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n' +
      'Connection: close\r\n\r\n');
    return;
  }
  socket.setNoDelay(true);
  wss.handleUpgrade(req, socket, head, (ws) => {
    stats.connections++;
    ws.on('close', () => {
      stats.connections--;
      subs.delete(ws);
    });
    ws.on('error', () => {});
    if (path === '/sub') {
      subs.add(ws);
    } else if (path === '/pub') {
      ws.on('message', (data, isBinary) => {
        stats.published++;
        for (const s of subs) {
          s.send(data, { binary: isBinary });
          stats.delivered++;
        }
      });
    } else {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    }
  });
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening on 127.0.0.1:${server.address().port}\n`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.error(`ws-bench-server: published ${stats.published} ` +
      `delivered ${stats.delivered}`);
    process.exit(0);
  });
}
