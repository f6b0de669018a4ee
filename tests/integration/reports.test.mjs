// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Reports (PROTOCOL.md §7, DOMAIN.md §7; docs/reports.md) through the real
// protocol, on generated data whose answers are counted by hand below:
// paper petitions registered as received on chosen past days (the period
// boundaries: the day before, the first day, the last day, the day after),
// online petitions of today (the day in the portal's zone, +07:00), and
// moves made today (accept, guide, reject, file, withdraw, decide, a refused
// forward). Then: every figure against the hand count, the breakdowns
// summing to the totals, explain returning exactly the cases behind a
// figure, the standard periods, rights and bad parameters, the CSV and JSON
// exports (byte order mark, header, no denouncer identity, single use), an
// agency moved in the tree, and hot spots (event, list, flag). Nothing sleeps.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { describe, startServer, stopAllServers, test } from './lib/harness.mjs';
import { waitNotification } from './lib/auth-helpers.mjs';
import {
	FORBIDDEN,
	INVALID,
	MADE_UP_ID,
	NOT_FOUND,
	addDays,
	demoSessions,
	fails,
	getCase,
	isWorkingDay,
	ok,
	petition,
	submit,
	todayVN,
} from './lib/case-helpers.mjs';

after(stopAllServers);

const INDICATORS = [
	'received', 'carried_over', 'accepted', 'forwarded', 'guided', 'rejected', 'filed', 'withdrawn',
	'decided', 'upheld', 'partly_upheld', 'decided_rejected', 'on_time', 'overdue', 'mass', 'complex',
	'repeat_after_termination', 'duplicates_linked', 'wrong_forward_refused', 'first_instance',
	'second_instance', 'pending', 'prolonged', 'settled',
];

/* Working days d with a < d <= b (DOMAIN.md §3), from the hand calendar of case-helpers. */
function workingDaysBetween(a, b) {
	let n = 0;
	for (let d = addDays(a, 1); d <= b; d = addDays(d, 1)) {
		n += isWorkingDay(d) ? 1 : 0;
	}
	return n;
}

/* Weeks (Monday to Sunday) holding a working day between from and to: a ward's minimum. */
function weeksWithWorkingDay(from, to) {
	const weeks = new Set();
	for (let d = from; d <= to; d = addDays(d, 1)) {
		if (isWorkingDay(d)) {
			const day = new Date(`${d}T00:00:00Z`).getUTCDay();
			weeks.add(addDays(d, -((day + 6) % 7)));
		}
	}
	return weeks.size;
}

/* -32602 naming the field (and the reason, when given). */
function invalidAt(r, field, reason, label) {
	assert.equal(r.error?.code, INVALID, `${label}: ${JSON.stringify(r)}`);
	assert.equal(r.error.data?.field, field, `${label}: ${JSON.stringify(r.error)}`);
	if (reason !== undefined) {
		assert.equal(r.error.data?.reason, reason, `${label}: ${JSON.stringify(r.error)}`);
	}
}

function assertSums(rep, label) {
	for (const section of ['by_kind', 'by_field', 'by_agency']) {
		for (const ind of INDICATORS) {
			const sum = Object.values(rep[section]).reduce((acc, o) => acc + o[ind], 0);
			assert.equal(sum, rep.totals[ind], `${label}: ${section} sums to totals.${ind}`);
		}
	}
}

let s;
let server;
const today = todayVN();
const c = {}; // name → case id
const DENOUNCER = { full_name: 'Đinh Văn Bảo Mật', national_id: '079123456789', address: 'Khu phố 2, Trấn Biên' };

function paper(kind, receivedOn, over = {}, n = 0) {
	return {
		...petition(kind, s.ids, over),
		petitioner: { full_name: `Nguyễn Thị ${['An', 'Bình', 'Chi', 'Dung', 'Giang', 'Hoa', 'Hương'][n]}`, national_id: `07912000${String(1000 + n).slice(-4)}`, address: 'Trấn Biên' },
		via: 'post',
		received_on: receivedOn,
	};
}

async function register(params) {
	return (await ok(s.official, 'petition.register', params)).case_id;
}

before(async () => {
	server = await startServer({ demo: true });
	s = await demoSessions(server);
	/* A: the day before the half-year; B its first day; C its last day; D the day after. */
	c.A = await register(paper('feedback', '2025-12-14', {}, 0));
	c.B = await register(paper('feedback', '2025-12-15', {}, 2));
	c.C = await register(paper('recommendation', '2026-06-14', {}, 3));
	c.D = await register(paper('feedback', '2026-06-15', { field: 'land' }, 4));
	c.E = await register(paper('complaint', '2026-03-01', {}, 5));
	c.F = await register({ ...paper('denunciation', '2026-04-01'), petitioner: DENOUNCER });
	c.H = await register(paper('feedback', addDays(today, -60), {}, 6));
	/* G, J: online today. */
	c.G = (await submit(s.citizen, petition('recommendation', s.ids))).case_id;
	c.J = (await submit(s.citizen, petition('feedback', s.ids))).case_id;

	await ok(s.official, 'case.accept', { case_id: c.A });
	await ok(s.official, 'case.guide', { case_id: c.B, text: 'Hướng dẫn gửi đơn' });
	await ok(s.official, 'case.reject', { case_id: c.C, reason_code: 'other', text: 'Không thụ lý' });
	await ok(s.official, 'case.file', { case_id: c.D, reason_code: 'missing_content', text: 'Thiếu nội dung' });
	await ok(s.official, 'case.classify', { case_id: c.E, complex: true });
	await ok(s.official, 'case.accept', { case_id: c.E });
	await ok(s.leader, 'case.decide', { case_id: c.E, outcome: 'upheld', decision_no: '5/QĐ-UBND', text: 'Chấp nhận khiếu nại' });
	await ok(s.official, 'case.classify', { case_id: c.G, mass: true });
	await fails(s.official, 'case.forward', { case_id: c.G, to_agency_id: s.ids.get('DN-P-BIENHOA'), reason: 'Chuyển sai' }, -32009, 'not_competent');
	await ok(s.citizen, 'petition.withdraw', { case_id: c.J, reason: 'Đã được giải quyết' });
	const at = `${today}T08:30:00+07:00`;
	await ok(s.official, 'reception.record', { received_at: at, citizens: [{ full_name: 'Đoàn Văn Đông' }], summary: 'Đoàn đông người', people_count: 6, mode: 'in_person', case_id: c.G });
	await ok(s.leader, 'reception.record', { received_at: at, citizens: [{ full_name: 'Mai Văn Tiếp' }], summary: 'Ngày tiếp định kỳ', people_count: 1, mode: 'in_person', leader_day: true });
	await ok(s.official, 'reception.record', { received_at: at, citizens: [{ full_name: 'Lý Thị Một' }], summary: 'Tiếp trực tuyến', people_count: 1, mode: 'online' });
});

describe('report.summary on generated data', () => {
	const range = () => ({ agency_id: s.ids.get('DN-P-TRANBIEN'), from: '2025-12-15', to: today });

	test('every figure equals the hand count, for 15 Dec 2025 to today at Trấn Biên', async () => {
		const rep = await ok(s.leader, 'report.summary', range());
		assert.equal(rep.agency_id, s.ids.get('DN-P-TRANBIEN'));
		assert.equal(rep.from, '2025-12-15');
		assert.equal(rep.to, today);
		assert.equal(rep.include_children, false);
		const want = {
			received: 8, carried_over: 1, accepted: 2, forwarded: 0, guided: 1, rejected: 1, filed: 1,
			withdrawn: 1, decided: 1, upheld: 1, partly_upheld: 0, decided_rejected: 0, on_time: 1,
			overdue: 2, mass: 1, complex: 1, repeat_after_termination: 0, duplicates_linked: 0,
			wrong_forward_refused: 1, first_instance: 8, second_instance: 0, pending: 4, settled: 1,
			prolonged: 1, // A: environment, pending, received over 90 days before today
		};
		for (const [k, v] of Object.entries(want)) {
			assert.equal(rep.totals[k], v, `totals.${k} in ${JSON.stringify(rep.totals)}`);
		}
		const days = workingDaysBetween('2026-03-01', today);
		assert.equal(rep.totals.avg_days_to_settle, days, 'E: working days from receipt to decision');
		assert.equal(rep.by_kind.complaint.decided, 1);
		assert.equal(rep.by_kind.feedback.received, 4, 'B, D, H, J');
		assert.equal(rep.by_field.environment.received, 3, 'B, H, J');
		assert.equal(rep.by_field.land.received, 2, 'D, E');
		assert.deepEqual(Object.keys(rep.by_agency), [s.ids.get('DN-P-TRANBIEN')]);
		assert.deepEqual(rep.reception, {
			sessions: 3, leader_day_sessions: 1, online_sessions: 1, people: 8, mass_delegations: 1,
			leader_days_held: 1, leader_days_required: weeksWithWorkingDay('2025-12-15', today), dialogues: 0,
		});
		assertSums(rep, 'ward');
	});

	test('the city tree as the inspector: the ward inside it, breakdowns summing to totals', async () => {
		const rep = await ok(s.inspector, 'report.summary', { ...range(), agency_id: s.ids.get('DN'), include_children: true });
		assert.equal(rep.include_children, true);
		assert.ok(Object.keys(rep.by_agency).includes(s.ids.get('DN-P-TAMHIEP')), 'every agency of the tree is listed');
		assert.equal(rep.by_agency[s.ids.get('DN-P-TRANBIEN')].received, 8);
		assert.equal(rep.totals.received, 8);
		assertSums(rep, 'city');
	});

	test('explain returns exactly the cases behind a figure', async () => {
		const cases = [
			['totals.overdue', [c.F, c.H]],
			['totals.carried_over', [c.A]],
			['by_kind.complaint.decided', [c.E]],
			['by_field.environment.received', [c.B, c.H, c.J]],
			[`by_agency.${s.ids.get('DN-P-TRANBIEN')}.wrong_forward_refused`, [c.G]],
			['totals.avg_days_to_settle', [c.E]],
			['totals.received', [c.B, c.C, c.D, c.E, c.F, c.H, c.G, c.J]],
			['totals.prolonged', [c.A]],
			['reception.mass_delegations', [c.G]],
			['reception.leader_days_required', []],
		];
		for (const [path, ids] of cases) {
			const rep = await ok(s.inspector, 'report.summary', { ...range(), explain: path });
			assert.equal(rep.explain, path);
			assert.deepEqual([...rep.cases].sort(), [...ids].sort(), path);
		}
		const rep = await ok(s.leader, 'report.summary', { ...range(), explain: 'totals.pending' });
		assert.equal(rep.cases.length, rep.totals.pending, 'as many ids as the figure');
	});

	test('dialogues held: those whose minutes are written, on the day they start', async () => {
		const ward = s.ids.get('DN-P-TRANBIEN');
		const day = addDays(today, 10);
		const { dialogue } = await ok(s.staff, 'dialogue.schedule', {
			case_id: c.G, start: `${day}T09:00:00+07:00`, end: `${day}T10:00:00+07:00`, mode: 'in_person',
			location: 'Hội trường UBND phường',
			participants: [{ user_id: s.citizen.user.id, role: 'complainant' }, { user_id: s.official.user.id, role: 'resolver' }],
		});
		const p = { agency_id: ward, from: day, to: day, explain: 'reception.dialogues' };
		const scheduled = await ok(s.leader, 'report.summary', p);
		assert.equal(scheduled.reception.dialogues, 0, 'scheduled is not held');
		await ok(s.official, 'dialogue.minutes', { dialogue_id: dialogue.id, text: 'Hai bên trình bày ý kiến.', attendees: [s.citizen.user.id] });
		const held = await ok(s.leader, 'report.summary', p);
		assert.equal(held.reception.dialogues, 1);
		assert.deepEqual(held.cases, [c.G]);
		const before = await ok(s.leader, 'report.summary', { ...p, to: addDays(day, -1), from: addDays(day, -1) });
		assert.equal(before.reception.dialogues, 0, 'counted on its own day only');
	});

	test('period boundaries: inclusive dates, the standard periods of DOMAIN.md §7', async () => {
		const ward = s.ids.get('DN-P-TRANBIEN');
		const h1 = await ok(s.leader, 'report.summary', { agency_id: ward, period: '2026-H1' });
		assert.equal(h1.from, '2025-12-15');
		assert.equal(h1.to, '2026-06-14');
		assert.equal(h1.period, '2026-H1');
		assert.equal(h1.totals.received, 4, 'B (first day), C (last day), E, F; not A (day before) nor D (day after)');
		assert.equal(h1.totals.carried_over, 1, 'A, still pending on the first day');
		assert.equal(h1.totals.accepted, 0, 'the moves of today are outside');
		assert.equal(h1.totals.pending, 5, 'A, B, C, E, F were pending on the last day');
		assert.equal(h1.totals.prolonged, 3, 'A, B (environment), E (land): over 90 days on the last day; C, F are not in a priority field');
		const explained = await ok(s.leader, 'report.summary', { agency_id: ward, period: '2026-H1', explain: 'totals.received' });
		assert.deepEqual([...explained.cases].sort(), [c.B, c.C, c.E, c.F].sort());
		const q1 = await ok(s.leader, 'report.summary', { agency_id: ward, period: '2026-Q1' });
		const q2 = await ok(s.leader, 'report.summary', { agency_id: ward, period: '2026-Q2' });
		assert.deepEqual([q1.from, q1.to, q2.from, q2.to], ['2025-12-15', '2026-03-14', '2026-03-15', '2026-06-14']);
		assert.equal(q1.totals.received, 2, 'B, E');
		assert.equal(q2.totals.received, 2, 'C, F');
		const year = await ok(s.leader, 'report.summary', { agency_id: ward, period: '2026' });
		assert.deepEqual([year.from, year.to], ['2025-12-15', '2026-12-14']);
		const h2 = await ok(s.leader, 'report.summary', { agency_id: ward, period: '2026-H2' });
		assert.deepEqual([h2.from, h2.to], ['2026-06-15', '2026-12-14']);
		const month = await ok(s.leader, 'report.summary', { agency_id: ward, period: '2026-01' });
		assert.deepEqual([month.from, month.to], ['2025-12-15', '2026-01-14']);
		/* One day: the boundaries are inclusive. */
		const oneDay = await ok(s.leader, 'report.summary', { agency_id: ward, from: '2025-12-15', to: '2025-12-15', explain: 'totals.received' });
		assert.deepEqual(oneDay.cases, [c.B]);
	});

	test('the day of an online petition is the day in Asia/Ho_Chi_Minh', async () => {
		const ward = s.ids.get('DN-P-TRANBIEN');
		const g = await getCase(s.official, c.G);
		assert.ok(g.received_at.startsWith(today) && g.received_at.endsWith('+07:00'), g.received_at);
		const t = await ok(s.leader, 'report.summary', { agency_id: ward, from: today, to: today, explain: 'totals.received' });
		assert.deepEqual([...t.cases].sort(), [c.G, c.J].sort());
		const y = await ok(s.leader, 'report.summary', { agency_id: ward, from: addDays(today, -1), to: addDays(today, -1) });
		assert.equal(y.totals.received, 0);
		/* A reception given in UTC at 17:00:30 yesterday is 00:00:30 today in +07:00. */
		const before = t.reception.sessions;
		await ok(s.official, 'reception.record', {
			received_at: `${addDays(today, -1)}T17:00:30Z`, citizens: [{ full_name: 'Hồ Văn Sớm' }],
			summary: 'Tiếp lúc nửa đêm', people_count: 1, mode: 'in_person',
		});
		const t2 = await ok(s.leader, 'report.summary', { agency_id: ward, from: today, to: today });
		assert.equal(t2.reception.sessions, before + 1, 'counted today');
		const y2 = await ok(s.leader, 'report.summary', { agency_id: ward, from: addDays(today, -1), to: addDays(today, -1) });
		assert.equal(y2.reception.sessions, 0, 'not yesterday');
	});
});

describe('rights and bad parameters', () => {
	test('only inspectors and leaders, only for agencies in their reach', async () => {
		const p = { agency_id: s.ids.get('DN-P-TRANBIEN'), from: '2026-01-01', to: today };
		for (const who of ['citizen', 'official', 'staff', 'admin']) {
			await fails(s[who], 'report.summary', p, FORBIDDEN, undefined, who);
			await fails(s[who], 'report.ticket', { ...p, format: 'csv' }, FORBIDDEN, undefined, who);
			await fails(s[who], 'report.hotspots', {}, FORBIDDEN, undefined, who);
		}
		const e = await fails(s.leader, 'report.summary', { ...p, agency_id: s.ids.get('DN') }, NOT_FOUND, undefined, 'ward leader on the city');
		assert.equal(e.data?.field, '/agency_id');
		await fails(s.leader, 'report.summary', { ...p, agency_id: s.ids.get('DN-P-BIENHOA') }, NOT_FOUND, undefined, 'another ward');
		await fails(s.inspector, 'report.summary', { ...p, agency_id: MADE_UP_ID }, NOT_FOUND, undefined, 'no such agency');
		await fails(s.leader, 'report.ticket', { ...p, agency_id: s.ids.get('DN'), format: 'csv' }, NOT_FOUND, undefined, 'ticket');
		await ok(s.cityLeader, 'report.summary', { ...p, agency_id: s.ids.get('DN-P-BIENHOA') });
	});

	test('bad parameters → -32602 naming the field', async () => {
		const ward = s.ids.get('DN-P-TRANBIEN');
		const bad = [
			[{ agency_id: ward, from: '2026-02-01', to: '2026-01-31' }, '/to', 'before_from'],
			[{ agency_id: ward, from: '2016-01-01', to: '2026-01-31' }, '/to', 'range_too_long'],
			[{ agency_id: ward, period: '2026-H3' }, '/period', 'format'],
			[{ agency_id: ward, period: '2026-13' }, '/period', 'format'],
			[{ agency_id: ward, period: '26' }, '/period', undefined],
			[{ agency_id: ward, period: '2026', from: '2026-01-01' }, '/from', 'conflicts_with_period'],
			[{ agency_id: ward }, '/from', 'required'],
			[{ agency_id: ward, from: '2026-01-01' }, '/to', 'required'],
			[{ agency_id: ward, from: '2026-02-30', to: '2026-03-01' }, '/from', undefined],
			[{ agency_id: ward, period: '2026', explain: 'totals.nope' }, '/explain', 'unknown_indicator'],
			[{ agency_id: ward, period: '2026', explain: 'by_kind.nope.received' }, '/explain', 'unknown_indicator'],
			[{ agency_id: ward, period: '2026', explain: 'totals' }, '/explain', 'unknown_indicator'],
			[{ agency_id: ward, period: '2026', explain: true }, '/explain', undefined],
			[{ agency_id: ward, period: '2026', colour: 'red' }, '/colour', undefined],
			[{ from: '2026-01-01', to: '2026-01-02' }, '/agency_id', undefined],
		];
		for (const [params, field, reason] of bad) {
			const r = await s.leader.call('report.summary', params);
			invalidAt(r, field, reason, JSON.stringify(params));
		}
		invalidAt(await s.leader.call('report.ticket', { agency_id: ward, period: '2026', format: 'xml' }), '/format', undefined, 'format');
		invalidAt(await s.leader.call('report.ticket', { agency_id: ward, period: '2026' }), '/format', undefined, 'no format');
		invalidAt(await s.leader.call('report.hotspots', { cursor: 'x' }), '/cursor', 'format', 'cursor');
		invalidAt(await s.leader.call('report.hotspots', { since: 'yesterday' }), '/since', undefined, 'since');
	});
});

describe('exports through report.ticket', () => {
	test('CSV: UTF-8 with BOM, one header row, Vietnamese names, no denouncer identity; single use', async () => {
		const p = { agency_id: s.ids.get('DN-P-TRANBIEN'), from: '2025-12-15', to: today, explain: 'by_kind.denunciation.received' };
		const t = await ok(s.leader, 'report.ticket', { ...p, format: 'csv' });
		assert.match(t.url, /^\/api\/reports\/[A-Za-z0-9_-]+\.csv$/);
		const res = await fetch(`http://127.0.0.1:${server.port}${t.url}`);
		assert.equal(res.status, 200);
		assert.equal(res.headers.get('content-type'), 'text/csv; charset=utf-8');
		const bytes = Buffer.from(await res.arrayBuffer());
		assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'byte order mark');
		const text = bytes.subarray(3).toString('utf8');
		const lines = text.split('\r\n');
		assert.equal(lines[0], 'from,to,section,key,name,indicator,value');
		assert.equal(lines.filter((l) => l.startsWith('from,')).length, 1, 'one header row');
		assert.ok(lines.includes(`2025-12-15,${today},totals,,,received,8`), text.slice(0, 300));
		assert.ok(lines.includes(`2025-12-15,${today},by_field,environment,Môi trường,received,3`));
		assert.ok(lines.includes(`2025-12-15,${today},by_kind,denunciation,Tố cáo,received,1`));
		assert.ok(lines.includes(`2025-12-15,${today},reception,,,people,9`), 'the eight of the set-up and the one at midnight');
		assert.ok(lines.includes(`2025-12-15,${today},cases,by_kind.denunciation.received,,case_id,${c.F}`));
		for (const secret of [DENOUNCER.full_name, DENOUNCER.national_id, DENOUNCER.address]) {
			assert.ok(!text.includes(secret), `the export does not show ${secret}`);
		}
		const again = await fetch(`http://127.0.0.1:${server.port}${t.url}`);
		assert.equal(again.status, 404, 'a ticket is used once');
		await again.arrayBuffer();
	});

	test('JSON: the answer of report.summary', async () => {
		const p = { agency_id: s.ids.get('DN'), include_children: true, from: '2025-12-15', to: today };
		const t = await ok(s.inspector, 'report.ticket', { ...p, format: 'json' });
		const res = await fetch(`http://127.0.0.1:${server.port}${t.url}`);
		assert.equal(res.status, 200);
		assert.equal(res.headers.get('content-type'), 'application/json');
		const text = await res.text();
		const body = JSON.parse(text);
		const rep = await ok(s.inspector, 'report.summary', p);
		assert.deepEqual(body.totals, rep.totals);
		assert.deepEqual(body.by_agency, rep.by_agency);
		assert.ok(!text.includes(DENOUNCER.full_name) && !text.includes(DENOUNCER.national_id));
		const wrong = await fetch(`http://127.0.0.1:${server.port}/api/reports/${'A'.repeat(32)}.json`);
		assert.equal(wrong.status, 404);
		await wrong.arrayBuffer();
	});
});

describe('an agency moved in the tree', () => {
	test('a ward moved under Trấn Biên counts in its tree from then on, and its leader reaches it', async () => {
		const ward = s.ids.get('DN-P-TRANBIEN');
		const moved = s.ids.get('DN-P-BIENHOA');
		const r = await submit(s.citizen, petition('feedback', s.ids, { locality_code: 'DN-P-BIENHOA' }));
		assert.equal(r.agency.code, 'DN-P-BIENHOA');
		const p = { agency_id: ward, from: today, to: today, include_children: true };
		const before = await ok(s.leader, 'report.summary', p);
		assert.deepEqual(Object.keys(before.by_agency), [ward]);
		await fails(s.leader, 'report.summary', { ...p, agency_id: moved }, NOT_FOUND);
		await ok(s.admin, 'admin.agency.update', { agency_id: moved, parent_id: ward });
		try {
			const afterMove = await ok(s.leader, 'report.summary', { ...p, explain: `by_agency.${moved}.received` });
			assert.deepEqual(Object.keys(afterMove.by_agency).sort(), [ward, moved].sort());
			assert.equal(afterMove.by_agency[moved].received, 1);
			assert.equal(afterMove.totals.received, before.totals.received + 1);
			assert.deepEqual(afterMove.cases, [r.case_id]);
			assertSums(afterMove, 'moved');
			await ok(s.leader, 'report.summary', { ...p, agency_id: moved });
			const alone = await ok(s.leader, 'report.summary', { ...p, include_children: false });
			assert.equal(alone.totals.received, before.totals.received, 'without children: the ward alone');
		} finally {
			await ok(s.admin, 'admin.agency.update', { agency_id: moved, parent_id: s.ids.get('DN') });
		}
		await fails(s.leader, 'report.summary', { ...p, agency_id: moved }, NOT_FOUND, undefined, 'moved back');
	});
});

describe('hot spots', () => {
	let h; // a server of its own: 3 petitions within 30 days make a hot spot
	before(async () => {
		const srv = await startServer({ demo: true, args: ['--hotspot-count', '3', '--hotspot-window-days', '30'] });
		h = await demoSessions(srv);
	});

	test('the third petition on one locality and field: an event to leaders and inspectors, the list, the flag', async () => {
		const fb = (n) => petition('feedback', h.ids, { title: `Phản ánh rác thải số ${n}` });
		const one = await submit(h.citizen, fb(1));
		const two = await submit(h.citizen, fb(2));
		assert.deepEqual((await ok(h.inspector, 'report.hotspots', {})).items, [], 'two are not a hot spot');
		const three = await submit(h.citizen, fb(3));
		for (const who of [h.inspector, h.leader, h.cityLeader]) {
			const ev = await waitNotification(who, 'event.report.hotspot');
			const spot = ev.params.hotspot;
			assert.equal(spot.kind, 'locality_field');
			assert.equal(spot.locality_code, 'DN-P-TRANBIEN');
			assert.equal(spot.field, 'environment');
			assert.equal(spot.count, 3);
			assert.equal(spot.threshold, 3);
			assert.equal(spot.window_days, 30);
			assert.deepEqual([...spot.case_ids].sort(), [one.case_id, two.case_id, three.case_id].sort());
		}
		const list = await ok(h.leader, 'report.hotspots', {});
		assert.equal(list.items.length, 1);
		assert.equal(list.next_cursor, null);
		assert.equal((await getCase(h.official, three.case_id)).hotspot, true);
		const other = await submit(h.citizen, petition('recommendation', h.ids));
		assert.equal((await getCase(h.official, other.case_id)).hotspot, false);
		await fails(h.leader, 'report.hotspots', { agency_id: h.ids.get('DN-P-BIENHOA') }, NOT_FOUND);
		assert.deepEqual((await ok(h.inspector, 'report.hotspots', { agency_id: h.ids.get('DN-P-BIENHOA') })).items, []);
		/* A fourth joins the open hot spot: no new one. */
		const four = await submit(h.citizen, fb(4));
		const mass = await submit(h.citizen, petition('recommendation', h.ids, {
			co_petitioners: Array.from({ length: 4 }, (_, i) => ({ full_name: `Trần Văn Nhóm ${'ABCD'[i]}`, national_id: `07701999000${i}` })),
			representatives: ['077019990001'],
		}));
		assert.equal(mass.case.mass, true);
		const ev = await waitNotification(h.inspector, 'event.report.hotspot');
		assert.equal(ev.params.hotspot.kind, 'mass', 'a mass petition is a hot spot of its own');
		assert.deepEqual(ev.params.hotspot.case_ids, [mass.case_id]);
		const all = await ok(h.inspector, 'report.hotspots', {});
		assert.deepEqual(all.items.map((i) => i.kind), ['mass', 'locality_field']);
		assert.equal(all.items[1].count, 4);
		assert.ok(all.items[1].case_ids.includes(four.case_id));
		const page = await ok(h.inspector, 'report.hotspots', { limit: 1 });
		assert.equal(page.items.length, 1);
		const next = await ok(h.inspector, 'report.hotspots', { limit: 1, cursor: page.next_cursor });
		assert.equal(next.items[0].kind, 'locality_field');
	});

	test('three complaints against one respondent from different places: a respondent hot spot', async () => {
		const ward = h.ids.get('DN-P-TRANBIEN');
		const places = [['DN-P-TAMHIEP', 'land'], ['DN-P-LONGBINH', 'administration'], ['DN-P-HONAI', 'justice']];
		const ids = [];
		for (const [locality, field] of places) {
			const r = await submit(h.citizen, petition('complaint', h.ids, { locality_code: locality, field }));
			ids.push(r.case_id);
		}
		const ev = await waitNotification(h.inspector, 'event.report.hotspot');
		assert.equal(ev.params.hotspot.kind, 'respondent');
		assert.equal(ev.params.hotspot.respondent_agency_id, ward);
		assert.deepEqual([...ev.params.hotspot.case_ids].sort(), [...ids].sort());
	});
});
