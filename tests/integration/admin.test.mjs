// SPDX-License-Identifier: AGPL-3.0-or-later
//
// tiepdan-admin (PROTOCOL.md §0): init, demo, agencies, user add, verify and
// backup, alone and while the server runs on the same data directory.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { assertResult, runAdmin, startServer, stopAllServers, test, tmpDir, describe } from './lib/harness.mjs';

const LEVELS = ['city', 'department', 'inspectorate', 'ward', 'commune'];
const PASSWORD = 'Dong-Nai-2026!strong';
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

after(async () => {
	await stopAllServers();
});

function ok(r, what) {
	assert.equal(r.code, 0, `${what}: exit ${r.code} ${r.signal ?? ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
	return r;
}

function fails(r, what) {
	assert.notEqual(r.code, 0, `${what} should fail\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
	assert.equal(r.signal, null, `${what}: exits, does not crash\nstderr: ${r.stderr}`);
	assert.ok(r.stderr.trim().length > 0, `${what}: a message on stderr`);
	return r;
}

/* `agencies` output → [{code, id, level, parent_code, name}], checking the
 * line format on the way. */
function parseAgencies(stdout) {
	const lines = stdout.split('\n').filter((l) => l !== '');
	return lines.map((l) => {
		const f = l.split('\t');
		assert.equal(f.length, 5, `five tab-separated fields: ${JSON.stringify(l)}`);
		const [code, id, level, parent_code, name] = f;
		assert.ok(code.length > 0, `a code: ${l}`);
		assert.ok(id.length > 0, `an id: ${l}`);
		assert.ok(LEVELS.includes(level), `level ${level}: ${l}`);
		assert.ok(name.length > 0, `a name: ${l}`);
		return { code, id, level, parent_code, name };
	});
}

async function userAdd(dataDir, { role, agency, login, name = 'Nguyễn Văn Thử', nationalId, password = PASSWORD }) {
	const args = ['--data-dir', dataDir, 'user', 'add', '--role', role];
	if (agency) {
		args.push('--agency', agency);
	}
	if (login) {
		args.push('--login', login);
	}
	if (password) {
		args.push('--password', password);
	}
	if (name) {
		args.push('--name', name);
	}
	if (nationalId) {
		args.push('--national-id', nationalId);
	}
	return runAdmin(args);
}

describe('offline', () => {
	let dataDir;
	let agencies;
	let ward;

	before(async () => {
		dataDir = tmpDir('tiepdan-admin-');
	});

	test('init creates the database', async () => {
		ok(await runAdmin(['--data-dir', dataDir, 'init']), 'init');
		const db = path.join(dataDir, 'tiepdan.db');
		assert.ok(fs.existsSync(db), 'tiepdan.db exists');
		const head = Buffer.alloc(16);
		const fd = fs.openSync(db, 'r');
		fs.readSync(fd, head, 0, 16, 0);
		fs.closeSync(fd);
		assert.deepEqual(head, SQLITE_MAGIC);
	});

	test('demo loads the demo city; agencies prints code, id, level, parent_code, name', async () => {
		ok(await runAdmin(['--data-dir', dataDir, 'demo']), 'demo');
		const r = ok(await runAdmin(['--data-dir', dataDir, 'agencies']), 'agencies');
		agencies = parseAgencies(r.stdout);
		const city = agencies.find((a) => a.code === 'DN');
		assert.ok(city, `the city DN is listed:\n${r.stdout}`);
		assert.equal(city.level, 'city');
		assert.equal(city.parent_code, '', 'the city has no parent');
		const codes = new Set(agencies.map((a) => a.code));
		const ids = new Set(agencies.map((a) => a.id));
		assert.equal(codes.size, agencies.length, 'codes are unique');
		assert.equal(ids.size, agencies.length, 'ids are unique');
		for (const a of agencies) {
			if (a !== city) {
				assert.ok(codes.has(a.parent_code), `the parent of ${a.code} (${a.parent_code}) is listed`);
			}
		}
		ward = agencies.find((a) => a.level === 'ward' || a.level === 'commune');
		assert.ok(ward, 'a ward or commune');
	});

	test('user add official in a ward exits 0 and prints an id', async () => {
		const r = ok(await userAdd(dataDir, { role: 'official', agency: ward.code, login: 'official.one' }), 'user add');
		const out = r.stdout.trim();
		assert.ok(out.length > 0 && !/\s/.test(out), `one id printed: ${JSON.stringify(r.stdout)}`);
	});

	test('user add prints distinct ids for distinct users', async () => {
		const a = ok(await userAdd(dataDir, { role: 'leader', agency: ward.code, login: 'leader.one' }), 'leader');
		const b = ok(await userAdd(dataDir, { role: 'staff', agency: ward.code, login: 'staff.one' }), 'staff');
		assert.notEqual(a.stdout.trim(), b.stdout.trim());
	});

	test('a duplicate login → non-zero exit', async () => {
		fails(await userAdd(dataDir, { role: 'official', agency: ward.code, login: 'official.one' }), 'duplicate login');
	});

	for (const role of ['official', 'leader', 'staff', 'inspector']) {
		test(`role ${role} without --agency → non-zero exit`, async () => {
			fails(await userAdd(dataDir, { role, login: `no-agency-${role}` }), `${role} without agency`);
		});
	}

	test('an unknown agency code → non-zero exit', async () => {
		fails(await userAdd(dataDir, { role: 'official', agency: 'NO-SUCH-AGENCY', login: 'lost.official' }), 'unknown agency');
	});

	test('an unknown role → non-zero exit', async () => {
		fails(await userAdd(dataDir, { role: 'emperor', agency: ward.code, login: 'emperor' }), 'unknown role');
	});

	test('a citizen without --national-id → non-zero exit', async () => {
		fails(await userAdd(dataDir, { role: 'citizen', login: '0901234567' }), 'citizen without national id');
	});

	test('a citizen with phone login and national id → exit 0 and an id', async () => {
		const r = ok(
			await userAdd(dataDir, { role: 'citizen', login: '0901234568', nationalId: '079123456789' }),
			'citizen',
		);
		assert.ok(r.stdout.trim().length > 0);
	});

	test('an admin needs no agency', async () => {
		ok(await userAdd(dataDir, { role: 'admin', login: 'admin.one' }), 'admin');
	});

	test('verify exits 0 on a healthy database', async () => {
		ok(await runAdmin(['--data-dir', dataDir, 'verify']), 'verify');
	});

	test('an unknown subcommand → non-zero exit', async () => {
		fails(await runAdmin(['--data-dir', dataDir, 'frobnicate']), 'unknown subcommand');
	});

	test('backup without a file → non-zero exit', async () => {
		fails(await runAdmin(['--data-dir', dataDir, 'backup']), 'backup without FILE');
	});
});

describe('while the server runs', () => {
	let server;
	let dataDir;

	before(async () => {
		dataDir = tmpDir('tiepdan-admin-live-');
		server = await startServer({ dataDir, demo: true });
	});

	test('agencies lists what directory.agencies answers', async () => {
		const r = ok(await runAdmin(['--data-dir', dataDir, 'agencies']), 'agencies');
		const fromAdmin = parseAgencies(r.stdout);
		const c = await server.connect();
		const { items } = assertResult(await c.call('directory.agencies', {}));
		await c.close();
		const byId = new Map(items.map((a) => [a.id, a]));
		assert.equal(fromAdmin.length, items.length);
		for (const a of fromAdmin) {
			const b = byId.get(a.id);
			assert.ok(b, `agency ${a.code} (${a.id}) from the server`);
			assert.equal(b.code, a.code);
			assert.equal(b.name, a.name);
			assert.equal(b.level, a.level);
			const parent = b.parent_id === null ? '' : items.find((x) => x.id === b.parent_id)?.code;
			assert.equal(parent, a.parent_code, `parent of ${a.code}`);
		}
	});

	test('backup makes a SQLite copy with the same agencies, and the server keeps answering', async () => {
		const out = tmpDir('tiepdan-backup-');
		const file = path.join(out, 'backup.db');
		/* Traffic during the backup. */
		const c = await server.connect();
		const pings = Array.from({ length: 50 }, (_, i) => c.call('system.ping', {}, { id: `bk-${i}` }));
		ok(await runAdmin(['--data-dir', dataDir, 'backup', file]), 'backup');
		for (const r of await Promise.all(pings)) {
			assertResult(r);
		}
		const head = fs.readFileSync(file).subarray(0, 16);
		assert.deepEqual(head, SQLITE_MAGIC, 'the backup starts with "SQLite format 3\\0"');

		const copyDir = tmpDir('tiepdan-restore-');
		fs.copyFileSync(file, path.join(copyDir, 'tiepdan.db'));
		const live = ok(await runAdmin(['--data-dir', dataDir, 'agencies']), 'agencies (live)');
		const copy = ok(await runAdmin(['--data-dir', copyDir, 'agencies']), 'agencies (copy)');
		assert.ok(live.stdout.length > 0);
		assert.equal(copy.stdout, live.stdout);
		ok(await runAdmin(['--data-dir', copyDir, 'verify']), 'verify (copy)');
		assertResult(await c.call('system.ping', {}));
		await c.close();
	});

	test('user add while the server runs, then the server still answers', async () => {
		const r = ok(await runAdmin(['--data-dir', dataDir, 'agencies']), 'agencies');
		const ward = parseAgencies(r.stdout).find((a) => a.level === 'ward' || a.level === 'commune');
		const c = await server.connect();
		const added = ok(
			await userAdd(dataDir, { role: 'official', agency: ward.code, login: 'live.official' }),
			'user add (live)',
		);
		assert.ok(added.stdout.trim().length > 0);
		fails(await userAdd(dataDir, { role: 'official', agency: ward.code, login: 'live.official' }), 'duplicate (live)');
		assert.equal(assertResult(await c.call('system.ping', {})).pong, true);
		const { items } = assertResult(await c.call('directory.agencies', {}));
		assert.ok(items.length > 0);
		ok(await runAdmin(['--data-dir', dataDir, 'verify']), 'verify (live)');
		await c.close();
		const h = await server.http('/healthz');
		assert.equal(h.status, 200);
	});
});
