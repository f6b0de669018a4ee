// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Accounts and sessions through the real protocol (PROTOCOL.md §3 and the
// accounts issue): registration and its validation, login by phone, email and
// national id, the JWT forgery matrix, refresh rotation and reuse detection,
// logout, password change, expiry of a bound connection, login throttling,
// the admin methods, the password queue, and the audit log (no secrets).
//
// One server (--demo) serves most tests, in order; the tests that need other
// flags start their own. Nothing sleeps: every wait is for an answer or a
// notification.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { after, before } from 'node:test';
import { spawnSync } from 'node:child_process';
import { BIN, assertResult, describe, startServer, stopAllServers, test, tmpDir } from './lib/harness.mjs';
import {
	DEMO,
	agencyIds,
	b64url,
	decodeJwt,
	expectError,
	expectInvalid,
	loginClient,
	notificationsSeen,
	nowS,
	readTokenKeys,
	sha256Hex,
	signHs,
	sqliteDump,
	sqliteRows,
	waitNotification,
} from './lib/auth-helpers.mjs';

const UNAUTH = -32001;
const FORBIDDEN = -32002;
const NOT_FOUND = -32004;
const CONFLICT = -32009;
const RATE_LIMITED = -32029;

/* Every password and token this file uses: none may appear in the database
 * (audit log included) or in the server's log. */
const secrets = new Set(Object.values(DEMO).map((a) => a.password));
function remember(...values) {
	for (const v of values) {
		if (typeof v === 'string' && v.length >= 10) {
			secrets.add(v);
		}
	}
}
function rememberTokens(result) {
	remember(result?.access_token, result?.refresh_token);
	return result;
}

let server; // the shared --demo server
let dataDir;
let agencies; // code → id
let ids = {}; // demo user ids by DEMO key
const registered = []; // {user_id, phone, password}
const admins = new Set(); // users that acted as admins (ids.admin, and one granted the role)
const auditExpect = []; // rows the audit log must hold: {action, user_id, actor_id?}

/* Unique, valid citizen data. Phones 097xxxxxxx and national ids 0790… are
 * not used by the demo accounts. */
let seq = 0;
function newCitizen(over = {}) {
	seq++;
	const n = String(seq).padStart(4, '0');
	return {
		full_name: 'Lê Thị Thu Hà',
		national_id: `07919900${n}`,
		phone: `097100${n}`,
		password: `Sông-Đồng-Nai xanh ${n}!`,
		...over,
	};
}

async function register(client, params) {
	remember(params.password);
	const r = await client.call('auth.register', params);
	const res = assertResult(r);
	assert.equal(typeof res.user_id, 'string', `user_id: ${JSON.stringify(r)}`);
	assert.ok(res.user_id.length > 0);
	registered.push({ user_id: res.user_id, phone: params.phone, password: params.password });
	return res.user_id;
}

async function login(client, loginName, password) {
	remember(password);
	const r = await client.call('auth.login', { login: loginName, password });
	return rememberTokens(assertResult(r));
}

async function loginNew(srv, loginName, password) {
	remember(password);
	const { client, login: res } = await loginClient(srv, loginName, password);
	rememberTokens(res);
	return { client, res };
}

async function whoami(client) {
	return client.call('auth.whoami', {});
}

async function assertUnbound(client, label) {
	expectError(await whoami(client), UNAUTH, `${label}: auth.whoami on an unbound connection`);
}

async function assertBoundAs(client, userId, label) {
	const r = await whoami(client);
	assert.ok(r.result, `${label}: auth.whoami answers: ${JSON.stringify(r)}`);
	assert.equal(r.result.user.id, userId, `${label}: bound to ${userId}`);
	return r.result.user;
}

/* After a server stopped: exit status 0 and no sanitizer report (sanitizer builds). */
function assertCleanExit(srv, info, label) {
	const tail = srv.stderrLines.filter((l) => !/^ts=/.test(l)).slice(-80).join('\n');
	assert.deepEqual({ code: info?.code, signal: info?.signal }, { code: 0, signal: null }, `${label}: exit; stderr (not logfmt):\n${tail}`);
	const reports = srv.stderrLines.filter((l) => /Sanitizer|runtime error:/.test(l));
	assert.deepEqual(reports, [], `${label}:\n${tail}`);
}

/* A server of its own for one test, stopped even when the test fails; when the test passed,
 * the server must also exit cleanly. */
async function withServer(opts, fn) {
	const srv = await startServer(opts);
	let ok = false;
	try {
		await fn(srv);
		ok = true;
	} finally {
		const info = await srv.stop();
		if (ok) {
			assertCleanExit(srv, info, `tiepdan ${srv.args.join(' ')}`);
		}
	}
}

function assertRetryAfter(err, label) {
	const s = err.data?.retry_after_s;
	assert.ok(Number.isInteger(s) && s >= 1, `${label}: data.retry_after_s is an integer ≥ 1: ${JSON.stringify(err)}`);
}

before(async () => {
	dataDir = tmpDir('tiepdan-auth-');
	/* A larger message limit, so that a 100 KB token reaches the dispatcher
	 * instead of closing the connection with 1009. */
	server = await startServer({ dataDir, demo: true, args: ['--max-message-size', '262144'] });
	const c = await server.connect();
	agencies = await agencyIds(c);
	for (const code of ['DN', 'DN-P-TRANBIEN', 'DN-TTTP']) {
		assert.ok(agencies.has(code), `demo agency ${code} in directory.agencies`);
	}
	for (const [key, acct] of Object.entries(DEMO)) {
		const res = await login(c, acct.login, acct.password);
		ids[key] = res.user.id;
	}
	await c.close();
});

after(async () => {
	await stopAllServers();
});

/* ====================================================================== */

describe('register', () => {
	test('happy path: {user_id}; the citizen logs in by phone and holds the citizen role', async () => {
		const c = await server.connect();
		const p = newCitizen({ email: 'Thu.Ha@Example.VN', address: '12 Võ Thị Sáu, Phường Trấn Biên' });
		const userId = await register(c, p);
		const res = await login(c, p.phone, p.password);
		assert.equal(res.token_type, 'Bearer');
		assert.equal(res.expires_in, 900, 'default access token lifetime 900 s');
		assert.equal(typeof res.access_token, 'string');
		assert.equal(typeof res.refresh_token, 'string');
		assert.deepEqual(res.user, {
			id: userId,
			full_name: 'Lê Thị Thu Hà',
			roles: [{ role: 'citizen', agency_id: null }],
		});
		assert.deepEqual((await whoami(c)).result, { user: res.user }, 'auth.login binds the connection');
		await c.close();
	});

	/* [label, params override, field, reason]; every other value is valid. */
	const BAD = [
		['full_name missing', { full_name: undefined }, '/full_name', 'required'],
		['full_name empty', { full_name: '' }, '/full_name', 'empty'],
		['full_name a number', { full_name: 42 }, '/full_name', 'type'],
		['full_name with digits', { full_name: 'Nguyễn Văn 3' }, '/full_name', 'format'],
		['full_name with markup', { full_name: '<b>Nguyễn</b>' }, '/full_name', 'format'],
		['full_name 201 letters', { full_name: 'a'.repeat(201) }, '/full_name', 'too_long'],
		['national_id missing', { national_id: undefined }, '/national_id', 'required'],
		['national_id 11 digits', { national_id: '07919900123' }, '/national_id', 'format'],
		['national_id 13 digits', { national_id: '0791990012345' }, '/national_id', 'format'],
		['national_id with a letter', { national_id: '07919900123a' }, '/national_id', 'format'],
		['national_id a number', { national_id: 79199001234 }, '/national_id', 'type'],
		['phone missing', { phone: undefined }, '/phone', 'required'],
		['phone not mobile (01…)', { phone: '0123456789' }, '/phone', 'format'],
		['phone 9 digits', { phone: '097100123' }, '/phone', 'format'],
		['phone 11 digits', { phone: '09710012345' }, '/phone', 'format'],
		['phone +85…', { phone: '+85971001234' }, '/phone', 'format'],
		['phone +840…', { phone: '+840971001234' }, '/phone', 'format'],
		['phone letters', { phone: 'không có số' }, '/phone', 'format'],
		['phone a number', { phone: 971001234 }, '/phone', 'type'],
		['email without @', { email: 'not-an-email' }, '/email', 'format'],
		['email without a dotted domain', { email: 'a@b' }, '/email', 'format'],
		['email with two @', { email: 'a@@example.vn' }, '/email', 'format'],
		['email with a space', { email: 'a b@example.vn' }, '/email', 'format'],
		['email a number', { email: 5 }, '/email', 'type'],
		['password missing', { password: undefined }, '/password', 'required'],
		['password 9 characters', { password: 'Đồng-Nai1' }, '/password', 'too_short'],
		['password common', { password: 'matkhau123' }, '/password', 'common'],
		['password common, other case', { password: 'ANHYEUEM123' }, '/password', 'common'],
		['password 1025 characters', { password: 'x'.repeat(1025) }, '/password', 'too_long'],
		['address blank', { address: '   ' }, '/address', 'empty'],
		['an unknown parameter (role)', { role: 'admin' }, '/role', 'unknown'],
	];

	test('each bad value → -32602 {field, reason}; none of them stores anything', async () => {
		const c = await server.connect();
		const base = newCitizen();
		for (const [label, over, field, reason] of BAD) {
			const params = { ...base, ...over };
			for (const k of Object.keys(params)) {
				if (params[k] === undefined) {
					delete params[k];
				}
			}
			expectInvalid(await c.call('auth.register', params), field, reason, label);
		}
		/* Personal data in the password. */
		expectInvalid(
			await c.call('auth.register', { ...base, password: `mk-${base.phone.slice(1)}-abc` }),
			'/password',
			'personal',
			'password holding the phone',
		);
		expectInvalid(
			await c.call('auth.register', { ...base, password: `cccd ${base.national_id}` }),
			'/password',
			'personal',
			'password holding the national id',
		);
		/* Nothing was stored: the very same values now register. */
		await register(c, base);
		await c.close();
	});

	test('duplicates by national id, phone (also as +84…) and email → -32009 already_registered', async () => {
		const c = await server.connect();
		const first = newCitizen({ email: 'trung.lap@example.vn' });
		await register(c, first);
		const cases = [
			['same national id', { national_id: first.national_id }, '/national_id'],
			['same phone', { phone: first.phone }, '/phone'],
			['same phone given as +84…', { phone: '+84' + first.phone.slice(1) }, '/phone'],
			['same phone with spaces', { phone: `${first.phone.slice(0, 4)} ${first.phone.slice(4, 7)} ${first.phone.slice(7)}` }, '/phone'],
			['same email, other case', { email: 'Trung.Lap@EXAMPLE.vn' }, '/email'],
			['the demo citizen phone as +84…', { phone: '+84912345678' }, '/phone'],
			['the demo citizen national id', { national_id: '075088001234' }, '/national_id'],
		];
		for (const [label, over, field] of cases) {
			const p = newCitizen(over);
			remember(p.password);
			const e = expectError(await c.call('auth.register', p), CONFLICT, label);
			assert.deepEqual(e.data, { field, reason: 'already_registered' }, `${label}: ${JSON.stringify(e)}`);
		}
		await c.close();
	});

	test('a name sent in NFD comes back in NFC (login result and auth.whoami)', async () => {
		const nfc = 'Nguyễn Thị Hằng Ngọc';
		const nfd = nfc.normalize('NFD');
		assert.notEqual(nfd, nfc, 'the NFD form differs from the NFC form');
		const c = await server.connect();
		const p = newCitizen({ full_name: nfd });
		await register(c, p);
		const res = await login(c, p.phone, p.password);
		assert.equal(res.user.full_name, nfc, 'auth.login user.full_name is NFC');
		const me = (await whoami(c)).result.user;
		assert.equal(me.full_name, nfc, 'auth.whoami full_name is NFC');
		assert.equal(Buffer.from(me.full_name).length, Buffer.from(nfc).length);
		await c.close();
	});
});

/* ====================================================================== */

/* Memoised set-up shared by the tests of a group (root-level before()
 * hooks would all run at the start, before the shared server exists). */
function once(fn) {
	let p = null;
	return () => (p ??= fn());
}

describe('login', () => {
	let person;
	let userId;

	const setup = once(async () => {
		const c = await server.connect();
		person = newCitizen({ email: 'dang.nhap@example.vn' });
		userId = await register(c, person);
		await c.close();
	});

	for (const [label, loginOf] of [
		['phone 0…', (p) => p.phone],
		['phone +84…', (p) => '+84' + p.phone.slice(1)],
		['email', (p) => p.email],
		['email in other case', (p) => p.email.toUpperCase()],
		['national id', (p) => p.national_id],
	]) {
		test(`by ${label}`, async () => {
			await setup();
			const c = await server.connect();
			const res = await login(c, loginOf(person), person.password);
			assert.equal(res.user.id, userId);
			await assertBoundAs(c, userId, label);
			await c.close();
		});
	}

	test('demo accounts log in with their roles (agency ids from directory.agencies)', async () => {
		const c = await server.connect();
		for (const [key, acct] of Object.entries(DEMO)) {
			const res = await login(c, acct.login, acct.password);
			assert.equal(res.user.id, ids[key]);
			assert.deepEqual(
				res.user.roles,
				[{ role: acct.role, agency_id: acct.agency ? agencies.get(acct.agency) : null }],
				`roles of ${acct.login}`,
			);
		}
		await c.close();
	});

	test('a wrong password and an unknown login give the identical error (-32001)', async () => {
		const c = await server.connect();
		remember('not-the-password-2026');
		const wrong = await c.call('auth.login', { login: DEMO.official.login, password: 'not-the-password-2026' });
		const unknownLogin = await c.call('auth.login', { login: 'khong.ton.tai', password: 'not-the-password-2026' });
		const unknownPhone = await c.call('auth.login', { login: '0971999999', password: 'not-the-password-2026' });
		const e1 = expectError(wrong, UNAUTH, 'wrong password');
		auditExpect.push({ action: 'login_failed', user_id: ids.official });
		const e2 = expectError(unknownLogin, UNAUTH, 'unknown login');
		const e3 = expectError(unknownPhone, UNAUTH, 'unknown phone');
		assert.deepEqual(e2, e1, 'unknown login and wrong password: same error object');
		assert.deepEqual(e3, e1, 'unknown phone and wrong password: same error object');
		await assertUnbound(c, 'after failed logins');
		await c.close();
	});

	test('auth.whoami: -32001 anonymous; {user} when bound', async () => {
		const c = await server.connect();
		await assertUnbound(c, 'anonymous');
		const res = await login(c, DEMO.official.login, DEMO.official.password);
		const r = assertResult(await whoami(c));
		assert.deepEqual(r, {
			user: {
				id: ids.official,
				full_name: 'Trần Thị Bình',
				roles: [{ role: 'official', agency_id: agencies.get('DN-P-TRANBIEN') }],
			},
		});
		assert.deepEqual(r.user, res.user);
		await c.close();
	});
});

/* ====================================================================== */

describe('tokens', () => {
	/* Filled by the first test: a live citizen session and the real key. */
	const ctx = {};

	test('a real access token: HS256, kid, typ JWT; claims iss, aud, sub, sid, iat, nbf, exp; key file 0600', async () => {
		const { client, res } = await loginNew(server, DEMO.citizen.login, DEMO.citizen.password);
		const { header, payload } = decodeJwt(res.access_token);
		assert.deepEqual(Object.keys(header).sort(), ['alg', 'kid', 'typ']);
		assert.equal(header.alg, 'HS256');
		assert.equal(header.typ, 'JWT');
		assert.equal(typeof header.kid, 'string');
		assert.equal(payload.iss, 'tiepdan');
		assert.equal(payload.aud, 'tiepdan.v1');
		assert.equal(payload.sub, ids.citizen);
		assert.equal(typeof payload.sid, 'string');
		assert.ok(payload.sid.length > 0);
		for (const k of ['iat', 'nbf', 'exp']) {
			assert.ok(Number.isInteger(payload[k]), `${k} is an integer: ${JSON.stringify(payload)}`);
		}
		assert.equal(payload.exp - payload.iat, 900);
		assert.ok(payload.nbf <= payload.iat);

		const keys = readTokenKeys(dataDir);
		assert.ok(keys.has(header.kid), `DATA_DIR/keys/jwt-${header.kid}.key exists (have ${[...keys.keys()]})`);
		const k = keys.get(header.kid);
		assert.equal(k.mode, 0o600, `key file mode ${k.mode.toString(8)}`);
		const dirMode = fs.statSync(path.join(dataDir, 'keys')).mode & 0o777;
		assert.equal(dirMode & 0o077, 0, `keys/ is not open to others: ${dirMode.toString(8)}`);
		/* The file really is the key: re-signing the same input gives the same signature. */
		const [h, p, s] = res.access_token.split('.');
		assert.equal(crypto.createHmac('sha256', k.key).update(`${h}.${p}`).digest('base64url'), s, 'signed with the key file');

		const admin = await loginNew(server, DEMO.admin.login, DEMO.admin.password);
		Object.assign(ctx, {
			token: res.access_token,
			header,
			payload,
			key: k.key,
			adminSid: decodeJwt(admin.res.access_token).payload.sid,
		});
		await client.close();
		await admin.client.close();
	});

	test('auth.authenticate with a real token binds a new connection ({user})', async () => {
		const c = await server.connect();
		await assertUnbound(c, 'fresh connection');
		const r = assertResult(await c.call('auth.authenticate', { access_token: ctx.token }));
		assert.equal(r.user.id, ids.citizen);
		assert.deepEqual(r.user.roles, [{ role: 'citizen', agency_id: null }]);
		await assertBoundAs(c, ids.citizen, 'after auth.authenticate');
		await c.close();
	});

	/* Claims of a valid token of the live session, with overrides. */
	function claims(over = {}) {
		const now = nowS();
		const p = {
			iss: 'tiepdan',
			aud: 'tiepdan.v1',
			sub: ctx.payload.sub,
			sid: ctx.payload.sid,
			iat: now,
			nbf: now,
			exp: now + 600,
			...over,
		};
		for (const k of Object.keys(p)) {
			if (p[k] === undefined) {
				delete p[k];
			}
		}
		return p;
	}
	const hdr = (over = {}) => ({ alg: 'HS256', kid: ctx.header.kid, typ: 'JWT', ...over });
	const real = (header, payload) => signHs('HS256', header, payload, ctx.key);
	const randomKey = () => crypto.randomBytes(64);

	test('control: a token crafted with the real key and correct claims IS accepted', async () => {
		const c = await server.connect();
		const token = real(hdr(), claims());
		assert.notEqual(token, ctx.token);
		const r = assertResult(await c.call('auth.authenticate', { access_token: token }));
		assert.equal(r.user.id, ids.citizen);
		await assertBoundAs(c, ids.citizen, 'crafted valid token');
		await c.close();
	});

	const FORGERIES = [
		['alg none, empty signature', () => `${b64url({ alg: 'none' })}.${b64url(claims())}.`],
		['alg none with typ and kid, empty signature', () => `${b64url({ alg: 'none', typ: 'JWT', kid: ctx.header.kid })}.${b64url(claims())}.`],
		['alg none, real signature kept', () => {
			const [, p, s] = ctx.token.split('.');
			return `${b64url({ alg: 'none', typ: 'JWT', kid: ctx.header.kid })}.${p}.${s}`;
		}],
		['alg "None" (case variant), empty signature', () => `${b64url({ alg: 'None', typ: 'JWT' })}.${b64url(claims())}.`],
		['HS512 signed with a random key', () => signHs('HS512', hdr({ alg: 'HS512' }), claims(), randomKey())],
		['HS384 signed with a random key', () => signHs('HS384', hdr({ alg: 'HS384' }), claims(), randomKey())],
		['HS512 signed with the real key (algorithm swap)', () => signHs('HS512', hdr({ alg: 'HS512' }), claims(), ctx.key)],
		['RS256 header with a garbage signature', () => `${b64url(hdr({ alg: 'RS256' }))}.${b64url(claims())}.${crypto.randomBytes(256).toString('base64url')}`],
		['HS256 with a random key and the real kid', () => signHs('HS256', hdr(), claims(), randomKey())],
		['HS256, real key, unknown kid', () => real(hdr({ kid: 'no-such-key' }), claims())],
		['HS256, real key, kid a path', () => real(hdr({ kid: '../tiepdan.db' }), claims())],
		['HS256, real key, no kid', () => real({ alg: 'HS256', typ: 'JWT' }, claims())],
		['HS256, real key, typ not JWT', () => real(hdr({ typ: 'JWE' }), claims())],
		['tampered payload: sub changed to the admin, signature kept', () => {
			const [h, , s] = ctx.token.split('.');
			return `${h}.${b64url({ ...ctx.payload, sub: ids.admin })}.${s}`;
		}],
		['tampered payload: exp extended, signature kept', () => {
			const [h, , s] = ctx.token.split('.');
			return `${h}.${b64url({ ...ctx.payload, exp: ctx.payload.exp + 86400 })}.${s}`;
		}],
		['expired (real key)', () => real(hdr(), claims({ iat: nowS() - 7200, nbf: nowS() - 7200, exp: nowS() - 3600 }))],
		['not yet valid: nbf an hour ahead (real key)', () => real(hdr(), claims({ nbf: nowS() + 3600, exp: nowS() + 7200 }))],
		['issued an hour ahead: iat in the future (real key)', () => real(hdr(), claims({ iat: nowS() + 3600, nbf: nowS(), exp: nowS() + 7200 }))],
		['wrong iss (real key)', () => real(hdr(), claims({ iss: 'evil' }))],
		['wrong aud (real key)', () => real(hdr(), claims({ aud: 'tiepdan.v2' }))],
		['missing iss (real key)', () => real(hdr(), claims({ iss: undefined }))],
		['missing aud (real key)', () => real(hdr(), claims({ aud: undefined }))],
		['missing sub (real key)', () => real(hdr(), claims({ sub: undefined }))],
		['empty sub (real key)', () => real(hdr(), claims({ sub: '' }))],
		['missing sid (real key)', () => real(hdr(), claims({ sid: undefined }))],
		['missing exp (real key)', () => real(hdr(), claims({ exp: undefined }))],
		['exp as a string (real key)', () => real(hdr(), claims({ exp: String(nowS() + 600) }))],
		['nbf as a string (real key)', () => real(hdr(), claims({ nbf: String(nowS()) }))],
		['sub a number (real key)', () => real(hdr(), claims({ sub: 12345 }))],
		['sub of another user with this session (real key)', () => real(hdr(), claims({ sub: ids.admin }))],
		['sid of another user\'s live session (real key)', () => real(hdr(), claims({ sid: ctx.adminSid }))],
		['sid of no session (real key)', () => real(hdr(), claims({ sid: 'AAAAAAAAAAAAAAAAAAAAAA' }))],
		['claims not an object (real key)', () => real(hdr(), '["tiepdan"]')],
		['truncated token', () => ctx.token.slice(0, ctx.token.length - 5)],
		['no signature part', () => ctx.token.split('.').slice(0, 2).join('.')],
		['four parts', () => `${ctx.token}.${ctx.token.split('.')[2]}`],
		['non-base64url characters', () => {
			const [h, p, s] = ctx.token.split('.');
			return `${h}.${p.slice(0, 10)}*${p.slice(11)}.${s}`;
		}],
		['standard base64 (+ / =) instead of base64url', () => {
			const [h, p, s] = ctx.token.split('.');
			const std = (x) => Buffer.from(x, 'base64url').toString('base64');
			return `${std(h)}.${std(p)}.${std(s)}`;
		}],
		['a space inside', () => ctx.token.replace('.', ' .')],
		['empty string', () => ''],
		['header not JSON', () => `${b64url('not json')}.${b64url(claims())}.${crypto.randomBytes(32).toString('base64url')}`],
		['header with a duplicate alg member', () => {
			const h = Buffer.from(`{"alg":"none","alg":"HS256","kid":"${ctx.header.kid}","typ":"JWT"}`).toString('base64url');
			const p = b64url(claims());
			return `${h}.${p}.${crypto.createHmac('sha256', ctx.key).update(`${h}.${p}`).digest('base64url')}`;
		}],
	];

	for (const [label, make] of FORGERIES) {
		test(`forgery refused: ${label} → -32001, the connection stays unbound`, async () => {
			assert.ok(ctx.token && ctx.key, 'the real token and key from the first tokens test');
			const c = await server.connect();
			const token = make();
			expectError(await c.call('auth.authenticate', { access_token: token }), UNAUTH, label);
			await assertUnbound(c, label);
			await c.close();
		});
	}

	test('a 100 KB token → -32602 too_long or -32001; the connection stays open and unbound', async () => {
		const c = await server.connect();
		const token = 'eyJ' + 'A'.repeat(100 * 1024);
		const r = await c.call('auth.authenticate', { access_token: token });
		const e = expectError(r, [-32602, UNAUTH], '100 KB token');
		if (e.code === -32602) {
			assert.deepEqual(e.data, { field: '/access_token', reason: 'too_long' });
		}
		assert.equal(c.closeInfo, null, 'the connection is still open');
		assertResult(await c.call('system.ping', {}));
		await assertUnbound(c, '100 KB token');
		/* And the real token still works on the same connection. */
		assertResult(await c.call('auth.authenticate', { access_token: ctx.token }));
		await c.close();
	});

	test('a forged token does not unbind or rebind a bound connection to someone else', async () => {
		const c = await server.connect();
		assertResult(await c.call('auth.authenticate', { access_token: ctx.token }));
		const forged = (() => {
			const [h, , s] = ctx.token.split('.');
			return `${h}.${b64url({ ...ctx.payload, sub: ids.admin })}.${s}`;
		})();
		expectError(await c.call('auth.authenticate', { access_token: forged }), UNAUTH, 'forged on a bound connection');
		const r = await whoami(c);
		assert.ok(!r.result || r.result.user.id === ids.citizen, `never bound to the admin: ${JSON.stringify(r)}`);
		expectError(await c.call('admin.user.roles', { user_id: ids.citizen, roles: [] }), [UNAUTH, FORBIDDEN], 'no admin rights');
		await c.close();
	});

	test('a valid token of a logged-out session → -32001', async () => {
		const { client, res } = await loginNew(server, DEMO.citizen.login, DEMO.citizen.password);
		/* Works before the logout. */
		const other = await server.connect();
		assertResult(await other.call('auth.authenticate', { access_token: res.access_token }));
		await other.close();
		assertResult(await client.call('auth.logout', {}));
		const c = await server.connect();
		expectError(await c.call('auth.authenticate', { access_token: res.access_token }), UNAUTH, 'logged-out session');
		await assertUnbound(c, 'logged-out session');
		await c.close();
		await client.close();
	});
});

/* ====================================================================== */

describe('refresh', () => {
	test('auth.refresh rotates; a rotated token shown again → -32009 reused and the family is revoked', async () => {
		const p = newCitizen();
		const reg = await server.connect();
		const userId = await register(reg, p);
		await reg.close();

		const { client: a, res: r1 } = await loginNew(server, p.phone, p.password);
		const sid = decodeJwt(r1.access_token).payload.sid;
		/* Another session of the same user, which must survive. */
		const { client: other } = await loginNew(server, p.phone, p.password);

		const anon = await server.connect();
		const r2 = rememberTokens(assertResult(await anon.call('auth.refresh', { refresh_token: r1.refresh_token })));
		assert.equal(typeof r2.access_token, 'string');
		assert.equal(r2.expires_in, 900);
		assert.notEqual(r2.refresh_token, r1.refresh_token, 'a new refresh token');
		assert.equal(decodeJwt(r2.access_token).payload.sid, sid, 'same session');
		await assertUnbound(anon, 'auth.refresh does not bind');

		/* A second connection bound with the rotated access token. */
		const b = await server.connect();
		assertResult(await b.call('auth.authenticate', { access_token: r2.access_token }));
		await assertBoundAs(b, userId, 'b');

		/* The old refresh token no longer rotates: reuse. */
		const reused = await anon.call('auth.refresh', { refresh_token: r1.refresh_token });
		const e = expectError(reused, CONFLICT, 'reused refresh token');
		auditExpect.push({ action: 'refresh', user_id: userId }, { action: 'refresh_reuse', user_id: userId });
		assert.equal(e.data?.reason, 'reused', `data.reason: ${JSON.stringify(e)}`);

		/* The bound connections of that session are told and unbound. */
		assert.deepEqual((await waitNotification(a, 'event.auth.expired')).params, {});
		assert.deepEqual((await waitNotification(b, 'event.auth.expired')).params, {});
		await assertUnbound(a, 'a after reuse');
		await assertUnbound(b, 'b after reuse');
		assert.equal(a.closeInfo, null, 'the connection stays open');

		/* The newer refresh token is dead too, and so are the session's access tokens. */
		expectError(await anon.call('auth.refresh', { refresh_token: r2.refresh_token }), [UNAUTH, CONFLICT], 'newer refresh token after reuse');
		for (const [label, t] of [['first access token', r1.access_token], ['rotated access token', r2.access_token]]) {
			const c = await server.connect();
			expectError(await c.call('auth.authenticate', { access_token: t }), UNAUTH, label);
			await assertUnbound(c, label);
			await c.close();
		}
		/* Other sessions of the user are untouched. */
		await assertBoundAs(other, userId, 'other session');
		assert.equal(notificationsSeen(other, 'event.auth.expired').length, 0, 'no event on the other session');

		/* An unknown refresh token. */
		expectError(await anon.call('auth.refresh', { refresh_token: crypto.randomBytes(32).toString('base64url') }), UNAUTH, 'unknown refresh token');
		for (const c of [a, b, other, anon]) {
			await c.close();
		}
	});

	test('each rotation works once: r1 → r2 → r3, and the latest is the one that works', async () => {
		const anon = await server.connect();
		const { client, res: r1 } = await loginNew(server, DEMO.staff.login, DEMO.staff.password);
		const r2 = rememberTokens(assertResult(await anon.call('auth.refresh', { refresh_token: r1.refresh_token })));
		const r3 = rememberTokens(assertResult(await anon.call('auth.refresh', { refresh_token: r2.refresh_token })));
		assert.equal(new Set([r1.refresh_token, r2.refresh_token, r3.refresh_token]).size, 3);
		const c = await server.connect();
		assert.equal(assertResult(await c.call('auth.authenticate', { access_token: r3.access_token })).user.id, ids.staff);
		await client.close();
		await c.close();
		await anon.close();
	});
});

/* ====================================================================== */

describe('logout', () => {
	test('auth.logout revokes the session: this and its other connections unbound, its tokens dead, other sessions kept', async () => {
		const { client: a, res } = await loginNew(server, DEMO.leader.login, DEMO.leader.password);
		const b = await server.connect();
		assertResult(await b.call('auth.authenticate', { access_token: res.access_token }));
		const { client: other } = await loginNew(server, DEMO.leader.login, DEMO.leader.password);

		assert.deepEqual(assertResult(await a.call('auth.logout', {})), {});
		auditExpect.push({ action: 'logout', user_id: ids.leader });
		await assertUnbound(a, 'the caller');
		assert.deepEqual((await waitNotification(b, 'event.auth.expired')).params, {});
		await assertUnbound(b, 'same session, other connection');
		await assertBoundAs(other, ids.leader, 'other session');

		const anon = await server.connect();
		expectError(await anon.call('auth.refresh', { refresh_token: res.refresh_token }), [UNAUTH, CONFLICT], 'refresh after logout');
		expectError(await anon.call('auth.authenticate', { access_token: res.access_token }), UNAUTH, 'access token after logout');
		await assertUnbound(anon, 'anon');
		expectError(await anon.call('auth.logout', {}), UNAUTH, 'anonymous logout');
		for (const c of [a, b, other, anon]) {
			await c.close();
		}
	});
});

/* ====================================================================== */

describe('change_password', () => {
	test('wrong old → /old_password mismatch; success ends the other sessions; old password dead, new one works', async () => {
		const p = newCitizen();
		const reg = await server.connect();
		const userId = await register(reg, p);
		await reg.close();

		const { client: a, res: ra } = await loginNew(server, p.phone, p.password);
		const { client: b, res: rb } = await loginNew(server, p.phone, p.password);
		const b2 = await server.connect();
		assertResult(await b2.call('auth.authenticate', { access_token: rb.access_token }));

		const newPw = 'Mật khẩu mới của Hà 2026';
		remember(newPw, 'sai-mat-khau-roi');
		expectInvalid(
			await a.call('auth.change_password', { old_password: 'sai-mat-khau-roi', new_password: newPw }),
			'/old_password',
			'mismatch',
			'wrong old password',
		);
		expectInvalid(
			await a.call('auth.change_password', { old_password: p.password, new_password: 'iloveyou123' }),
			'/new_password',
			'common',
			'common new password',
		);
		expectInvalid(
			await a.call('auth.change_password', { old_password: p.password, new_password: 'ngắn quá' }),
			'/new_password',
			'too_short',
			'short new password',
		);
		const unchanged = expectError(
			await a.call('auth.change_password', { old_password: p.password, new_password: p.password }),
			-32602,
			'same password',
		);
		assert.equal(unchanged.data?.field, '/new_password');
		/* Nothing changed so far: b is still bound. */
		await assertBoundAs(b, userId, 'b before the change');

		assert.deepEqual(assertResult(await a.call('auth.change_password', { old_password: p.password, new_password: newPw })), {});
		auditExpect.push({ action: 'password_change', user_id: userId });

		assert.deepEqual((await waitNotification(b, 'event.auth.expired')).params, {});
		assert.deepEqual((await waitNotification(b2, 'event.auth.expired')).params, {});
		await assertUnbound(b, 'other session');
		await assertUnbound(b2, 'other session, second connection');
		await assertBoundAs(a, userId, 'the session that changed it');
		assert.equal(notificationsSeen(a, 'event.auth.expired').length, 0, 'no event on the caller');

		const anon = await server.connect();
		expectError(await anon.call('auth.refresh', { refresh_token: rb.refresh_token }), [UNAUTH, CONFLICT], 'refresh of an ended session');
		expectError(await anon.call('auth.authenticate', { access_token: rb.access_token }), UNAUTH, 'access token of an ended session');
		/* The caller's own session goes on. */
		rememberTokens(assertResult(await anon.call('auth.refresh', { refresh_token: ra.refresh_token })));

		expectError(await anon.call('auth.login', { login: p.phone, password: p.password }), UNAUTH, 'old password');
		await assertUnbound(anon, 'after the old password');
		assert.equal((await login(anon, p.phone, newPw)).user.id, userId, 'new password');
		expectError(await (await server.connect()).call('auth.change_password', { old_password: 'x', new_password: 'y' }), UNAUTH, 'anonymous');
		for (const c of [a, b, b2, anon]) {
			await c.close();
		}
	});
});

/* ====================================================================== */

describe('expiry', () => {
	test('--access-token-ttl 2: event.auth.expired, then -32001; auth.refresh + auth.authenticate binds again', async () => {
		await withServer({ demo: true, args: ['--access-token-ttl', '2'] }, async (srv) => {
			const { client: c, login: res } = await loginClient(srv, DEMO.citizen.login, DEMO.citizen.password);
			assert.equal(res.expires_in, 2);
			const { payload } = decodeJwt(res.access_token);
			assert.equal(payload.exp - payload.iat, 2);

			const ev = await waitNotification(c, 'event.auth.expired');
			/* Tokens of this server are not kept in `secrets`: they are not in the shared database. */
			assert.deepEqual(ev, { jsonrpc: '2.0', method: 'event.auth.expired', params: {} });
			expectError(await whoami(c), UNAUTH, 'bound-only call after expiry');
			expectError(await c.call('auth.logout', {}), UNAUTH, 'auth.logout after expiry');
			assert.equal(c.closeInfo, null, 'the connection stays open');
			assertResult(await c.call('system.ping', {}));
			/* The expired token no longer binds. */
			expectError(await c.call('auth.authenticate', { access_token: res.access_token }), UNAUTH, 'expired token');

			const r = assertResult(await c.call('auth.refresh', { refresh_token: res.refresh_token }));
			const auth = assertResult(await c.call('auth.authenticate', { access_token: r.access_token }));
			assert.equal(auth.user.id, res.user.id);
			await assertBoundAs(c, res.user.id, 'after refresh + authenticate');
			/* And it expires again, with a second notification. */
			await waitNotification(c, 'event.auth.expired');
			expectError(await whoami(c), UNAUTH, 'after the second expiry');
			assert.equal(notificationsSeen(c, 'event.auth.expired').length, 2);
			await c.close();
		});
	});
});

/* ====================================================================== */

describe('throttling', () => {
	test('5 wrong passwords for one login → the 6th attempt, even with the right password, -32029 retry_after_s ≥ 1', async () => {
		const p = newCitizen();
		const c = await server.connect();
		const userId = await register(c, p);
		let first;
		for (let i = 1; i <= 5; i++) {
			remember(`sai mật khẩu ${i}`);
			const e = expectError(await c.call('auth.login', { login: p.phone, password: `sai mật khẩu ${i}` }), UNAUTH, `failure ${i}`);
			first ??= e;
			assert.deepEqual(e, first, 'the same error each time');
		}
		const e = expectError(await c.call('auth.login', { login: p.phone, password: p.password }), RATE_LIMITED, '6th attempt');
		assertRetryAfter(e, '6th attempt');
		await assertUnbound(c, 'throttled');
		/* Another account is not affected. */
		assert.notEqual((await login(c, DEMO.inspector.login, DEMO.inspector.password)).user.id, userId, 'another login works');
		await c.close();
	});

	test('the lock is per account: 5 wrong passwords by phone also lock the login by national id', async () => {
		const p = newCitizen();
		const c = await server.connect();
		await register(c, p);
		for (let i = 1; i <= 5; i++) {
			remember(`sai mật khẩu ${i}`);
			expectError(await c.call('auth.login', { login: p.phone, password: `sai mật khẩu ${i}` }), UNAUTH, `failure ${i}`);
		}
		const r = await c.call('auth.login', { login: p.national_id, password: p.password });
		const e = expectError(r, RATE_LIMITED, 'the same account by its national id');
		assertRetryAfter(e, 'by national id');
		await assertUnbound(c, 'throttled account');
		await c.close();
	});

	test('concurrent wrong passwords get no more guesses: 10 at once → at most 5 checked (-32001), the rest -32029', async () => {
		/* Its own server: these failures would count against the shared server's address. */
		await withServer({ demo: true }, async (srv) => {
			const c = await srv.connect();
			const answers = await Promise.all(
				Array.from({ length: 10 }, (_, i) => c.call('auth.login', { login: DEMO.citizen.login, password: `doan mat khau ${i}` })),
			);
			const codes = answers.map((r) => expectError(r, [UNAUTH, RATE_LIMITED], 'concurrent guess').code);
			const verified = codes.filter((x) => x === UNAUTH).length;
			assert.ok(verified <= 5, `at most 5 of 10 concurrent guesses are checked; ${verified} were (codes ${codes.join(' ')})`);
			const e = expectError(await c.call('auth.login', { login: DEMO.citizen.login, password: DEMO.citizen.password }), RATE_LIMITED, 'right password after the burst');
			assertRetryAfter(e, 'after the burst');
			await c.close();
		});
	});

	test('--address-max-failures 3: failures of different logins from one address → -32029 for a 4th login', async () => {
		await withServer({ demo: true, args: ['--address-max-failures', '3'] }, async (srv) => {
			const c = await srv.connect();
			const d = await srv.connect();
			const attempts = [
				{ login: 'khong.co.ai', password: 'sai-mat-khau-1' },
				{ login: DEMO.official.login, password: 'sai-mat-khau-2' },
				{ login: '0971888888', password: 'sai-mat-khau-3' },
			];
			for (const a of attempts) {
				expectError(await c.call('auth.login', a), UNAUTH, `failure as ${a.login}`);
			}
			/* A login with no failure of its own, with the right password, from another connection. */
			const e = expectError(await d.call('auth.login', { login: DEMO.admin.login, password: DEMO.admin.password }), RATE_LIMITED, '4th login');
			assertRetryAfter(e, '4th login');
			await assertUnbound(d, 'throttled address');
			await c.close();
			await d.close();
		});
	});
});

/* ====================================================================== */

describe('admin', () => {
	let admin;
	const ADMIN_PW = 'Quản trị viên 2026!';

	const setup = once(async () => {
		admin = (await loginNew(server, DEMO.admin.login, DEMO.admin.password)).client;
	});

	test('admin.user.create and admin.user.roles: anonymous → -32001, other roles → -32002', async () => {
		const anon = await server.connect();
		const params = { role: 'official', agency_id: agencies.get('DN-P-TRANBIEN'), login: 'x.y', password: ADMIN_PW, full_name: 'Thử Nghiệm' };
		expectError(await anon.call('admin.user.create', params), UNAUTH, 'anonymous create');
		expectError(await anon.call('admin.user.roles', { user_id: ids.citizen, roles: [] }), UNAUTH, 'anonymous roles');
		for (const key of ['citizen', 'official', 'leader', 'staff', 'cityLeader', 'inspector']) {
			const { client } = await loginNew(server, DEMO[key].login, DEMO[key].password);
			expectError(await client.call('admin.user.create', params), FORBIDDEN, `${key} create`);
			expectError(await client.call('admin.user.roles', { user_id: ids[key], roles: [{ role: 'admin' }] }), FORBIDDEN, `${key} roles`);
			await client.close();
		}
		/* Nothing was created. */
		expectError(await anon.call('auth.login', { login: 'x.y', password: ADMIN_PW }), UNAUTH, 'no such user');
		await anon.close();
	});

	test('admin.user.create: an official in a ward logs in with that role; bad agencies and duplicates refused', async () => {
		await setup();
		remember(ADMIN_PW);
		const ward = agencies.get('DN-P-TRANBIEN');
		const r = assertResult(
			await admin.call('admin.user.create', { role: 'official', agency_id: ward, login: 'canbo2.tranbien', password: ADMIN_PW, full_name: 'Đỗ Văn Em' }),
		);
		assert.equal(typeof r.user_id, 'string');
		auditExpect.push({ action: 'user_create', user_id: r.user_id, actor_id: ids.admin });
		const c = await server.connect();
		const res = await login(c, 'canbo2.tranbien', ADMIN_PW);
		assert.deepEqual(res.user, { id: r.user_id, full_name: 'Đỗ Văn Em', roles: [{ role: 'official', agency_id: ward }] });
		await c.close();

		const base = { login: 'new.one', password: ADMIN_PW, full_name: 'Ngô Thị Phượng' };
		const cases = [
			['official without agency', { role: 'official' }, '/agency_id', 'agency_required'],
			['leader without agency', { role: 'leader' }, '/agency_id', 'agency_required'],
			['staff without agency', { role: 'staff' }, '/agency_id', 'agency_required'],
			['inspector without agency', { role: 'inspector' }, '/agency_id', 'agency_required'],
			['inspector in a ward', { role: 'inspector', agency_id: ward }, '/agency_id', 'not_an_inspectorate'],
			['inspector in the city', { role: 'inspector', agency_id: agencies.get('DN') }, '/agency_id', 'not_an_inspectorate'],
			['official in an unknown agency', { role: 'official', agency_id: 'AAAAAAAAAAAAAAAAAAAAAA' }, '/agency_id', 'unknown_agency'],
			['an unknown role', { role: 'emperor', agency_id: ward }, '/role', 'enum'],
			['a citizen without national id', { role: 'citizen', phone: '0971777777' }, '/national_id', 'required'],
			['a short password', { role: 'admin', password: 'ngắn' }, '/password', 'too_short'],
			['a common password', { role: 'admin', password: 'Password123' }, '/password', 'common'],
		];
		for (const [label, over, field, reason] of cases) {
			expectInvalid(await admin.call('admin.user.create', { ...base, ...over }), field, reason, label);
		}
		const e = expectError(await admin.call('admin.user.create', { ...base, role: 'admin', agency_id: ward }), -32602, 'admin in an agency');
		assert.equal(e.data?.field, '/agency_id');

		const dup = expectError(
			await admin.call('admin.user.create', { ...base, role: 'leader', agency_id: ward, login: 'CANBO2.tranbien' }),
			CONFLICT,
			'duplicate login (other case)',
		);
		assert.deepEqual(dup.data, { field: '/login', reason: 'already_registered' });
		const dupPhone = expectError(
			await admin.call('admin.user.create', { ...base, role: 'staff', agency_id: ward, phone: '+84912345678' }),
			CONFLICT,
			'the phone of the demo citizen',
		);
		assert.deepEqual(dupPhone.data, { field: '/phone', reason: 'already_registered' });
		/* An inspector in the inspectorate is fine. */
		assertResult(
			await admin.call('admin.user.create', { ...base, role: 'inspector', agency_id: agencies.get('DN-TTTP'), login: 'thanhtra2.dongnai' }),
		);
	});

	test('admin.user.roles: validation, unknown user, and a bound connection gets the new roles at once', async () => {
		await setup();
		const ward = agencies.get('DN-P-TRANBIEN');
		const pw = 'Cán bộ thử vai trò 1';
		remember(pw);
		const { user_id: xId } = assertResult(
			await admin.call('admin.user.create', { role: 'official', agency_id: ward, login: 'vaitro.tranbien', password: pw, full_name: 'Hồ Văn Giang' }),
		);
		const { user_id: yId } = assertResult(
			await admin.call('admin.user.create', { role: 'staff', agency_id: ward, login: 'vaitro2.tranbien', password: pw, full_name: 'Hồ Thị Lan' }),
		);

		const bad = [
			['official without agency', [{ role: 'official' }], '/roles/0/agency_id', 'agency_required'],
			['official with agency null', [{ role: 'official', agency_id: null }], '/roles/0/agency_id', 'agency_required'],
			['inspector in a ward', [{ role: 'official', agency_id: ward }, { role: 'inspector', agency_id: ward }], '/roles/1/agency_id', 'not_an_inspectorate'],
			['unknown agency', [{ role: 'leader', agency_id: 'AAAAAAAAAAAAAAAAAAAAAA' }], '/roles/0/agency_id', 'unknown_agency'],
		];
		for (const [label, roles, field, reason] of bad) {
			expectInvalid(await admin.call('admin.user.roles', { user_id: xId, roles }), field, reason, label);
		}
		expectError(await admin.call('admin.user.roles', { user_id: 'AAAAAAAAAAAAAAAAAAAAAA', roles: [{ role: 'admin' }] }), NOT_FOUND, 'unknown user');

		/* X is bound; not an admin yet. */
		const { client: x } = await loginNew(server, 'vaitro.tranbien', pw);
		expectError(await x.call('admin.user.roles', { user_id: yId, roles: [{ role: 'staff', agency_id: ward }] }), FORBIDDEN, 'X before the grant');

		const granted = assertResult(
			await admin.call('admin.user.roles', { user_id: xId, roles: [{ role: 'official', agency_id: ward }, { role: 'admin', agency_id: null }] }),
		);
		assert.equal(granted.user.id, xId);
		admins.add(xId);
		const want = [
			{ role: 'admin', agency_id: null },
			{ role: 'official', agency_id: ward },
		];
		const sortRoles = (rs) => [...rs].sort((p, q) => (p.role + p.agency_id).localeCompare(q.role + q.agency_id));
		assert.deepEqual(sortRoles(granted.user.roles), want);

		/* Same connection, no new login: the admin role is there. */
		assert.deepEqual(sortRoles((await whoami(x)).result.user.roles), want);
		const r = assertResult(await x.call('admin.user.roles', { user_id: yId, roles: [{ role: 'leader', agency_id: ward }] }));
		auditExpect.push({ action: 'roles_change', user_id: xId, actor_id: ids.admin }, { action: 'roles_change', user_id: yId, actor_id: xId });
		assert.deepEqual(r.user.roles, [{ role: 'leader', agency_id: ward }]);

		/* Taken away again: refused at once. */
		assertResult(await admin.call('admin.user.roles', { user_id: xId, roles: [{ role: 'official', agency_id: ward }] }));
		expectError(await x.call('admin.user.roles', { user_id: yId, roles: [{ role: 'staff', agency_id: ward }] }), FORBIDDEN, 'X after the removal');
		await assertBoundAs(x, xId, 'X stays bound');
		await x.close();
	});
});

/* ====================================================================== */

describe('password queue', () => {
	test('--password-queue 1: 20 concurrent logins on 4 connections → each answered once, some -32029 with retry_after_s', async () => {
		await withServer({ demo: true, args: ['--password-queue', '1'] }, async (srv) => {
			const clients = await Promise.all([0, 1, 2, 3].map(() => srv.connect()));
			const accounts = [DEMO.citizen, DEMO.official, DEMO.leader, DEMO.staff, DEMO.admin];
			const calls = [];
			for (let i = 0; i < 20; i++) {
				const acct = accounts[i % accounts.length];
				const c = clients[i % clients.length];
				const id = `q${i}`;
				calls.push(c.call('auth.login', { login: acct.login, password: acct.password }, { id }).then((r) => ({ c, id, r })));
			}
			const answers = await Promise.all(calls);
			let limited = 0;
			let ok = 0;
			for (const { id, r } of answers) {
				assert.equal(r.id, id);
				if (r.result) {
					ok++;
				} else {
					const e = expectError(r, RATE_LIMITED, `login ${id}`);
					assertRetryAfter(e, `login ${id}`);
					limited++;
				}
			}
			assert.ok(limited >= 1, `at least one -32029 (${limited} limited, ${ok} ok)`);
			assert.ok(ok >= 1, `at least one login went through (${limited} limited, ${ok} ok)`);
			/* A round trip on each connection after the last answer, then count: exactly one answer per id. */
			for (const c of clients) {
				assertResult(await c.call('system.ping', {}));
				const responses = c.received.filter((m) => m && 'id' in m && typeof m.id === 'string' && m.id.startsWith('q'));
				const byId = new Map();
				for (const m of responses) {
					byId.set(m.id, (byId.get(m.id) ?? 0) + 1);
				}
				for (const [id, n] of byId) {
					assert.equal(n, 1, `request ${id} answered ${n} times`);
				}
				assert.equal(responses.length, 5, 'five answers on each connection');
			}
			/* The queue frees up: a login after the burst works. */
			assertResult(await clients[0].call('auth.login', { login: DEMO.inspector.login, password: DEMO.inspector.password }));
			/* Unknown logins take the same path (a dummy hash is verified on the worker): a burst
			 * of them fills the queue just the same, and all get the answers of a real account. */
			const unknown = await Promise.all(
				Array.from({ length: 12 }, (_, i) => clients[i % clients.length].call('auth.login', { login: `khach.la.${i}`, password: 'mat-khau-doan-bua' })),
			);
			const unknownCodes = unknown.map((r) => expectError(r, [UNAUTH, RATE_LIMITED], 'unknown login in a burst').code);
			assert.ok(unknownCodes.includes(RATE_LIMITED), `unknown logins queue behind the worker too: ${unknownCodes.join(' ')}`);
			assert.ok(unknownCodes.includes(UNAUTH), `some were checked: ${unknownCodes.join(' ')}`);
			for (const c of clients) {
				await c.close();
			}
		});
	});
});

/* ====================================================================== */

/* The children of a process, from every one of its threads (the helper is started again by
 * the password worker thread, so it is that thread's child then). */
function childrenOf(pid) {
	const out = [];
	for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
		const text = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
		if (text) {
			out.push(...text.split(/\s+/).map(Number));
		}
	}
	return out;
}

function commOf(pid) {
	return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

describe('password helper', () => {
	test('argon2 runs in the child process tiepdan-pwhash; killed, it is started again and no login is lost; it ends with the server', async () => {
		const seen = [];
		await withServer({ demo: true }, async (srv) => {
			const c = await srv.connect();
			const first = childrenOf(srv.proc.pid);
			assert.equal(first.length, 1, `one child process: ${first}`);
			assert.equal(commOf(first[0]), 'tiepdan-pwhash');
			seen.push(first[0]);
			assertResult(await c.call('auth.login', { login: DEMO.citizen.login, password: DEMO.citizen.password }));

			/* Killed while idle, or while a login is on its way to it: the login is answered. */
			const pending = c.call('auth.login', { login: DEMO.official.login, password: DEMO.official.password });
			process.kill(first[0], 'SIGKILL');
			const res = await pending;
			assertResult(res);
			assert.equal(res.result.user.full_name.length > 0, true);
			await srv.waitForLine(/msg="password helper failed; starting it again"/);
			const second = childrenOf(srv.proc.pid);
			assert.equal(second.length, 1, `one child process again, the dead one reaped: ${second}`);
			assert.notEqual(second[0], first[0]);
			assert.equal(commOf(second[0]), 'tiepdan-pwhash');
			seen.push(second[0]);

			/* Both kinds of job work with the new helper: verify (wrong and right) and hash. */
			expectError(await c.call('auth.login', { login: DEMO.staff.login, password: 'not-the-password-2026' }), UNAUTH, 'wrong password');
			/* (Not through register() and login(): those track the shared server's accounts.) */
			const p = { full_name: 'Trần Văn Bình', national_id: '079199555001', phone: '0971555001', password: 'Bờ sông Đồng Nai 2026' };
			const { user_id: userId } = assertResult(await c.call('auth.register', p));
			const again = assertResult(await c.call('auth.login', { login: p.phone, password: p.password }));
			assert.equal(again.user.id, userId);
			await c.close();
		});
		/* withServer saw a clean exit; the helpers are gone, reaped by the server. */
		for (const pid of seen) {
			assert.equal(fs.existsSync(`/proc/${pid}`), false, `helper ${pid} is gone after the server`);
		}
	});

	test('started by hand, tiepdan-pwhash says what it is and exits 2', () => {
		const bin = path.join(path.dirname(BIN), 'tiepdan-pwhash');
		const r = spawnSync(bin, [], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
		assert.equal(r.status, 2);
		assert.match(r.stderr, /password helper of tiepdan/);
	});
});

/* ====================================================================== */

describe('audit log', () => {
	let rows;
	let exitInfo;

	test('after the server stops: every action is logged with user, actor and client address', async () => {
		exitInfo = await server.stop();
		const cols = sqliteRows(dataDir, "SELECT name FROM pragma_table_info('audit_log')").map((r) => r.name);
		for (const col of ['at', 'action', 'user_id', 'actor_id', 'client_addr', 'detail']) {
			assert.ok(cols.includes(col), `audit_log has ${col}: ${cols}`);
		}
		rows = sqliteRows(dataDir, 'SELECT * FROM audit_log ORDER BY id');
		const actions = new Set(rows.map((r) => r.action));
		for (const a of ['register', 'login', 'login_failed', 'refresh', 'refresh_reuse', 'logout', 'password_change', 'user_create', 'roles_change']) {
			assert.ok(actions.has(a), `action ${a} logged (have ${[...actions].join(', ')})`);
		}
		for (const r of rows) {
			assert.match(r.at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/, `at: ${JSON.stringify(r)}`);
			if (r.action !== 'login_failed') {
				assert.ok(r.user_id, `user_id of ${JSON.stringify(r)}`);
			}
			assert.equal(r.client_addr, '127.0.0.1', `client_addr of ${JSON.stringify(r)}`);
			if (r.detail !== null) {
				JSON.parse(r.detail);
			}
		}
		for (const u of registered) {
			assert.ok(
				rows.some((r) => r.action === 'register' && r.user_id === u.user_id && r.actor_id === null),
				`a register row for ${u.user_id}`,
			);
		}
		const logins = rows.filter((r) => r.action === 'login' && r.user_id === ids.admin);
		assert.ok(logins.length >= 1, 'admin logins logged');
		for (const r of rows.filter((x) => x.action === 'user_create' || x.action === 'roles_change')) {
			assert.ok(r.actor_id === ids.admin || admins.has(r.actor_id), `actor of ${JSON.stringify(r)}`);
		}
		for (const want of auditExpect) {
			assert.ok(
				rows.some((r) => Object.entries(want).every(([k, v]) => r[k] === v)),
				`an audit row ${JSON.stringify(want)}`,
			);
		}
		/* login_failed for an unknown login carries no user. */
		assert.ok(rows.some((r) => r.action === 'login_failed' && r.user_id === null), 'a login_failed row without user');
		assert.ok(rows.some((r) => r.action === 'login_failed' && r.user_id === ids.official), 'a login_failed row of the official');
	});

	test('no password or token in any column of the audit log, nor anywhere in the database', async () => {
		assert.ok(rows, 'the previous test read the log');
		assert.ok(secrets.size > 30, `secrets collected: ${secrets.size}`);
		const leaks = [];
		for (const r of rows) {
			for (const [col, v] of Object.entries(r)) {
				if (typeof v !== 'string') {
					continue;
				}
				for (const s of secrets) {
					if (v.includes(s)) {
						leaks.push(`audit_log id ${r.id} ${col} holds ${s.slice(0, 12)}…`);
					}
					/* The signature part of an access token is secret enough on its own. */
					const parts = s.split('.');
					if (parts.length === 3 && v.includes(parts[2])) {
						leaks.push(`audit_log id ${r.id} ${col} holds a token signature`);
					}
				}
			}
		}
		const dump = sqliteDump(dataDir);
		for (const s of secrets) {
			if (dump.includes(s)) {
				leaks.push(`the database holds ${s.slice(0, 12)}…`);
			}
		}
		assert.deepEqual(leaks, []);
		/* Refresh tokens are stored hashed (SHA-256), passwords as argon2id. */
		const hashes = new Set(sqliteRows(dataDir, 'SELECT token_hash FROM refresh_tokens').map((r) => r.token_hash));
		const refreshTokens = [...secrets].filter((s) => /^[A-Za-z0-9_-]{43}$/.test(s));
		assert.ok(refreshTokens.length > 5, 'refresh tokens collected');
		for (const t of refreshTokens) {
			assert.ok(hashes.has(sha256Hex(t)), 'a refresh token is stored as its SHA-256');
		}
		for (const r of sqliteRows(dataDir, 'SELECT password_hash FROM users')) {
			assert.match(r.password_hash, /^\$argon2id\$/);
		}
	});

	test('the server exited cleanly after all of this (status 0, no sanitizer report)', () => {
		assertCleanExit(server, exitInfo, 'the shared server');
	});

	test('no password or token in the server log', async () => {
		/* stderr is the log; stdout only lists the demo accounts, on purpose. */
		const log = server.stderrLines.join('\n');
		assert.ok(log.length > 0);
		const leaks = [...secrets].filter((s) => log.includes(s)).map((s) => `${s.slice(0, 12)}…`);
		assert.deepEqual(leaks, []);
	});
});
