// SPDX-License-Identifier: AGPL-3.0-or-later
//
// The reference for bench/rpc: a JSON-RPC 2.0 server on Node.js and the `ws`
// package that answers `system.ping` as tiepdan does, and nothing else
// (other methods get -32601). Every message goes through JSON.parse and
// JSON.stringify, as a straightforward Node server would.
//
//   node bench/rpc/reference-server.mjs PORT     (0: any free port)
//
// Prints `ready port=NNNN pid=NNNN` on stdout once listening.

import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('usage: node reference-server.mjs PORT');
  process.exit(2);
}

// RFC 3339 with the portal's fixed +07:00 offset (Asia/Ho_Chi_Minh has no DST).
function rfc3339(ms) {
  const d = new Date(ms + 7 * 3600 * 1000);
  return d.toISOString().replace(/\.\d{3}Z$/, '+07:00');
}

const http = createServer((req, res) => {
  res.writeHead(404).end();
});

const wss = new WebSocketServer({
  server: http,
  path: '/ws',
  maxPayload: 64 * 1024,
  perMessageDeflate: false,
  handleProtocols: (protocols) => (protocols.has('tiepdan.v1') ? 'tiepdan.v1' : false),
});

function answer(msg) {
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg) ||
      msg.jsonrpc !== '2.0' || typeof msg.method !== 'string') {
    return { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request' } };
  }
  if (msg.id === undefined) {
    return null;
  }
  if (msg.method === 'system.ping') {
    return { jsonrpc: '2.0', id: msg.id, result: { pong: true, time: rfc3339(Date.now()) } };
  }
  return { jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } };
}

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    let msg;
    try {
      msg = JSON.parse(data.toString('utf8'));
    } catch {
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: null,
        error: { code: -32700, message: 'Parse error' } }));
      return;
    }
    const out = answer(msg);
    if (out !== null) {
      ws.send(JSON.stringify(out));
    }
  });
});

http.listen(port, '127.0.0.1', () => {
  console.log(`ready port=${http.address().port} pid=${process.pid}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}
