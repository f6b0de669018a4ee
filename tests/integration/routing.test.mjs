// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Competence routing as data (docs/routing.md): directory.route over the
// seeded rules and the demo city, its refusals, and the admin methods that
// change what it answers (agencies, fields, rules), each change audited.
//
// One demo server for the file; tests that change the data put it back.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { startServer, stopAllServers, test } from './lib/harness.mjs';
import { DEMO, agencyIds, expectError, expectInvalid, loginClient, sqliteRows } from './lib/auth-helpers.mjs';

const INVALID = -32602;
const UNAUTH = -32001;
const FORBIDDEN = -32002;
const NOT_FOUND = -32004;
const CONFLICT = -32009;

let server;
let anon; // anonymous connection
let admin; // the demo admin
let ids; // agency code → id

before(async () => {
	server = await startServer({ demo: true });
	anon = await server.connect();
	admin = (await loginClient(server, DEMO.admin.login, DEMO.admin.password)).client;
	ids = await agencyIds(anon);
});

after(async () => {
	await stopAllServers();
});

async function route(params, client = anon) {
	const r = await client.call('directory.route', params);
	assert.ok(r.result, `directory.route ${JSON.stringify(params)}: ${JSON.stringify(r)}`);
	return r.result;
}

function respondent(type, code, position) {
	const r = { type, agency_id: ids.get(code) };
	if (position) {
		r.position = position;
	}
	return r;
}

/* [label, params, expected agency code or null (outside), expected rule] */
function cases() {
	return [
		['complaint about a ward decision', { kind: 'complaint', field: 'land', locality_code: 'DN-P-TRANBIEN', respondent: respondent('decision', 'DN-P-TRANBIEN') }, 'DN-P-TRANBIEN', 'complaint.ward'],
		['complaint about a commune official', { kind: 'complaint', field: 'land', locality_code: 'DN-X-NHONTRACH', respondent: respondent('official', 'DN-X-NHONTRACH', 'staff') }, 'DN-X-NHONTRACH', 'complaint.commune'],
		['complaint about a department', { kind: 'complaint', field: 'environment', locality_code: 'DN-P-TRANBIEN', respondent: respondent('agency', 'DN-SNNMT') }, 'DN-SNNMT', 'complaint.department'],
		['complaint about the city chairman', { kind: 'complaint', field: 'land', locality_code: 'DN-P-TRANBIEN', respondent: respondent('official', 'DN', 'leader') }, 'DN', 'complaint.city'],
		['second complaint after a ward', { kind: 'complaint', field: 'land', locality_code: 'DN-P-TRANBIEN', instance: 2, respondent: respondent('decision', 'DN-P-TRANBIEN') }, 'DN', 'complaint.appeal'],
		['second complaint after the city', { kind: 'complaint', field: 'land', locality_code: 'DN-P-TRANBIEN', instance: 2, respondent: respondent('decision', 'DN') }, null, 'complaint.appeal_from_city'],
		['denunciation of a ward official', { kind: 'denunciation', field: 'administration', locality_code: 'DN-P-TRANBIEN', respondent: respondent('official', 'DN-P-TRANBIEN', 'staff') }, 'DN-P-TRANBIEN', 'denunciation.official'],
		['denunciation of a ward chairman', { kind: 'denunciation', field: 'land', locality_code: 'DN-P-TRANBIEN', respondent: respondent('official', 'DN-P-TRANBIEN', 'leader') }, 'DN', 'denunciation.ward_leader'],
		['denunciation of a department director', { kind: 'denunciation', field: 'environment', locality_code: 'DN-P-TRANBIEN', respondent: respondent('official', 'DN-SNNMT', 'leader') }, 'DN', 'denunciation.department_leader'],
		['denunciation of the city chairman', { kind: 'denunciation', field: 'land', locality_code: 'DN-P-TRANBIEN', respondent: respondent('official', 'DN', 'leader') }, null, 'denunciation.city_leader'],
		['denunciation in state management (religion)', { kind: 'denunciation', field: 'religion', locality_code: 'DN-P-BINHLOC' }, 'DN-SDTTG', 'denunciation.state_management'],
		['denunciation of a decision (land)', { kind: 'denunciation', field: 'land', locality_code: 'DN-P-TRANBIEN', respondent: respondent('decision', 'DN-P-TRANBIEN') }, 'DN-SNNMT', 'denunciation.state_management'],
		['local feedback', { kind: 'feedback', field: 'environment', locality_code: 'DN-X-PHUOCAN' }, 'DN-X-PHUOCAN', 'feedback.local'],
		['local recommendation', { kind: 'recommendation', field: 'other', locality_code: 'DN-P-LONGBINH' }, 'DN-P-LONGBINH', 'recommendation.local'],
		['recommendation on a health policy', { kind: 'recommendation', field: 'social_policy', locality_code: 'DN-P-TAMHIEP', respondent: respondent('agency', 'DN-SYT') }, 'DN-SYT', 'recommendation.policy_department'],
		['feedback on a city labour policy', { kind: 'feedback', field: 'labour_policy', locality_code: 'DN-P-TAMHIEP', respondent: respondent('decision', 'DN') }, 'DN-SNV', 'feedback.policy_city'],
	];
}

test('directory.route gives the competent agency and explains it in both languages', async () => {
	const byId = new Map([...ids].map(([code, id]) => [id, code]));
	for (const [label, params, want, rule] of cases()) {
		const r = await route(params);
		assert.equal(r.rule, rule, `${label}: rule`);
		if (want === null) {
			assert.equal(r.agency, null, `${label}: outside the portal`);
			assert.equal(r.explanation.target, 'outside', label);
			assert.match(r.explanation.text_en, /outside the portal/, label);
			assert.match(r.explanation.text_vi, /ngoài Cổng/, label);
		} else {
			assert.ok(r.agency, `${label}: an agency: ${JSON.stringify(r)}`);
			assert.equal(byId.get(r.agency.id), want, `${label}: agency`);
			assert.equal(r.agency.code, want, label);
			for (const k of ['id', 'code', 'name', 'level', 'parent_id']) {
				assert.ok(k in r.agency, `${label}: agency.${k}`);
			}
			assert.ok(r.explanation.text_vi.includes(r.agency.name), `${label}: the Vietnamese text names the agency`);
		}
		const e = r.explanation;
		assert.equal(e.rule, rule, label);
		for (const k of ['text_vi', 'text_en', 'legal_basis']) {
			assert.equal(typeof e[k], 'string', `${label}: ${k}`);
			assert.ok(e[k].length > 5, `${label}: ${k} not empty`);
			assert.ok(!e[k].includes('{agency}'), `${label}: ${k} filled in`);
		}
		assert.notEqual(e.text_vi, e.text_en, `${label}: two languages`);
		assert.equal(e.matched.kind, params.kind, `${label}: matched.kind`);
	}
});

test('directory.route: validation', async () => {
	const base = { kind: 'feedback', field: 'land', locality_code: 'DN-P-TRANBIEN' };
	const bad = [
		[{ ...base, kind: 'petition' }, '/kind', 'enum'],
		[{ ...base, field: 'weather' }, '/field', 'enum'],
		[{ ...base, locality_code: 'DN-SNNMT' }, '/locality_code', 'unknown'],
		[{ ...base, locality_code: 'NOWHERE' }, '/locality_code', 'unknown'],
		[{ ...base, respondent: { type: 'agency', agency_id: 'nosuchagency' } }, '/respondent/agency_id', 'unknown'],
		[{ ...base, respondent: { type: 'person' } }, '/respondent/type', 'enum'],
		[{ ...base, respondent: { agency_id: ids.get('DN') } }, '/respondent/type', 'required'],
		[{ ...base, respondent: { type: 'official', agency_id: ids.get('DN'), position: 'boss' } }, '/respondent/position', 'enum'],
		[{ ...base, respondent: { type: 'decision', decision_date: '2026-13-01' } }, '/respondent/decision_date', 'format'],
		[{ ...base, respondent: { type: 'agency', extra: 1 } }, '/respondent/extra', 'unknown'],
		[{ ...base, respondent: 'the ward' }, '/respondent', 'type'],
		[{ ...base, instance: 2 }, '/instance', 'not_applicable'],
		[{ ...base, kind: 'complaint', instance: 3 }, '/instance', 'range'],
		[{ ...base, kind: 'complaint' }, '/respondent', 'required'],
		[{ ...base, kind: 'complaint', respondent: { type: 'decision' } }, '/respondent/agency_id', 'required'],
		[{ ...base, kind: 'denunciation', respondent: { type: 'official', position: 'staff' } }, '/respondent/agency_id', 'required'],
		[{ ...base, surprise: true }, '/surprise', 'unknown'],
		[{ kind: 'feedback', field: 'land' }, '/locality_code', 'required'],
	];
	for (const [params, field, reason] of bad) {
		expectInvalid(await anon.call('directory.route', params), field, reason, JSON.stringify(params));
	}
});

test('the admin methods: anonymous -32001, other roles -32002, inspectors may read the rules', async () => {
	const calls = [
		['admin.agency.create', { code: 'DN-P-X', name: 'X', level: 'ward', parent_id: ids.get('DN') }],
		['admin.agency.update', { agency_id: ids.get('DN-P-TRANBIEN'), name: 'X' }],
		['admin.field.update', { field: 'land', managing_agency_id: ids.get('DN-SNV') }],
		['admin.rule.list', {}],
		['admin.rule.create', { code: 'x.y', priority: 1, target: 'city', text_vi: 'x', text_en: 'x', legal_basis: 'x' }],
		['admin.rule.update', { rule_id: 'abc', priority: 1 }],
		['admin.rule.disable', { rule_id: 'abc' }],
	];
	const citizen = (await loginClient(server, DEMO.citizen.login, DEMO.citizen.password)).client;
	const official = (await loginClient(server, DEMO.official.login, DEMO.official.password)).client;
	const inspector = (await loginClient(server, DEMO.inspector.login, DEMO.inspector.password)).client;
	for (const [method, params] of calls) {
		expectError(await anon.call(method, params), UNAUTH, `anonymous ${method}`);
		expectError(await citizen.call(method, params), FORBIDDEN, `citizen ${method}`);
		expectError(await official.call(method, params), FORBIDDEN, `official ${method}`);
		if (method === 'admin.rule.list') {
			const r = await inspector.call(method, params);
			assert.ok(r.result && r.result.items.length >= 25, `inspector reads the rules: ${JSON.stringify(r).slice(0, 300)}`);
		} else {
			expectError(await inspector.call(method, params), FORBIDDEN, `inspector ${method}`);
		}
	}
	await Promise.all([citizen.close(), official.close(), inspector.close()]);
	/* Nothing was changed by the refused calls. */
	assert.deepEqual(sqliteRows(server.dataDir, "SELECT count(*) AS n FROM agencies WHERE code = 'DN-P-X'"), [{ n: 0 }]);
});

test('admin.rule.list: every rule, in the engine order', async () => {
	const { items } = await admin.result('admin.rule.list', {});
	assert.ok(items.length >= 25);
	const codes = items.map((r) => r.code);
	assert.equal(new Set(codes).size, codes.length, 'codes are unique');
	for (let i = 1; i < items.length; i++) {
		assert.ok(items[i - 1].priority <= items[i].priority, 'ordered by priority');
	}
	const ward = items.find((r) => r.code === 'complaint.ward');
	assert.deepEqual(ward.match, {
		kind: 'complaint',
		instance: 1,
		respondent_type: null,
		respondent_level: 'ward',
		respondent_parent_level: null,
		respondent_position: null,
		first_resolver_level: null,
	});
	assert.equal(ward.target, 'respondent_agency');
	assert.equal(ward.enabled, true);
	assert.ok(codes.includes('fallback.city'));
});

test('admin.agency.create: the new ward is in the directory and routes', async () => {
	const r = await admin.call('admin.agency.create', {
		code: 'DN-P-PHUOCTAN',
		name: '  Phường Phước Tân ',
		name_en: 'Phuoc Tan Ward',
		level: 'ward',
		parent_id: ids.get('DN'),
	});
	assert.ok(r.result, JSON.stringify(r));
	const a = r.result.agency;
	assert.equal(a.code, 'DN-P-PHUOCTAN');
	assert.equal(a.name, 'Phường Phước Tân', 'trimmed');
	assert.equal(a.level, 'ward');
	assert.equal(a.parent_id, ids.get('DN'));

	const listed = (await anon.result('directory.agencies', {})).items.find((x) => x.code === 'DN-P-PHUOCTAN');
	assert.deepEqual(listed, { id: a.id, code: a.code, name: a.name, level: 'ward', parent_id: ids.get('DN') });

	const fb = await route({ kind: 'feedback', field: 'environment', locality_code: 'DN-P-PHUOCTAN' });
	assert.equal(fb.agency.id, a.id);
	assert.equal(fb.rule, 'feedback.local');
	assert.ok(fb.explanation.text_en.includes('Phuoc Tan Ward'), fb.explanation.text_en);
	const c = await route({ kind: 'complaint', field: 'land', locality_code: 'DN-P-PHUOCTAN', respondent: { type: 'decision', agency_id: a.id } });
	assert.equal(c.agency.id, a.id);

	const audit = sqliteRows(server.dataDir, "SELECT action, actor_id, detail FROM audit_log WHERE action = 'agency_create'");
	assert.equal(audit.length, 1);
	assert.equal(JSON.parse(audit[0].detail).agency.code, 'DN-P-PHUOCTAN');
	assert.ok(audit[0].actor_id);

	/* Refusals. */
	const dup = expectError(await admin.call('admin.agency.create', { code: 'DN-P-PHUOCTAN', name: 'Again', level: 'ward', parent_id: ids.get('DN') }), CONFLICT, 'same code');
	assert.deepEqual(dup.data, { field: '/code', reason: 'already_exists' });
	const city = expectError(await admin.call('admin.agency.create', { code: 'HCM', name: 'Thành phố Hồ Chí Minh', level: 'city' }), CONFLICT, 'second city');
	assert.equal(city.data.reason, 'second_city');
	expectInvalid(await admin.call('admin.agency.create', { code: 'dn-p-lower', name: 'x', level: 'ward', parent_id: ids.get('DN') }), '/code', 'format');
	expectInvalid(await admin.call('admin.agency.create', { code: 'DN-P-NOPARENT', name: 'x', level: 'ward' }), '/parent_id', 'required');
	expectInvalid(await admin.call('admin.agency.create', { code: 'DN-P-BADPARENT', name: 'x', level: 'ward', parent_id: 'nosuchagency' }), '/parent_id', 'unknown');
	expectInvalid(await admin.call('admin.agency.create', { code: 'DN-P-BLANK', name: '   ', level: 'ward', parent_id: ids.get('DN') }), '/name', 'empty');
	expectInvalid(await admin.call('admin.agency.create', { code: 'DN-P-LVL', name: 'x', level: 'district', parent_id: ids.get('DN') }), '/level', 'enum');
	ids = await agencyIds(anon);
});

test('admin.agency.update: moving a ward, refusing a cycle, the city stays the root', async () => {
	const ward = ids.get('DN-P-PHUOCTAN');
	assert.ok(ward, 'created by the test before');
	/* Move the new ward under Trấn Biên, then try to put Trấn Biên under it. */
	const moved = await admin.result('admin.agency.update', { agency_id: ward, parent_id: ids.get('DN-P-TRANBIEN') });
	assert.equal(moved.agency.parent_id, ids.get('DN-P-TRANBIEN'));
	const children = (await anon.result('directory.agencies', { parent_id: ids.get('DN-P-TRANBIEN') })).items;
	assert.deepEqual(children.map((x) => x.code), ['DN-P-PHUOCTAN']);

	const cycle = expectError(await admin.call('admin.agency.update', { agency_id: ids.get('DN-P-TRANBIEN'), parent_id: ward }), CONFLICT, 'cycle');
	assert.deepEqual(cycle.data, { field: '/parent_id', reason: 'cycle' });
	const self = expectError(await admin.call('admin.agency.update', { agency_id: ward, parent_id: ward }), CONFLICT, 'under itself');
	assert.equal(self.data.reason, 'cycle');
	const root = expectError(await admin.call('admin.agency.update', { agency_id: ids.get('DN'), parent_id: ward }), CONFLICT, 'moving the city');
	assert.equal(root.data.reason, 'city_is_root');
	const second = expectError(await admin.call('admin.agency.update', { agency_id: ward, level: 'city' }), CONFLICT, 'a second city');
	assert.equal(second.data.reason, 'second_city');
	expectError(await admin.call('admin.agency.update', { agency_id: 'nosuchagency', name: 'x' }), NOT_FOUND, 'unknown agency');
	expectInvalid(await admin.call('admin.agency.update', { agency_id: ward, parent_id: 'nosuchagency' }), '/parent_id', 'unknown');

	/* Rename and move back; each change is one audit row with before and after. */
	const back = await admin.result('admin.agency.update', { agency_id: ward, parent_id: ids.get('DN'), name: 'Phường Phước Tân mới' });
	assert.equal(back.agency.parent_id, ids.get('DN'));
	assert.equal(back.agency.name, 'Phường Phước Tân mới');
	/* The second-instance complaint after the moved ward goes to its parent at the time. */
	const rows = sqliteRows(server.dataDir, "SELECT detail FROM audit_log WHERE action = 'agency_update' ORDER BY id");
	assert.equal(rows.length, 2);
	const last = JSON.parse(rows[1].detail);
	assert.equal(last.before.parent_id, ids.get('DN-P-TRANBIEN'));
	assert.equal(last.after.parent_id, ids.get('DN'));
});

test('admin.rule.update: changing a target changes directory.route; disable and enable', async () => {
	const params = { kind: 'feedback', field: 'environment', locality_code: 'DN-P-HONAI' };
	assert.equal((await route(params)).agency.code, 'DN-P-HONAI');
	const { items } = await admin.result('admin.rule.list', {});
	const rule = items.find((r) => r.code === 'feedback.local');

	const up = await admin.result('admin.rule.update', { rule_id: rule.id, target: 'field_department', legal_basis: 'Test basis' });
	assert.equal(up.rule.target, 'field_department');
	assert.equal(up.rule.legal_basis, 'Test basis');
	let r = await route(params);
	assert.equal(r.agency.code, 'DN-SNNMT');
	assert.equal(r.rule, 'feedback.local');
	assert.equal(r.explanation.legal_basis, 'Test basis');

	/* match: a member given replaces, null means any. */
	const narrowed = await admin.result('admin.rule.update', { rule_id: rule.id, match: { respondent_type: 'none' } });
	assert.equal(narrowed.rule.match.respondent_type, 'none');
	assert.equal(narrowed.rule.match.kind, 'feedback');
	const widened = await admin.result('admin.rule.update', { rule_id: rule.id, match: { respondent_type: null } });
	assert.equal(widened.rule.match.respondent_type, null);

	const off = await admin.result('admin.rule.disable', { rule_id: rule.id });
	assert.equal(off.rule.enabled, false);
	r = await route(params);
	assert.equal(r.rule, 'fallback.city');
	assert.equal(r.agency.code, 'DN');

	const on = await admin.result('admin.rule.update', { rule_id: rule.id, enabled: true, target: 'locality', legal_basis: rule.legal_basis });
	assert.equal(on.rule.enabled, true);
	assert.equal((await route(params)).agency.code, 'DN-P-HONAI');

	const audit = sqliteRows(server.dataDir, "SELECT action FROM audit_log WHERE action LIKE 'rule_%' ORDER BY id").map((x) => x.action);
	assert.deepEqual(audit, ['rule_update', 'rule_update', 'rule_update', 'rule_disable', 'rule_update']);

	/* Refusals. */
	expectError(await admin.call('admin.rule.update', { rule_id: 'nosuchrule', priority: 5 }), NOT_FOUND, 'unknown rule');
	expectError(await admin.call('admin.rule.disable', { rule_id: 'nosuchrule' }), NOT_FOUND, 'unknown rule');
	expectInvalid(await admin.call('admin.rule.update', { rule_id: rule.id, target: 'police' }), '/target', 'enum');
	expectInvalid(await admin.call('admin.rule.update', { rule_id: rule.id, match: { kind: 'petition' } }), '/match/kind', 'enum');
	expectInvalid(await admin.call('admin.rule.update', { rule_id: rule.id, match: { instance: 3 } }), '/match/instance', 'range');
	expectInvalid(await admin.call('admin.rule.update', { rule_id: rule.id, match: { colour: 'red' } }), '/match/colour', 'unknown');
	expectInvalid(await admin.call('admin.rule.update', { rule_id: rule.id, code: 'Bad Code' }), '/code', 'format');
	const taken = expectError(await admin.call('admin.rule.update', { rule_id: rule.id, code: 'feedback.policy_city' }), CONFLICT, 'code taken');
	assert.deepEqual(taken.data, { field: '/code', reason: 'already_exists' });
});

test('admin.rule.create: a new rule with a higher priority wins', async () => {
	const params = { kind: 'denunciation', field: 'religion', locality_code: 'DN-P-HONAI' };
	assert.equal((await route(params)).agency.code, 'DN-SDTTG');
	const created = await admin.result('admin.rule.create', {
		code: 'denunciation.test_religion_city',
		priority: 5,
		match: { kind: 'denunciation', respondent_type: 'none' },
		target: 'city',
		text_vi: 'Thử nghiệm: {agency}.',
		text_en: 'Test: {agency}.',
		legal_basis: 'LTC 2018',
	});
	assert.equal(created.rule.enabled, true);
	assert.equal(created.rule.match.instance, null);
	const r = await route(params);
	assert.equal(r.rule, 'denunciation.test_religion_city');
	assert.equal(r.agency.code, 'DN');
	assert.equal(r.explanation.text_en, `Test: ${r.agency.name_en ?? r.agency.name}.`);
	assert.deepEqual(r.explanation.matched, { kind: 'denunciation', respondent_type: 'none' });
	await admin.result('admin.rule.disable', { rule_id: created.rule.id });
	assert.equal((await route(params)).agency.code, 'DN-SDTTG');
	const dup = expectError(await admin.call('admin.rule.create', { code: 'denunciation.test_religion_city', priority: 5, target: 'city', text_vi: 'x', text_en: 'x', legal_basis: 'x' }), CONFLICT, 'code taken');
	assert.equal(dup.data.reason, 'already_exists');
	expectInvalid(await admin.call('admin.rule.create', { code: 'x.y', priority: 5, target: 'city', text_vi: 'x', text_en: 'x' }), '/legal_basis', 'required');
});

test('admin.field.update: the managing department is data', async () => {
	const params = { kind: 'denunciation', field: 'justice', locality_code: 'DN-P-HONAI' };
	assert.equal((await route(params)).agency.code, 'DN-STP');
	const f = await admin.result('admin.field.update', { field: 'justice', managing_agency_id: ids.get('DN-SNV') });
	assert.deepEqual(f.field, { code: 'justice', name: 'Tư pháp', name_en: 'Justice', managing_agency_id: ids.get('DN-SNV') });
	assert.equal((await route(params)).agency.code, 'DN-SNV');
	await admin.result('admin.field.update', { field: 'justice', managing_agency_id: ids.get('DN-STP') });
	assert.equal((await route(params)).agency.code, 'DN-STP');
	expectInvalid(await admin.call('admin.field.update', { field: 'weather', managing_agency_id: ids.get('DN-STP') }), '/field', 'enum');
	expectInvalid(await admin.call('admin.field.update', { field: 'justice', managing_agency_id: 'nosuchagency' }), '/managing_agency_id', 'unknown');
	expectInvalid(await admin.call('admin.field.update', { field: 'justice', managing_agency_id: ids.get('DN-P-HONAI') }), '/managing_agency_id', 'level');
	const audit = sqliteRows(server.dataDir, "SELECT detail FROM audit_log WHERE action = 'field_update' ORDER BY id");
	assert.equal(audit.length, 2);
	assert.equal(JSON.parse(audit[0].detail).after.managing_agency_id, ids.get('DN-SNV'));
});

test('the server exits cleanly (status 0, no sanitizer report)', async () => {
	await anon.close();
	await admin.close();
	const info = await server.stop();
	assert.deepEqual({ code: info?.code, signal: info?.signal }, { code: 0, signal: null });
	assert.deepEqual(server.stderrLines.filter((l) => /Sanitizer|runtime error:/.test(l)), []);
});
