// SPDX-License-Identifier: AGPL-3.0-or-later
//
// The authorization matrix, generated from the method table itself: every
// method that rpc.discover lists is called with {} params by an anonymous
// connection and by one connection per demo role, and the answer must match
// the method's x-tiepdan-who:
//   ["anyone"]          everybody passes the role check;
//   ["bound"]           anonymous → -32001, every role passes;
//   role names          anonymous → -32001, a role not listed → -32002,
//                       a listed role passes.
// "Passes" means any answer but -32001 and -32002 (usually -32602 for a
// missing parameter). A method without x-tiepdan-who fails the suite.
//
// auth.logout (and any *.logout) ends the caller's session, so it is called
// on a connection of its own, logged in for that one call.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { startServer, stopAllServers, test } from './lib/harness.mjs';
import { DEMO, loginClient } from './lib/auth-helpers.mjs';

const UNAUTH = -32001;
const FORBIDDEN = -32002;
const ROLES = new Set(['citizen', 'official', 'leader', 'staff', 'inspector', 'admin']);

/* The callers: anonymous plus one per demo account (two leaders: ward and city). */
const CALLERS = [
	{ name: 'anonymous', account: null, role: null },
	{ name: 'citizen', account: DEMO.citizen, role: 'citizen' },
	{ name: 'official', account: DEMO.official, role: 'official' },
	{ name: 'leader (ward)', account: DEMO.leader, role: 'leader' },
	{ name: 'leader (city)', account: DEMO.cityLeader, role: 'leader' },
	{ name: 'staff', account: DEMO.staff, role: 'staff' },
	{ name: 'inspector', account: DEMO.inspector, role: 'inspector' },
	{ name: 'admin', account: DEMO.admin, role: 'admin' },
];

/* Discovery happens before any test is declared, so that one test per method
 * can be generated (node:test runs root hooks around the tests declared so far). */
let server;
let methods;
try {
	server = await startServer({ demo: true });
	const c = await server.connect();
	const r = await c.call('rpc.discover');
	assert.ok(r.result && Array.isArray(r.result.methods), `rpc.discover: ${JSON.stringify(r).slice(0, 500)}`);
	methods = r.result.methods;
	await c.close();
} catch (err) {
	await stopAllServers();
	throw err;
}

const sessions = new Map(); // caller name → RpcClient
let expectedCalls = 0;
let madeCalls = 0;

/* What a caller may expect from a method, from its x-tiepdan-who. */
function expectation(who, caller) {
	if (who.includes('anyone')) {
		return 'pass';
	}
	if (!caller.role) {
		return UNAUTH;
	}
	const roles = who.filter((w) => w !== 'bound');
	if (roles.length === 0 || roles.includes(caller.role)) {
		return 'pass';
	}
	return FORBIDDEN;
}

function isLogout(name) {
	return /(^|\.)logout$/.test(name);
}

async function connectAs(caller) {
	if (!caller.account) {
		return server.connect();
	}
	const { client, login } = await loginClient(server, caller.account.login, caller.account.password);
	const got = login.user.roles.map((r) => r.role);
	assert.deepEqual(got, [caller.role], `${caller.name} holds exactly the ${caller.role} role`);
	return client;
}

/* One call and the check of its answer; returns a failure text or null. */
async function check(client, method, caller) {
	madeCalls++;
	const want = expectation(method['x-tiepdan-who'], caller);
	const r = await client.call(method.name, {});
	const code = r.error?.code;
	const shown = JSON.stringify(r.error ?? { result: '…' });
	if (want === 'pass') {
		if (code === UNAUTH || code === FORBIDDEN) {
			return `${caller.name} → ${method.name}: expected to pass the role check (who ${JSON.stringify(method['x-tiepdan-who'])}), got ${shown}`;
		}
	} else if (code !== want) {
		return `${caller.name} → ${method.name}: expected ${want} (who ${JSON.stringify(method['x-tiepdan-who'])}), got ${shown}`;
	}
	return null;
}

before(async () => {
	for (const caller of CALLERS) {
		sessions.set(caller.name, await connectAs(caller));
	}
});

after(async () => {
	await stopAllServers();
});

test('rpc.discover lists methods, each with a valid x-tiepdan-who', () => {
	assert.ok(methods.length > 0, 'some methods');
	const names = methods.map((m) => m.name);
	assert.equal(new Set(names).size, names.length, 'method names are unique');
	for (const must of ['auth.login', 'auth.whoami', 'auth.logout', 'admin.user.roles', 'rpc.discover', 'system.ping']) {
		assert.ok(names.includes(must), `${must} is listed`);
	}
	const problems = [];
	for (const m of methods) {
		const who = m['x-tiepdan-who'];
		if (!Array.isArray(who) || who.length === 0) {
			problems.push(`${m.name}: x-tiepdan-who missing or empty: ${JSON.stringify(who)}`);
			continue;
		}
		for (const w of who) {
			if (w !== 'anyone' && w !== 'bound' && !ROLES.has(w)) {
				problems.push(`${m.name}: unknown caller class ${JSON.stringify(w)}`);
			}
		}
		if (who.includes('anyone') && who.length !== 1) {
			problems.push(`${m.name}: "anyone" together with others: ${JSON.stringify(who)}`);
		}
		if (new Set(who).size !== who.length) {
			problems.push(`${m.name}: repeated entries: ${JSON.stringify(who)}`);
		}
	}
	assert.deepEqual(problems, []);
});

/* The rows we expect PROTOCOL.md §3 to fix for the auth methods. */
test('the auth and admin rows match PROTOCOL.md §3', () => {
	const who = new Map(methods.map((m) => [m.name, m['x-tiepdan-who']]));
	const want = {
		'auth.register': ['anyone'],
		'auth.login': ['anyone'],
		'auth.authenticate': ['anyone'],
		'auth.refresh': ['anyone'],
		'auth.logout': ['bound'],
		'auth.whoami': ['bound'],
		'auth.change_password': ['bound'],
		'admin.user.create': ['admin'],
		'admin.user.roles': ['admin'],
		'system.ping': ['anyone'],
		'system.version': ['anyone'],
		'rpc.discover': ['anyone'],
	};
	for (const [name, w] of Object.entries(want)) {
		assert.deepEqual(who.get(name), w, `x-tiepdan-who of ${name}`);
	}
});

for (const method of methods) {
	const who = method['x-tiepdan-who'];
	test(`matrix: ${method.name} ${JSON.stringify(who)} × ${CALLERS.length} callers`, async () => {
		assert.ok(Array.isArray(who) && who.length > 0, `${method.name} has x-tiepdan-who`);
		const failures = [];
		for (const caller of CALLERS) {
			expectedCalls++;
			let client = sessions.get(caller.name);
			let own = false;
			if (isLogout(method.name)) {
				/* Ends the session: a connection (and login) of its own. */
				client = await connectAs(caller);
				own = true;
			}
			const f = await check(client, method, caller);
			if (f) {
				failures.push(f);
			}
			if (own) {
				await client.close();
			}
		}
		assert.deepEqual(failures, []);
	});
}

test('every method was called by every caller, and every session is still bound as before', async () => {
	assert.equal(madeCalls, methods.length * CALLERS.length, 'calls made');
	assert.equal(expectedCalls, methods.length * CALLERS.length, 'calls planned');
	for (const caller of CALLERS) {
		const r = await sessions.get(caller.name).call('auth.whoami', {});
		if (caller.role) {
			assert.ok(r.result, `${caller.name} still bound after the sweep: ${JSON.stringify(r)}`);
			assert.deepEqual(r.result.user.roles.map((g) => g.role), [caller.role]);
		} else {
			assert.equal(r.error?.code, UNAUTH, `anonymous still anonymous: ${JSON.stringify(r)}`);
		}
	}
});

test('the server exits cleanly after the sweep (status 0, no sanitizer report)', async () => {
	const info = await server.stop();
	const tail = server.stderrLines.filter((l) => !/^ts=/.test(l)).slice(-80).join('\n');
	assert.deepEqual({ code: info?.code, signal: info?.signal }, { code: 0, signal: null }, `exit; stderr (not logfmt):\n${tail}`);
	assert.deepEqual(server.stderrLines.filter((l) => /Sanitizer|runtime error:/.test(l)), [], tail);
});
