// SPDX-License-Identifier: AGPL-3.0-or-later
//
// TLS (PROTOCOL.md §1: "TLS when a certificate and key are configured"): a
// self-signed certificate made with openssl for 127.0.0.1; HTTPS and WSS on
// the configured port, verified against that certificate, and plain HTTP
// refused on it.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import { after, before } from 'node:test';
import {
	PROTOCOL,
	WebSocket,
	describe,
	removeTmpDir,
	startServer,
	stopAllServers,
	test,
	tmpDir,
} from './lib/harness.mjs';

let dir;
let cert;
let server;

before(async () => {
	dir = tmpDir('tiepdan-tls-');
	const key = path.join(dir, 'key.pem');
	const crt = path.join(dir, 'cert.pem');
	execFileSync('openssl', [
		'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt,
		'-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
	], { stdio: 'ignore' });
	cert = fs.readFileSync(crt);
	server = await startServer({ args: ['--tls-cert', crt, '--tls-key', key] });
});

after(async () => {
	await stopAllServers();
	removeTmpDir(dir);
});

function get(mod, port, urlPath, opts = {}) {
	return new Promise((resolve, reject) => {
		const req = mod.get({ host: '127.0.0.1', port, path: urlPath, ...opts }, (res) => {
			let body = '';
			res.setEncoding('utf8');
			res.on('data', (d) => (body += d));
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
		});
		req.on('error', reject);
	});
}

describe('tls', () => {
	test('the ready line says tls=on', () => {
		assert.ok(server.stderrLines.some((l) => /msg="ready".* tls=on/.test(l)), server.stderrLines.join('\n'));
	});

	test('GET /healthz over HTTPS, verified against the certificate', async () => {
		const res = await get(https, server.port, '/healthz', { ca: cert });
		assert.equal(res.status, 200);
		assert.deepEqual(JSON.parse(res.body), { status: 'ok', db: 'ok', media: 'ok' });
	});

	test('an HTTPS client that does not trust the certificate is refused by its own check', async () => {
		await assert.rejects(get(https, server.port, '/healthz'), /self[- ]signed|certificate/i);
	});

	test('plain HTTP on the TLS port gets no page', async () => {
		const outcome = await get(http, server.port, '/healthz').then(
			(res) => res.status,
			() => 'error',
		);
		assert.notEqual(outcome, 200);
	});

	test('JSON-RPC over WSS with the subprotocol', async () => {
		const ws = new WebSocket(`wss://127.0.0.1:${server.port}/ws`, PROTOCOL, { ca: cert });
		await new Promise((resolve, reject) => {
			ws.once('open', resolve);
			ws.once('error', reject);
		});
		assert.equal(ws.protocol, PROTOCOL);
		const answer = new Promise((resolve) => ws.once('message', (m) => resolve(JSON.parse(String(m)))));
		ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'tls', method: 'system.ping' }));
		const msg = await answer;
		assert.equal(msg.id, 'tls');
		assert.equal(msg.result.pong, true);
		const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
		ws.close(1000);
		assert.equal(await closed, 1000);
	});

	test('a WSS page of the https own origin is accepted, an http one refused', async () => {
		const ok = new WebSocket(`wss://127.0.0.1:${server.port}/ws`, PROTOCOL, {
			ca: cert,
			origin: `https://127.0.0.1:${server.port}`,
		});
		await new Promise((resolve, reject) => {
			ok.once('open', resolve);
			ok.once('error', reject);
		});
		ok.close();
		const refused = new WebSocket(`wss://127.0.0.1:${server.port}/ws`, PROTOCOL, {
			ca: cert,
			origin: `http://evil.example`,
		});
		const status = await new Promise((resolve) => {
			refused.once('unexpected-response', (req, res) => resolve(res.statusCode));
			refused.once('error', () => resolve('error'));
		});
		assert.equal(status, 403);
	});
});
