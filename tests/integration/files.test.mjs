// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Attachments (PROTOCOL.md §1, §5): POST /api/files checked by the bytes,
// stored once per SHA-256, attached by their uploader only; file.ticket only
// for users who may see a case holding the file; downloads with ranges.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { describe, startServer, stopAllServers, test } from './lib/harness.mjs';
import { DEMO, loginClient } from './lib/auth-helpers.mjs';

const PDF = Buffer.from('%PDF-1.4\n% tiepdan test attachment\n1 0 obj << >> endobj\n%%EOF\n');
const PNG = Buffer.from(
	'89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
		'1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082',
	'hex',
);

let s;
let citizen;
let official;
let other;

before(async () => {
	s = await startServer({ demo: true, args: ['--max-upload-size', '65536'] });
	citizen = await loginClient(s, DEMO.citizen.login, DEMO.citizen.password);
	official = await loginClient(s, DEMO.official.login, DEMO.official.password);
	const reg = await citizen.client.call('auth.register', {
		full_name: 'Lê Thị Bình', national_id: '079199000111', phone: '0977000111',
		password: 'mat-khau-binh-2026',
	});
	assert.ok(reg.result, JSON.stringify(reg));
	other = await loginClient(s, '0977000111', 'mat-khau-binh-2026');
});

after(stopAllServers);

function upload(body, type, token) {
	const headers = { 'content-type': type };
	if (token !== null) {
		headers.authorization = `Bearer ${token ?? citizen.login.access_token}`;
	}
	return fetch(`${s.url}/api/files`, { method: 'POST', headers, body }).then(async (r) => ({
		status: r.status,
		body: await r.json().catch(() => null),
	}));
}

async function submitWith(client, fileIds) {
	return client.call('petition.submit', {
		kind: 'feedback', field: 'environment', title: 'Ảnh rác thải', content: 'Kèm ảnh chụp',
		locality_code: 'DN-P-TRANBIEN', file_ids: fileIds,
	});
}

describe('files', () => {
	test('a PDF upload answers 201 with its id, SHA-256, size and type; the same bytes again give the same id', async () => {
		const a = await upload(PDF, 'application/pdf');
		assert.equal(a.status, 201, JSON.stringify(a));
		assert.equal(a.body.sha256, crypto.createHash('sha256').update(PDF).digest('hex'));
		assert.equal(a.body.bytes, PDF.length);
		assert.equal(a.body.content_type, 'application/pdf');
		const b = await upload(PDF, 'application/pdf');
		assert.equal(b.body.file_id, a.body.file_id);
		const stored = path.join(s.dataDir, 'files', a.body.sha256.slice(0, 2), a.body.sha256);
		assert.deepEqual(fs.readFileSync(stored), PDF);
	});

	test('the type comes from the bytes: a mismatch, unknown bytes, an unsupported type are 415', async () => {
		assert.equal((await upload(PDF, 'image/png')).status, 415);
		assert.equal((await upload(crypto.randomBytes(500), 'image/jpeg')).status, 415);
		assert.equal((await upload(PDF, 'text/html')).status, 415);
		assert.equal((await upload(PNG, 'image/png')).status, 201);
	});

	test('no token or a forged one: 401; too large: 413; empty: 400', async () => {
		assert.equal((await upload(PDF, 'application/pdf', null)).status, 401);
		assert.equal((await upload(PDF, 'application/pdf', 'eyJhbGciOiJub25lIn0.e30.')).status, 401);
		const big = Buffer.concat([PDF, Buffer.alloc(70000, 0x20)]);
		assert.equal((await upload(big, 'application/pdf')).status, 413);
		assert.equal((await upload(Buffer.alloc(0), 'application/pdf')).status, 400);
	});

	test('only the uploader may attach a file; the case lists it', async () => {
		const up = await upload(PNG, 'image/png', other.login.access_token);
		assert.equal(up.status, 201);
		const fileId = up.body.file_id;
		const refused = await submitWith(citizen.client, ['no-such-file']);
		assert.equal(refused.error?.code, -32602);
		assert.equal(refused.error?.data?.field, '/file_ids/0');
		const ok = await submitWith(other.client, [fileId]);
		assert.ok(ok.result, JSON.stringify(ok));
		assert.deepEqual(ok.result.case.files.map((f) => f.file_id), [fileId]);
	});

	test('file.ticket for those who see the case; a range request, then one whole download', async () => {
		const up = await upload(PDF, 'application/pdf', other.login.access_token);
		const sub = await submitWith(other.client, [up.body.file_id]);
		const fileId = up.body.file_id;
		/* Another citizen sees no case holding it: not found. */
		const denied = await citizen.client.call('file.ticket', { file_id: fileId });
		assert.equal(denied.error?.code, -32004);
		/* The ward official sees the case. */
		const t = await official.client.result('file.ticket', { file_id: fileId });
		assert.match(t.url, /^\/api\/files\/[^?]+\?ticket=/);
		let r = await fetch(`${s.url}${t.url}`, { headers: { range: 'bytes=0-4' } });
		assert.equal(r.status, 206);
		assert.equal(r.headers.get('content-range'), `bytes 0-4/${PDF.length}`);
		assert.equal(await r.text(), '%PDF-');
		r = await fetch(`${s.url}${t.url}`, { headers: { range: `bytes=${PDF.length + 10}-` } });
		assert.equal(r.status, 416);
		r = await fetch(`${s.url}${t.url}`);
		assert.equal(r.status, 200);
		assert.equal(r.headers.get('content-type'), 'application/pdf');
		assert.deepEqual(Buffer.from(await r.arrayBuffer()), PDF);
		r = await fetch(`${s.url}${t.url}`);
		assert.equal(r.status, 404, 'a whole download uses the ticket up');
		/* A ticket for one file does not open another. */
		const t2 = await official.client.result('file.ticket', { file_id: fileId });
		const ticket = new URL(t2.url, s.url).searchParams.get('ticket');
		r = await fetch(`${s.url}/api/files/${sub.result.case_id}?ticket=${ticket}`);
		assert.equal(r.status, 404);
	});
});
