// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Plain HTTP (PROTOCOL.md §1): /healthz, /metrics (Prometheus text format
// 0.0.4, checked by promtool), and static files of the web root: MIME types,
// 404, no directory listing, no path traversal, security headers.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import {
	assertError,
	assertResult,
	metricValue,
	parseMetrics,
	rawHttp,
	startServer,
	stopAllServers,
	test,
	tmpDir,
	describe,
} from './lib/harness.mjs';

/* A 1×1 transparent PNG. */
const PNG = Buffer.from(
	'89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
		'1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082',
	'hex',
);
const SECRET = 'TOP-SECRET-7f3a9c: must never be served';

const files = {
	'index.html':
		'<!doctype html>\n<html><head><meta charset="utf-8"><title>tiepdan test</title>' +
		'<link rel="stylesheet" href="style.css"></head>' +
		'<body><h1>index-marker</h1><script src="app.js"></script></body></html>\n',
	'app.js': 'export const marker = "app-js-marker";\n',
	'style.css': 'body { color: #123456; }\n',
	'logo.svg': '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"><rect width="1" height="1"/></svg>\n',
	'pixel.png': PNG,
	'data.json': '{"marker":"data-json"}\n',
	'sub/inner.txt': 'inner-file-listing-marker\n',
	'sub/nested/deep.js': 'export default "deep";\n',
	'emptydir/.keep': '',
};

let server;
let base;
let webRoot;

before(async () => {
	base = tmpDir('tiepdan-web-');
	webRoot = path.join(base, 'web');
	for (const [name, content] of Object.entries(files)) {
		const p = path.join(webRoot, name);
		fs.mkdirSync(path.dirname(p), { recursive: true });
		fs.writeFileSync(p, content);
	}
	/* Outside the web root, where traversal would land. */
	fs.writeFileSync(path.join(base, 'secret'), SECRET);
	fs.writeFileSync(path.join(base, 'secret.html'), SECRET);
	server = await startServer({ webRoot });
});

after(async () => {
	await stopAllServers();
});

describe('/healthz', () => {
	test('GET /healthz → 200 application/json {"status":"ok","db":"ok","media":"ok"}', async () => {
		const r = await server.http('/healthz');
		assert.equal(r.status, 200);
		assert.match(r.headers['content-type'] ?? '', /^application\/json\b/);
		const body = r.json();
		assert.equal(body.status, 'ok');
		assert.equal(body.db, 'ok');
		assert.equal(body.media, 'ok');
	});
});

describe('/metrics', () => {
	async function scrape() {
		const r = await server.http('/metrics');
		assert.equal(r.status, 200);
		const ct = r.headers['content-type'] ?? '';
		assert.match(ct, /^text\/plain\b/, `content-type ${ct}`);
		assert.match(ct, /version=0\.0\.4/, `content-type ${ct}`);
		return { text: r.text, parsed: parseMetrics(r.text) };
	}

	test('counters of RPC calls grow, errors are counted by code, connections are a gauge', async () => {
		const c1 = await server.connect();
		const c2 = await server.connect();
		for (let i = 0; i < 3; i++) {
			assertResult(await c1.call('system.ping', {}));
		}
		assertError(await c1.call('foobar', {}), -32601);
		const first = await scrape();
		const calls1 = metricValue(first.parsed, 'tiepdan_rpc_calls_total', { method: 'system.ping' });
		assert.ok(calls1 >= 3, `tiepdan_rpc_calls_total{method="system.ping"} = ${calls1}`);
		assert.equal(first.parsed.types.tiepdan_rpc_calls_total, 'counter');

		const errs = metricValue(first.parsed, 'tiepdan_rpc_errors_total', { code: '-32601' });
		assert.ok(errs >= 1, `tiepdan_rpc_errors_total{code="-32601"} = ${errs}`);
		assert.equal(first.parsed.types.tiepdan_rpc_errors_total, 'counter');

		const conns = metricValue(first.parsed, 'tiepdan_connections');
		assert.ok(conns >= 2, `tiepdan_connections = ${conns} with two open`);
		assert.equal(first.parsed.types.tiepdan_connections, 'gauge');

		assertResult(await c2.call('system.ping', {}));
		assertResult(await c2.call('system.ping'));
		const second = await scrape();
		const calls2 = metricValue(second.parsed, 'tiepdan_rpc_calls_total', { method: 'system.ping' });
		assert.ok(calls2 >= calls1 + 2, `calls grew from ${calls1} to ${calls2} after two more`);
		await c1.close();
		await c2.close();
	});

	test('RPC latency is a histogram by method', async () => {
		const c = await server.connect();
		assertResult(await c.call('system.version'));
		await c.close();
		const { parsed } = await scrape();
		const hist = Object.entries(parsed.types).filter(([n, t]) => t === 'histogram' && /rpc/.test(n));
		assert.ok(hist.length > 0, `an RPC histogram among ${JSON.stringify(parsed.types)}`);
		const [name] = hist[0];
		const buckets = parsed.samples.filter(
			(s) => s.name === `${name}_bucket` && s.labels.method === 'system.version',
		);
		assert.ok(buckets.length > 0, `${name}_bucket{method="system.version"}`);
		assert.ok(
			buckets.some((b) => b.labels.le === '+Inf' && b.value >= 1),
			`+Inf bucket counts the call: ${JSON.stringify(buckets)}`,
		);
		assert.ok(metricValue(parsed, `${name}_count`, { method: 'system.version' }) >= 1);
		assert.notEqual(metricValue(parsed, `${name}_sum`, { method: 'system.version' }), undefined);
	});

	test('the exposition passes `promtool check metrics`', async () => {
		const { text } = await scrape();
		const promtool = '/usr/bin/promtool';
		assert.ok(
			fs.existsSync(promtool),
			'promtool is missing: install the Debian package "prometheus" (provides /usr/bin/promtool)',
		);
		const out = await new Promise((resolve, reject) => {
			const p = spawn(promtool, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
			let o = '';
			p.stdout.on('data', (d) => (o += d));
			p.stderr.on('data', (d) => (o += d));
			p.on('error', reject);
			p.on('close', (code) => resolve({ code, o }));
			p.stdin.end(text);
		});
		assert.equal(out.code, 0, `promtool check metrics:\n${out.o}\n--- exposition ---\n${text}`);
	});
});

describe('static files', () => {
	const types = [
		['/', /^text\/html\b/, 'index.html'],
		['/index.html', /^text\/html\b/, 'index.html'],
		['/app.js', /^text\/javascript\b/, 'app.js'],
		['/style.css', /^text\/css\b/, 'style.css'],
		['/logo.svg', /^image\/svg\+xml\b/, 'logo.svg'],
		['/pixel.png', /^image\/png$/, 'pixel.png'],
		['/data.json', /^application\/json\b/, 'data.json'],
		['/sub/nested/deep.js', /^text\/javascript\b/, 'sub/nested/deep.js'],
		['/app.js?v=123', /^text\/javascript\b/, 'app.js'],
	];
	for (const [urlPath, type, file] of types) {
		test(`GET ${urlPath} → 200, ${type.source}, the file's bytes`, async () => {
			const r = await server.http(urlPath);
			assert.equal(r.status, 200, `status of ${urlPath}`);
			assert.match(r.headers['content-type'] ?? '', type, `content-type of ${urlPath}`);
			assert.deepEqual(r.body, Buffer.from(files[file]));
		});
	}

	test('a missing file → 404', async () => {
		for (const p of ['/nope.html', '/sub/nope.js', '/nope/deeper/x.css']) {
			const r = await server.http(p);
			assert.equal(r.status, 404, `status of ${p}`);
			assert.ok(!r.text.includes('index-marker'), `${p} is not answered with index.html`);
		}
	});

	const traversals = [
		'/../secret',
		'/%2e%2e/secret',
		'/%2E%2E/secret',
		'/..%2fsecret',
		'/..%2Fsecret',
		'/%2e%2e%2fsecret',
		'/sub/../../secret',
		'/sub/%2e%2e/%2e%2e/secret',
		'/sub/..%2f..%2fsecret',
		'/..%5csecret',
		'/.%2e/secret',
		'/%252e%252e/secret',
		'/../secret.html',
		'/./../secret',
		'//../secret',
	];
	for (const target of traversals) {
		test(`path traversal ${target} never serves a file outside the web root`, async () => {
			const r = await rawHttp(
				server.port,
				`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n\r\n`,
			);
			assert.ok(!r.raw.includes(SECRET), `the secret leaked for ${target}`);
			assert.ok([400, 403, 404].includes(r.status), `status ${r.status} for ${target}`);
		});
	}

	test('a NUL byte in the path never serves a file outside the web root (4xx, or no response at all)', async () => {
		for (const target of ['/secret%00.html', '/../secret%00.html', '/%2e%2e/secret%00']) {
			const r = await rawHttp(
				server.port,
				`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n\r\n`,
			);
			assert.ok(!r.raw.includes(SECRET), `the secret leaked for ${target}`);
			assert.ok([null, 400, 403, 404].includes(r.status), `status ${r.status} for ${target}`);
		}
	});

	test('an absolute filesystem path is not served', async () => {
		const r = await rawHttp(
			server.port,
			`GET ${path.join(base, 'secret')} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
		);
		assert.ok(!r.raw.includes(SECRET));
		assert.ok([400, 403, 404].includes(r.status), `status ${r.status}`);
		const r2 = await rawHttp(server.port, 'GET /etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
		assert.ok(!r2.raw.includes('root:'));
		assert.ok([400, 403, 404].includes(r2.status), `status ${r2.status}`);
	});

	for (const dir of ['/sub', '/sub/', '/sub/nested/', '/emptydir/']) {
		test(`directory ${dir} without an index is not listed`, async () => {
			const r = await server.http(dir);
			assert.ok([403, 404].includes(r.status), `status ${r.status} for ${dir}`);
			assert.ok(!r.text.includes('inner.txt') && !r.text.includes('deep.js') && !r.text.includes('.keep'));
		});
	}

	test('responses carry a strict Content-Security-Policy (no inline scripts) and nosniff', async () => {
		for (const p of ['/', '/index.html', '/app.js']) {
			const r = await server.http(p);
			const csp = r.headers['content-security-policy'];
			assert.ok(csp, `Content-Security-Policy on ${p}`);
			const directives = Object.fromEntries(
				csp
					.split(';')
					.map((d) => d.trim())
					.filter(Boolean)
					.map((d) => {
						const [k, ...v] = d.split(/\s+/);
						return [k.toLowerCase(), v];
					}),
			);
			const scriptSrc = directives['script-src'] ?? directives['default-src'];
			assert.ok(scriptSrc, `script-src or default-src in ${csp}`);
			assert.ok(!scriptSrc.includes("'unsafe-inline'"), `no 'unsafe-inline' for scripts: ${csp}`);
			assert.ok(!scriptSrc.includes("'unsafe-eval'"), `no 'unsafe-eval' for scripts: ${csp}`);
			assert.ok(!scriptSrc.includes('*'), `no wildcard script source: ${csp}`);
			const styleSrc = directives['style-src'] ?? directives['default-src'];
			assert.ok(styleSrc, `style-src or default-src in ${csp}`);
			assert.ok(!styleSrc.includes("'unsafe-inline'"), `no inline CSS either (STYLE.md): ${csp}`);
			assert.equal(r.headers['x-content-type-options'], 'nosniff', `nosniff on ${p}`);
		}
	});
});
