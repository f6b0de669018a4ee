// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Helpers of the account tests (auth, authz-matrix): the demo accounts, login
// on a fresh connection, waiting for a server notification, crafting JWTs
// with node:crypto, reading the token keys of a data directory and querying
// the database with the sqlite3 CLI.
//
// Like the harness, nothing here sleeps: waits are for messages.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/* PROTOCOL.md / the issue: the accounts `--demo` loads. */
export const DEMO = {
	citizen: { login: '0912345678', password: 'demo-citizen-2026', role: 'citizen', agency: null },
	official: { login: 'canbo.tranbien', password: 'demo-official-2026', role: 'official', agency: 'DN-P-TRANBIEN' },
	leader: { login: 'chutich.tranbien', password: 'demo-leader-2026', role: 'leader', agency: 'DN-P-TRANBIEN' },
	staff: { login: 'vanthu.tranbien', password: 'demo-staff-2026', role: 'staff', agency: 'DN-P-TRANBIEN' },
	cityLeader: { login: 'chutich.dongnai', password: 'demo-cityleader-2026', role: 'leader', agency: 'DN' },
	inspector: { login: 'thanhtra.dongnai', password: 'demo-inspector-2026', role: 'inspector', agency: 'DN-TTTP' },
	admin: { login: 'admin', password: 'demo-admin-2026', role: 'admin', agency: null },
};

/* agency code → id, from directory.agencies. */
export async function agencyIds(client) {
	const r = await client.call('directory.agencies', {});
	assert.ok(r.result && Array.isArray(r.result.items), `directory.agencies: ${JSON.stringify(r)}`);
	return new Map(r.result.items.map((a) => [a.code, a.id]));
}

/*
 * Opens a connection and logs in on it. Resolves {client, login} where login
 * is the auth.login result; fails the test when the login is refused.
 */
export async function loginClient(server, login, password) {
	const client = await server.connect();
	const r = await client.call('auth.login', { login, password });
	assert.ok(r.result, `auth.login ${login}: ${JSON.stringify(r)}`);
	return { client, login: r.result };
}

/*
 * The next notification with this method on client, waiting for it if it
 * has not come yet. Other unclaimed messages seen on the way are kept, in
 * order, for later next() calls.
 */
export async function waitNotification(client, method) {
	const i = client.inbox.findIndex((m) => m && m.method === method && !('id' in m));
	if (i >= 0) {
		return client.inbox.splice(i, 1)[0];
	}
	const skipped = [];
	try {
		for (;;) {
			const m = await client.next();
			if (m && m.method === method && !('id' in m)) {
				return m;
			}
			skipped.push(m);
		}
	} finally {
		client.inbox.unshift(...skipped);
	}
}

/* Notifications with this method received so far (claimed or not). */
export function notificationsSeen(client, method) {
	return client.received.filter((m) => m && m.method === method && !('id' in m));
}

/* Asserts an error answer of one of the codes; returns the error. */
export function expectError(resp, codes, label) {
	const list = Array.isArray(codes) ? codes : [codes];
	assert.ok(resp && resp.error, `${label}: expected error ${list.join('|')}, got ${JSON.stringify(resp)}`);
	assert.ok(list.includes(resp.error.code), `${label}: expected error ${list.join('|')}, got ${JSON.stringify(resp)}`);
	return resp.error;
}

/* Asserts -32602 with data {field, reason}. */
export function expectInvalid(resp, field, reason, label = '') {
	const e = expectError(resp, -32602, label);
	assert.deepEqual(
		{ field: e.data?.field, reason: e.data?.reason },
		{ field, reason },
		`${label}: -32602 data ${JSON.stringify(e.data)}, expected ${JSON.stringify({ field, reason })}`,
	);
	return e;
}

/* ------------------------------------------------------------------ */
/* JWT                                                                 */

export function b64url(data) {
	const buf = Buffer.isBuffer(data) ? data : Buffer.from(typeof data === 'string' ? data : JSON.stringify(data), 'utf8');
	return buf.toString('base64url');
}

/* {header, payload, signature} of a compact JWS (no verification). */
export function decodeJwt(token) {
	const [h, p, s] = token.split('.');
	return {
		header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
		payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
		signature: s,
	};
}

const HMAC = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

/* A compact JWS over base64url(header).base64url(payload) signed with HMAC
 * alg (HS256/384/512) and key (Buffer). header and payload may be objects or
 * raw strings (signed as given). */
export function signHs(alg, header, payload, key) {
	const input = `${b64url(header)}.${b64url(payload)}`;
	const sig = crypto.createHmac(HMAC[alg], key).update(input).digest('base64url');
	return `${input}.${sig}`;
}

/* The HS keys of a data directory: Map kid → Buffer (the hex file decoded),
 * with each file's mode. */
export function readTokenKeys(dataDir) {
	const dir = path.join(dataDir, 'keys');
	const out = new Map();
	for (const name of fs.readdirSync(dir)) {
		const m = /^jwt-(.+)\.key$/.exec(name);
		if (!m) {
			continue;
		}
		const file = path.join(dir, name);
		const hex = fs.readFileSync(file, 'utf8').trim();
		assert.match(hex, /^[0-9a-f]{128}$/i, `${name} holds the hex of 64 bytes`);
		out.set(m[1], { key: Buffer.from(hex, 'hex'), mode: fs.statSync(file).mode & 0o777, file });
	}
	return out;
}

export function nowS() {
	return Math.floor(Date.now() / 1000);
}

/* ------------------------------------------------------------------ */
/* The database                                                        */

/* Rows of a query on DATA_DIR/tiepdan.db through the sqlite3 CLI (JSON). */
export function sqliteRows(dataDir, sql) {
	const out = execFileSync('sqlite3', ['-json', path.join(dataDir, 'tiepdan.db'), sql], {
		encoding: 'utf8',
		maxBuffer: 64 * 1024 * 1024,
	});
	return out.trim() === '' ? [] : JSON.parse(out);
}

/* The whole database as SQL text (.dump). */
export function sqliteDump(dataDir) {
	return execFileSync('sqlite3', [path.join(dataDir, 'tiepdan.db'), '.dump'], {
		encoding: 'utf8',
		maxBuffer: 256 * 1024 * 1024,
	});
}

export function sha256Hex(s) {
	return crypto.createHash('sha256').update(s, 'utf8').digest('hex');
}
