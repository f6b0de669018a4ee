// SPDX-License-Identifier: AGPL-3.0-or-later
//
// WebSocket transport (PROTOCOL.md §1): upgrade and subprotocol, message size
// limit (also across fragments), UTF-8, binary frames, Origin checks,
// keep-alive pings, and dropping a client whose outgoing queue overflows.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { once } from 'node:events';
import { after, before } from 'node:test';
import {
	FrameReader,
	assertError,
	assertResponse,
	assertResult,
	connectRefused,
	encodeFrame,
	pingOfSize,
	rawUpgrade,
	startServer,
	stopAllServers,
	test,
	describe,
} from './lib/harness.mjs';

const MAX = 4096;
const ALLOWED = ['https://portal.example', 'https://other.example:8443'];

let server;

before(async () => {
	server = await startServer({
		args: ['--max-message-size', String(MAX), '--allowed-origins', ALLOWED.join(',')],
	});
});

after(async () => {
	await stopAllServers();
});

/* The server still serves: a fresh connection gets a ping answered. */
async function assertServerAnswers(s = server) {
	const c = await s.connect();
	const r = await c.call('system.ping', {}, { id: 'alive' });
	assert.equal(assertResult(r, 'alive').pong, true);
	await c.close();
}

/* Resolves with either {closed: {code, reason}} or {message}. */
function closeOrMessage(c) {
	return Promise.race([
		c.closed.then((closed) => ({ closed })),
		c.next().then(
			(message) => ({ message }),
			() => c.closed.then((closed) => ({ closed })),
		),
	]);
}

describe('upgrade and subprotocol', () => {
	test('subprotocol tiepdan.v1 is accepted and echoed', async () => {
		const c = await server.connect({ protocol: 'tiepdan.v1' });
		assert.equal(c.protocol, 'tiepdan.v1');
		assertResult(await c.call('system.ping', {}));
		await c.close();
	});

	test('tiepdan.v1 is chosen when offered after an unknown subprotocol', async () => {
		const c = await server.connect({ protocol: ['chat.example', 'tiepdan.v1'] });
		assert.equal(c.protocol, 'tiepdan.v1');
		assertResult(await c.call('system.ping', {}));
		await c.close();
	});

	test('a client offering no subprotocol is served (none echoed)', async () => {
		const c = await server.connect({ protocol: null });
		assert.equal(c.protocol, '');
		assertResult(await c.call('system.ping', {}));
		await c.close();
	});

	test('a client closing normally gets its close echoed with 1000', async () => {
		const c = await server.connect();
		const { code } = await c.close(1000, 'bye');
		assert.equal(code, 1000);
	});
});

describe('message size', () => {
	test(`a message of exactly the maximum (${MAX} bytes) is answered`, async () => {
		const c = await server.connect();
		const { text, id } = pingOfSize(MAX, 'max');
		await c.send(text);
		assertResult(await c.next(), id);
		await c.close();
	});

	test('a message just under the maximum is answered', async () => {
		const c = await server.connect();
		const { text, id } = pingOfSize(MAX - 96, 'under');
		await c.send(text);
		assertResult(await c.next(), id);
		await c.close();
	});

	test('a message one byte over the maximum closes the connection with 1009', async () => {
		const c = await server.connect();
		await c.send(pingOfSize(MAX + 1, 'over').text);
		const out = await closeOrMessage(c);
		assert.ok(out.closed, `expected a close, got ${JSON.stringify(out.message)?.slice(0, 200)}`);
		assert.equal(out.closed.code, 1009);
		await assertServerAnswers();
	});

	test('a much larger message closes with 1009 and the server keeps serving', async () => {
		const c = await server.connect();
		await c.send(pingOfSize(MAX * 40, 'big').text);
		const { code } = await c.closed;
		assert.equal(code, 1009);
		await assertServerAnswers();
	});

	test('a message in three fragments is reassembled and answered', async () => {
		const c = await server.connect();
		const { text, id } = pingOfSize(3000, 'frag');
		await c.send(text.slice(0, 1000), { fin: false });
		await c.send(text.slice(1000, 2000), { fin: false });
		await c.send(text.slice(2000), { fin: true });
		assertResult(await c.next(), id);
		await c.close();
	});

	test('a message in many tiny fragments (splitting UTF-8 sequences) is reassembled', async () => {
		const c = await server.connect();
		const id = 'tiny-Đà Nẵng-tiếp dân';
		const bytes = Buffer.from(JSON.stringify({ jsonrpc: '2.0', method: 'system.ping', params: {}, id }));
		for (let i = 0; i < bytes.length; i += 3) {
			const part = bytes.subarray(i, Math.min(i + 3, bytes.length));
			await c.send(part, { fin: i + 3 >= bytes.length, binary: false });
		}
		assertResult(await c.next(), id);
		await c.close();
	});

	test('a ping between fragments is answered and the message still reassembled', async () => {
		const c = await server.connect();
		const { text, id } = pingOfSize(500, 'ctl');
		const pong = once(c.ws, 'pong');
		await c.send(text.slice(0, 200), { fin: false });
		c.ws.ping(Buffer.from('mid'));
		await c.send(text.slice(200), { fin: true });
		const [data] = await pong;
		assert.equal(data.toString(), 'mid');
		assertResult(await c.next(), id);
		await c.close();
	});

	test('fragments each under the maximum that together exceed it close with 1009', async () => {
		const c = await server.connect();
		const { text } = pingOfSize(3 * 2000, 'fragover');
		const noop = () => {};
		c.ws.send(text.slice(0, 2000), { fin: false }, noop);
		c.ws.send(text.slice(2000, 4000), { fin: false }, noop);
		c.ws.send(text.slice(4000), { fin: true }, noop);
		const out = await closeOrMessage(c);
		assert.ok(out.closed, `expected a close, got ${JSON.stringify(out.message)?.slice(0, 200)}`);
		assert.equal(out.closed.code, 1009);
		await assertServerAnswers();
	});

	test('a batch over the maximum closes with 1009 too', async () => {
		const c = await server.connect();
		const one = { jsonrpc: '2.0', method: 'system.ping', id: 'b' };
		const batch = JSON.stringify(Array.from({ length: Math.ceil(MAX / 40) + 10 }, () => one));
		assert.ok(batch.length > MAX);
		await c.send(batch);
		const { code } = await c.closed;
		assert.equal(code, 1009);
	});
});

describe('frame content', () => {
	test('invalid UTF-8 in a text frame → close 1007 or -32700, and the server stays up', async () => {
		const c = await server.connect();
		const bad = Buffer.concat([
			Buffer.from('{"jsonrpc":"2.0","method":"system.ping","id":"'),
			Buffer.from([0xc3, 0x28, 0xff, 0xfe]),
			Buffer.from('"}'),
		]);
		await c.send(bad, { binary: false });
		const out = await closeOrMessage(c);
		if (out.closed) {
			assert.equal(out.closed.code, 1007, `close code ${JSON.stringify(out.closed)}`);
		} else {
			assertError(out.message, -32700, null);
			assertResult(await c.call('system.ping', {}, { id: 'after-bad-utf8' }), 'after-bad-utf8');
			await c.close();
		}
		await assertServerAnswers();
	});

	test('a binary frame closes the connection with 1003, and the server stays up', async () => {
		const c = await server.connect();
		await c.send(Buffer.from('{"jsonrpc":"2.0","method":"system.ping","id":"bin"}'), { binary: true });
		const out = await closeOrMessage(c);
		/* The server closes with 1003 (unsupported data), as RFC 6455 §7.4.1
		 * suggests; it does not answer -32600. */
		assert.ok(out.closed, `expected a close, got ${JSON.stringify(out.message)}`);
		assert.equal(out.closed.code, 1003, `close code ${JSON.stringify(out.closed)}`);
		await assertServerAnswers();
	});

	test('a text message that is only whitespace → -32700', async () => {
		const c = await server.connect();
		await c.send('   \n ');
		assertError(await c.next(), -32700, null);
		await c.close();
	});
});

describe('Origin', () => {
	test('an upgrade from a foreign Origin is refused with 403', async () => {
		const r = await connectRefused({ port: server.port, origin: 'http://evil.example' });
		assert.equal(r.statusCode, 403);
		await assertServerAnswers();
	});

	test('look-alike origins are refused (prefix, suffix, scheme, port, null)', async () => {
		for (const origin of [
			'https://portal.example.evil.example',
			'https://evil.example/https://portal.example',
			'http://portal.example',
			'https://portal.example:444',
			'https://other.example',
			'null',
			`http://127.0.0.1:${server.port === 65535 ? 1 : server.port + 1}`,
			`https://127.0.0.1:${server.port}`,
		]) {
			const r = await connectRefused({ port: server.port, origin });
			assert.equal(r.statusCode, 403, `origin ${origin}`);
		}
	});

	test('each origin of --allowed-origins is accepted', async () => {
		for (const origin of ALLOWED) {
			const c = await server.connect({ origin });
			assertResult(await c.call('system.ping', {}));
			await c.close();
		}
	});

	/* As a browser on the page sends it: Host names the server as the
	 * address bar does (the TCP connection stays on 127.0.0.1). */
	for (const host of ['127.0.0.1', 'localhost']) {
		test(`the server's own origin http://${host}:PORT is accepted`, async () => {
			const origin = `http://${host}:${server.port}`;
			const c = await server.connect({ origin, headers: { Host: `${host}:${server.port}` } });
			assertResult(await c.call('system.ping', {}));
			await c.close();
		});
	}

	test('the own origins are accepted whatever Host says', async () => {
		for (const host of ['127.0.0.1', 'localhost']) {
			const c = await server.connect({ origin: `http://${host}:${server.port}` });
			assertResult(await c.call('system.ping', {}));
			await c.close();
		}
	});

	test('an Origin matching a foreign Host header (DNS rebinding) is refused', async () => {
		const host = `rebind.example:${server.port}`;
		const r = await connectRefused({ port: server.port, origin: `http://${host}`, headers: { Host: host } });
		assert.equal(r.statusCode, 403);
	});

	test('an upgrade without an Origin header is accepted', async () => {
		const c = await server.connect({ origin: undefined });
		assertResult(await c.call('system.ping', {}));
		await c.close();
	});

	test('a server started without --allowed-origins still refuses foreign origins and accepts its own', async () => {
		const s = await startServer();
		const r = await connectRefused({ port: s.port, origin: 'https://portal.example' });
		assert.equal(r.statusCode, 403);
		const c = await s.connect({ origin: `http://127.0.0.1:${s.port}` });
		assertResult(await c.call('system.ping', {}));
		await c.close();
		const { code } = await s.stop();
		assert.equal(code, 0);
	});
});

describe('keep-alive', () => {
	let pingServer;

	before(async () => {
		pingServer = await startServer({ args: ['--ping-interval', '1'] });
	});

	test('an idle ws client is pinged, answers with pongs, and stays connected', async () => {
		const c = await pingServer.connect();
		/* Three pings in a row: the connection outlived more than one full
		 * ping + timeout window while only answering pongs. */
		await new Promise((resolve, reject) => {
			const onPing = () => {
				if (c.pings >= 3) {
					c.ws.off('ping', onPing);
					resolve();
				}
			};
			c.ws.on('ping', onPing);
			c.closed.then((ci) => reject(new Error(`dropped although it answered pings: ${JSON.stringify(ci)}`)));
		});
		assert.equal(c.closeInfo, null);
		assertResult(await c.call('system.ping', {}, { id: 'after-pings' }), 'after-pings');
		await c.close();
	});

	test('a raw client that never answers the ping is disconnected', async () => {
		const { socket, rest } = await rawUpgrade(pingServer.port);
		const reader = new FrameReader();
		const frames = [...reader.push(rest)];
		socket.on('data', (d) => frames.push(...reader.push(d)));
		socket.on('error', () => {});
		socket.resume();
		await once(socket, 'close');
		assert.ok(
			frames.some((f) => f.opcode === 0x9),
			`a ping frame came before the drop (frames: ${frames.map((f) => f.opcode)})`,
		);
		assert.ok(frames.every((f) => !f.masked), 'server frames are not masked');
		await assertServerAnswers(pingServer);
	});
});

describe('slow reader', () => {
	let qServer;

	before(async () => {
		qServer = await startServer({ args: ['--queue-limit', '65536'] });
	});

	test('a client that never reads is dropped while another keeps getting answers', async () => {
		const other = await qServer.connect();
		assertResult(await other.call('system.ping', {}));

		const { socket } = await rawUpgrade(qServer.port);
		socket.pause(); // reads nothing while it floods the server
		let dropped = false;
		const closed = new Promise((resolve) => socket.once('close', () => resolve((dropped = true))));
		socket.on('error', () => {});

		const id = 'slow-' + 'x'.repeat(4000);
		const frame = encodeFrame(0x1, JSON.stringify({ jsonrpc: '2.0', method: 'system.ping', id }));
		/* Enough requests that their answers fill twice over everything that
		 * can hold them on the way: our receive buffer, the server's send
		 * buffer (kernel maxima) and the 64 KiB queue. */
		const answerSize = id.length + 100;
		const buffers = kernelMax('tcp_rmem') + kernelMax('tcp_wmem') + 65536;
		const count = Math.max(2000, Math.ceil((2 * buffers) / answerSize));
		let sent = 0;
		while (!dropped && sent < count) {
			const ok = socket.write(frame);
			sent++;
			if (!ok) {
				/* once() rejects on 'error' (ECONNRESET when dropped): the
				 * close that follows is what counts. */
				await Promise.race([once(socket, 'drain').catch(() => {}), closed]);
			}
			if (sent % 1000 === 0 && !dropped) {
				/* The other client is served throughout. */
				assertResult(await other.call('system.ping', {}, { id: `during-${sent}` }), `during-${sent}`);
			}
		}
		/* Now read: a dropped connection ends after what was already on its
		 * way; one that was kept would be answered in full and stay open. */
		const reader = new FrameReader();
		let answers = 0;
		socket.on('data', (d) => {
			for (const f of reader.push(d)) {
				answers += f.opcode === 0x1 ? 1 : 0;
			}
		});
		socket.resume();
		await closed;
		assert.ok(answers < sent, `the connection was dropped: ${answers} answers to ${sent} requests`);
		assertResult(await other.call('system.ping', {}, { id: 'after-drop' }), 'after-drop');
		assert.equal(other.closeInfo, null);
		await other.close();
		await assertServerAnswers(qServer);
	});
});

/* The largest socket buffer the kernel may grow to (/proc/sys/net/ipv4/*). */
function kernelMax(name) {
	try {
		const v = fs.readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/).map(Number);
		return v[2] || 8 << 20;
	} catch {
		return 8 << 20;
	}
}

describe('several connections', () => {
	test('responses go to the connection that asked', async () => {
		const clients = await Promise.all([0, 1, 2, 3].map(() => server.connect()));
		const all = [];
		clients.forEach((c, i) => {
			for (let k = 0; k < 25; k++) {
				all.push(c.call('system.ping', {}, { id: `c${i}-${k}` }).then((r) => [i, r]));
			}
		});
		for (const [i, r] of await Promise.all(all)) {
			assertResponse(r);
			assert.ok(String(r.id).startsWith(`c${i}-`));
		}
		for (const c of clients) {
			assert.equal(c.inbox.length, 0, 'no stray messages');
			await c.close();
		}
	});
});
