// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Shared helpers of the integration suite: start the real `tiepdan` binary on
// an ephemeral loopback port with a fresh data directory, talk JSON-RPC to it
// over WebSocket (`ws`), plain HTTP (`node:http`) or raw TCP (`node:net`, for
// requests Node would otherwise normalise), and run `tiepdan-admin`.
//
// Nothing here sleeps: every wait is for an event (a line on stderr, a
// message, a close, an exit). The only timers are safety nets that turn a hang
// into a failure with a message, never a pass.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import crypto from 'node:crypto';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test as nodeTest } from 'node:test';
import WebSocket from 'ws';

export { WebSocket };

const here = path.dirname(fileURLToPath(import.meta.url));

export const SOURCE_ROOT = process.env.TIEPDAN_SOURCE_ROOT ?? path.resolve(here, '..', '..', '..');
export const BIN = process.env.TIEPDAN_BIN ?? path.join(SOURCE_ROOT, 'build', 'portal', 'tiepdan');
export const ADMIN_BIN =
	process.env.TIEPDAN_ADMIN_BIN ?? path.join(SOURCE_ROOT, 'build', 'portal', 'tiepdan-admin');
export const WEB_ROOT = path.join(SOURCE_ROOT, 'web');
export const PROTOCOL = 'tiepdan.v1';

/* Settings the server reads from its environment: never inherited from the
 * shell running the suite, only set by a test that means to. */
const SETTING_VARS = [
	'TIEPDAN_CONFIG',
	'TIEPDAN_LISTEN',
	'TIEPDAN_DATA_DIR',
	'TIEPDAN_WEB_ROOT',
	'TIEPDAN_ALLOWED_ORIGINS',
	'TIEPDAN_MAX_MESSAGE_SIZE',
	'TIEPDAN_PING_INTERVAL',
	'TIEPDAN_QUEUE_LIMIT',
	'TIEPDAN_LOG_LEVEL',
	'TIEPDAN_TLS_CERT',
	'TIEPDAN_TLS_KEY',
	'TIEPDAN_DEMO',
];

export function cleanEnv(extra = {}) {
	const env = { ...process.env };
	for (const k of SETTING_VARS) {
		delete env[k];
	}
	return { ...env, ...extra };
}

/* ---------------------------------------------------------------------- */
/* Temporary directories                                                   */

const tmpDirs = new Set();

export function tmpDir(prefix = 'tiepdan-it-') {
	const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
	tmpDirs.add(d);
	return d;
}

export function removeTmpDir(d) {
	fs.rmSync(d, { recursive: true, force: true });
	tmpDirs.delete(d);
}

process.on('exit', () => {
	for (const d of tmpDirs) {
		try {
			fs.rmSync(d, { recursive: true, force: true });
		} catch {
			/* best effort */
		}
	}
});

/* ---------------------------------------------------------------------- */
/* logfmt                                                                  */

export const LOGFMT_LINE = /^ts=\S+ level=(debug|info|warn|error) mod=\S+ msg=/;

/* Parses one logfmt line into an object; values may be "quoted" with \" and
 * \\ escapes. Returns null when the line is not logfmt at all. */
export function parseLogfmt(line) {
	const out = {};
	const re = /\s*([A-Za-z0-9_.\-]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s"]*))/y;
	let pos = 0;
	while (pos < line.length) {
		if (/^\s*$/.test(line.slice(pos))) {
			break;
		}
		re.lastIndex = pos;
		const m = re.exec(line);
		if (!m) {
			return null;
		}
		out[m[1]] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
		pos = re.lastIndex;
	}
	return out;
}

/* INI text from {group: {key: value}} (or a string, returned as is). */
export function toIni(config) {
	if (typeof config === 'string') {
		return config;
	}
	let s = '';
	for (const [group, kv] of Object.entries(config)) {
		s += `[${group}]\n`;
		for (const [k, v] of Object.entries(kv)) {
			s += `${k} = ${v}\n`;
		}
		s += '\n';
	}
	return s;
}

/* ---------------------------------------------------------------------- */
/* Servers                                                                 */

const servers = new Set();
const startedDuringTest = [];

function hasFlag(args, flag) {
	return args.some((a) => a === flag || a.startsWith(flag + '='));
}

/*
 * Starts `tiepdan` and resolves once it logged msg="ready" with its port.
 *
 * opts.args     extra command-line arguments
 * opts.env      extra environment variables (settings variables of the
 *               caller's shell are never inherited)
 * opts.config   INI text or {group: {key: value}}: written to a file and
 *               passed with --config
 * opts.dataDir  a data directory to reuse (kept afterwards); default: a new
 *               temporary one, removed by stop(); null: no --data-dir flag
 * opts.listen   default '127.0.0.1:0'; null: no --listen flag
 * opts.webRoot  default $TIEPDAN_SOURCE_ROOT/web; null: no --web-root flag
 * opts.demo     adds --demo
 */
export async function startServer(opts = {}) {
	const args = [...(opts.args ?? [])];
	let ownDataDir = false;
	let dataDir = opts.dataDir;
	if (dataDir === undefined) {
		dataDir = tmpDir('tiepdan-data-');
		ownDataDir = true;
	}
	if (dataDir !== null && !hasFlag(args, '--data-dir')) {
		args.push('--data-dir', dataDir);
	}
	const listen = opts.listen === undefined ? '127.0.0.1:0' : opts.listen;
	if (listen !== null && !hasFlag(args, '--listen')) {
		args.push('--listen', listen);
	}
	const webRoot = opts.webRoot === undefined ? WEB_ROOT : opts.webRoot;
	if (webRoot !== null && !hasFlag(args, '--web-root')) {
		args.push('--web-root', webRoot);
	}
	if (opts.demo && !args.includes('--demo')) {
		args.push('--demo');
	}
	let configDir = null;
	if (opts.config !== undefined && opts.config !== null) {
		configDir = tmpDir('tiepdan-conf-');
		const file = path.join(configDir, 'tiepdan.ini');
		fs.writeFileSync(file, toIni(opts.config));
		args.unshift('--config', file);
	}

	const proc = spawn(BIN, args, {
		env: cleanEnv(opts.env ?? {}),
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	const server = {
		proc,
		args,
		dataDir,
		stderrLines: [],
		stdoutLines: [],
		port: null,
		url: null,
		wsUrl: null,
		exitInfo: null,
	};
	servers.add(server);
	startedDuringTest.push(server);

	const lineWaiters = new Set();
	server.exited = new Promise((resolve) => {
		proc.on('exit', (code, signal) => {
			server.exitInfo = { code, signal };
			resolve(server.exitInfo);
		});
		proc.on('error', (err) => {
			server.exitInfo = { code: null, signal: null, error: err };
			resolve(server.exitInfo);
		});
	});
	server.exitCode = server.exited.then((e) => e.code);
	/* Streams may still hold the last lines when 'exit' fires. */
	const stderrDone = new Promise((resolve) => proc.stderr.on('close', resolve));
	server.finished = Promise.all([server.exited, stderrDone]).then(() => server.exitInfo);

	readline.createInterface({ input: proc.stdout }).on('line', (l) => server.stdoutLines.push(l));
	readline.createInterface({ input: proc.stderr }).on('line', (l) => {
		server.stderrLines.push(l);
		for (const w of [...lineWaiters]) {
			if (w.re.test(l)) {
				lineWaiters.delete(w);
				w.resolve(l);
			}
		}
	});

	/* Resolves with the first stderr line (already seen or to come) matching
	 * re; rejects when the process ends without one. */
	server.waitForLine = (re) => {
		const seen = server.stderrLines.find((l) => re.test(l));
		if (seen !== undefined) {
			return Promise.resolve(seen);
		}
		return new Promise((resolve, reject) => {
			const w = { re, resolve };
			lineWaiters.add(w);
			server.finished.then(() => {
				if (lineWaiters.delete(w)) {
					const late = server.stderrLines.find((l) => re.test(l));
					if (late !== undefined) {
						resolve(late);
					} else {
						reject(
							new Error(
								`server exited (${JSON.stringify(server.exitInfo)}) without a line matching ${re}\n` +
									server.stderrLines.join('\n'),
							),
						);
					}
				}
			});
		});
	};

	server.stop = async (signal = 'SIGTERM') => {
		if (!server.exitInfo) {
			proc.kill(signal);
		}
		const info = await server.finished;
		servers.delete(server);
		if (ownDataDir && dataDir) {
			removeTmpDir(dataDir);
		}
		if (configDir) {
			removeTmpDir(configDir);
		}
		return info;
	};

	const ready = await server.waitForLine(/msg="ready"/).catch(async (err) => {
		await server.stop('SIGKILL');
		throw err;
	});
	const f = parseLogfmt(ready) ?? {};
	const port = Number(f.port);
	if (!Number.isInteger(port) || port <= 0 || port > 65535) {
		await server.stop('SIGKILL');
		throw new Error(`no port in the ready line: ${ready}`);
	}
	server.readyLine = ready;
	server.readyFields = f;
	server.port = port;
	server.url = `http://127.0.0.1:${port}`;
	server.wsUrl = `ws://127.0.0.1:${port}/ws`;
	server.connect = (o = {}) => connect({ port, ...o });
	server.http = (p, o = {}) => httpRequest(port, p, o);
	return server;
}

/* Stops every server still running (SIGTERM, then SIGKILL if it does not go
 * within a safety-net delay). Use in after(). */
export async function stopAllServers() {
	await Promise.all(
		[...servers].map(async (s) => {
			if (!s.exitInfo) {
				s.proc.kill('SIGTERM');
				const t = setTimeout(() => s.proc.kill('SIGKILL'), 10_000);
				await s.finished;
				clearTimeout(t);
			}
			await s.stop();
		}),
	);
}

process.on('exit', () => {
	for (const s of servers) {
		if (!s.exitInfo) {
			try {
				s.proc.kill('SIGKILL');
			} catch {
				/* already gone */
			}
		}
	}
});

/*
 * Runs the server expecting it to exit by itself (bad flags, --help).
 * If it logs msg="ready" instead, it is killed and the promise rejects.
 * Resolves {code, signal, stdout, stderr}.
 */
export function runServerToExit(args, { env = {} } = {}) {
	return new Promise((resolve, reject) => {
		const proc = spawn(BIN, args, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
		let stdout = '';
		let stderr = '';
		let started = false;
		proc.stdout.on('data', (d) => (stdout += d));
		proc.stderr.on('data', (d) => {
			stderr += d;
			if (!started && /msg="ready"/.test(stderr)) {
				started = true;
				proc.kill('SIGKILL');
			}
		});
		proc.on('error', reject);
		proc.on('close', (code, signal) => {
			if (started) {
				reject(
					new Error(`the server started (msg="ready") instead of exiting: tiepdan ${args.join(' ')}\n${stderr}`),
				);
			} else {
				resolve({ code, signal, stdout, stderr });
			}
		});
	});
}

/* Runs tiepdan-admin; resolves {code, signal, stdout, stderr}. */
export function runAdmin(args, { env = {} } = {}) {
	return new Promise((resolve, reject) => {
		const proc = spawn(ADMIN_BIN, args, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
		let stdout = '';
		let stderr = '';
		proc.stdout.on('data', (d) => (stdout += d));
		proc.stderr.on('data', (d) => (stderr += d));
		proc.on('error', reject);
		proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
	});
}

/* ---------------------------------------------------------------------- */
/* Tests that dump the server's stderr when they fail                      */

function dumpServers(t, list) {
	const seen = new Set();
	for (const s of list) {
		if (seen.has(s)) {
			continue;
		}
		seen.add(s);
		const lines = s.stderrLines.slice(-150);
		const head = `--- tiepdan ${s.args.join(' ')} (port ${s.port}, exit ${JSON.stringify(s.exitInfo)}) stderr, last ${lines.length} lines ---`;
		t.diagnostic(head);
		for (const l of lines) {
			t.diagnostic(l);
		}
	}
}

/*
 * Groups tests by name without nesting them: node:test's describe() would
 * indent the TAP of its tests, which meson's TAP parser does not read. A
 * group only prefixes the names of the tests (and hooks) declared inside;
 * hooks declared inside (before, after) are file-level hooks.
 */
let groupPrefix = '';

export function describe(name, fn) {
	const saved = groupPrefix;
	groupPrefix = saved ? `${saved} › ${name}` : name;
	try {
		fn();
	} finally {
		groupPrefix = saved;
	}
}

/*
 * node:test's test() with a default timeout (a hang becomes a failure) and,
 * when the test fails, the stderr of every server started during it plus
 * those still running (started by before()) printed as diagnostics.
 */
export function test(name, options, fn) {
	if (typeof options === 'function') {
		fn = options;
		options = {};
	}
	const opts = { timeout: 60_000, ...options };
	const full = groupPrefix ? `${groupPrefix}: ${name}` : name;
	return nodeTest(full, opts, async (t) => {
		const mark = startedDuringTest.length;
		try {
			await fn(t);
		} catch (err) {
			dumpServers(t, [...startedDuringTest.slice(mark), ...servers]);
			throw err;
		}
	});
}

/* ---------------------------------------------------------------------- */
/* JSON-RPC over WebSocket                                                 */

/*
 * Opens a WebSocket to /ws. Resolves a client once open; rejects when the
 * upgrade is refused (err.statusCode, err.body) or fails.
 *
 * opts.port / opts.url     where (url wins)
 * opts.protocol            offered subprotocol(s); default 'tiepdan.v1'; null: none
 * opts.origin              Origin header (default: none)
 * opts.headers             extra request headers
 * opts.perMessageDeflate   default false, so frame sizes are what we send
 */
export function connect(opts = {}) {
	const url = opts.url ?? `ws://127.0.0.1:${opts.port}${opts.path ?? '/ws'}`;
	const protocol = opts.protocol === undefined ? PROTOCOL : opts.protocol;
	const wsOpts = {
		perMessageDeflate: opts.perMessageDeflate ?? false,
		headers: opts.headers ?? {},
		handshakeTimeout: 15_000,
	};
	if (opts.origin !== undefined) {
		wsOpts.origin = opts.origin;
	}
	const ws = protocol === null ? new WebSocket(url, wsOpts) : new WebSocket(url, protocol, wsOpts);
	return new Promise((resolve, reject) => {
		ws.once('unexpected-response', (req, res) => {
			let body = '';
			res.setEncoding('utf8');
			res.on('data', (d) => (body += d));
			res.on('end', () => {
				const err = new Error(`upgrade refused: HTTP ${res.statusCode}`);
				err.statusCode = res.statusCode;
				err.headers = res.headers;
				err.body = body;
				reject(err);
			});
			res.on('error', () => {});
			req.on('error', () => {});
		});
		ws.once('error', reject);
		ws.once('open', () => {
			ws.off('error', reject);
			resolve(new RpcClient(ws));
		});
	});
}

/* Connects expecting a refusal; resolves {statusCode, headers, body}. */
export async function connectRefused(opts) {
	let client;
	try {
		client = await connect(opts);
	} catch (err) {
		if (err.statusCode !== undefined) {
			return { statusCode: err.statusCode, headers: err.headers, body: err.body };
		}
		throw err;
	}
	client.terminate();
	assert.fail(`the upgrade was accepted (origin ${JSON.stringify(opts.origin)}), expected a refusal`);
}

export class RpcError extends Error {
	constructor(method, error) {
		super(`${method}: ${error?.code} ${error?.message}`);
		this.code = error?.code;
		this.data = error?.data;
		this.error = error;
	}
}

let idSeq = 0;

export class RpcClient {
	constructor(ws) {
		this.ws = ws;
		this.protocol = ws.protocol;
		this.pending = new Map(); // id → {resolve, reject}
		this.inbox = []; // messages nobody claimed, in arrival order
		this.waiters = []; // next() callers
		this.received = []; // every message, parsed (or {__raw}), in order
		this.closeInfo = null;
		this.pings = 0;
		this.closed = new Promise((resolve) => {
			ws.on('close', (code, reason) => {
				this.closeInfo = { code, reason: reason.toString() };
				resolve(this.closeInfo);
				const err = new Error(`connection closed (${code} ${reason}) while waiting`);
				err.closeInfo = this.closeInfo;
				for (const p of this.pending.values()) {
					p.reject(err);
				}
				this.pending.clear();
				for (const w of this.waiters.splice(0)) {
					w.reject(err);
				}
			});
		});
		ws.on('error', () => {
			/* 'close' follows and carries the outcome */
		});
		ws.on('ping', () => {
			this.pings++;
		});
		ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
	}

	#onMessage(data, isBinary) {
		const text = data.toString('utf8');
		let msg;
		try {
			msg = JSON.parse(text);
		} catch {
			msg = { __raw: text, __binary: isBinary };
		}
		this.received.push(msg);
		if (msg && !Array.isArray(msg) && typeof msg === 'object' && 'id' in msg && this.pending.has(keyOf(msg.id))) {
			const p = this.pending.get(keyOf(msg.id));
			this.pending.delete(keyOf(msg.id));
			p.resolve(msg);
			return;
		}
		const w = this.waiters.shift();
		if (w) {
			w.resolve(msg);
		} else {
			this.inbox.push(msg);
		}
	}

	/* Sends a raw message: a string or Buffer as is, anything else as JSON. */
	send(raw, options = {}) {
		const data = typeof raw === 'string' || Buffer.isBuffer(raw) ? raw : JSON.stringify(raw);
		return new Promise((resolve) => this.ws.send(data, options, (err) => resolve(err ?? null)));
	}

	/* Next message not claimed by call(), parsed. Rejects if the connection
	 * closes first. */
	next() {
		if (this.inbox.length) {
			return Promise.resolve(this.inbox.shift());
		}
		if (this.closeInfo) {
			return Promise.reject(new Error(`connection closed (${this.closeInfo.code}) before a message`));
		}
		return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
	}

	/* Sends a request and resolves with the whole response object that
	 * carries its id. params undefined → no params member. */
	call(method, params, { id } = {}) {
		const reqId = id ?? `c${++idSeq}`;
		const req = { jsonrpc: '2.0', method, id: reqId };
		if (params !== undefined) {
			req.params = params;
		}
		return this.request(req);
	}

	/* Sends a request object and resolves with the response carrying its id. */
	request(req) {
		return new Promise((resolve, reject) => {
			this.pending.set(keyOf(req.id), { resolve, reject });
			this.ws.send(JSON.stringify(req), (err) => {
				if (err) {
					this.pending.delete(keyOf(req.id));
					reject(err);
				}
			});
		});
	}

	/* call() that returns the result or throws an RpcError. */
	async result(method, params) {
		const r = await this.call(method, params);
		if (r.error) {
			throw new RpcError(method, r.error);
		}
		return r.result;
	}

	notify(method, params) {
		const n = { jsonrpc: '2.0', method };
		if (params !== undefined) {
			n.params = params;
		}
		return this.send(n);
	}

	close(code = 1000, reason = '') {
		if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
			this.ws.close(code, reason);
		}
		return this.closed;
	}

	terminate() {
		this.ws.terminate();
		return this.closed;
	}
}

function keyOf(id) {
	return JSON.stringify(id);
}

/* ---------------------------------------------------------------------- */
/* JSON-RPC assertions                                                     */

/* A well-formed response: jsonrpc "2.0", an id member, exactly one of
 * result and error; an error has an integer code and a string message. */
export function assertResponse(msg, label = 'response') {
	assert.ok(msg && typeof msg === 'object' && !Array.isArray(msg), `${label} is an object: ${JSON.stringify(msg)}`);
	assert.equal(msg.jsonrpc, '2.0', `${label} has jsonrpc "2.0": ${JSON.stringify(msg)}`);
	assert.ok('id' in msg, `${label} has an id member: ${JSON.stringify(msg)}`);
	const hasResult = 'result' in msg;
	const hasError = 'error' in msg;
	assert.ok(hasResult !== hasError, `${label} has exactly one of result and error: ${JSON.stringify(msg)}`);
	if (hasError) {
		assert.ok(msg.error && typeof msg.error === 'object', `${label}: error is an object`);
		assert.ok(Number.isInteger(msg.error.code), `${label}: error.code is an integer: ${JSON.stringify(msg)}`);
		assert.equal(typeof msg.error.message, 'string', `${label}: error.message is a string: ${JSON.stringify(msg)}`);
	}
	const allowed = new Set(['jsonrpc', 'id', 'result', 'error']);
	for (const k of Object.keys(msg)) {
		assert.ok(allowed.has(k), `${label}: unexpected member ${k}: ${JSON.stringify(msg)}`);
	}
	return msg;
}

/* Asserts an error response with the given code (and id, when given). */
export function assertError(msg, code, id) {
	assertResponse(msg);
	assert.ok(msg.error, `expected error ${code}, got ${JSON.stringify(msg)}`);
	assert.equal(msg.error.code, code, `error code: ${JSON.stringify(msg)}`);
	if (id !== undefined) {
		assert.deepEqual(msg.id, id, `id of ${JSON.stringify(msg)}`);
	}
	return msg.error;
}

export function assertResult(msg, id) {
	assertResponse(msg);
	assert.ok('result' in msg, `expected a result, got ${JSON.stringify(msg)}`);
	if (id !== undefined) {
		assert.deepEqual(msg.id, id, `id of ${JSON.stringify(msg)}`);
	}
	return msg.result;
}

/* RFC 3339 date-time with a numeric offset or Z. */
export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/* A padded system.ping request of exactly `size` bytes (UTF-8, ASCII only). */
export function pingOfSize(size, idPrefix = 'p') {
	const base = JSON.stringify({ jsonrpc: '2.0', method: 'system.ping', params: {}, id: idPrefix });
	const pad = size - base.length;
	if (pad < 0) {
		throw new Error(`cannot build a ping of ${size} bytes`);
	}
	const id = idPrefix + 'x'.repeat(pad);
	const s = JSON.stringify({ jsonrpc: '2.0', method: 'system.ping', params: {}, id });
	assert.equal(Buffer.byteLength(s), size);
	return { text: s, id };
}

/* ---------------------------------------------------------------------- */
/* HTTP                                                                    */

/* A request with node:http; resolves {status, headers, body: Buffer, text,
 * json()}. */
export function httpRequest(port, urlPath, { method = 'GET', headers = {}, body } = {}) {
	return new Promise((resolve, reject) => {
		const req = http.request(
			{ host: '127.0.0.1', port, path: urlPath, method, headers, agent: false },
			(res) => {
				const chunks = [];
				res.on('data', (c) => chunks.push(c));
				res.on('end', () => {
					const buf = Buffer.concat(chunks);
					resolve({
						status: res.statusCode,
						headers: res.headers,
						body: buf,
						text: buf.toString('utf8'),
						json: () => JSON.parse(buf.toString('utf8')),
					});
				});
				res.on('error', reject);
			},
		);
		req.on('error', reject);
		if (body !== undefined) {
			req.write(body);
		}
		req.end();
	});
}

/*
 * Sends bytes as they are over TCP (so the request line is not normalised)
 * and reads until the server closes. Resolves {status, headers (lower-case
 * names), body: Buffer, raw: Buffer}. Add "Connection: close" yourself.
 */
export function rawHttp(port, requestText) {
	return new Promise((resolve, reject) => {
		const sock = net.connect({ host: '127.0.0.1', port });
		const chunks = [];
		sock.on('data', (c) => chunks.push(c));
		sock.on('error', reject);
		sock.on('close', () => {
			const raw = Buffer.concat(chunks);
			const sep = raw.indexOf('\r\n\r\n');
			const head = (sep >= 0 ? raw.subarray(0, sep) : raw).toString('latin1');
			const lines = head.split('\r\n');
			const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
			const headers = {};
			for (const l of lines.slice(1)) {
				const i = l.indexOf(':');
				if (i > 0) {
					headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
				}
			}
			resolve({ status: m ? Number(m[1]) : null, headers, body: sep >= 0 ? raw.subarray(sep + 4) : Buffer.alloc(0), raw });
		});
		sock.write(requestText);
	});
}

/* ---------------------------------------------------------------------- */
/* Raw WebSocket (for clients that misbehave on purpose)                   */

/* A masked client frame. */
export function encodeFrame(opcode, payload, { fin = true, mask = true } = {}) {
	const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload ?? '', 'utf8');
	const len = data.length;
	let header;
	if (len < 126) {
		header = Buffer.alloc(2);
		header[1] = len;
	} else if (len < 65536) {
		header = Buffer.alloc(4);
		header[1] = 126;
		header.writeUInt16BE(len, 2);
	} else {
		header = Buffer.alloc(10);
		header[1] = 127;
		header.writeBigUInt64BE(BigInt(len), 2);
	}
	header[0] = (fin ? 0x80 : 0) | opcode;
	if (!mask) {
		return Buffer.concat([header, data]);
	}
	header[1] |= 0x80;
	const key = crypto.randomBytes(4);
	const masked = Buffer.alloc(len);
	for (let i = 0; i < len; i++) {
		masked[i] = data[i] ^ key[i & 3];
	}
	return Buffer.concat([header, key, masked]);
}

/* Incremental parser of server frames: push(buf) → [{fin, opcode, payload}]. */
export class FrameReader {
	constructor() {
		this.buf = Buffer.alloc(0);
	}

	push(chunk) {
		this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
		const frames = [];
		for (;;) {
			if (this.buf.length < 2) {
				break;
			}
			const b0 = this.buf[0];
			const b1 = this.buf[1];
			let len = b1 & 0x7f;
			let off = 2;
			if (len === 126) {
				if (this.buf.length < 4) {
					break;
				}
				len = this.buf.readUInt16BE(2);
				off = 4;
			} else if (len === 127) {
				if (this.buf.length < 10) {
					break;
				}
				len = Number(this.buf.readBigUInt64BE(2));
				off = 10;
			}
			const masked = (b1 & 0x80) !== 0;
			if (masked) {
				off += 4;
			}
			if (this.buf.length < off + len) {
				break;
			}
			frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, payload: this.buf.subarray(off, off + len) });
			this.buf = this.buf.subarray(off + len);
		}
		return frames;
	}
}

/*
 * Completes a WebSocket upgrade by hand over a raw TCP socket. Resolves
 * {socket, status, headers, rest} where rest holds bytes received after the
 * handshake. The socket is left flowing with no 'data' listener: the caller
 * attaches its own (or pauses it).
 */
export function rawUpgrade(port, { protocol = PROTOCOL, origin, path: urlPath = '/ws' } = {}) {
	return new Promise((resolve, reject) => {
		const sock = net.connect({ host: '127.0.0.1', port });
		const key = crypto.randomBytes(16).toString('base64');
		let buf = Buffer.alloc(0);
		const onData = (c) => {
			buf = Buffer.concat([buf, c]);
			const sep = buf.indexOf('\r\n\r\n');
			if (sep < 0) {
				return;
			}
			sock.off('data', onData);
			sock.pause();
			const head = buf.subarray(0, sep).toString('latin1').split('\r\n');
			const m = /^HTTP\/1\.1 (\d{3})/.exec(head[0]);
			const headers = {};
			for (const l of head.slice(1)) {
				const i = l.indexOf(':');
				if (i > 0) {
					headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
				}
			}
			const status = m ? Number(m[1]) : null;
			if (status !== 101) {
				sock.destroy();
				reject(new Error(`raw upgrade answered ${head[0]}`));
				return;
			}
			const accept = crypto
				.createHash('sha1')
				.update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
				.digest('base64');
			if (headers['sec-websocket-accept'] !== accept) {
				sock.destroy();
				reject(new Error(`bad Sec-WebSocket-Accept ${headers['sec-websocket-accept']}`));
				return;
			}
			resolve({ socket: sock, status, headers, rest: buf.subarray(sep + 4) });
		};
		sock.on('data', onData);
		sock.once('error', reject);
		sock.once('connect', () => {
			let req =
				`GET ${urlPath} HTTP/1.1\r\n` +
				`Host: 127.0.0.1:${port}\r\n` +
				'Upgrade: websocket\r\n' +
				'Connection: Upgrade\r\n' +
				`Sec-WebSocket-Key: ${key}\r\n` +
				'Sec-WebSocket-Version: 13\r\n';
			if (protocol) {
				req += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
			}
			if (origin) {
				req += `Origin: ${origin}\r\n`;
			}
			sock.write(req + '\r\n');
		});
	});
}

/* ---------------------------------------------------------------------- */
/* Prometheus text format                                                  */

/* Parses exposition text into [{name, labels: {}, value: number}] plus
 * types {name: type}. */
export function parseMetrics(text) {
	const samples = [];
	const types = {};
	const help = {};
	for (const line of text.split('\n')) {
		if (line === '') {
			continue;
		}
		let m = /^# TYPE (\S+) (\S+)$/.exec(line);
		if (m) {
			types[m[1]] = m[2];
			continue;
		}
		m = /^# HELP (\S+) (.*)$/.exec(line);
		if (m) {
			help[m[1]] = m[2];
			continue;
		}
		if (line.startsWith('#')) {
			continue;
		}
		m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/.exec(line);
		if (!m) {
			throw new Error(`unparsable metrics line: ${line}`);
		}
		const labels = {};
		if (m[2]) {
			const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;
			let lm;
			while ((lm = re.exec(m[2])) !== null) {
				labels[lm[1]] = lm[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
			}
		}
		const v = m[3];
		const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v);
		samples.push({ name: m[1], labels, value });
	}
	return { samples, types, help };
}

/* The value of the sample with this name whose labels include `labels`;
 * undefined when absent. */
export function metricValue(parsed, name, labels = {}) {
	const s = parsed.samples.find(
		(x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
	);
	return s?.value;
}
