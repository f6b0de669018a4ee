// SPDX-License-Identifier: AGPL-3.0-or-later
//
// dialogue.schedule through the protocol (docs/schedule.md, "Dialogues"): the
// written notice as configured (`[schedule] dialogue_notice_days = 1` here),
// no participant double-booked against their appointments (as citizen or as
// host) and other dialogues — refused with the conflicts listed, ids only of
// what the caller may see — staff overriding with a reason recorded in the
// case timeline, and two overlapping schedules racing for one participant:
// exactly one wins.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { describe, runServerToExit, startServer, stopAllServers, test } from './lib/harness.mjs';
import { DEMO, agencyIds, sqliteRows } from './lib/auth-helpers.mjs';
import {
	CONFLICT,
	INVALID,
	fails,
	login,
	newCitizen,
	ok,
	petition,
	submit,
	todayVN,
	workingDeadline,
} from './lib/case-helpers.mjs';

const at = (date, hm) => `${date}T${hm}:00+07:00`;
/* RFC 3339 in +07:00 of a Unix time in ms, whole minutes (rounded up). */
const vn = (ms) => new Date(Math.ceil(ms / 60_000) * 60_000 + 7 * 3600_000).toISOString().slice(0, 19) + '+07:00';
const ahead = (n) => workingDeadline(todayVN(), n);

let server;
let s;
let ids;
let ward;
let city;

before(async () => {
	server = await startServer({ demo: true, config: { schedule: { dialogue_notice_days: 1 } } });
	s = {};
	for (const key of ['official', 'leader', 'staff', 'cityLeader']) {
		s[key] = await login(server, DEMO[key]);
	}
	ids = await agencyIds(s.staff);
	ward = ids.get('DN-P-TRANBIEN');
	city = ids.get('DN');
});

after(stopAllServers);

/* A complaint of a new citizen at the ward: the case a dialogue belongs to. */
async function newCase() {
	const c = await newCitizen(server);
	const kase = await submit(c.client, petition('complaint', ids, { address: '12 Nguyễn Ái Quốc, phường Trấn Biên' }));
	return { c, caseId: kase.case_id };
}

function dialogue(caseId, day, from, to, participants, over = {}) {
	return { case_id: caseId, start: at(day, from), end: at(day, to), mode: 'in_person', location: 'Hội trường UBND phường', participants, ...over };
}

describe('dialogue.schedule: notice', () => {
	test('the notice is the configured dialogue_notice_days (1 day here)', async () => {
		const { c, caseId } = await newCase();
		const parts = [{ user_id: c.user_id, role: 'complainant' }];
		const soon = Date.now() + 20 * 3600_000;
		const e = await fails(s.staff, 'dialogue.schedule', { case_id: caseId, start: vn(soon), end: vn(soon + 3600_000), mode: 'online', participants: parts }, CONFLICT, 'too_soon');
		assert.equal(e.data.notice_days, 1);
		// 26 hours ahead: more than one day's notice, far less than the default five.
		const later = Date.now() + 26 * 3600_000;
		const { dialogue } = await ok(s.staff, 'dialogue.schedule', { case_id: caseId, start: vn(later), end: vn(later + 3600_000), mode: 'online', participants: parts });
		assert.equal(dialogue.case_id, caseId);
	});

	test('dialogue_notice_days outside 1…365 stops the server with status 2', async () => {
		for (const bad of ['0', '366', 'x']) {
			const r = await runServerToExit(['--dialogue-notice-days', bad, '--listen', '127.0.0.1:0']);
			assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
			assert.match(r.stderr, /dialogue.notice.days/, r.stderr);
		}
	});
});

describe('dialogue.schedule: double booking', () => {
	test('a participant holding an appointment (as citizen or host) or another dialogue then is refused, conflicts listed', async () => {
		const d = ahead(8);
		const { c, caseId } = await newCase();
		const other = await newCitizen(server);
		// c books 09:00–09:30 at the ward, hosted by the ward's official.
		const sch = await ok(s.staff, 'schedule.create', {
			agency_id: ward, host_id: s.official.user.id, start: at(d, '09:00'), end: at(d, '09:30'), slot_minutes: 30, capacity: 2, mode: 'in_person',
		});
		const appt = (await ok(c.client, 'appointment.book', { slot_id: sch.slots[0].slot_id, topic: 'Đất đai' })).appointment;
		const parts = [
			{ user_id: c.user_id, role: 'complainant' },
			{ user_id: s.official.user.id, role: 'resolver' },
			{ user_id: other.user_id, role: 'interested_party' },
		];
		const e = await fails(s.staff, 'dialogue.schedule', dialogue(caseId, d, '09:15', '10:15', parts), CONFLICT, 'double_booked');
		assert.equal(e.data.truncated, false);
		const byUser = (u) => e.data.conflicts.filter((x) => x.user_id === u);
		assert.deepEqual(byUser(c.user_id), [{ user_id: c.user_id, kind: 'appointment', as: 'citizen', id: appt.id, start: at(d, '09:00'), end: at(d, '09:30') }]);
		assert.deepEqual(byUser(s.official.user.id), [{ user_id: s.official.user.id, kind: 'appointment', as: 'host', id: appt.id, start: at(d, '09:00'), end: at(d, '09:30') }]);
		assert.deepEqual(byUser(other.user_id), [], 'a participant without commitments is not listed');
		assert.equal(e.data.conflicts.length, 2);
		// Nothing was written.
		assert.deepEqual(sqliteRows(server.dataDir, `SELECT count(*) AS n FROM dialogues WHERE case_id = '${caseId}'`), [{ n: 0 }]);

		// Right after the appointment (end excluded): no conflict.
		const first = (await ok(s.staff, 'dialogue.schedule', dialogue(caseId, d, '09:30', '10:30', parts))).dialogue;
		// Another dialogue overlapping that one, for one of its participants.
		const e2 = await fails(s.staff, 'dialogue.schedule', dialogue(caseId, d, '10:00', '11:00', [{ user_id: other.user_id, role: 'interested_party' }]), CONFLICT, 'double_booked');
		assert.deepEqual(e2.data.conflicts, [{ user_id: other.user_id, kind: 'dialogue', as: 'participant', id: first.id, start: at(d, '09:30'), end: at(d, '10:30') }]);
		// A cancelled appointment is no conflict.
		await ok(c.client, 'appointment.cancel', { appointment_id: appt.id, reason: 'Bận' });
		await ok(s.staff, 'dialogue.schedule', dialogue(caseId, d, '08:45', '09:30', [{ user_id: c.user_id, role: 'complainant' }]));
	});

	test('the other way round: a citizen invited to a dialogue cannot book a slot overlapping it (-32009 overlap); a touching slot and other citizens can', async () => {
		const d = ahead(11);
		const { c, caseId } = await newCase();
		const other = await newCitizen(server);
		await ok(s.staff, 'dialogue.schedule', dialogue(caseId, d, '10:00', '11:00', [{ user_id: c.user_id, role: 'complainant' }]));
		const sch = await ok(s.staff, 'schedule.create', {
			agency_id: ward, host_id: s.official.user.id, start: at(d, '10:30'), end: at(d, '11:30'), slot_minutes: 30, capacity: 2, mode: 'in_person',
		});
		const [during, after] = sch.slots;
		await fails(c.client, 'appointment.book', { slot_id: during.slot_id, topic: 'Trùng giờ đối thoại' }, CONFLICT, 'overlap');
		await ok(other.client, 'appointment.book', { slot_id: during.slot_id, topic: 'Người khác' });
		await ok(c.client, 'appointment.book', { slot_id: after.slot_id, topic: 'Sau buổi đối thoại' });
	});

	test("an appointment of an agency the caller does not serve is told by its time only, without its id", async () => {
		const d = ahead(9);
		const { c, caseId } = await newCase();
		const sch = await ok(s.cityLeader, 'schedule.create', {
			agency_id: city, host_id: s.cityLeader.user.id, start: at(d, '14:00'), end: at(d, '14:30'), slot_minutes: 30, capacity: 1, mode: 'online',
		});
		await ok(c.client, 'appointment.book', { slot_id: sch.slots[0].slot_id, topic: 'Việc riêng ở thành phố' });
		const e = await fails(s.staff, 'dialogue.schedule', dialogue(caseId, d, '14:00', '15:00', [{ user_id: c.user_id, role: 'complainant' }]), CONFLICT, 'double_booked');
		assert.deepEqual(e.data.conflicts, [{ user_id: c.user_id, kind: 'appointment', as: 'citizen', id: null, start: at(d, '14:00'), end: at(d, '14:30') }]);
		assert.ok(!JSON.stringify(e.data).includes('Việc riêng'), 'no topic');
	});

	test('staff override with a reason: scheduled, and the override is in the dialogue_scheduled timeline event', async () => {
		const d = ahead(10);
		const { c, caseId } = await newCase();
		const sch = await ok(s.staff, 'schedule.create', {
			agency_id: ward, host_id: s.official.user.id, start: at(d, '08:00'), end: at(d, '08:30'), slot_minutes: 30, capacity: 1, mode: 'in_person',
		});
		await ok(c.client, 'appointment.book', { slot_id: sch.slots[0].slot_id, topic: 'x' });
		const parts = [
			{ user_id: c.user_id, role: 'complainant' },
			{ user_id: s.leader.user.id, role: 'resolver' },
		];
		const p = dialogue(caseId, d, '08:00', '09:00', parts);
		await fails(s.staff, 'dialogue.schedule', p, CONFLICT, 'double_booked');
		const noReason = await fails(s.staff, 'dialogue.schedule', { ...p, override: true }, INVALID);
		assert.equal(noReason.data.field, '/override_reason');
		const noOverride = await fails(s.staff, 'dialogue.schedule', { ...p, override_reason: 'Công dân xin đổi' }, INVALID);
		assert.equal(noOverride.data.field, '/override');
		await fails(s.staff, 'dialogue.schedule', { ...p, override: true, override_reason: '' }, INVALID);
		await fails(s.staff, 'dialogue.schedule', { ...p, override: true, override_reason: 'x'.repeat(501) }, INVALID);
		const reason = 'Công dân đồng ý dời lịch tiếp để dự đối thoại';
		const { dialogue: dlg } = await ok(s.leader, 'dialogue.schedule', { ...p, override: true, override_reason: reason });
		const tl = await ok(s.official, 'case.timeline', { case_id: caseId });
		const ev = tl.items.find((x) => x.action === 'dialogue_scheduled' && x.data.dialogue_id === dlg.id);
		assert.ok(ev, JSON.stringify(tl.items));
		assert.deepEqual(ev.data.override, { reason, participants: [c.user_id] });
		assert.equal(ev.actor, s.leader.user.id);
		assert.equal((await ok(s.leader, 'case.verify_chain', { case_id: caseId })).ok, true);
		// The citizen's view of the timeline tells who was double-booked, never with what.
		const mine = await ok(c.client, 'case.timeline', { case_id: caseId });
		const seen = mine.items.find((x) => x.action === 'dialogue_scheduled' && x.data.dialogue_id === dlg.id);
		assert.deepEqual(Object.keys(seen.data.override).sort(), ['participants', 'reason']);
	});

	test('two overlapping schedules racing for one participant: exactly one wins', async () => {
		const d = ahead(11);
		for (let round = 0; round < 5; round++) {
			const { c, caseId } = await newCase();
			const parts = [{ user_id: c.user_id, role: 'complainant' }];
			const from = `${String(8 + round).padStart(2, '0')}:00`;
			const to = `${String(9 + round).padStart(2, '0')}:00`;
			const mid = `${String(8 + round).padStart(2, '0')}:30`;
			const midEnd = `${String(9 + round).padStart(2, '0')}:30`;
			// Both written before either answer is read; the leader and the staff of the agency.
			const [a, b] = await Promise.all([
				s.staff.call('dialogue.schedule', dialogue(caseId, d, from, to, parts)),
				s.leader.call('dialogue.schedule', dialogue(caseId, d, mid, midEnd, parts)),
			]);
			const wins = [a, b].filter((r) => r.result);
			const losses = [a, b].filter((r) => r.error);
			assert.equal(wins.length, 1, `round ${round}: ${JSON.stringify([a, b])}`);
			assert.equal(losses[0].error.code, CONFLICT);
			assert.equal(losses[0].error.data.reason, 'double_booked');
			assert.deepEqual(
				losses[0].error.data.conflicts.map((x) => [x.user_id, x.kind, x.id]),
				[[c.user_id, 'dialogue', wins[0].result.dialogue.id]],
			);
			const rows = sqliteRows(server.dataDir, `SELECT count(*) AS n FROM dialogue_participants WHERE user_id = '${c.user_id}'`);
			assert.deepEqual(rows, [{ n: 1 }]);
		}
	});
});
