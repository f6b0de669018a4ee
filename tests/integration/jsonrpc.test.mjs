// SPDX-License-Identifier: AGPL-3.0-or-later
//
// The JSON-RPC 2.0 envelope (PROTOCOL.md §2): every rule and every example of
// https://www.jsonrpc.org/specification (§7), adapted to the methods that
// exist (system.ping and system.version stand in for the spec's subtract, sum,
// get_data; foobar stays the unknown method), plus our parameter rules and
// rpc.discover.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import {
	RFC3339,
	assertError,
	assertResponse,
	assertResult,
	startServer,
	stopAllServers,
	test,
	describe,
} from './lib/harness.mjs';

let server;
let rpc; // one connection shared by the tests that do not close it

before(async () => {
	server = await startServer({ demo: true });
	rpc = await server.connect();
});

after(async () => {
	await stopAllServers();
});

/* Sends raw text on a fresh connection and returns the next message. */
async function rawOnce(text) {
	const c = await server.connect();
	try {
		await c.send(text);
		return await c.next();
	} finally {
		await c.close();
	}
}

/* Proves that nothing answers `text`: sends it, then a request, and checks the
 * next message on the connection is the answer to that request. */
async function assertNoAnswer(text, label) {
	const c = await server.connect();
	try {
		await c.send(text);
		const probeId = `probe-after-${label}`;
		await c.send({ jsonrpc: '2.0', method: 'system.ping', id: probeId });
		const msg = await c.next();
		assertResponse(msg);
		assert.equal(msg.id, probeId, `${label} got an answer: ${JSON.stringify(msg)}`);
		assert.equal(c.inbox.length, 0);
	} finally {
		await c.close();
	}
}

describe('successful calls', () => {
	test('system.ping with {} params answers pong and an RFC 3339 time with offset', async () => {
		const r = await rpc.call('system.ping', {}, { id: 1 });
		const res = assertResult(r, 1);
		assert.equal(res.pong, true);
		assert.equal(typeof res.time, 'string');
		assert.match(res.time, RFC3339);
		assert.ok(!Number.isNaN(Date.parse(res.time)), `time parses: ${res.time}`);
	});

	test('times carry the portal zone offset +07:00 by default', async () => {
		const res = assertResult(await rpc.call('system.ping', {}));
		assert.match(res.time, /\+07:00$/);
	});

	test('system.ping with params omitted', async () => {
		const r = await rpc.request({ jsonrpc: '2.0', method: 'system.ping', id: 'no-params' });
		assert.equal(assertResult(r, 'no-params').pong, true);
	});

	test('system.version answers the version and protocol tiepdan.v1', async () => {
		const res = assertResult(await rpc.call('system.version'));
		assert.equal(res.protocol, 'tiepdan.v1');
		assert.equal(typeof res.version, 'string');
		assert.match(res.version, /^\d+\.\d+\.\d+/);
	});

	test('a string id is echoed unchanged', async () => {
		const id = 'ÿ "quoted" \\ id — ✓';
		const r = await rpc.call('system.ping', {}, { id });
		assertResult(r, id);
	});

	test('integer ids are echoed unchanged (0, negative, large)', async () => {
		for (const id of [0, -7, 42, 9007199254740991]) {
			assertResult(await rpc.call('system.ping', {}, { id }), id);
		}
	});

	test('a fractional id (SHOULD NOT, but a Number) is echoed', async () => {
		assertResult(await rpc.call('system.ping', {}, { id: 1.5 }), 1.5);
	});

	test('a request with "id": null is answered with id null', async () => {
		const msg = await rawOnce('{"jsonrpc":"2.0","method":"system.ping","id":null}');
		assert.equal(assertResult(msg, null).pong, true);
	});

	test('member order does not matter', async () => {
		const msg = await rawOnce('{"id":"order","params":{},"method":"system.ping","jsonrpc":"2.0"}');
		assertResult(msg, 'order');
	});

	test('many pipelined requests on one connection are each answered once, matched by id', async () => {
		const c = await server.connect();
		const n = 200;
		const ids = Array.from({ length: n }, (_, i) => `pipe-${i}`);
		for (const id of ids) {
			c.send({ jsonrpc: '2.0', method: i2m(id), params: {}, id });
		}
		const seen = new Map();
		while (seen.size < n) {
			const msg = assertResponse(await c.next());
			assert.ok(ids.includes(msg.id), `unknown id ${JSON.stringify(msg.id)}`);
			assert.ok(!seen.has(msg.id), `id ${msg.id} answered twice`);
			seen.set(msg.id, msg);
		}
		for (const [id, msg] of seen) {
			const res = assertResult(msg);
			if (i2m(id) === 'system.ping') {
				assert.equal(res.pong, true);
			} else {
				assert.equal(res.protocol, 'tiepdan.v1');
			}
		}
		await c.close();
	});
});

function i2m(id) {
	return Number(id.split('-')[1]) % 2 ? 'system.version' : 'system.ping';
}

describe('notifications', () => {
	test('a notification gets no response', async () => {
		await assertNoAnswer('{"jsonrpc":"2.0","method":"system.ping","params":{}}', 'ping-notification');
	});

	test('a notification of an unknown method gets no response (not even an error)', async () => {
		await assertNoAnswer('{"jsonrpc":"2.0","method":"foobar"}', 'foobar-notification');
	});

	test('a notification with invalid params gets no response', async () => {
		await assertNoAnswer('{"jsonrpc":"2.0","method":"system.ping","params":{"nope":1}}', 'bad-params-notification');
	});

	test('several notifications in a row, then a request: only the request is answered', async () => {
		const c = await server.connect();
		for (let i = 0; i < 20; i++) {
			await c.notify('system.ping', {});
		}
		await c.send({ jsonrpc: '2.0', method: 'system.version', id: 'after-20' });
		const msg = await c.next();
		assertResult(msg, 'after-20');
		await c.close();
	});
});

describe('errors of the specification examples', () => {
	test('non-existent method → -32601 with the request id', async () => {
		const msg = await rawOnce('{"jsonrpc":"2.0","method":"foobar","id":"1"}');
		assertError(msg, -32601, '1');
	});

	test('reserved rpc.* name that does not exist → -32601', async () => {
		assertError(await rpc.call('rpc.foobar', {}, { id: 'r1' }), -32601, 'r1');
	});

	test('invalid JSON → -32700 with id null', async () => {
		const msg = await rawOnce('{"jsonrpc":"2.0","method":"foobar, "params":"bar","baz]');
		assertError(msg, -32700, null);
	});

	test('invalid request object (method is a number) → -32600 with id null', async () => {
		const msg = await rawOnce('{"jsonrpc":"2.0","method":1,"params":"bar"}');
		assertError(msg, -32600, null);
	});

	test('batch with invalid JSON → a single -32700 object', async () => {
		const msg = await rawOnce(
			'[\n  {"jsonrpc":"2.0","method":"system.ping","params":{},"id":"1"},\n  {"jsonrpc":"2.0","method"\n]',
		);
		assert.ok(!Array.isArray(msg), `expected one object, got ${JSON.stringify(msg)}`);
		assertError(msg, -32700, null);
	});

	test('empty array → a single -32600 object, not an array', async () => {
		const msg = await rawOnce('[]');
		assert.ok(!Array.isArray(msg), `expected one object, got ${JSON.stringify(msg)}`);
		assertError(msg, -32600, null);
	});

	test('invalid batch [1] → an array with one -32600', async () => {
		const msg = await rawOnce('[1]');
		assert.ok(Array.isArray(msg), `expected an array, got ${JSON.stringify(msg)}`);
		assert.equal(msg.length, 1);
		assertError(msg[0], -32600, null);
	});

	test('invalid batch [1,2,3] → an array of three -32600', async () => {
		const msg = await rawOnce('[1,2,3]');
		assert.ok(Array.isArray(msg), `expected an array, got ${JSON.stringify(msg)}`);
		assert.equal(msg.length, 3);
		for (const m of msg) {
			assertError(m, -32600, null);
		}
	});

	test('mixed batch → exactly the responses of the non-notifications, matched by id', async () => {
		const batch = [
			{ jsonrpc: '2.0', method: 'system.ping', params: {}, id: '1' },
			{ jsonrpc: '2.0', method: 'system.ping', params: {} },
			{ jsonrpc: '2.0', method: 'system.version', id: '2' },
			{ foo: 'boo' },
			{ jsonrpc: '2.0', method: 'foo.get', params: { name: 'myself' }, id: '5' },
			{ jsonrpc: '2.0', method: 'system.version', params: {}, id: '9' },
		];
		const msg = await rawOnce(JSON.stringify(batch));
		assert.ok(Array.isArray(msg), `expected an array, got ${JSON.stringify(msg)}`);
		assert.equal(msg.length, 5, `five responses: ${JSON.stringify(msg)}`);
		for (const m of msg) {
			assertResponse(m);
		}
		const byId = (id) => {
			const found = msg.filter((m) => m.id === id);
			assert.equal(found.length, 1, `one response with id ${JSON.stringify(id)}: ${JSON.stringify(msg)}`);
			return found[0];
		};
		assert.equal(assertResult(byId('1')).pong, true);
		assert.equal(assertResult(byId('2')).protocol, 'tiepdan.v1');
		assertError(byId(null), -32600);
		assertError(byId('5'), -32601);
		assert.equal(assertResult(byId('9')).protocol, 'tiepdan.v1');
	});

	test('batch of one request → an array of one response', async () => {
		const msg = await rawOnce('[{"jsonrpc":"2.0","method":"system.ping","id":"solo"}]');
		assert.ok(Array.isArray(msg), `expected an array, got ${JSON.stringify(msg)}`);
		assert.equal(msg.length, 1);
		assertResult(msg[0], 'solo');
	});

	test('batch of only notifications → nothing at all', async () => {
		await assertNoAnswer(
			'[{"jsonrpc":"2.0","method":"system.ping","params":{}},{"jsonrpc":"2.0","method":"system.version"},{"jsonrpc":"2.0","method":"foobar"}]',
			'notification-batch',
		);
	});

	test('a batch with the same request id twice answers both', async () => {
		const msg = await rawOnce(
			'[{"jsonrpc":"2.0","method":"system.ping","id":"twin"},{"jsonrpc":"2.0","method":"system.version","id":"twin"}]',
		);
		assert.ok(Array.isArray(msg));
		assert.equal(msg.length, 2);
		for (const m of msg) {
			assertResult(m, 'twin');
		}
	});
});

describe('invalid requests', () => {
	/* The id of an invalid request: the spec asks for null when it cannot be
	 * detected; echoing a well-formed id is allowed. */
	function assertInvalid(msg, sentId) {
		assertError(msg, -32600);
		assert.ok(
			msg.id === null || (sentId !== undefined && msg.id === sentId),
			`id is null or the one sent: ${JSON.stringify(msg)}`,
		);
	}

	test('missing "jsonrpc" → -32600', async () => {
		assertInvalid(await rawOnce('{"method":"system.ping","id":"nv"}'), 'nv');
	});

	test('"jsonrpc":"1.0" → -32600', async () => {
		assertInvalid(await rawOnce('{"jsonrpc":"1.0","method":"system.ping","id":"v1"}'), 'v1');
	});

	test('"jsonrpc":2.0 as a number → -32600', async () => {
		assertInvalid(await rawOnce('{"jsonrpc":2.0,"method":"system.ping","id":"vn"}'), 'vn');
	});

	test('missing "method" → -32600', async () => {
		assertInvalid(await rawOnce('{"jsonrpc":"2.0","params":{},"id":"nm"}'), 'nm');
	});

	test('"method" null → -32600', async () => {
		assertInvalid(await rawOnce('{"jsonrpc":"2.0","method":null,"id":"mn"}'), 'mn');
	});

	test('params that is a string → -32600 (params must be structured)', async () => {
		assertInvalid(await rawOnce('{"jsonrpc":"2.0","method":"system.ping","params":"bar","id":"ps"}'), 'ps');
	});

	test('params that is a number → -32600', async () => {
		assertInvalid(await rawOnce('{"jsonrpc":"2.0","method":"system.ping","params":42,"id":"pn"}'), 'pn');
	});

	test('params that is null or a boolean → -32600', async () => {
		assertInvalid(await rawOnce('{"jsonrpc":"2.0","method":"system.ping","params":null,"id":"pz"}'), 'pz');
		assertInvalid(await rawOnce('{"jsonrpc":"2.0","method":"system.ping","params":true,"id":"pb"}'), 'pb');
	});

	for (const [label, idText] of [
		['an object', '{"a":1}'],
		['an array', '[1]'],
		['a boolean', 'true'],
	]) {
		test(`id that is ${label} → -32600 with id null`, async () => {
			const msg = await rawOnce(`{"jsonrpc":"2.0","method":"system.ping","id":${idText}}`);
			assertError(msg, -32600, null);
		});
	}

	for (const text of ['1', '"system.ping"', 'null', 'true']) {
		test(`a message that is JSON but not an object or array (${text}) → -32600`, async () => {
			const msg = await rawOnce(text);
			assertError(msg, -32600, null);
		});
	}

	test('duplicate keys in an object → -32700 (parsed with JSON_REJECT_DUPLICATES)', async () => {
		const msg = await rawOnce('{"jsonrpc":"2.0","method":"system.ping","id":"d1","id":"d2"}');
		assertError(msg, -32700, null);
	});

	test('trailing garbage after the JSON value → -32700', async () => {
		const msg = await rawOnce('{"jsonrpc":"2.0","method":"system.ping","id":"tg"} x');
		assertError(msg, -32700, null);
	});

	test('an empty message → -32700', async () => {
		const msg = await rawOnce('');
		assertError(msg, -32700, null);
	});

	test('the connection stays usable after errors', async () => {
		const c = await server.connect();
		await c.send('{oops');
		assertError(await c.next(), -32700, null);
		await c.send('[]');
		assertError(await c.next(), -32600, null);
		assertResult(await c.call('system.ping', {}, { id: 'still-here' }), 'still-here');
		await c.close();
	});
});

describe('params', () => {
	for (const [method, params] of [
		['system.ping', []],
		['system.version', []],
		['system.version', [1]],
		['rpc.discover', []],
		['directory.agencies', []],
		['directory.agencies', ['x']],
	]) {
		test(`array params ${JSON.stringify(params)} for ${method} (named params only) → -32602`, async () => {
			assertError(await rpc.call(method, params, { id: 'arr' }), -32602, 'arr');
		});
	}

	test('an unknown named param → -32602 with data {field: "/<name>", reason: "unknown"}', async () => {
		const err = assertError(await rpc.call('system.ping', { foo: 1 }, { id: 'unk' }), -32602, 'unk');
		assert.deepEqual(
			{ field: err.data?.field, reason: err.data?.reason },
			{ field: '/foo', reason: 'unknown' },
			`data of ${JSON.stringify(err)}`,
		);
	});

	test('an unknown param of system.version and of directory.agencies → -32602 naming it', async () => {
		let err = assertError(await rpc.call('system.version', { verbose: true }), -32602);
		assert.equal(err.data?.field, '/verbose');
		assert.equal(err.data?.reason, 'unknown');
		err = assertError(await rpc.call('directory.agencies', { parent: 'x' }), -32602);
		assert.equal(err.data?.field, '/parent');
		assert.equal(err.data?.reason, 'unknown');
	});

	test('a param of the wrong type → -32602 with the JSON pointer and a machine word', async () => {
		for (const bad of [5, true, ['a'], { id: 'x' }]) {
			const err = assertError(await rpc.call('directory.agencies', { parent_id: bad }), -32602);
			assert.equal(err.data?.field, '/parent_id', `field for ${JSON.stringify(bad)}: ${JSON.stringify(err)}`);
			assert.equal(typeof err.data?.reason, 'string');
			assert.match(err.data.reason, /^[a-z][a-z0-9_]*$/, `reason is a machine word: ${err.data.reason}`);
		}
	});
});

describe('rpc.discover and directory.agencies', () => {
	test('rpc.discover returns an OpenRPC 1.x document listing its methods', async () => {
		const doc = assertResult(await rpc.call('rpc.discover'));
		assert.equal(typeof doc.openrpc, 'string');
		assert.match(doc.openrpc, /^1\.\d+\.\d+$/);
		assert.equal(typeof doc.info?.title, 'string');
		assert.equal(typeof doc.info?.version, 'string');
		assert.ok(Array.isArray(doc.methods), 'methods is an array');
		const names = doc.methods.map((m) => m.name);
		assert.equal(new Set(names).size, names.length, `method names are unique: ${names}`);
		for (const want of ['rpc.discover', 'system.ping', 'system.version', 'directory.agencies']) {
			assert.ok(names.includes(want), `${want} is listed: ${names}`);
		}
		for (const m of doc.methods) {
			assert.equal(typeof m.name, 'string');
			assert.ok(Array.isArray(m.params), `${m.name}.params is an array`);
			for (const p of m.params) {
				assert.equal(typeof p.name, 'string', `${m.name}: each param has a name`);
				assert.ok(p.schema && typeof p.schema === 'object', `${m.name}.${p.name} has a schema`);
			}
			assert.ok(m.result && typeof m.result === 'object', `${m.name}.result is an object`);
			assert.equal(typeof m.result.name, 'string', `${m.name}.result has a name`);
			assert.ok(m.result.schema && typeof m.result.schema === 'object', `${m.name}.result has a schema`);
		}
		const agencies = doc.methods.find((m) => m.name === 'directory.agencies');
		assert.ok(
			agencies.params.some((p) => p.name === 'parent_id'),
			'directory.agencies documents parent_id',
		);
	});

	test('rpc.discover with {} params answers the same document', async () => {
		const a = assertResult(await rpc.call('rpc.discover'));
		const b = assertResult(await rpc.call('rpc.discover', {}));
		assert.deepEqual(a, b);
	});

	test('every method rpc.discover lists exists (never -32601)', async () => {
		const doc = assertResult(await rpc.call('rpc.discover'));
		const c = await server.connect();
		for (const m of doc.methods) {
			const r = assertResponse(await c.call(m.name, {}));
			assert.ok(!r.error || r.error.code !== -32601, `${m.name} is listed but answers -32601`);
		}
		await c.close();
	});

	test('directory.agencies lists the demo city DN with wards or communes under it', async () => {
		const { items } = assertResult(await rpc.call('directory.agencies', {}));
		assert.ok(Array.isArray(items) && items.length > 1, `items: ${JSON.stringify(items)}`);
		for (const a of items) {
			assert.equal(typeof a.id, 'string');
			assert.equal(typeof a.code, 'string');
			assert.equal(typeof a.name, 'string');
			assert.ok(['city', 'department', 'inspectorate', 'ward', 'commune'].includes(a.level), `level ${a.level}`);
			assert.ok(a.parent_id === null || typeof a.parent_id === 'string', `parent_id of ${a.code}`);
		}
		const city = items.find((a) => a.code === 'DN');
		assert.ok(city, 'the city DN is listed');
		assert.equal(city.level, 'city');
		assert.equal(city.parent_id, null);
		const ids = new Set(items.map((a) => a.id));
		assert.equal(ids.size, items.length, 'ids are unique');
		for (const a of items) {
			if (a.parent_id !== null) {
				assert.ok(ids.has(a.parent_id), `parent of ${a.code} is listed`);
			}
		}
		assert.ok(
			items.some((a) => (a.level === 'ward' || a.level === 'commune') && a.parent_id === city.id),
			'wards or communes under DN',
		);
	});

	test('directory.agencies with parent_id lists exactly the children', async () => {
		const all = assertResult(await rpc.call('directory.agencies')).items;
		const city = all.find((a) => a.code === 'DN');
		const { items } = assertResult(await rpc.call('directory.agencies', { parent_id: city.id }));
		const expected = all.filter((a) => a.parent_id === city.id).map((a) => a.id).sort();
		assert.deepEqual(items.map((a) => a.id).sort(), expected);
		assert.ok(expected.length > 0);
	});
});
