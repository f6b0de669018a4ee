// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Access-token key rotation (issue 3: "a key id (kid) allows key rotation
// without logging everyone out"): `tiepdan-admin keys rotate` adds a key,
// SIGHUP makes the running server sign with it, tokens signed by the older
// key keep working until its file is deleted.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { describe, runAdmin, startServer, stopAllServers, test } from './lib/harness.mjs';

after(stopAllServers);

const CITIZEN = { login: '0912345678', password: 'demo-citizen-2026' };

function kidOf(token) {
	return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')).kid;
}

async function reload(server) {
	const before = server.stderrLines.filter((l) => /msg="token keys reloaded"/.test(l)).length;
	server.proc.kill('SIGHUP');
	await new Promise((resolve) => {
		const check = () => {
			const n = server.stderrLines.filter((l) => /msg="token keys reloaded"/.test(l)).length;
			if (n > before) {
				resolve();
			} else {
				server.proc.stderr.once('data', () => setImmediate(check));
			}
		};
		check();
	});
}

describe('keys', () => {
	test('rotate, reload, old tokens still bind; delete the old key, they stop', async () => {
		const s = await startServer({ demo: true });
		const c = await s.connect();
		const first = await c.result('auth.login', CITIZEN);
		const oldKid = kidOf(first.access_token);

		const listed = await runAdmin(['--data-dir', s.dataDir, 'keys', 'list']);
		assert.equal(listed.code, 0, listed.stderr);
		assert.deepEqual(listed.stdout.trim().split('\n'), [`${oldKid} *`]);

		const rotated = await runAdmin(['--data-dir', s.dataDir, 'keys', 'rotate']);
		assert.equal(rotated.code, 0, rotated.stderr);
		const newKid = rotated.stdout.match(/new key (\S+);/)[1];
		assert.notEqual(newKid, oldKid);
		const file = path.join(s.dataDir, 'keys', `jwt-${newKid}.key`);
		assert.equal(fs.statSync(file).mode & 0o777, 0o600);

		await reload(s);
		const second = await c.result('auth.login', CITIZEN);
		assert.equal(kidOf(second.access_token), newKid, 'the newest key signs after SIGHUP');

		const d = await s.connect();
		assert.equal((await d.result('auth.authenticate', { access_token: first.access_token })).user.id,
			first.user.id, 'a token of the older key still binds');
		assert.equal((await d.result('auth.authenticate', { access_token: second.access_token })).user.id,
			first.user.id);

		fs.unlinkSync(path.join(s.dataDir, 'keys', `jwt-${oldKid}.key`));
		await reload(s);
		const refused = await d.call('auth.authenticate', { access_token: first.access_token });
		assert.equal(refused.error?.code, -32001, JSON.stringify(refused));
		assert.equal((await d.result('auth.authenticate', { access_token: second.access_token })).user.id,
			first.user.id, 'the newer key still verifies');
	});

	test('keys with a bad argument is a usage error', async () => {
		const s = await startServer({});
		const r = await runAdmin(['--data-dir', s.dataDir, 'keys', 'frobnicate']);
		assert.equal(r.code, 2);
	});
});
