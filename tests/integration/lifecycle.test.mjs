// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Process life cycle: graceful shutdown on SIGTERM/SIGINT with traffic in
// flight, restart on the same data directory, --help, settings precedence
// (flags > environment > file > defaults), refusal of bad settings, logfmt
// logs.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after } from 'node:test';
import {
	LOGFMT_LINE,
	RFC3339,
	assertResponse,
	assertResult,
	connectRefused,
	parseLogfmt,
	pingOfSize,
	runServerToExit,
	startServer,
	stopAllServers,
	test,
	tmpDir,
	removeTmpDir,
	describe,
} from './lib/harness.mjs';

after(async () => {
	await stopAllServers();
});

const SHUTDOWN_LINE = /msg="[^"]*(shut|stop|terminat|exit)/i;

/*
 * Opens `n` connections that keep about 2×`burst` system.ping requests in
 * flight (each `burst` answers send `burst` more), sends `signal` once every
 * connection has had `warmup` answers, keeps sending while the server shuts
 * down, and checks what the clients saw.
 */
async function shutdownWithTraffic(t, signal, n, { burst = 50, warmup = 200 } = {}) {
	const s = await startServer();
	const clients = await Promise.all(Array.from({ length: n }, () => s.connect()));
	const sent = clients.map(() => new Set());
	let seq = 0;
	const pump = (c, i) => {
		if (c.ws.readyState !== c.ws.OPEN) {
			return;
		}
		for (let j = 0; j < burst; j++) {
			const id = `c${i}-${seq++}`;
			sent[i].add(id);
			c.ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'system.ping', params: {}, id }), () => {});
		}
	};
	const warm = clients.map(
		(c, i) =>
			new Promise((resolve) => {
				c.ws.on('message', () => {
					if (c.received.length % burst === 0) {
						pump(c, i);
					}
					if (c.received.length >= warmup) {
						resolve();
					}
				});
				pump(c, i);
				pump(c, i);
			}),
	);
	await Promise.all(warm);
	s.proc.kill(signal);
	const closes = await Promise.all(clients.map((c) => c.closed));
	const exit = await s.finished;

	clients.forEach((c, i) => {
		const seen = new Set();
		for (const msg of c.received) {
			assertResponse(msg, `a response on connection ${i}`);
			assert.ok(sent[i].has(msg.id), `id ${JSON.stringify(msg.id)} was sent on connection ${i}`);
			assert.ok(!seen.has(msg.id), `id ${msg.id} answered twice`);
			seen.add(msg.id);
			assert.equal(assertResult(msg).pong, true);
		}
		assert.equal(closes[i].code, 1001, `connection ${i} closed with ${JSON.stringify(closes[i])}`);
	});
	t.diagnostic(`answered/sent per connection: ${clients.map((c, i) => `${c.received.length}/${sent[i].size}`).join(' ')}`);
	assert.deepEqual(exit, { code: 0, signal: null }, `exit after ${signal}`);
	assert.ok(
		s.stderrLines.some((l) => SHUTDOWN_LINE.test(l)),
		`a shutdown line on stderr:\n${s.stderrLines.join('\n')}`,
	);
	await s.stop();
}

describe('shutdown', () => {
	test('SIGTERM with pipelined requests: well-formed answers, close 1001 everywhere, exit 0', async (t) => {
		await shutdownWithTraffic(t, 'SIGTERM', 4);
	});

	test('SIGINT: the same, exit 0', async (t) => {
		await shutdownWithTraffic(t, 'SIGINT', 2);
	});

	test('SIGTERM on an idle server with no connection exits 0', async () => {
		const s = await startServer();
		const exit = await s.stop('SIGTERM');
		assert.deepEqual(exit, { code: 0, signal: null });
	});
});

describe('restart', () => {
	test('start, stop and start again on the same data directory (with --demo): same agencies', async () => {
		const dataDir = tmpDir('tiepdan-restart-');
		try {
			const s1 = await startServer({ dataDir, demo: true });
			const c1 = await s1.connect();
			const a1 = assertResult(await c1.call('directory.agencies', {})).items;
			assert.ok(a1.some((a) => a.code === 'DN'), 'the demo city is there');
			assert.deepEqual(await s1.stop(), { code: 0, signal: null });

			const s2 = await startServer({ dataDir, demo: true });
			const c2 = await s2.connect();
			const a2 = assertResult(await c2.call('directory.agencies', {})).items;
			const byId = (x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
			assert.deepEqual([...a2].sort(byId), [...a1].sort(byId), '--demo on a loaded database changes nothing');
			assert.deepEqual(await s2.stop(), { code: 0, signal: null });

			const s3 = await startServer({ dataDir });
			const c3 = await s3.connect();
			const a3 = assertResult(await c3.call('directory.agencies', {})).items;
			assert.deepEqual([...a3].sort(byId), [...a1].sort(byId), 'the data persisted without --demo');
			assert.deepEqual(await s3.stop(), { code: 0, signal: null });
		} finally {
			removeTmpDir(dataDir);
		}
	});

	test('after a SIGKILL the server starts again on the same data directory', async () => {
		const dataDir = tmpDir('tiepdan-kill-');
		try {
			const s1 = await startServer({ dataDir, demo: true });
			const c1 = await s1.connect();
			const a1 = assertResult(await c1.call('directory.agencies', {})).items;
			await s1.stop('SIGKILL');
			const s2 = await startServer({ dataDir });
			const c2 = await s2.connect();
			const a2 = assertResult(await c2.call('directory.agencies', {})).items;
			assert.equal(a2.length, a1.length);
			assert.deepEqual(await s2.stop(), { code: 0, signal: null });
		} finally {
			removeTmpDir(dataDir);
		}
	});
});

describe('command line', () => {
	test('--help prints every setting and exits 0', async () => {
		const r = await runServerToExit(['--help']);
		assert.equal(r.code, 0, `exit code, stderr: ${r.stderr}`);
		for (const flag of [
			'--listen',
			'--data-dir',
			'--web-root',
			'--demo',
			'--allowed-origins',
			'--max-message-size',
			'--ping-interval',
			'--queue-limit',
			'--log-level',
			'--tls-cert',
			'--tls-key',
			'--config',
		]) {
			assert.ok(r.stdout.includes(flag), `--help mentions ${flag}:\n${r.stdout}`);
		}
	});

	test('an unknown flag → non-zero exit and a message naming it', async () => {
		const r = await runServerToExit(['--frobnicate', '--listen', '127.0.0.1:0']);
		assert.notEqual(r.code, 0);
		assert.equal(r.signal, null, 'exits, does not crash');
		assert.match(r.stderr, /frobnicate/);
	});

	const dataDir = tmpDir('tiepdan-badflags-');
	const invalid = [
		[['--listen', 'nonsense'], /nonsense|listen/i],
		[['--listen', '127.0.0.1:99999'], /99999|listen|port/i],
		[['--listen', '127.0.0.1:'], /listen|port/i],
		[['--max-message-size', 'abc'], /abc|max.message.size/i],
		[['--max-message-size', '-5'], /-5|max.message.size/i],
		[['--ping-interval', 'soon'], /soon|ping.interval/i],
		[['--queue-limit', '12xyz'], /12xyz|queue.limit/i],
		[['--log-level', 'loud'], /loud|log.level/i],
		[['--config', '/nonexistent/tiepdan.ini'], /nonexistent|config/i],
		[['--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'], /nonexistent|tls|cert/i],
	];
	for (const [args, re] of invalid) {
		test(`invalid value: tiepdan ${args.join(' ')} → non-zero exit with a clear message`, async () => {
			const full = [...args];
			if (!full.includes('--listen')) {
				full.push('--listen', '127.0.0.1:0');
			}
			full.push('--data-dir', dataDir);
			const r = await runServerToExit(full);
			assert.notEqual(r.code, 0, `exit code; stderr: ${r.stderr}`);
			assert.equal(r.signal, null, `exits, does not crash; stderr: ${r.stderr}`);
			assert.match(r.stderr, re);
		});
	}

	test('invalid values in the environment and in the file are refused too', async () => {
		let r = await runServerToExit(['--listen', '127.0.0.1:0', '--data-dir', dataDir], {
			env: { TIEPDAN_MAX_MESSAGE_SIZE: 'lots' },
		});
		assert.notEqual(r.code, 0, `env: ${r.stderr}`);
		assert.match(r.stderr, /lots|MAX_MESSAGE_SIZE|max.message.size/i);

		const conf = path.join(tmpDir('tiepdan-badconf-'), 'bad.ini');
		fs.writeFileSync(conf, '[server]\nping_interval = often\n');
		r = await runServerToExit(['--config', conf, '--listen', '127.0.0.1:0', '--data-dir', dataDir]);
		assert.notEqual(r.code, 0, `file: ${r.stderr}`);
		assert.match(r.stderr, /often|ping.interval/i);

		fs.writeFileSync(conf, '[store]\nsynchronous = sometimes\n');
		r = await runServerToExit(['--config', conf, '--listen', '127.0.0.1:0', '--data-dir', dataDir]);
		assert.notEqual(r.code, 0, `synchronous: ${r.stderr}`);
		assert.match(r.stderr, /sometimes|synchronous/i);

		fs.writeFileSync(conf, '[server\nlisten = \n');
		r = await runServerToExit(['--config', conf, '--listen', '127.0.0.1:0', '--data-dir', dataDir]);
		assert.notEqual(r.code, 0, `malformed file: ${r.stderr}`);
	});

	test('a port already in use → non-zero exit with a message', async () => {
		const blocker = net.createServer();
		await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
		const { port } = blocker.address();
		try {
			const r = await runServerToExit(['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir]);
			assert.notEqual(r.code, 0);
			assert.equal(r.signal, null);
			assert.ok(r.stderr.length > 0, 'a message on stderr');
		} finally {
			blocker.close();
		}
	});

	test('a data directory that is a regular file → non-zero exit with a message', async () => {
		const file = path.join(tmpDir('tiepdan-notadir-'), 'plain-file');
		fs.writeFileSync(file, 'x');
		const r = await runServerToExit(['--listen', '127.0.0.1:0', '--data-dir', file]);
		assert.notEqual(r.code, 0);
		assert.equal(r.signal, null);
		assert.ok(r.stderr.length > 0, 'a message on stderr');
	});
});

describe('settings precedence: flags > environment > file > defaults', () => {
	/* Sends a message of `size` bytes; resolves 'answered' or the close code. */
	async function probeSize(s, size) {
		const c = await s.connect();
		const { text, id } = pingOfSize(size, 'sz');
		await c.send(text);
		const out = await Promise.race([
			c.next().then(
				(m) => ({ m }),
				() => null,
			),
			c.closed.then((ci) => ({ ci })),
		]);
		if (out?.m) {
			assertResult(out.m, id);
			await c.close();
			return 'answered';
		}
		return (await c.closed).code;
	}

	test('environment beats file: listen', async () => {
		const s = await startServer({
			config: { server: { listen: '127.0.0.1:1' } },
			env: { TIEPDAN_LISTEN: '127.0.0.1:0' },
			listen: null,
		});
		assert.notEqual(s.port, 1);
		assertResult(await (await s.connect()).call('system.ping', {}));
		await s.stop();
	});

	test('flag beats environment and file: listen', async () => {
		const s = await startServer({
			config: { server: { listen: '127.0.0.1:1' } },
			env: { TIEPDAN_LISTEN: '127.0.0.1:2' },
		});
		assert.ok(![1, 2].includes(s.port), `port ${s.port}`);
		assertResult(await (await s.connect()).call('system.ping', {}));
		await s.stop();
	});

	test('file beats default: max_message_size', async () => {
		const s = await startServer({ config: { server: { max_message_size: 2048 } } });
		assert.equal(await probeSize(s, 2000), 'answered');
		assert.equal(await probeSize(s, 3000), 1009);
		await s.stop();
	});

	test('environment beats file: max_message_size', async () => {
		const s = await startServer({
			config: { server: { max_message_size: 100000 } },
			env: { TIEPDAN_MAX_MESSAGE_SIZE: '2048' },
		});
		assert.equal(await probeSize(s, 3000), 1009);
		await s.stop();
	});

	test('--max-message-size 2048 beats TIEPDAN_MAX_MESSAGE_SIZE=100000', async () => {
		const s = await startServer({
			args: ['--max-message-size', '2048'],
			env: { TIEPDAN_MAX_MESSAGE_SIZE: '100000' },
		});
		assert.equal(await probeSize(s, 2000), 'answered');
		assert.equal(await probeSize(s, 3000), 1009);
		await s.stop();
	});

	test('--max-message-size 100000 beats TIEPDAN_MAX_MESSAGE_SIZE=2048 (the flag wins, not the smaller)', async () => {
		const s = await startServer({
			args: ['--max-message-size', '100000'],
			env: { TIEPDAN_MAX_MESSAGE_SIZE: '2048' },
			config: { server: { max_message_size: 1024 } },
		});
		assert.equal(await probeSize(s, 3000), 'answered');
		await s.stop();
	});

	test('[store] data_dir from the file, TIEPDAN_DATA_DIR beats it', async () => {
		const d1 = tmpDir('tiepdan-file-data-');
		const d2 = tmpDir('tiepdan-env-data-');
		try {
			let s = await startServer({ dataDir: null, config: { store: { data_dir: d1, synchronous: 'full' } } });
			assert.ok(fs.existsSync(path.join(d1, 'tiepdan.db')), 'the database is in the file’s data_dir');
			await s.stop();
			fs.rmSync(path.join(d1, 'tiepdan.db'), { force: true });
			s = await startServer({
				dataDir: null,
				config: { store: { data_dir: d1 } },
				env: { TIEPDAN_DATA_DIR: d2 },
			});
			assert.ok(fs.existsSync(path.join(d2, 'tiepdan.db')), 'the database is in TIEPDAN_DATA_DIR');
			assert.ok(!fs.existsSync(path.join(d1, 'tiepdan.db')), 'not in the file’s data_dir');
			await s.stop();
		} finally {
			removeTmpDir(d1);
			removeTmpDir(d2);
		}
	});

	test('[server] web_root and allowed_origins from the file', async () => {
		const w = tmpDir('tiepdan-file-web-');
		fs.writeFileSync(path.join(w, 'index.html'), '<!doctype html><title>x</title><p>file-web-root-marker</p>\n');
		try {
			const s = await startServer({
				webRoot: null,
				config: { server: { web_root: w, allowed_origins: 'https://file.example' } },
			});
			const r = await s.http('/');
			assert.equal(r.status, 200);
			assert.ok(r.text.includes('file-web-root-marker'));
			const c = await s.connect({ origin: 'https://file.example' });
			assertResult(await c.call('system.ping', {}));
			const refused = await connectRefused({ port: s.port, origin: 'https://elsewhere.example' });
			assert.equal(refused.statusCode, 403);
			await s.stop();
		} finally {
			removeTmpDir(w);
		}
	});

	test('TIEPDAN_ALLOWED_ORIGINS is honoured and --allowed-origins beats it', async () => {
		let s = await startServer({ env: { TIEPDAN_ALLOWED_ORIGINS: 'https://env.example' } });
		let c = await s.connect({ origin: 'https://env.example' });
		assertResult(await c.call('system.ping', {}));
		await s.stop();
		s = await startServer({
			env: { TIEPDAN_ALLOWED_ORIGINS: 'https://env.example' },
			args: ['--allowed-origins', 'https://flag.example'],
		});
		c = await s.connect({ origin: 'https://flag.example' });
		assertResult(await c.call('system.ping', {}));
		const refused = await connectRefused({ port: s.port, origin: 'https://env.example' });
		assert.equal(refused.statusCode, 403);
		await s.stop();
	});
});

describe('logs', () => {
	test('every stderr line is logfmt: ts level mod msg, then key=value pairs', async () => {
		const s = await startServer({ args: ['--log-level', 'debug'] });
		const c = await s.connect();
		assertResult(await c.call('system.ping', {}));
		await c.send('{not json');
		await c.next();
		await c.call('foobar', {});
		await c.close();
		const ready = s.readyFields;
		assert.equal(ready.addr, '127.0.0.1');
		assert.equal(Number(ready.port), s.port);
		await s.stop();
		assert.ok(s.stderrLines.length > 0);
		for (const line of s.stderrLines) {
			assert.match(line, LOGFMT_LINE, `not a log line: ${line}`);
			const f = parseLogfmt(line);
			assert.ok(f, `not logfmt: ${line}`);
			assert.match(f.ts, RFC3339, `ts of ${line}`);
		}
	});
});
