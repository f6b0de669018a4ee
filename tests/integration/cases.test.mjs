// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Cases through the real protocol (PROTOCOL.md §5, DOMAIN.md §1–§4), part 1:
// intake (petition.submit of each kind and what the law requires of it, the
// routing answer, tracking codes, group petitions, petition.register of paper
// petitions), statutory deadlines checked against a calendar computed by hand
// (tests/integration/lib/case-helpers.mjs, from portal/data/holidays.ini),
// the hash-chained timeline and case.verify_chain, reception.record, and — on
// a restart of the same data directory — a tampered timeline row (caught by
// case.verify_chain and `tiepdan-admin verify`), a suspension and decisions
// moved into the past with the sqlite3 CLI (the clock cannot be moved
// otherwise).
//
// The state machine, roles, concurrency and events are in
// cases-workflow.test.mjs; visibility, lists and denouncer confidentiality in
// cases-access.test.mjs. Nothing sleeps.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before } from 'node:test';
import { describe, runAdmin, startServer, stopAllServers, test, tmpDir } from './lib/harness.mjs';
import { expectInvalid, sqliteRows } from './lib/auth-helpers.mjs';
import {
	CONFLICT,
	FORBIDDEN,
	INVALID,
	MADE_UP_ID,
	NOT_FOUND,
	addDays,
	assertChain,
	calendarDeadline,
	deviation,
	demoSessions,
	fails,
	getCase,
	newCitizen,
	ok,
	petition,
	submit,
	timeline,
	todayVN,
	workingDeadline,
} from './lib/case-helpers.mjs';

let server;
let dataDir; // kept across the restart at the end
let s; // demo sessions: citizen, official, leader, staff, cityLeader, inspector, admin, ids, codes

before(async () => {
	dataDir = tmpDir('tiepdan-cases-');
	server = await startServer({ demo: true, dataDir });
	s = await demoSessions(server);
});

after(async () => {
	await stopAllServers();
});

const DEMO_NID = '075088001234'; // the demo citizen
const TRACKING = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;
const allCodes = []; // [tracking_code, case_id] in submission order

function remember(res) {
	allCodes.push([res.tracking_code, res.case_id]);
	return res;
}

/* The routing explanation of PROTOCOL.md §4 names the competent agency in both languages. */
function assertExplanation(expl, agency, label) {
	assert.ok(expl && typeof expl === 'object', `${label}: explanation ${JSON.stringify(expl)}`);
	assert.equal(typeof expl.text_vi, 'string', `${label}: text_vi`);
	assert.equal(typeof expl.text_en, 'string', `${label}: text_en`);
	assert.ok(expl.text_vi.length > 20 && expl.text_en.length > 20, `${label}: explanation texts ${JSON.stringify(expl)}`);
	if (agency) {
		assert.ok(expl.text_vi.includes(agency.name), `${label}: text_vi names ${agency.name}: ${expl.text_vi}`);
		assert.ok(expl.text_en.includes(agency.name_en ?? agency.name), `${label}: text_en names the agency: ${expl.text_en}`);
	}
}

/* A deadlines object whose running date has its explanation (PROTOCOL.md §5.1). */
function assertDeadline(deadlines, key, expected, { event, unit, days, label }) {
	const other = key === 'process_by' ? 'settle_by' : 'process_by';
	assert.equal(deadlines[key], expected, `${label}: ${key} in ${JSON.stringify(deadlines)}`);
	assert.equal(deadlines[other], null, `${label}: ${other} while ${key} runs`);
	const x = deadlines.explanation?.[key];
	assert.ok(x, `${label}: explanation.${key} in ${JSON.stringify(deadlines)}`);
	assert.equal(x.event_on, event, `${label}: explanation.event_on`);
	assert.equal(x.counting_from, addDays(event, 1), `${label}: counting starts the day after the event`);
	assert.equal(x.unit, unit, `${label}: unit`);
	assert.equal(x.days, days, `${label}: days`);
	assert.equal(x.last_day, expected, `${label}: last_day`);
	assert.equal(typeof x.text_vi, 'string', `${label}: text_vi`);
	assert.equal(typeof x.text_en, 'string', `${label}: text_en`);
	assert.ok(x.text_en.includes(expected), `${label}: text_en names the last day: ${x.text_en}`);
	return x;
}

/* ------------------------------------------------------------------ */

describe('intake', () => {
	test('petition.submit of each kind with what DOMAIN.md §1 requires → received at the competent ward', async () => {
		for (const kind of ['complaint', 'denunciation', 'recommendation', 'feedback']) {
			const params = petition(kind, s.ids);
			const r = remember(await submit(s.citizen, params));
			assert.equal(r.status, 'received', kind);
			assert.match(r.case_id, /^[A-Za-z0-9_-]{8,}$/, `${kind}: case_id`);
			assert.match(r.tracking_code, TRACKING, `${kind}: tracking code`);
			assert.equal(r.agency?.code, 'DN-P-TRANBIEN', `${kind}: agency ${JSON.stringify(r.agency)}`);
			assertExplanation(r.explanation, r.agency, kind);
			assert.ok(r.deadlines && 'process_by' in r.deadlines && 'settle_by' in r.deadlines && 'explanation' in r.deadlines, `${kind}: deadlines ${JSON.stringify(r.deadlines)}`);
			const c = await getCase(s.citizen, r.case_id);
			assert.equal(c.id, r.case_id);
			assert.equal(c.tracking_code, r.tracking_code);
			assert.equal(c.kind, kind);
			assert.equal(c.status, 'received');
			assert.equal(c.instance, 1);
			assert.equal(c.title, params.title);
			assert.equal(c.content, params.content);
			assert.equal(c.field, params.field);
			assert.equal(c.locality_code, 'DN-P-TRANBIEN');
			assert.equal(c.agency.id, s.ids.get('DN-P-TRANBIEN'));
			assert.equal(c.mass, false);
			assert.equal(c.overdue, false);
			for (const k of ['assigned_official', 'petitioner', 'co_petitioners', 'representatives', 'complex', 'respondent', 'files', 'received_at', 'deadlines', 'effective_on', 'duplicate_of', 'repeat_after_termination', 'sessions', 'updated_at']) {
				assert.ok(k in c, `${kind}: the case object has ${k} (PROTOCOL.md §5.1): ${JSON.stringify(Object.keys(c))}`);
			}
			assert.match(c.received_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+07:00$/, `${kind}: received_at in +07:00`);
		}
	});

	test('a complaint names the respondent: without one, or without its agency → -32602', async () => {
		const p = petition('complaint', s.ids);
		delete p.respondent;
		expectInvalid(await s.citizen.call('petition.submit', p), '/respondent', 'required', 'complaint without respondent');
		expectInvalid(
			await s.citizen.call('petition.submit', petition('complaint', s.ids, { respondent: { type: 'decision', decision_no: '1/QĐ' } })),
			'/respondent/agency_id',
			'required',
			'complaint without respondent agency',
		);
		expectInvalid(
			await s.citizen.call('petition.submit', petition('denunciation', s.ids, { respondent: { type: 'official', position: 'staff' } })),
			'/respondent/agency_id',
			'required',
			'denunciation of an official without agency',
		);
		expectInvalid(
			await s.citizen.call('petition.submit', petition('complaint', s.ids, { respondent: { type: 'agency', agency_id: MADE_UP_ID } })),
			'/respondent/agency_id',
			'unknown',
			'complaint about an unknown agency',
		);
	});

	test('a complaint or denunciation from an account without an address needs `address` (-32602); feedback does not', async () => {
		const c = await newCitizen(server, { full_name: 'Phan Văn Tâm' });
		for (const kind of ['complaint', 'denunciation']) {
			expectInvalid(await c.client.call('petition.submit', petition(kind, s.ids)), '/address', 'required', `${kind} without address`);
			const r = remember(await submit(c.client, petition(kind, s.ids, { address: 'Số 5 đường Phan Trung, phường Trấn Biên' })));
			assert.equal(r.status, 'received', `${kind} with address`);
		}
		for (const kind of ['recommendation', 'feedback']) {
			remember(await submit(c.client, petition(kind, s.ids)));
		}
		const withAddr = await getCase(s.official, allCodes.at(-4)[1]);
		assert.equal(withAddr.petitioner.address, 'Số 5 đường Phan Trung, phường Trấn Biên', 'the address given is the petitioner address');
		expectInvalid(await c.client.call('petition.submit', petition('complaint', s.ids, { address: '   ' })), '/address', 'empty', 'blank address');
		await c.client.close();
	});

	test('bad petitions → -32602 with the failing member; other roles → -32002', async () => {
		const bad = [
			[{ kind: 'petition' }, '/kind'],
			[{ field: 'weather' }, '/field'],
			[{ locality_code: 'DN-SNNMT' }, '/locality_code'],
			[{ locality_code: 'HN-P-HOANKIEM' }, '/locality_code'],
			[{ title: '   ' }, '/title'],
			[{ content: '' }, '/content'],
			[{ instance: 2 }, '/instance'],
			[{ colour: 'red' }, '/colour'],
			[{ incident_date: '2026-13-01' }, '/incident_date'],
		];
		for (const [over, field] of bad) {
			const r = await s.citizen.call('petition.submit', petition('feedback', s.ids, over));
			assert.equal(r.error?.code, INVALID, `${JSON.stringify(over)}: ${JSON.stringify(r)}`);
			assert.equal(r.error.data?.field, field, `${JSON.stringify(over)}: data ${JSON.stringify(r.error.data)}`);
		}
		const p = petition('feedback', s.ids);
		delete p.title;
		expectInvalid(await s.citizen.call('petition.submit', p), '/title', 'required', 'no title');
		for (const who of ['official', 'leader', 'staff', 'inspector', 'admin']) {
			await fails(s[who], 'petition.submit', petition('feedback', s.ids), FORBIDDEN, undefined, who);
		}
	});

	test('routing: the competent agency and its explanation for kinds × respondents, as directory.route says', async () => {
		const id = (code) => s.ids.get(code);
		const combos = [
			['complaint about a department', petition('complaint', s.ids, { field: 'environment', respondent: { type: 'agency', agency_id: id('DN-SNNMT') } }), 'DN-SNNMT', 'complaint.department'],
			['complaint about the city chairman', petition('complaint', s.ids, { respondent: { type: 'official', agency_id: id('DN'), position: 'leader' } }), 'DN', 'complaint.city'],
			['complaint about a commune official', petition('complaint', s.ids, { locality_code: 'DN-X-NHONTRACH', respondent: { type: 'official', agency_id: id('DN-X-NHONTRACH'), position: 'staff' } }), 'DN-X-NHONTRACH', 'complaint.commune'],
			['denunciation of a ward chairman', petition('denunciation', s.ids, { respondent: { type: 'official', agency_id: id('DN-P-TRANBIEN'), position: 'leader' } }), 'DN', 'denunciation.ward_leader'],
			['denunciation of a department director', petition('denunciation', s.ids, { respondent: { type: 'official', agency_id: id('DN-SNNMT'), position: 'leader' } }), 'DN', 'denunciation.department_leader'],
			['denunciation in state management of religion', petition('denunciation', s.ids, { field: 'religion', respondent: undefined }), 'DN-SDTTG', 'denunciation.state_management'],
			['recommendation on a health policy', petition('recommendation', s.ids, { field: 'social_policy', respondent: { type: 'agency', agency_id: id('DN-SYT') } }), 'DN-SYT', 'recommendation.policy_department'],
			['feedback on a local matter of a commune', petition('feedback', s.ids, { locality_code: 'DN-X-PHUOCAN' }), 'DN-X-PHUOCAN', 'feedback.local'],
		];
		for (const [label, params, code, rule] of combos) {
			if (params.respondent === undefined) {
				delete params.respondent;
			}
			const r = remember(await submit(s.citizen, params));
			assert.equal(r.agency.code, code, `${label}: agency`);
			assert.equal(r.explanation.rule, rule, `${label}: rule`);
			assertExplanation(r.explanation, r.agency, label);
			const routeParams = { kind: params.kind, field: params.field, locality_code: params.locality_code };
			if (params.respondent) {
				routeParams.respondent = params.respondent;
			}
			const route = await ok(s.citizen, 'directory.route', routeParams);
			assert.equal(route.agency?.id, r.agency.id, `${label}: directory.route gives the same agency`);
			assert.equal(route.rule, rule, `${label}: directory.route gives the same rule`);
		}
		/* Outside the portal: nothing is registered; the citizen is told where to go. */
		const before = (await ok(s.citizen, 'case.list', { limit: 100 })).items.length;
		const e = await fails(
			s.citizen,
			'petition.submit',
			petition('denunciation', s.ids, { respondent: { type: 'official', agency_id: id('DN'), position: 'leader' } }),
			CONFLICT,
			'outside_portal',
			'denunciation of the city chairman',
		);
		assertExplanation(e.data.explanation, null, 'outside');
		assert.match(e.data.explanation.text_en, /Prime Minister/, 'names the Prime Minister');
		assert.equal((await ok(s.citizen, 'case.list', { limit: 100 })).items.length, before, 'no case was registered');
	});

	test('tracking codes: unique, random-looking (never consecutive), not the case id', async () => {
		for (let i = 0; i < 8; i++) {
			remember(await submit(s.citizen, petition('feedback', s.ids, { title: `Phản ánh đường hư hỏng đoạn số ${i + 1}` })));
		}
		assert.ok(allCodes.length >= 12, `codes collected: ${allCodes.length}`);
		const codes = allCodes.map(([c]) => c);
		assert.equal(new Set(codes).size, codes.length, `tracking codes are unique: ${codes.join(' ')}`);
		const ALPHA = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
		const value = (code) => [...code.replace(/-/g, '')].reduce((v, ch) => v * 32n + BigInt(ALPHA.indexOf(ch)), 0n);
		for (let i = 1; i < codes.length; i++) {
			const d = value(codes[i]) - value(codes[i - 1]);
			const abs = d < 0n ? -d : d;
			assert.ok(abs > 1n << 20n, `codes ${codes[i - 1]} and ${codes[i]} look sequential`);
		}
		for (const [code, id] of allCodes) {
			assert.ok(!id.toUpperCase().includes(code.replace(/-/g, '').slice(0, 6)), `code ${code} is not derived from the id ${id}`);
		}
	});
});

/* ------------------------------------------------------------------ */

describe('group petitions', () => {
	const people = (n, base = 0) =>
		Array.from({ length: n }, (_, i) => ({ full_name: `Trần Văn Đồng ${'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[i]}`, national_id: `0770100${String(base + i).padStart(5, '0')}` }));

	test('4 petitioners → not mass; 5 → mass and 1–2 representatives required; more than 10 → at most 5', async () => {
		const four = await submit(s.citizen, petition('recommendation', s.ids, { co_petitioners: people(3, 0) }));
		assert.equal(four.case.mass, false, '4 people are not a mass petition');
		assert.equal(four.case.co_petitioners.length, 3);
		assert.deepEqual(four.case.representatives, []);

		const five = people(4, 10);
		expectInvalid(
			await s.citizen.call('petition.submit', petition('recommendation', s.ids, { co_petitioners: five })),
			'/representatives',
			'required',
			'5 people without a representative',
		);
		const one = await submit(s.citizen, petition('recommendation', s.ids, { co_petitioners: five, representatives: [five[1].national_id] }));
		assert.equal(one.case.mass, true, '5 people are a mass petition');
		assert.deepEqual(one.case.representatives, [five[1].national_id]);
		assert.deepEqual(
			one.case.co_petitioners.map((p) => [p.full_name, p.national_id]),
			five.map((p) => [p.full_name, p.national_id]),
			'co-petitioners kept in order',
		);
		const two = await submit(
			s.citizen,
			petition('recommendation', s.ids, { co_petitioners: five, representatives: [DEMO_NID, five[3].national_id] }),
		);
		assert.equal(two.case.mass, true);
		assert.ok(two.case.representatives.includes(five[3].national_id), `representatives ${JSON.stringify(two.case.representatives)}`);
		expectInvalid(
			await s.citizen.call(
				'petition.submit',
				petition('recommendation', s.ids, { co_petitioners: five, representatives: [five[0].national_id, five[1].national_id, five[2].national_id] }),
			),
			'/representatives',
			'too_many',
			'3 representatives for 5 people',
		);
		const ten = people(9, 20);
		expectInvalid(
			await s.citizen.call('petition.submit', petition('recommendation', s.ids, { co_petitioners: ten, representatives: ten.slice(0, 3).map((p) => p.national_id) })),
			'/representatives',
			'too_many',
			'3 representatives for 10 people',
		);
		const eleven = people(10, 40);
		const five_reps = eleven.slice(0, 5).map((p) => p.national_id);
		const big = await submit(s.citizen, petition('recommendation', s.ids, { co_petitioners: eleven, representatives: five_reps }));
		assert.equal(big.case.mass, true);
		assert.deepEqual([...big.case.representatives].sort(), [...five_reps].sort());
		const six = await s.citizen.call('petition.submit', petition('recommendation', s.ids, { co_petitioners: eleven, representatives: eleven.slice(0, 6).map((p) => p.national_id) }));
		assert.equal(six.error?.code, INVALID, `6 representatives for 11 people: ${JSON.stringify(six)}`);
		assert.equal(six.error.data?.field, '/representatives', JSON.stringify(six.error));
	});

	test('representatives must be among the petitioners; co-petitioners distinct and well-formed (-32602)', async () => {
		const five = people(4, 60);
		expectInvalid(
			await s.citizen.call('petition.submit', petition('recommendation', s.ids, { co_petitioners: five, representatives: ['079999999999'] })),
			'/representatives/0',
			'not_a_petitioner',
			'a stranger as representative',
		);
		expectInvalid(
			await s.citizen.call('petition.submit', petition('recommendation', s.ids, { co_petitioners: [five[0], { ...five[1], national_id: five[0].national_id }] })),
			'/co_petitioners/1/national_id',
			'duplicate',
			'the same person twice',
		);
		expectInvalid(
			await s.citizen.call('petition.submit', petition('recommendation', s.ids, { co_petitioners: [{ full_name: 'Nguyễn Văn An', national_id: DEMO_NID }] })),
			'/co_petitioners/0/national_id',
			'duplicate',
			'the petitioner as his own co-petitioner',
		);
		const r = await s.citizen.call('petition.submit', petition('recommendation', s.ids, { co_petitioners: [{ full_name: 'Lý Văn Bé', national_id: '12345' }] }));
		assert.equal(r.error?.code, INVALID, JSON.stringify(r));
		assert.equal(r.error.data?.field, '/co_petitioners/0/national_id', JSON.stringify(r.error));
	});

	/*
	 * LTC 2018 art. 23(2): several people may denounce together, through a
	 * representative; "individuals only" (DOMAIN.md §1) excludes organisations,
	 * not groups. A group denunciation follows the group rules and keeps every
	 * denouncer's identity sealed.
	 */
	test('a denunciation by a group of 5 is accepted as mass, with a representative', async () => {
		const five = people(4, 70);
		const r = await submit(s.citizen, petition('denunciation', s.ids, { co_petitioners: five, representatives: [five[0].national_id] }));
		const c = await getCase(s.citizen, r.case_id);
		assert.equal(c.mass, true);
		assert.ok(c.co_petitioners.every((p) => p.full_name === null && p.national_id === null), 'co-denouncers redacted for the owner too');
	});

	test('a denunciation with one co-petitioner is accepted', async () => {
		const r = await s.citizen.call('petition.submit', petition('denunciation', s.ids, { co_petitioners: people(1, 80) }));
		assert.ok(r.result, JSON.stringify(r).slice(0, 300));
		assert.equal(r.result.case.mass, false);
	});

	test('a co-petitioner with an account sees the group case (case.get, case.list)', async () => {
		const co = await newCitizen(server, { full_name: 'Đinh Thị Lan' });
		const five = [...people(3, 90), { full_name: 'Đinh Thị Lan', national_id: co.national_id }];
		const r = await submit(s.citizen, petition('recommendation', s.ids, { co_petitioners: five, representatives: [co.national_id] }));
		const c = await getCase(co.client, r.case_id);
		assert.equal(c.mass, true);
		assert.ok((await ok(co.client, 'case.list', {})).items.some((i) => i.id === r.case_id), 'in the co-petitioner case.list');
		await co.client.close();
	});
});

/* ------------------------------------------------------------------ */

describe('related cases', () => {
	test('an earlier case of the same person sharing a telling word, typed with or without marks, is a candidate; common words alone are not', async () => {
		const person = { full_name: 'Tạ Văn Liên Quan', national_id: '081299900321' };
		const reg = async (title, content) =>
			ok(s.official, 'petition.register', { ...petition('feedback', s.ids, { title, content }), petitioner: person, via: 'post', received_on: todayVN() });
		const rubbish = await reg('Rác thải ùn ứ ở chợ Biên Hùng', 'Bãi rác bốc mùi hôi thối.');
		const tree = await reg('Cây xanh đổ chắn lối đi', 'Cây đổ sau cơn mưa lớn.');
		const again = await reg('rac thai lai un u', 'Van chua duoc thu gom.');
		const rel = new Map(again.related_cases.map((x) => [x.case_id, x]));
		assert.ok(rel.has(rubbish.case_id), `the rubbish case is related: ${JSON.stringify(again.related_cases)}`);
		assert.equal(rel.get(rubbish.case_id).score, 0.5, 'shared words, no shared respondent');
		assert.equal(rel.get(rubbish.case_id).tracking_code, rubbish.tracking_code);
		assert.ok(!rel.has(tree.case_id), 'the fallen tree shares no telling word');
		const common = await reg('Phản ánh của người dân', 'Kiến nghị của người dân trong phường.');
		const rel2 = common.related_cases.map((x) => x.case_id);
		assert.ok(!rel2.includes(rubbish.case_id) && !rel2.includes(tree.case_id), `common words alone relate nothing: ${JSON.stringify(common.related_cases)}`);
	});

	test('a word far into an earlier petition still relates it; so does a case stored before words were kept', async () => {
		const person = { full_name: 'Lê Thị Từ Xa', national_id: '081299900654' };
		const reg = async (title, content) =>
			ok(s.official, 'petition.register', { ...petition('recommendation', s.ids, { title, content }), petitioner: person, via: 'post', received_on: todayVN() });
		// Thirty telling words before "giếng": past the 24 an intake compares, not past what it keeps.
		const filler = Array.from({ length: 30 }, (_, i) => `mục${i}`).join(' ');
		const far = await reg('Hẻm xuống cấp', `${filler} và giếng nước bị nhiễm bẩn.`);
		const [row] = sqliteRows(dataDir, `SELECT words FROM cases WHERE id = '${far.case_id}'`);
		assert.ok(row.words.split(' ').includes('gieng') && row.words.split(' ').includes('muc29'), `cases.words keeps every telling word, folded: ${row.words}`);
		// A case as an older database holds it: no words.
		const old = await reg('Đèn đường hỏng lâu ngày', 'Cột đèn chiếu sáng không hoạt động.');
		execFileSync('sqlite3', [path.join(dataDir, 'tiepdan.db'), `UPDATE cases SET words = NULL WHERE id = '${old.case_id}'`]);
		const again = await reg('Giếng và đèn chiếu sáng', 'Xin xử lý giếng nước và đèn đường.');
		const rel = again.related_cases.map((x) => x.case_id);
		assert.ok(rel.includes(far.case_id), `the well, word 31 of that petition: ${JSON.stringify(again.related_cases)}`);
		assert.ok(rel.includes(old.case_id), `the street light, a case without stored words: ${JSON.stringify(again.related_cases)}`);
	});

	test('title and content typed in NFD are stored in NFC', async () => {
		const title = 'Nước thải tràn ra đường Nguyễn Văn Hoa'.normalize('NFD');
		const content = 'Đề nghị kiểm tra cống thoát nước khu phố 3.'.normalize('NFD');
		const r = remember(await submit(s.citizen, petition('feedback', s.ids, { title, content })));
		const c = await getCase(s.citizen, r.case_id);
		assert.equal(c.title, title.normalize('NFC'));
		assert.equal(c.content, content.normalize('NFC'));
	});
});

describe('petition.register', () => {
	const paper = {
		full_name: 'Hồ Thị Giấy',
		national_id: '081234567890',
		phone: '0356789012',
		address: 'Ấp 2, xã Phước An, thành phố Đồng Nai',
	};
	const registered = [];

	test('an official registers paper petitions; deadlines count from received_on, by hand (Tết, Hùng Kings, 30/4–1/5)', async () => {
		/* Thu 12 Feb 2026: 10 working days skip Tết 14–22 Feb → Thu 5 Mar. */
		const fb = await ok(s.official, 'petition.register', {
			...petition('feedback', s.ids, { title: 'Phản ánh đèn đường hỏng trước Tết' }),
			petitioner: paper,
			via: 'post',
			received_on: '2026-02-12',
		});
		registered.push(fb.case_id);
		assert.equal(workingDeadline('2026-02-12', 10), '2026-03-05', 'the hand calendar agrees with a count on paper');
		assert.equal(fb.status, 'received');
		const x = assertDeadline(fb.deadlines, 'process_by', '2026-03-05', { event: '2026-02-12', unit: 'working_days', days: 10, label: 'feedback by post' });
		const skippedHolidays = x.non_working_days_skipped.filter((d) => d.why === 'holiday').map((d) => d.date);
		assert.deepEqual(skippedHolidays, ['2026-02-16', '2026-02-17', '2026-02-18', '2026-02-19', '2026-02-20'], 'the weekday holidays of Tết are listed');
		const c = await getCase(s.official, fb.case_id);
		assert.equal(c.via, 'post');
		assert.equal(c.received_on, '2026-02-12');
		assert.equal(c.overdue, true, 'past its process_by: overdue');
		assert.equal(c.petitioner.full_name, paper.full_name);

		/* Fri 24 Apr 2026: 7 working days skip Mon 27 Apr (Hùng Kings made up), 30 Apr, 1 May → Fri 8 May. */
		const cp = await ok(s.official, 'petition.register', {
			...petition('complaint', s.ids),
			petitioner: paper,
			via: 'in_person',
			received_on: '2026-04-24',
		});
		registered.push(cp.case_id);
		assert.equal(workingDeadline('2026-04-24', 7), '2026-05-08');
		assertDeadline(cp.deadlines, 'process_by', '2026-05-08', { event: '2026-04-24', unit: 'working_days', days: 7, label: 'complaint in person' });

		/* Staff register too; received today counts from today. */
		const today = todayVN();
		const st = await ok(s.staff, 'petition.register', {
			...petition('recommendation', s.ids),
			petitioner: paper,
			via: 'forwarded_in',
			received_on: today,
		});
		registered.push(st.case_id);
		assertDeadline(st.deadlines, 'process_by', workingDeadline(today, 10), { event: today, unit: 'working_days', days: 10, label: 'forwarded in today' });
		assert.equal((await getCase(s.official, st.case_id)).overdue, false);
	});

	test('bad registrations → -32602; citizens, leaders, inspectors → -32002', async () => {
		const good = { ...petition('feedback', s.ids), petitioner: paper, via: 'post', received_on: '2026-03-02' };
		expectInvalid(await s.official.call('petition.register', { ...good, received_on: addDays(todayVN(), 1) }), '/received_on', 'future', 'tomorrow');
		expectInvalid(await s.official.call('petition.register', { ...good, received_on: addDays(todayVN(), 400) }), '/received_on', 'future', 'next year');
		let r = await s.official.call('petition.register', { ...good, received_on: '2026-02-30' });
		assert.equal(r.error?.code, INVALID, JSON.stringify(r));
		assert.equal(r.error.data?.field, '/received_on');
		r = await s.official.call('petition.register', { ...good, via: 'email' });
		assert.equal(r.error?.code, INVALID, JSON.stringify(r));
		assert.equal(r.error.data?.field, '/via');
		r = await s.official.call('petition.register', { ...good, petitioner: { ...paper, national_id: '0812' } });
		assert.equal(r.error?.code, INVALID, JSON.stringify(r));
		assert.equal(r.error.data?.field, '/petitioner/national_id');
		const noAddress = { ...paper };
		delete noAddress.address;
		expectInvalid(
			await s.official.call('petition.register', { ...good, ...petition('complaint', s.ids), petitioner: noAddress }),
			'/petitioner/address',
			'required',
			'a paper complaint without the petitioner address',
		);
		const noVia = { ...good };
		delete noVia.via;
		expectInvalid(await s.official.call('petition.register', noVia), '/via', 'required', 'no via');
		for (const who of ['citizen', 'leader', 'inspector', 'admin']) {
			await fails(s[who], 'petition.register', good, FORBIDDEN, undefined, who);
		}
	});

	test('the paper petitioner who later opens an account with that national id sees the cases', async () => {
		assert.ok(registered.length >= 2, 'the registration test ran');
		const c = await newCitizen(server, { full_name: paper.full_name, national_id: paper.national_id, phone: '0356789012' });
		const list = (await ok(c.client, 'case.list', { limit: 100 })).items.map((i) => i.id);
		for (const id of registered) {
			assert.ok(list.includes(id), `case ${id} in the new account's case.list ${JSON.stringify(list)}`);
			const got = await getCase(c.client, id);
			assert.equal(got.id, id);
		}
		assert.equal(list.length, registered.length, 'only the cases of that national id');
		await c.client.close();
	});
});

/* ------------------------------------------------------------------ */

describe('deadlines', () => {
	test('process_by of each kind submitted today, by hand: feedback and recommendation 10, complaint and denunciation 7 working days', async () => {
		const today = todayVN();
		for (const [kind, days] of [['feedback', 10], ['recommendation', 10], ['complaint', 7], ['denunciation', 7]]) {
			const r = await submit(s.citizen, petition(kind, s.ids));
			assert.equal(r.case.received_on, today, `${kind}: received today (the test does not run across midnight)`);
			assertDeadline(r.deadlines, 'process_by', workingDeadline(today, days), { event: today, unit: 'working_days', days, label: `${kind} process_by` });
			assertDeadline((await getCase(s.citizen, r.case_id)).deadlines, 'process_by', workingDeadline(today, days), { event: today, unit: 'working_days', days, label: `${kind} case.get` });
		}
		/* A complex denunciation: the initial check may take 10 working days (LTC 24). */
		const d = await submit(s.citizen, petition('denunciation', s.ids));
		const cl = (await ok(s.official, 'case.classify', { case_id: d.case_id, complex: true })).case;
		assertDeadline(cl.deadlines, 'process_by', workingDeadline(today, 10), { event: today, unit: 'working_days', days: 10, label: 'complex denunciation process_by' });
	});

	test('settle_by after case.accept: complaint 30 calendar days (45 complex), denunciation 30, recommendation and feedback 15 working days', async () => {
		const today = todayVN();
		for (const [kind, unit, days] of [
			['complaint', 'calendar_days', 30],
			['denunciation', 'calendar_days', 30],
			['recommendation', 'working_days', 15],
			['feedback', 'working_days', 15],
		]) {
			const r = await submit(s.citizen, petition(kind, s.ids));
			const acc = (await ok(s.official, 'case.accept', { case_id: r.case_id })).case;
			assert.equal(acc.status, 'accepted');
			const want = unit === 'working_days' ? workingDeadline(today, days) : calendarDeadline(today, days);
			assertDeadline(acc.deadlines, 'settle_by', want, { event: today, unit, days, label: `${kind} settle_by` });
			assert.equal(acc.overdue, false);
		}
		const r = await submit(s.citizen, petition('complaint', s.ids));
		await ok(s.official, 'case.accept', { case_id: r.case_id });
		const cx = (await ok(s.official, 'case.classify', { case_id: r.case_id, complex: true })).case;
		assertDeadline(cx.deadlines, 'settle_by', calendarDeadline(today, 45), { event: today, unit: 'calendar_days', days: 45, label: 'complex complaint' });
	});

	test('case.extend: a complex denunciation once (+30 days), especially complex twice; anything else → -32009', async () => {
		const today = todayVN();
		const d1 = await submit(s.citizen, petition('denunciation', s.ids));
		await ok(s.official, 'case.classify', { case_id: d1.case_id, complex: true });
		await ok(s.official, 'case.accept', { case_id: d1.case_id });
		await fails(s.official, 'case.extend', { case_id: d1.case_id, reason: 'Cần xác minh thêm' }, FORBIDDEN, undefined, 'an official extends');
		const ext = (await ok(s.leader, 'case.extend', { case_id: d1.case_id, reason: 'Vụ việc phức tạp, cần xác minh nhiều nơi' })).case;
		assert.equal(ext.status, 'accepted', 'an extension keeps the status');
		const x = ext.deadlines.explanation?.settle_by;
		assert.equal(ext.deadlines.settle_by, calendarDeadline(today, 60), `30 + 30 days: ${JSON.stringify(ext.deadlines)}`);
		assert.equal(x.total_days, 60, 'total_days');
		assert.equal(x.extensions.length, 1, `extensions ${JSON.stringify(x.extensions)}`);
		assert.equal(x.extensions[0].days, 30);
		assert.match(x.text_en, /30 by extension/, x.text_en);
		await fails(s.leader, 'case.extend', { case_id: d1.case_id, reason: 'Lần hai' }, CONFLICT, undefined, 'second extension of a complex denunciation');

		const d2 = await submit(s.citizen, petition('denunciation', s.ids));
		await ok(s.official, 'case.classify', { case_id: d2.case_id, complexity: 2 });
		await ok(s.official, 'case.accept', { case_id: d2.case_id });
		await ok(s.leader, 'case.extend', { case_id: d2.case_id, reason: 'Lần một' });
		const twice = (await ok(s.leader, 'case.extend', { case_id: d2.case_id, reason: 'Lần hai' })).case;
		assert.equal(twice.deadlines.settle_by, calendarDeadline(today, 90), 'especially complex: 90 days at most');
		await fails(s.leader, 'case.extend', { case_id: d2.case_id, reason: 'Lần ba' }, CONFLICT, undefined, 'third extension');

		const plain = await submit(s.citizen, petition('denunciation', s.ids));
		await ok(s.official, 'case.accept', { case_id: plain.case_id });
		await fails(s.leader, 'case.extend', { case_id: plain.case_id, reason: 'Không phức tạp' }, CONFLICT, undefined, 'a simple denunciation');
		const cp = await submit(s.citizen, petition('complaint', s.ids));
		await ok(s.official, 'case.classify', { case_id: cp.case_id, complex: true });
		await ok(s.official, 'case.accept', { case_id: cp.case_id });
		await fails(s.leader, 'case.extend', { case_id: cp.case_id, reason: 'Khiếu nại' }, CONFLICT, undefined, 'a complaint');
	});

	test('case.suspend stops the clock (never overdue while suspended); case.resume the same day keeps settle_by', async () => {
		const today = todayVN();
		const r = await submit(s.citizen, petition('complaint', s.ids));
		await ok(s.official, 'case.accept', { case_id: r.case_id });
		const before = (await getCase(s.official, r.case_id)).deadlines.settle_by;
		const sus = (await ok(s.leader, 'case.suspend', { case_id: r.case_id, reason: 'Chờ kết quả giám định' })).case;
		assert.equal(sus.status, 'suspended');
		assert.equal(sus.overdue, false);
		const x = sus.deadlines.explanation?.settle_by;
		assert.ok(x, `a suspended case still explains settle_by: ${JSON.stringify(sus.deadlines)}`);
		assert.deepEqual(
			x.suspended.map((p) => [p.from, p.to]),
			[[today, today]],
			'the running suspension is counted up to today',
		);
		assert.equal(sus.deadlines.settle_by, calendarDeadline(today, 30, [[today, today]]));
		const res = (await ok(s.leader, 'case.resume', { case_id: r.case_id, reason: 'Đã có kết quả' })).case;
		assert.equal(res.status, 'accepted');
		assert.equal(res.deadlines.settle_by, before, 'a suspension of no whole day moves nothing');
	});
});

/* ------------------------------------------------------------------ */

describe('timeline', () => {
	test('every move appends one event (seq + 1, its action); refusals append none; the chain recomputes (RFC 8785 + SHA-256)', async () => {
		const r = await submit(s.citizen, petition('complaint', s.ids, { title: 'Khiếu nại về chuỗi sự kiện' }));
		const id = r.case_id;
		const officialId = s.official.user.id;
		const steps = [
			[s.official, 'case.classify', { field: 'land', complex: false }, 'classified'],
			[s.official, 'case.assign', { official_id: officialId }, 'assigned'],
			[s.official, 'case.note', { text: 'Ghi chú nội bộ: đã gọi điện cho công dân', internal: true }, 'note'],
			[s.inspector, 'case.note', { text: 'Thanh tra theo dõi' }, 'note'],
			[s.official, 'case.accept', {}, 'accepted'],
			[s.leader, 'case.suspend', { reason: 'Chờ ý kiến Sở' }, 'suspended'],
			[s.leader, 'case.resume', { reason: 'Đã có ý kiến' }, 'resumed'],
			[s.leader, 'case.decide', { outcome: 'partly_upheld', decision_no: '45/QĐ-UBND', text: 'Công nhận một phần' }, 'decided'],
			[s.leader, 'case.close', { text: 'Đã thi hành xong' }, 'closed'],
			[s.leader, 'case.terminate', { notice_no: '7/TB-UBND', reason: 'Chấm dứt thụ lý' }, 'terminated'],
		];
		let items = await timeline(s.official, id);
		assert.equal(items.length, 1, 'one event after intake');
		assert.equal(items[0].action, 'received');
		assert.equal(items[0].actor, null, 'an online petition is received by the system');
		for (const [client, method, params, action] of steps) {
			const res = await ok(client, method, { case_id: id, ...params });
			const now = await timeline(s.official, id);
			assert.equal(now.length, items.length + 1, `${method}: one event appended`);
			assert.deepEqual(now.slice(0, -1), items, `${method}: earlier events unchanged`);
			const last = now.at(-1);
			assert.equal(last.action, action, `${method}: action`);
			assert.equal(last.seq, items.length + 1, `${method}: seq`);
			assert.equal(last.prev_hash, items.at(-1).hash, `${method}: prev_hash is the previous hash`);
			assert.equal(last.actor, client.user.id, `${method}: actor`);
			if (method === 'case.note') {
				assert.equal(res.seq, last.seq, 'case.note answers the seq of its event');
			}
			items = now;
		}
		/* Refused moves write nothing. */
		await fails(s.official, 'case.accept', { case_id: id }, CONFLICT, 'invalid_transition');
		await fails(s.citizen, 'petition.withdraw', { case_id: id, reason: 'Rút' }, CONFLICT, 'invalid_transition');
		await fails(s.official, 'case.decide', { case_id: id, outcome: 'upheld', decision_no: '1', text: 'x' }, FORBIDDEN);
		assert.deepEqual(await timeline(s.official, id), items, 'refusals append nothing');

		const head = assertChain(id, items, 'complaint');
		for (const who of ['leader', 'inspector', 'cityLeader']) {
			const v = await ok(s[who], 'case.verify_chain', { case_id: id });
			assert.deepEqual(v, { ok: true, length: items.length, head_hash: head }, `${who}: verify_chain`);
		}
		for (const who of ['official', 'citizen', 'staff', 'admin']) {
			await fails(s[who], 'case.verify_chain', { case_id: id }, FORBIDDEN, undefined, who);
		}
		await fails(s.inspector, 'case.verify_chain', { case_id: MADE_UP_ID }, NOT_FOUND);

		/* The owner sees the timeline without internal notes. */
		const mine = await timeline(s.citizen, id);
		assert.equal(mine.length, items.length - 1, 'the internal note is hidden from the citizen');
		assert.ok(!mine.some((e) => e.data?.internal === true), 'no internal event');
		assert.ok(!JSON.stringify(mine).includes('Ghi chú nội bộ'), 'no internal text');
	});
});

/* ------------------------------------------------------------------ */

describe('reception.record', () => {
	const base = () => ({
		received_at: `${todayVN()}T08:30:00+07:00`,
		citizens: [{ full_name: 'Võ Văn Khách', national_id: '082345678901' }, { full_name: 'Võ Thị Khách' }],
		kind: 'feedback',
		summary: 'Công dân phản ánh việc xả rác ra kênh',
		people_count: 2,
		guidance: 'Hướng dẫn gửi đơn phản ánh',
		mode: 'in_person',
	});

	test('an in-person reception → {reception_id}; with case_id a "reception" event joins that case timeline', async () => {
		const rec = await ok(s.official, 'reception.record', base());
		assert.match(rec.reception_id, /^[A-Za-z0-9_-]{8,}$/);
		const rows = sqliteRows(dataDir, `SELECT agency_id, people_count, mode, case_id FROM receptions WHERE id = '${rec.reception_id}'`);
		assert.deepEqual(rows, [{ agency_id: s.ids.get('DN-P-TRANBIEN'), people_count: 2, mode: 'in_person', case_id: null }], 'one register row');
		const r = await submit(s.citizen, petition('feedback', s.ids));
		const before = await timeline(s.official, r.case_id);
		const rec2 = await ok(s.leader, 'reception.record', { ...base(), case_id: r.case_id, leader_day: true, people_count: 3 });
		const after = await timeline(s.official, r.case_id);
		assert.equal(after.length, before.length + 1, 'one event');
		const ev = after.at(-1);
		assert.equal(ev.action, 'reception');
		assert.equal(ev.data.reception_id, rec2.reception_id);
		assert.equal(ev.data.people_count, 3);
		assert.equal(ev.prev_hash, before.at(-1).hash);
		assert.ok(!JSON.stringify(ev).includes('Võ Văn Khách'), 'the event names nobody');
		assert.equal((await getCase(s.official, r.case_id)).status, 'received', 'a reception does not move the case');
	});

	test('a citizen entry with an unknown member → -32602', async () => {
		const r = await s.official.call('reception.record', { ...base(), citizens: [{ full_name: 'Võ Văn Khách', email: 'khach@example.org' }] });
		assert.equal(r.error?.code, INVALID, `{full_name, email}: unknown members are refused (PROTOCOL.md §2), got ${JSON.stringify(r)}`);
		assert.equal(r.error.data?.field, '/citizens/0');
	});

	test('bad input → -32602; a case of another agency or none → -32004; staff and citizens → -32002', async () => {
		const bad = [
			[{ citizens: [] }, '/citizens'],
			[{ citizens: [{ national_id: '082345678901' }] }, '/citizens/0'],
			[{ citizens: [{ full_name: 'Võ Văn Khách', national_id: '123' }] }, '/citizens/0'],
			[{ people_count: 0 }, '/people_count'],
			[{ mode: 'phone' }, '/mode'],
			[{ received_at: '2026-11-28' }, '/received_at'],
			[{ summary: '' }, '/summary'],
			[{ kind: 'gossip' }, '/kind'],
			[{ colour: 'red' }, '/colour'],
		];
		for (const [over, field] of bad) {
			const r = await s.official.call('reception.record', { ...base(), ...over });
			assert.equal(r.error?.code, INVALID, `${JSON.stringify(over)}: ${JSON.stringify(r)}`);
			assert.equal(r.error.data?.field, field, `${JSON.stringify(over)}: ${JSON.stringify(r.error.data)}`);
		}
		const noSummary = base();
		delete noSummary.summary;
		expectInvalid(await s.official.call('reception.record', noSummary), '/summary', 'required');
		const elsewhere = await submit(s.citizen, petition('feedback', s.ids, { locality_code: 'DN-X-PHUOCAN' }));
		await fails(s.official, 'reception.record', { ...base(), case_id: elsewhere.case_id }, NOT_FOUND, undefined, 'a case of another agency');
		await fails(s.official, 'reception.record', { ...base(), case_id: MADE_UP_ID }, NOT_FOUND, undefined, 'no such case');
		for (const who of ['staff', 'citizen', 'inspector', 'admin']) {
			await fails(s[who], 'reception.record', base(), FORBIDDEN, undefined, who);
		}
	});
});

/* ------------------------------------------------------------------ */

describe('after a restart on the same data directory', () => {
	const prepared = {}; // case ids set up before the stop
	test('a tampered timeline row: case.verify_chain ok:false at that event, tiepdan-admin verify exits non-zero', async () => {
		const today = todayVN();
		/* Cases prepared before the stop. */
		const tampered = await submit(s.citizen, petition('complaint', s.ids, { title: 'Khiếu nại sẽ bị sửa' }));
		await ok(s.official, 'case.accept', { case_id: tampered.case_id });
		await ok(s.official, 'case.note', { case_id: tampered.case_id, text: 'Đã xác minh tại chỗ' });
		await ok(s.leader, 'case.decide', { case_id: tampered.case_id, outcome: 'rejected', decision_no: '9/QĐ', text: 'Không có cơ sở' });
		const items = await timeline(s.official, tampered.case_id);
		assert.equal(items.length, 4);
		const head = assertChain(tampered.case_id, items);
		const intact = await submit(s.citizen, petition('feedback', s.ids));
		/* A case losing an event in the middle, and one losing its last event. */
		const gap = await submit(s.citizen, petition('complaint', s.ids));
		const truncated = await submit(s.citizen, petition('complaint', s.ids));
		for (const c of [gap, truncated]) {
			await ok(s.official, 'case.accept', { case_id: c.case_id });
			await ok(s.leader, 'case.decide', { case_id: c.case_id, outcome: 'upheld', decision_no: '11/QĐ', text: 'Chấp nhận' });
		}
		prepared.truncated = truncated.case_id;
		prepared.truncatedHead = (await timeline(s.official, truncated.case_id)).at(-1).hash;

		const suspended = await submit(s.citizen, petition('complaint', s.ids));
		prepared.suspended = suspended.case_id;
		await ok(s.official, 'case.accept', { case_id: suspended.case_id });
		await ok(s.leader, 'case.suspend', { case_id: suspended.case_id, reason: 'Chờ giám định' });

		const late = await submit(s.citizen, petition('complaint', s.ids));
		const inTime = await submit(s.citizen, petition('complaint', s.ids));
		prepared.late = late.case_id;
		prepared.inTime = inTime.case_id;
		for (const c of [late, inTime]) {
			await ok(s.official, 'case.accept', { case_id: c.case_id });
			await ok(s.leader, 'case.decide', { case_id: c.case_id, outcome: 'rejected', decision_no: '10/QĐ', text: 'Bác đơn' });
		}

		const good = await runAdmin(['--data-dir', dataDir, 'verify']);
		assert.equal(good.code, 0, `verify before tampering: ${good.stdout}${good.stderr}`);

		await server.stop();
		const db = path.join(dataDir, 'tiepdan.db');
		const q = (v) => `'${v}'`;
		execFileSync('sqlite3', [
			db,
			[
				'DROP TRIGGER timeline_no_update;',
				'DROP TRIGGER timeline_no_delete;',
				`DELETE FROM timeline WHERE case_id = ${q(gap.case_id)} AND seq = 2;`,
				`DELETE FROM timeline WHERE case_id = ${q(truncated.case_id)} AND seq = 3;`,
				`UPDATE timeline SET data = '{"text":"Đã sửa sau khi ghi"}' WHERE case_id = ${q(tampered.case_id)} AND seq = 3;`,
				`UPDATE cases SET stage_started_on = ${q(addDays(today, -20))}, suspended_days = '[{"from":"${addDays(today, -10)}","to":null}]' WHERE id = ${q(suspended.case_id)};`,
				`UPDATE cases SET decided_on = ${q(addDays(today, -31))} WHERE id = ${q(late.case_id)};`,
				`UPDATE cases SET decided_on = ${q(addDays(today, -30))} WHERE id = ${q(inTime.case_id)};`,
			].join('\n'),
		]);

		server = await startServer({ dataDir });
		s = await demoSessions(server);

		const v = await ok(s.inspector, 'case.verify_chain', { case_id: tampered.case_id });
		assert.equal(v.ok, false, `verify_chain after tampering: ${JSON.stringify(v)}`);
		assert.equal(v.first_bad_seq, 3, 'the tampered event');
		assert.equal(v.length, 4);
		assert.equal(v.head_hash, head, 'head_hash is the stored last hash');
		assert.deepEqual((await ok(s.leader, 'case.verify_chain', { case_id: intact.case_id })).ok, true, 'other chains still hold');
		const g = await ok(s.inspector, 'case.verify_chain', { case_id: gap.case_id });
		assert.equal(g.ok, false, `an event removed in the middle: ${JSON.stringify(g)}`);
		assert.equal(g.first_bad_seq, 3, 'the event after the hole');
		assert.equal(g.length, 2);

		const bad = await runAdmin(['--data-dir', dataDir, 'verify']);
		assert.notEqual(bad.code, 0, `tiepdan-admin verify must fail on a broken chain: ${bad.stdout}${bad.stderr}`);
		assert.ok(bad.stdout.includes(tampered.case_id), `verify names the case: ${bad.stdout}`);
		assert.ok(bad.stdout.includes(gap.case_id), `verify names the case with a hole: ${bad.stdout}`);
		assert.ok(!bad.stdout.includes(intact.case_id), 'and not the intact one');
	});

	deviation(
		'the last event of a timeline deleted: case.verify_chain ok:false (the case row says decided, the chain ends at accepted)',
		'a truncated tail verifies: nothing anchors the head',
		async () => {
			const id = prepared.truncated;
			assert.ok(id, 'prepared before the restart');
			const c = await getCase(s.official, id);
			const items = await timeline(s.official, id);
			const v = await ok(s.inspector, 'case.verify_chain', { case_id: id });
			assert.equal(
				v.ok,
				false,
				`case ${id} is ${c.status} (decided_on ${c.decided_on}) but its timeline ends with "${items.at(-1).action}" (the "decided" event, hash ${prepared.truncatedHead}, was deleted with the sqlite3 CLI); case.verify_chain answers ${JSON.stringify(v)}`,
			);
		},
	);

	test('a suspension of past days moves settle_by by those days; resume closes it the day before', async () => {
		const today = todayVN();
		const id = prepared.suspended;
		assert.ok(id, 'the suspended case prepared before the restart');
		const event = addDays(today, -20);
		const sus = await getCase(s.official, id);
		assert.equal(sus.status, 'suspended');
		assert.equal(sus.overdue, false);
		assert.equal(sus.deadlines.settle_by, calendarDeadline(event, 30, [[addDays(today, -10), today]]), `while suspended: ${JSON.stringify(sus.deadlines)}`);
		const x = sus.deadlines.explanation.settle_by;
		assert.equal(x.event_on, event);
		assert.deepEqual(x.suspended, [{ from: addDays(today, -10), to: today, days_not_counted: 11 }]);
		const res = (await ok(s.leader, 'case.resume', { case_id: id, reason: 'Đã có kết quả giám định' })).case;
		assert.equal(res.status, 'accepted');
		const want = calendarDeadline(event, 30, [[addDays(today, -10), addDays(today, -1)]]);
		assert.equal(res.deadlines.settle_by, want, `after resume: ${JSON.stringify(res.deadlines)}`);
		assert.deepEqual(res.deadlines.explanation.settle_by.suspended, [{ from: addDays(today, -10), to: addDays(today, -1), days_not_counted: 10 }]);
		assert.equal(res.overdue, false);
		/* Without the suspension the case would be due 10 days earlier. */
		assert.ok(calendarDeadline(event, 30) < want);
	});

	test('case.appeal within 30 days of the decision → instance 2 at the city; on day 31 → -32009', async () => {
		const today = todayVN();
		const { late, inTime } = prepared;
		assert.ok(late && inTime, 'the decided cases prepared before the restart');
		assert.deepEqual(
			sqliteRows(dataDir, `SELECT decided_on FROM cases WHERE id IN ('${late}', '${inTime}') ORDER BY decided_on`).map((r) => r.decided_on),
			[addDays(today, -31), addDays(today, -30)],
		);
		await fails(s.citizen, 'case.appeal', { case_id: late, content: 'Tôi không đồng ý' }, CONFLICT, 'out_of_time', 'day 31');
		const a = (await ok(s.citizen, 'case.appeal', { case_id: inTime, content: 'Tôi không đồng ý với quyết định lần đầu' })).case;
		assert.equal(a.status, 'received');
		assert.equal(a.instance, 2);
		assert.equal(a.agency.code, 'DN');
		assertDeadline(a.deadlines, 'process_by', workingDeadline(today, 10), { event: today, unit: 'working_days', days: 10, label: 'instance 2 process_by' });
	});
});

