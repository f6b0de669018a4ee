// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Cases through the real protocol, part 3: who sees what (PROTOCOL.md §5.2) —
// citizens see their own cases only, officials their agency's, the city
// leader and the city inspectorate the whole city, refusals look exactly like
// missing cases; case.list filters, diacritics-insensitive search and cursor
// pagination; and the confidentiality of a denouncer: every response and
// every event received by everyone but the officials and leaders of the
// responsible agency is searched for the denouncer's name, national id,
// phone, email and address, as are the timeline, the server's log and a
// .dump of the database.
//
// One --demo server for the file. Nothing sleeps.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { describe, startServer, stopAllServers, test } from './lib/harness.mjs';
import { sqliteDump, sqliteRows } from './lib/auth-helpers.mjs';
import {
	INVALID,
	MADE_UP_ID,
	NOT_FOUND,
	demoSessions,
	deviation,
	fails,
	getCase,
	login,
	newCitizen,
	newStaffAccount,
	ok,
	petition,
	submit,
	timeline,
	waitCaseEvent,
} from './lib/case-helpers.mjs';

let server;
let s; // demo sessions
const extra = {}; // officialB (Biên Hòa), officialVPUB, officialSNNMT

before(async () => {
	server = await startServer({ demo: true });
	s = await demoSessions(server);
	for (const [key, code, loginName, full_name] of [
		['officialB', 'DN-P-BIENHOA', 'canbo.bienhoa', 'Mai Thị Oanh'],
		['officialVPUB', 'DN-VPUB', 'canbo.vpub', 'Ông Văn Phòng'],
		['officialSNNMT', 'DN-SNNMT', 'canbo.snnmt', 'Tô Văn Hải'],
	]) {
		const a = await newStaffAccount(s.admin, { role: 'official', agencyId: s.ids.get(code), login: loginName, full_name });
		extra[key] = await login(server, a);
	}
});

after(async () => {
	await stopAllServers();
});

async function listAll(client, params = {}, limit = 100) {
	const out = [];
	let cursor;
	for (let page = 0; page < 1000; page++) {
		const r = await ok(client, 'case.list', { ...params, limit, ...(cursor ? { cursor } : {}) });
		assert.ok(Array.isArray(r.items), JSON.stringify(r));
		out.push(...r.items);
		if (r.next_cursor === null) {
			return out;
		}
		assert.equal(typeof r.next_cursor, 'string', `next_cursor ${JSON.stringify(r.next_cursor)}`);
		cursor = r.next_cursor;
	}
	assert.fail('case.list never ended');
}

const ids = (items) => items.map((i) => i.id);

/* ------------------------------------------------------------------ */

describe('visibility', () => {
	let wardCase; // a feedback of a fresh citizen at Trấn Biên
	let owner;

	test('a citizen cannot read, follow or withdraw another citizen’s case: -32004, exactly as a made-up id', async () => {
		owner = await newCitizen(server, { full_name: 'Bạch Thị Riêng' });
		wardCase = (await submit(owner.client, petition('feedback', s.ids, { title: 'Phản ánh cống thoát nước bị tắc' }))).case_id;
		for (const [method, extraParams] of [
			['case.get', {}],
			['case.timeline', {}],
			['petition.withdraw', { reason: 'Rút hộ' }],
			['case.appeal', { content: 'Khiếu nại hộ' }],
		]) {
			const e1 = await fails(s.citizen, method, { case_id: wardCase, ...extraParams }, NOT_FOUND, undefined, `${method} on another's case`);
			const e2 = await fails(s.citizen, method, { case_id: MADE_UP_ID, ...extraParams }, NOT_FOUND, undefined, `${method} on a made-up id`);
			assert.deepEqual(e1, e2, `${method}: the refusal reveals nothing`);
		}
		assert.ok(!ids(await listAll(s.citizen)).includes(wardCase), 'not in the other citizen’s case.list');
		assert.equal((await getCase(owner.client, wardCase)).id, wardCase, 'the owner sees it');
		assert.equal((await getCase(owner.client, wardCase)).status, 'received');
	});

	test('an official of ward B sees nothing of ward A; a department neither; the ward staff, the city leader and the city inspector do', async () => {
		assert.ok(wardCase, 'the previous test made the case');
		for (const who of [extra.officialB, extra.officialSNNMT]) {
			for (const method of ['case.get', 'case.timeline']) {
				const e1 = await fails(who, method, { case_id: wardCase }, NOT_FOUND, undefined, method);
				const e2 = await fails(who, method, { case_id: MADE_UP_ID }, NOT_FOUND, undefined, method);
				assert.deepEqual(e1, e2);
			}
			await fails(who, 'case.note', { case_id: wardCase, text: 'Ghi chú' }, NOT_FOUND);
			const all = await listAll(who);
			assert.ok(!ids(all).includes(wardCase), 'not in case.list');
			assert.ok(!all.some((i) => i.agency?.code === 'DN-P-TRANBIEN'), 'no Trấn Biên case in case.list');
			assert.deepEqual(await listAll(who, { agency_id: s.ids.get('DN-P-TRANBIEN') }), [], 'filtering on Trấn Biên gives nothing');
		}
		for (const who of ['staff', 'official', 'leader', 'cityLeader', 'inspector']) {
			assert.equal((await getCase(s[who], wardCase)).id, wardCase, `${who}: case.get`);
			assert.ok((await timeline(s[who], wardCase)).length >= 1, `${who}: case.timeline`);
			assert.ok(ids(await listAll(s[who])).includes(wardCase), `${who}: case.list`);
		}
		/* The inspector monitors the whole city: every case there is. */
		const everything = sqliteRows(server.dataDir, 'SELECT id FROM cases').map((r) => r.id).sort();
		assert.deepEqual(ids(await listAll(s.inspector)).sort(), everything, 'the city inspector lists every case');
		assert.deepEqual(ids(await listAll(s.cityLeader)).sort(), everything, 'the city leader lists every case');
	});
});

deviation(
	'case.get related_cases names only cases the caller may see (PROTOCOL.md §2: never reveal existence)',
	'related_cases lists the petitioner’s cases in every agency',
	async () => {
		const p = await newCitizen(server, { full_name: 'Bạch Văn Hai Nơi' });
		const here = await submit(p.client, petition('feedback', s.ids, { title: 'Phản ánh cống ngập nước khu phố 4' }));
		const there = await submit(p.client, petition('feedback', s.ids, { locality_code: 'DN-P-BIENHOA', title: 'Phản ánh cống ngập nước khu phố 8' }));
		const c = await getCase(s.official, here.case_id);
		await p.client.close();
		const leaked = (c.related_cases ?? []).filter((r) => r.case_id === there.case_id);
		assert.deepEqual(
			leaked,
			[],
			`request case.get {case_id: ${here.case_id}} by canbo.tranbien answers related_cases with a Biên Hòa case it may not open (case.get → -32004): ${JSON.stringify(c.related_cases)}`,
		);
	},
);

/* ------------------------------------------------------------------ */

describe('case.list', () => {
	let p; // the citizen whose cases are listed
	const made = {};

	test('filters: status, kind, field, agency_id, mass, overdue, q (diacritics ignored, every word must appear)', async () => {
		p = await newCitizen(server, { full_name: 'Cao Thị Danh Sách', address: 'Số 3 đường Hà Huy Giáp, phường Trấn Biên' });
		made.rubbish = (await submit(p.client, petition('feedback', s.ids, { title: 'Rác thải tràn ra đường', content: 'Bãi rác tự phát ở đầu hẻm 5.' }))).case_id;
		made.road = (await submit(p.client, petition('recommendation', s.ids, { title: 'Kiến nghị sửa mặt đường', content: 'Mặt đường hẻm 7 bị lún.' }))).case_id;
		made.land = (await submit(p.client, petition('complaint', s.ids))).case_id;
		const co = Array.from({ length: 4 }, (_, i) => ({ full_name: `Cao Văn Nhóm ${'ABCD'[i]}`, national_id: `0880300000${i + 10}` }));
		made.group = (await submit(p.client, petition('recommendation', s.ids, { title: 'Kiến nghị của nhóm hộ dân', co_petitioners: co, representatives: [co[0].national_id] }))).case_id;
		made.bienhoa = (await submit(p.client, petition('feedback', s.ids, { locality_code: 'DN-P-BIENHOA', title: 'Đèn chiếu sáng hỏng', content: 'Đèn hỏng đã hai tuần.' }))).case_id;
		made.paper = (
			await ok(s.official, 'petition.register', {
				...petition('recommendation', s.ids, { title: 'Kiến nghị bằng giấy gửi từ tháng Hai' }),
				petitioner: { full_name: p.full_name, national_id: p.national_id },
				via: 'post',
				received_on: '2026-02-12',
			})
		).case_id;
		await ok(s.official, 'case.accept', { case_id: made.rubbish });

		const mine = (params) => listAll(p.client, params).then((items) => ids(items).sort());
		const want = (...keys) => keys.map((k) => made[k]).sort();
		assert.deepEqual(await mine({}), want('rubbish', 'road', 'land', 'group', 'bienhoa', 'paper'), 'all of them');
		assert.deepEqual(await mine({ status: 'accepted' }), want('rubbish'), 'status');
		assert.deepEqual(await mine({ status: 'received' }), want('road', 'land', 'group', 'bienhoa', 'paper'), 'status received');
		assert.deepEqual(await mine({ kind: 'feedback' }), want('rubbish', 'bienhoa'), 'kind');
		assert.deepEqual(await mine({ field: 'land' }), want('land'), 'field');
		assert.deepEqual(await mine({ agency_id: s.ids.get('DN-P-BIENHOA') }), want('bienhoa'), 'agency_id');
		assert.deepEqual(await mine({ mass: true }), want('group'), 'mass');
		assert.deepEqual(await mine({ mass: false }), want('rubbish', 'road', 'land', 'bienhoa', 'paper'), 'not mass');
		assert.deepEqual(await mine({ overdue: true }), want('paper'), 'overdue: the paper petition of February');
		assert.deepEqual(await mine({ overdue: false }), want('rubbish', 'road', 'land', 'group', 'bienhoa'), 'not overdue');
		assert.deepEqual(await mine({ q: 'rac thai' }), want('rubbish'), 'q without diacritics finds "Rác thải"');
		assert.deepEqual(await mine({ q: 'RÁC THẢI' }), want('rubbish'), 'q in capitals');
		assert.deepEqual(await mine({ q: 'tự phát' }), want('rubbish'), 'q searches the content');
		assert.deepEqual(await mine({ q: 'rac chieu' }), [], 'every word must appear');
		assert.deepEqual(await mine({ kind: 'feedback', agency_id: s.ids.get('DN-P-TRANBIEN') }), want('rubbish'), 'filters combine');
		assert.deepEqual(await mine({ kind: 'feedback', overdue: true }), [], 'filters combine (none)');
		/* The summaries. */
		const item = (await listAll(p.client, { q: 'rac thai' }))[0];
		for (const k of ['id', 'tracking_code', 'kind', 'field', 'title', 'status', 'agency', 'received_at', 'deadlines', 'overdue', 'mass']) {
			assert.ok(k in item, `a summary has ${k}: ${JSON.stringify(item)}`);
		}
		/* The agency side filters the same way. */
		assert.deepEqual(ids(await listAll(s.official, { q: 'rac thai', status: 'accepted' })).sort(), [made.rubbish], 'the official, q + status');
		assert.ok(!ids(await listAll(s.official, { q: 'chieu sang' })).includes(made.bienhoa), 'the Trấn Biên official does not find Biên Hòa');
		assert.ok(ids(await listAll(extra.officialB, { q: 'chieu sang' })).includes(made.bienhoa), 'the Biên Hòa official does');
	});

	test('bad filters → -32602', async () => {
		for (const [params, field] of [
			[{ status: 'open' }, '/status'],
			[{ kind: 'gossip' }, '/kind'],
			[{ limit: 0 }, '/limit'],
			[{ limit: 101 }, '/limit'],
			[{ limit: 'ten' }, '/limit'],
			[{ mass: 'yes' }, '/mass'],
			[{ cursor: 'not a cursor' }, '/cursor'],
			[{ q: '' }, '/q'],
			[{ colour: 'red' }, '/colour'],
		]) {
			const r = await s.official.call('case.list', params);
			assert.equal(r.error?.code, INVALID, `${JSON.stringify(params)}: ${JSON.stringify(r)}`);
			assert.equal(r.error.data?.field, field, `${JSON.stringify(params)}: ${JSON.stringify(r.error.data)}`);
		}
		await fails(await server.connect(), 'case.list', {}, -32001, undefined, 'anonymous');
	});

	test('cursor pagination: limit 2 over 6 cases — no duplicates, no gaps, newest first, next_cursor null at the end', async () => {
		assert.ok(p, 'the filter test made the cases');
		const full = (await ok(p.client, 'case.list', { limit: 100 })).items;
		assert.equal(full.length, 6);
		/* Newest first: by the time received, and within one second in the order received. */
		const times = full.map((i) => i.received_at);
		assert.deepEqual(times, [...times].sort().reverse(), 'received_at never increases');
		const mine = new Set(ids(full));
		const received = sqliteRows(server.dataDir, 'SELECT id FROM cases ORDER BY rowid DESC').map((r) => r.id).filter((x) => mine.has(x));
		assert.deepEqual(ids(full), received, 'the reverse of the order they were received in');
		for (const limit of [1, 2, 4, 5, 6]) {
			const pages = [];
			let cursor;
			for (;;) {
				const r = await ok(p.client, 'case.list', { limit, ...(cursor ? { cursor } : {}) });
				pages.push(r.items.length);
				assert.ok(r.items.length <= limit, `limit ${limit}: page of ${r.items.length}`);
				if (r.next_cursor === null) {
					break;
				}
				cursor = r.next_cursor;
				assert.ok(pages.length < 20, 'pagination ends');
			}
			const expected = [];
			for (let left = 6; left > 0; left -= limit) {
				expected.push(Math.min(limit, left));
			}
			assert.deepEqual(pages, expected, `limit ${limit}: full pages, the last one ends with next_cursor null`);
			assert.deepEqual(ids(await listAll(p.client, {}, limit)), ids(full), `limit ${limit}: the same items in the same order`);
		}
		/* A filter with a cursor. */
		assert.deepEqual(ids(await listAll(p.client, { kind: 'recommendation' }, 1)), ids(full.filter((i) => i.kind === 'recommendation')));
		/* The inspector pages through the whole city, many cases sharing a second. */
		const all = await listAll(s.inspector, {}, 3);
		assert.equal(new Set(ids(all)).size, all.length, 'no duplicates');
		assert.equal(all.length, sqliteRows(server.dataDir, 'SELECT count(*) AS n FROM cases')[0].n, 'no gaps');
	});
});

deviation('case.list q: words typed in NFD (as macOS keyboards send them) find the NFC title', 'q is not normalised: "rác thải" in NFD finds nothing', async () => {
	const p = await newCitizen(server, { full_name: 'Cao Văn Tìm Kiếm' });
	const r = await submit(p.client, petition('feedback', s.ids, { title: 'Rác thải ở chợ Biên Hùng' }));
	const q = 'rác thải'.normalize('NFD');
	const got = ids((await ok(p.client, 'case.list', { q })).items);
	await p.client.close();
	assert.deepEqual(got, [r.case_id], `case.list {q: "${q}" (NFD)} → ${JSON.stringify(got)}`);
});

deviation('case.list q: "duong" finds "đường" (đ folded to d)', 'đ is not folded', async () => {
	const p = await newCitizen(server, { full_name: 'Cao Thị Đường Phố' });
	const r = await submit(p.client, petition('feedback', s.ids, { title: 'Ổ gà trên đường Đồng Khởi' }));
	const got = ids((await ok(p.client, 'case.list', { q: 'duong dong khoi' })).items);
	await p.client.close();
	assert.deepEqual(got, [r.case_id], `case.list {q: "duong dong khoi"} → ${JSON.stringify(got)}`);
});

/* ------------------------------------------------------------------ */

describe('denouncer confidentiality', () => {
	let d; // the denouncer
	let secrets;
	let denunciation;
	const marks = new Map(); // client → index in client.received where watching starts

	function watch(label, client) {
		marks.set(label, { client, from: client.received.length });
	}

	/* Every string of the identity found in text. */
	function found(text) {
		return secrets.filter((x) => text.includes(x));
	}

	test('responses and events to everyone but the responsible ward’s officials and leaders carry no trace of the denouncer', async () => {
		d = await newCitizen(server, {
			full_name: 'Quách Thị Ngọc Diệp',
			national_id: '086029912345',
			phone: '0398765432',
			email: 'ngocdiep.quach@example.org',
			address: 'Số 27 hẻm 41 đường Võ Thị Sáu, phường Trấn Biên',
		});
		secrets = [d.full_name, d.national_id, d.phone, d.email, d.address];
		const d2 = await login(server, { login: d.email, password: d.password });
		const staff = s.staff;
		const watchers = {
			'owner (submitting connection)': d.client,
			'owner (other connection)': d2,
			'another citizen': s.citizen,
			inspector: s.inspector,
			'city leader': s.cityLeader,
			'official of Biên Hòa': extra.officialB,
			'ward staff': staff,
		};
		for (const [label, client] of Object.entries(watchers)) {
			watch(label, client);
		}
		const allowedFrom = { official: s.official.received.length, leader: s.leader.received.length };

		const sub = await submit(d.client, petition('denunciation', s.ids, { title: 'Tố cáo cán bộ địa chính đòi tiền', content: 'Cán bộ địa chính yêu cầu nộp 5 triệu đồng để ký hồ sơ.' }));
		denunciation = sub.case_id;
		assert.deepEqual(sub.case.petitioner, { full_name: null, national_id: null, phone: null, email: null, address: null }, 'the denouncer’s own copy is redacted too');
		await waitCaseEvent(d2, denunciation, 'received');
		await waitCaseEvent(staff, denunciation, 'received');

		/* The responsible ward sees the identity. */
		const seen = await getCase(s.official, denunciation);
		assert.equal(seen.petitioner.full_name, d.full_name);
		assert.equal(seen.petitioner.national_id, d.national_id);
		assert.equal(seen.petitioner.phone, d.phone);
		assert.equal(seen.petitioner.email, d.email);
		assert.equal((await getCase(s.leader, denunciation)).petitioner.full_name, d.full_name);

		/* Everyone reads, the ward handles, a reception is recorded. */
		const readers = [d.client, d2, s.citizen, s.inspector, s.cityLeader, extra.officialB, staff, s.official, s.leader];
		const readAll = async () => {
			for (const c of readers) {
				await c.call('case.get', { case_id: denunciation });
				await c.call('case.timeline', { case_id: denunciation });
				await c.call('case.list', { kind: 'denunciation', limit: 100 });
				await c.call('case.list', { q: 'dia chinh', limit: 100 });
			}
		};
		await readAll();
		await ok(s.official, 'case.classify', { case_id: denunciation, field: 'land', reason: 'Lĩnh vực đất đai' });
		await ok(s.official, 'case.assign', { case_id: denunciation, official_id: s.official.user.id });
		await ok(s.official, 'case.note', { case_id: denunciation, text: 'Đã làm việc với người tố cáo' });
		await ok(s.inspector, 'case.note', { case_id: denunciation, text: 'Thanh tra theo dõi vụ việc' });
		await ok(s.official, 'reception.record', {
			received_at: '2026-11-27T09:00:00+07:00',
			citizens: [{ full_name: d.full_name, national_id: d.national_id }],
			kind: 'denunciation',
			summary: 'Người tố cáo trình bày thêm',
			people_count: 1,
			mode: 'in_person',
			case_id: denunciation,
		});
		await ok(s.leader, 'case.accept', { case_id: denunciation });
		await ok(s.leader, 'case.decide', { case_id: denunciation, outcome: 'upheld', decision_no: '5/KL-UBND', text: 'Kết luận tố cáo đúng' });
		await waitCaseEvent(d2, denunciation, 'decided');
		await waitCaseEvent(staff, denunciation, 'decided');
		await waitCaseEvent(s.inspector, denunciation, 'decided');
		await readAll();
		/* An answer after everything else on each connection: nothing can still be in flight. */
		for (const c of readers) {
			await ok(c, 'system.ping', {});
		}

		const blind = new Set(['another citizen', 'official of Biên Hòa']);
		for (const [label, { client, from }] of marks) {
			const text = JSON.stringify(client.received.slice(from));
			if (!blind.has(label)) {
				assert.ok(text.includes(denunciation), `${label} did receive messages about the case`);
			}
			assert.deepEqual(found(text), [], `${label} received the denouncer's identity`);
		}
		/* The responsible ward did get it (the search above can find it). */
		assert.ok(found(JSON.stringify(s.official.received.slice(allowedFrom.official))).includes(d.national_id));
		assert.ok(found(JSON.stringify(s.leader.received.slice(allowedFrom.leader))).includes(d.full_name));
		/* The timeline names nobody, even for the ward. */
		for (const c of [s.official, s.leader]) {
			assert.deepEqual(found(JSON.stringify(await timeline(c, denunciation))), [], 'case.timeline');
		}
	});

	test('the server log and the database hold no clear identity of the denouncer outside the account', async () => {
		assert.ok(d, 'the previous test ran');
		assert.deepEqual(found(server.stderrLines.join('\n')), [], 'stderr');
		const dump = sqliteDump(server.dataDir)
			.split('\n')
			.filter((l) => !l.startsWith('INSERT INTO users VALUES'));
		const hits = dump.filter((l) => found(l).length);
		assert.deepEqual(hits.map((l) => l.slice(0, 160)), [], 'only the account row holds the identity');
		const row = sqliteRows(server.dataDir, `SELECT petitioner, typeof(petitioner_sealed) AS t FROM cases WHERE id = '${denunciation}'`)[0];
		assert.deepEqual(row, { petitioner: null, t: 'blob' }, 'sealed');
	});

	test('a paper denunciation: the identity typed by the official is nowhere in clear in the database', async () => {
		const paper = {
			full_name: 'Lã Thị Kín Đáo',
			national_id: '086039900001',
			phone: '0399000111',
			email: 'kin.dao.la@example.org',
			address: 'Số 9 ngõ Giấu Tên, xã Phước An',
		};
		const r = await ok(s.official, 'petition.register', {
			...petition('denunciation', s.ids, { title: 'Tố cáo việc thu tiền sai quy định', content: 'Thu tiền vệ sinh gấp đôi mức quy định.' }),
			petitioner: paper,
			via: 'post',
			received_on: '2026-11-20',
		});
		assert.equal((await getCase(s.official, r.case_id)).petitioner.national_id, paper.national_id, 'the ward sees it');
		assert.equal((await getCase(s.inspector, r.case_id)).petitioner.national_id, null, 'the inspector does not');
		const dump = sqliteDump(server.dataDir);
		for (const x of Object.values(paper)) {
			assert.ok(!dump.includes(x), `.dump contains ${x}`);
		}
		assert.deepEqual(
			server.stderrLines.filter((l) => Object.values(paper).some((x) => l.includes(x))),
			[],
			'stderr',
		);
	});

	test('after a forward the former agency loses sight of the identity; the new one gains it', async () => {
		const e = await newCitizen(server, {
			full_name: 'Quách Văn Chuyển',
			national_id: '086029954321',
			email: 'van.chuyen.quach@example.org',
			address: 'Số 8 đường Nguyễn Ái Quốc, phường Trấn Biên',
		});
		/* Nobody named: state management of the field; "other" → the City People's Committee Office. */
		const r = await submit(e.client, petition('denunciation', s.ids, { field: 'other', respondent: undefined, title: 'Tố cáo vi phạm trong quản lý', content: 'San lấp đất nông nghiệp trái phép.' }));
		assert.equal(r.agency.code, 'DN-VPUB');
		const vp = extra.officialVPUB;
		const sn = extra.officialSNNMT;
		assert.equal((await getCase(vp, r.case_id)).petitioner.full_name, e.full_name, 'the Office sees the identity while responsible');
		await ok(vp, 'case.classify', { case_id: r.case_id, field: 'land' });
		const f = (await ok(vp, 'case.forward', { case_id: r.case_id, to_agency_id: s.ids.get('DN-SNNMT'), reason: 'Thuộc lĩnh vực đất đai' })).case;
		assert.equal(f.agency.code, 'DN-SNNMT');
		const mark = vp.received.length;
		const after = await getCase(vp, r.case_id);
		assert.deepEqual(after.petitioner, { full_name: null, national_id: null, phone: null, email: null, address: null }, 'the Office no longer sees it');
		await timeline(vp, r.case_id);
		const secretsE = [e.full_name, e.national_id, e.phone, e.email, e.address];
		const text = JSON.stringify(vp.received.slice(mark));
		assert.deepEqual(secretsE.filter((x) => text.includes(x)), [], 'nothing of it reaches the Office after the forward');
		assert.equal((await getCase(sn, r.case_id)).petitioner.national_id, e.national_id, 'the Department sees it');
		await e.client.close();
	});
});

deviation(
	'petition.register by another ward reveals no denunciation of that national id (related_cases)',
	'related_cases lists the denouncer’s denunciation, its tracking code and agency, to any registering official',
	async () => {
		const d = await newCitizen(server, { full_name: 'Quách Thị Bí Mật', national_id: '086029900777', address: 'Số 2 hẻm 3, phường Trấn Biên' });
		const den = await submit(d.client, petition('denunciation', s.ids, { title: 'Tố cáo cán bộ làm thủ tục chứng thực', content: 'Thu tiền ngoài quy định khi chứng thực.' }));
		await d.client.close();
		const req = {
			...petition('feedback', s.ids, { locality_code: 'DN-P-BIENHOA', title: 'Phản ánh thủ tục chứng thực chậm' }),
			petitioner: { full_name: 'Quách Thị Bí Mật', national_id: '086029900777' },
			via: 'in_person',
			received_on: '2026-11-27',
		};
		const r = await ok(extra.officialB, 'petition.register', req);
		const leak = JSON.stringify(r).includes(den.case_id) || JSON.stringify(r).includes(den.tracking_code);
		assert.equal(
			leak,
			false,
			`request petition.register (canbo.bienhoa) with the national id of a denouncer at Trấn Biên answers related_cases ${JSON.stringify(r.related_cases)} — the denunciation ${den.case_id} (${den.tracking_code}) it may not see`,
		);
	},
);
