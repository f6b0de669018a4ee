// SPDX-License-Identifier: AGPL-3.0-or-later
// Placeholder client: proves the portal answers over JSON-RPC/WebSocket.
const status = document.getElementById('status');
const list = document.getElementById('agencies');
const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
const ws = new WebSocket(`${proto}//${location.host}/ws`, 'tiepdan.v1');
let nextId = 1;
const pending = new Map();

function call(method, params) {
  const id = nextId++;
  ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

ws.addEventListener('message', (ev) => {
  const msg = JSON.parse(ev.data);
  const p = pending.get(msg.id);
  if (!p) return;
  pending.delete(msg.id);
  if (msg.error) p.reject(msg.error); else p.resolve(msg.result);
});

ws.addEventListener('open', async () => {
  try {
    const pong = await call('system.ping', {});
    status.textContent = `Hoạt động — ${pong.time}`;
    status.className = 'ok';
    const { items } = await call('directory.agencies', {});
    for (const a of items) {
      const li = document.createElement('li');
      li.textContent = `${a.name} (${a.code})`;
      list.append(li);
    }
  } catch (e) {
    status.textContent = `Lỗi: ${e.message}`;
    status.className = 'bad';
  }
});

ws.addEventListener('close', () => {
  status.textContent = 'Mất kết nối / Disconnected';
  status.className = 'bad';
});
