// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Schedules, slots and appointments through the protocol (PROTOCOL.md §6,
// DOMAIN.md §5, docs/schedule.md): publishing (5 working days' notice, ad
// hoc, weekends and holidays skipped), listing slots, booking with its
// refusals (full, overlap, limit), cancellation (its window, staff with a
// reason, the citizen's event), atomic reschedule, listing appointments, the
// waiting list, and 1,000 concurrent booking attempts from 100 connections
// checked against the database.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { describe, startServer, stopAllServers, test } from './lib/harness.mjs';
import { DEMO, agencyIds, sqliteRows } from './lib/auth-helpers.mjs';
import {
	CONFLICT,
	FORBIDDEN,
	INVALID,
	NOT_FOUND,
	addDays,
	fails,
	isWorkingDay,
	login,
	newCitizen,
	newStaffAccount,
	ok,
	petition,
	submit,
	todayVN,
	waitFor,
	workingDeadline,
} from './lib/case-helpers.mjs';

const at = (date, hm) => `${date}T${hm}:00+07:00`;

let server;
let s; // sessions
let ward;
let city;

/* A working day n working days after today, in Vietnam. */
const ahead = (n) => workingDeadline(todayVN(), n);

/* Runs fns (functions returning promises) at most `width` at a time. */
async function pool(fns, width) {
	const out = new Array(fns.length);
	let next = 0;
	async function worker() {
		while (next < fns.length) {
			const i = next++;
			out[i] = await fns[i]();
		}
	}
	await Promise.all(Array.from({ length: Math.min(width, fns.length) }, worker));
	return out;
}

/* schedule.create by the ward's staff, hosted by the ward's official unless told. */
function schedule(over = {}) {
	return {
		agency_id: ward,
		host_id: s.official.user.id,
		slot_minutes: 30,
		capacity: 2,
		mode: 'in_person',
		location: 'Phòng tiếp công dân, UBND phường Trấn Biên',
		...over,
	};
}

before(async () => {
	server = await startServer({ demo: true });
	s = {};
	for (const key of ['citizen', 'official', 'leader', 'staff', 'cityLeader']) {
		s[key] = await login(server, DEMO[key]);
	}
	const ids = await agencyIds(s.staff);
	ward = ids.get('DN-P-TRANBIEN');
	city = ids.get('DN');
});

after(stopAllServers);

describe('schedule.create', () => {
	test('a schedule less than 5 working days ahead is refused unless ad hoc', async () => {
		const soon = ahead(4);
		await fails(s.staff, 'schedule.create', schedule({ start: at(soon, '08:00'), end: at(soon, '09:00') }), CONFLICT, 'too_soon');
		const r = await ok(s.staff, 'schedule.create', schedule({ start: at(soon, '08:00'), end: at(soon, '09:00'), ad_hoc: true }));
		assert.equal(r.slots.length, 2);
		const five = ahead(5);
		const r5 = await ok(s.staff, 'schedule.create', schedule({ start: at(five, '08:00'), end: at(five, '08:30') }));
		assert.equal(r5.slots.length, 1, 'exactly 5 working days ahead is enough');
	});

	test('slots are cut from the window and never fall on a weekend or a public holiday', async (t) => {
		if (todayVN() > '2026-12-20') {
			t.skip('the dates of this test (31 Dec 2026 – 4 Jan 2027) are too close or past');
			return;
		}
		// Thu 31 Dec, Fri 1 Jan (New Year), Sat 2, Sun 3, Mon 4 Jan.
		const r = await ok(
			s.staff,
			'schedule.create',
			schedule({ start: at('2026-12-31', '08:00'), end: at('2027-01-04', '09:30'), slot_minutes: 45, capacity: 3 }),
		);
		assert.match(r.schedule_id, /^[A-Za-z0-9_-]{22}$/);
		const starts = r.slots.map((x) => x.start);
		assert.deepEqual(starts, [
			'2026-12-31T08:00:00+07:00',
			'2026-12-31T08:45:00+07:00',
			'2027-01-04T08:00:00+07:00',
			'2027-01-04T08:45:00+07:00',
		]);
		for (const x of r.slots) {
			assert.ok(isWorkingDay(x.start.slice(0, 10)));
			assert.equal(x.remaining, 3);
			assert.equal(x.mode, 'in_person');
			assert.equal(x.host.id, s.official.user.id);
			assert.equal(typeof x.host.full_name, 'string');
			assert.equal(x.agency_id, ward);
		}
	});

	test('a weekly repeat publishes the same window each week until the date', async () => {
		const d = ahead(10);
		const r = await ok(
			s.staff,
			'schedule.create',
			schedule({ start: at(d, '14:00'), end: at(d, '15:00'), slot_minutes: 60, repeat: { freq: 'weekly', until: addDays(d, 21) } }),
		);
		const expected = [0, 7, 14, 21].map((k) => addDays(d, k)).filter(isWorkingDay);
		assert.deepEqual(
			r.slots.map((x) => x.start.slice(0, 10)),
			expected,
		);
	});

	test('only staff or leaders of the agency; the host must be an official or leader there', async () => {
		const d = ahead(8);
		await fails(s.staff, 'schedule.create', schedule({ agency_id: city, start: at(d, '08:00'), end: at(d, '09:00') }), NOT_FOUND);
		await fails(s.official, 'schedule.create', schedule({ start: at(d, '08:00'), end: at(d, '09:00') }), FORBIDDEN);
		await fails(s.citizen, 'schedule.create', schedule({ start: at(d, '08:00'), end: at(d, '09:00') }), FORBIDDEN);
		const e = await fails(s.staff, 'schedule.create', schedule({ host_id: s.staff.user.id, start: at(d, '08:00'), end: at(d, '09:00') }), INVALID);
		assert.equal(e.data.field, '/host_id');
		const e2 = await fails(s.staff, 'schedule.create', schedule({ leader_day: true, start: at(d, '08:00'), end: at(d, '09:00') }), INVALID);
		assert.equal(e2.data.field, '/leader_day');
		await fails(s.staff, 'schedule.create', schedule({ start: at(d, '09:00'), end: at(d, '08:00') }), INVALID);
		await fails(s.staff, 'schedule.create', schedule({ start: at(d, '08:00'), end: at(d, '09:00'), surprise: 1 }), INVALID);
		// A leader of the agency publishes too.
		await ok(s.leader, 'schedule.create', schedule({ host_id: s.leader.user.id, leader_day: true, start: at(d, '13:30'), end: at(d, '14:00') }));
	});
});

describe('appointment.slots', () => {
	test('lists slots in [from, to) with the seats remaining, pages with a cursor, anyone may ask', async () => {
		const d = ahead(12);
		const r = await ok(s.staff, 'schedule.create', schedule({ start: at(d, '08:00'), end: at(d, '10:00'), mode: 'online', capacity: 4 }));
		assert.equal(r.slots.length, 4);
		const anon = await server.connect();
		const all = await ok(anon, 'appointment.slots', { agency_id: ward, from: at(d, '00:00'), to: at(addDays(d, 1), '00:00') });
		assert.deepEqual(
			all.items.map((x) => x.slot_id),
			r.slots.map((x) => x.slot_id),
		);
		assert.equal(all.next_cursor, null);
		for (const x of all.items) {
			assert.deepEqual(Object.keys(x).sort(), ['agency_id', 'capacity', 'end', 'host', 'leader_day', 'location', 'mode', 'remaining', 'slot_id', 'start', 'waiting']);
			assert.equal(x.remaining, 4);
		}
		const only = await ok(anon, 'appointment.slots', { from: at(d, '08:30'), to: at(d, '09:30'), mode: 'online' });
		assert.deepEqual(
			only.items.map((x) => x.start),
			[at(d, '08:30'), at(d, '09:00')],
		);
		const none = await ok(anon, 'appointment.slots', { from: at(d, '00:00'), to: at(addDays(d, 1), '00:00'), mode: 'in_person', agency_id: ward });
		assert.equal(none.items.length, 0);
		// Paging.
		const seen = [];
		let cursor;
		for (;;) {
			const p = await ok(anon, 'appointment.slots', { agency_id: ward, from: at(d, '00:00'), to: at(addDays(d, 1), '00:00'), limit: 3, ...(cursor ? { cursor } : {}) });
			seen.push(...p.items.map((x) => x.slot_id));
			if (!p.next_cursor) {
				break;
			}
			cursor = p.next_cursor;
		}
		assert.deepEqual(seen, r.slots.map((x) => x.slot_id));
		await fails(anon, 'appointment.slots', { from: at(d, '10:00'), to: at(d, '08:00') }, INVALID);
		await fails(anon, 'appointment.slots', { from: at(d, '08:00') }, INVALID);
		await anon.close();
	});

	test("staff of the agency see whether the leader's reception days fall short", async () => {
		const d = ahead(15);
		await ok(s.staff, 'schedule.create', schedule({ start: at(d, '08:00'), end: at(d, '08:30') }));
		const q = { agency_id: ward, from: at(d, '00:00'), to: at(addDays(d, 1), '00:00') };
		const staffView = await ok(s.staff, 'appointment.slots', q);
		assert.ok(staffView.items.length >= 1);
		// A ward leader must receive one day a week; one leader day in one week of the month
		// cannot cover every week of it.
		for (const x of staffView.items) {
			assert.equal(x.leader_days_short, true);
		}
		const citizenView = await ok(s.citizen, 'appointment.slots', q);
		for (const x of citizenView.items) {
			assert.equal('leader_days_short' in x, false);
		}
	});
});

describe('leader days', () => {
	test('a city with one leader day in a month is not short; a month without one is', async () => {
		const admin = await login(server, DEMO.admin);
		const acct = await newStaffAccount(admin, { role: 'staff', agencyId: city, login: 'vanthu.dongnai.lich', full_name: 'Văn thư Thành phố' });
		const cityStaff = await login(server, { login: acct.login, password: acct.password });
		const base = { agency_id: city, host_id: s.cityLeader.user.id, slot_minutes: 30, capacity: 5, mode: 'in_person' };
		const d1 = ahead(30);
		await ok(cityStaff, 'schedule.create', { ...base, leader_day: true, start: at(d1, '08:00'), end: at(d1, '08:30') });
		// Two months later, a slot that is not a leader day.
		let [y, m] = d1.split('-').map(Number);
		m += 2;
		if (m > 12) {
			m -= 12;
			y += 1;
		}
		let d2 = `${y}-${String(m).padStart(2, '0')}-10`;
		while (!isWorkingDay(d2)) {
			d2 = addDays(d2, 1);
		}
		await ok(cityStaff, 'schedule.create', { ...base, start: at(d2, '08:00'), end: at(d2, '08:30') });
		const view = async (d) => (await ok(cityStaff, 'appointment.slots', { agency_id: city, from: at(d, '00:00'), to: at(addDays(d, 1), '00:00') })).items;
		const [one] = await view(d1);
		assert.equal(one.leader_day, true);
		assert.equal(one.leader_days_short, false);
		const [two] = await view(d2);
		assert.equal(two.leader_day, false);
		assert.equal(two.leader_days_short, true);
		// The ward's staff see no such field for the city's slots.
		const [other] = (await ok(s.staff, 'appointment.slots', { agency_id: city, from: at(d1, '00:00'), to: at(addDays(d1, 1), '00:00') })).items;
		assert.equal('leader_days_short' in other, false);
		await admin.close();
	});
});

describe('appointment.book', () => {
	test('books the lowest free seat; refuses full, overlap, a case not theirs, unknown slot', async () => {
		const d = ahead(20);
		const a = await ok(s.staff, 'schedule.create', schedule({ start: at(d, '08:00'), end: at(d, '09:00'), capacity: 2 }));
		// An overlapping schedule of the leader: 08:15–09:15.
		const b = await ok(s.staff, 'schedule.create', schedule({ host_id: s.leader.user.id, start: at(d, '08:15'), end: at(d, '09:15'), slot_minutes: 60 }));
		const c1 = await newCitizen(server);
		const c2 = await newCitizen(server);
		const c3 = await newCitizen(server);
		const slot = a.slots[0].slot_id;
		const r1 = await ok(c1.client, 'appointment.book', { slot_id: slot, topic: 'Hỏi về thủ tục đất đai' });
		const ap = r1.appointment;
		assert.deepEqual(
			Object.keys(ap).sort(),
			['agency_id', 'cancel_reason', 'cancelled_at', 'case_id', 'citizen_id', 'created_at', 'end', 'host', 'id', 'location', 'mode', 'seat', 'slot_id', 'start', 'status', 'topic'].sort(),
		);
		assert.equal(ap.seat, 1);
		assert.equal(ap.status, 'active');
		assert.equal(ap.start, at(d, '08:00'));
		assert.equal(ap.end, at(d, '08:30'));
		assert.equal(ap.host.id, s.official.user.id);
		assert.equal(ap.cancelled_at, null);
		assert.equal(ap.case_id, null);
		const r2 = await ok(c2.client, 'appointment.book', { slot_id: slot, topic: 'Khiếu nại' });
		assert.equal(r2.appointment.seat, 2);
		await fails(c3.client, 'appointment.book', { slot_id: slot, topic: 'x' }, CONFLICT, 'full');
		// The same slot again, and an overlapping one.
		await fails(c1.client, 'appointment.book', { slot_id: slot, topic: 'again' }, CONFLICT, 'overlap');
		await fails(c1.client, 'appointment.book', { slot_id: b.slots[0].slot_id, topic: 'x' }, CONFLICT, 'overlap');
		// The next slot of the same schedule (08:30–09:00) does not overlap 08:00–08:30.
		await ok(c1.client, 'appointment.book', { slot_id: a.slots[1].slot_id, topic: 'x' });
		const slots = await ok(c3.client, 'appointment.slots', { agency_id: ward, from: at(d, '08:00'), to: at(d, '08:01') });
		assert.equal(slots.items.find((x) => x.slot_id === slot).remaining, 0);
		await fails(c3.client, 'appointment.book', { slot_id: 'AAAAAAAAAAAAAAAAAAAAAA', topic: 'x' }, NOT_FOUND);
		await fails(c3.client, 'appointment.book', { slot_id: a.slots[1].slot_id, topic: 'x', case_id: 'AAAAAAAAAAAAAAAAAAAAAA' }, NOT_FOUND);
		await fails(c3.client, 'appointment.book', { slot_id: a.slots[1].slot_id }, INVALID);
		// A case of another citizen is "not found"; their own is linked.
		const ids = await agencyIds(s.staff);
		const theirs = await submit(c2.client, petition('recommendation', ids));
		const e = await fails(c3.client, 'appointment.book', { slot_id: a.slots[1].slot_id, topic: 'x', case_id: theirs.case_id }, NOT_FOUND);
		assert.equal(e.data?.field, '/case_id');
		const mine = await submit(c3.client, petition('feedback', ids));
		const linked = await ok(c3.client, 'appointment.book', { slot_id: a.slots[1].slot_id, topic: 'Về phản ánh', case_id: mine.case_id });
		assert.equal(linked.appointment.case_id, mine.case_id);
		assert.equal(linked.appointment.seat, 2);
		await fails(s.staff, 'appointment.book', { slot_id: a.slots[1].slot_id, topic: 'x' }, FORBIDDEN);
		// The schema holds: never two active holders of one seat.
		const dup = sqliteRows(server.dataDir, "SELECT slot_id, seat, count(*) AS n FROM appointments WHERE status = 'active' GROUP BY slot_id, seat HAVING n > 1");
		assert.deepEqual(dup, []);
	});

	test('a citizen holds at most max_active_bookings (3) active bookings', async () => {
		const d = ahead(21);
		const r = await ok(s.staff, 'schedule.create', schedule({ start: at(d, '08:00'), end: at(d, '10:00') }));
		const c = await newCitizen(server);
		for (let i = 0; i < 3; i++) {
			await ok(c.client, 'appointment.book', { slot_id: r.slots[i].slot_id, topic: `Lần ${i}` });
		}
		await fails(c.client, 'appointment.book', { slot_id: r.slots[3].slot_id, topic: 'one more' }, CONFLICT, 'limit');
	});
});

describe('cancel, reschedule, list', () => {
	test('the owner cancels; staff cancel with a reason and the citizen is told', async () => {
		const d = ahead(22);
		const r = await ok(s.staff, 'schedule.create', schedule({ start: at(d, '08:00'), end: at(d, '09:00'), capacity: 1 }));
		const c = await newCitizen(server);
		const other = await newCitizen(server);
		const a = (await ok(c.client, 'appointment.book', { slot_id: r.slots[0].slot_id, topic: 'Đất' })).appointment;
		await fails(other.client, 'appointment.cancel', { appointment_id: a.id, reason: 'not mine' }, NOT_FOUND);
		await fails(s.official, 'appointment.cancel', { appointment_id: a.id, reason: 'x' }, FORBIDDEN);
		const mine = (await ok(c.client, 'appointment.cancel', { appointment_id: a.id, reason: 'Bận việc' })).appointment;
		assert.equal(mine.status, 'cancelled');
		assert.equal(mine.cancel_reason, 'Bận việc');
		assert.ok(mine.cancelled_at);
		await fails(c.client, 'appointment.cancel', { appointment_id: a.id, reason: 'again' }, CONFLICT, 'cancelled');
		// The seat is free again; staff cancel the next booking.
		const b = (await ok(other.client, 'appointment.book', { slot_id: r.slots[0].slot_id, topic: 'Môi trường' })).appointment;
		assert.equal(b.seat, 1);
		const byStaff = (await ok(s.staff, 'appointment.cancel', { appointment_id: b.id, reason: 'Lãnh đạo đi công tác' })).appointment;
		assert.equal(byStaff.status, 'cancelled');
		const ev = await waitFor(other.client, (m) => m.method === 'event.appointment.updated' && m.params.appointment.id === b.id);
		assert.equal(ev.params.appointment.status, 'cancelled');
		assert.equal(ev.params.appointment.cancel_reason, 'Lãnh đạo đi công tác');
		await fails(s.staff, 'appointment.cancel', { appointment_id: b.id }, INVALID);
	});

	test('reschedule is atomic: the old seat is kept when the new slot is full', async () => {
		const d = ahead(23);
		const r = await ok(s.staff, 'schedule.create', schedule({ start: at(d, '08:00'), end: at(d, '09:30'), capacity: 1 }));
		const [A, B, C] = r.slots.map((x) => x.slot_id);
		const x = await newCitizen(server);
		const y = await newCitizen(server);
		const ax = (await ok(x.client, 'appointment.book', { slot_id: A, topic: 'x' })).appointment;
		await ok(y.client, 'appointment.book', { slot_id: B, topic: 'y' });
		await fails(x.client, 'appointment.reschedule', { appointment_id: ax.id, slot_id: B }, CONFLICT, 'full');
		let rows = sqliteRows(server.dataDir, `SELECT slot_id, seat, status FROM appointments WHERE id = '${ax.id}'`);
		assert.deepEqual(rows, [{ slot_id: A, seat: 1, status: 'active' }]);
		await fails(x.client, 'appointment.reschedule', { appointment_id: ax.id, slot_id: A }, CONFLICT, 'same_slot');
		await fails(y.client, 'appointment.reschedule', { appointment_id: ax.id, slot_id: C }, NOT_FOUND);
		const moved = (await ok(x.client, 'appointment.reschedule', { appointment_id: ax.id, slot_id: C })).appointment;
		assert.equal(moved.id, ax.id);
		assert.equal(moved.slot_id, C);
		assert.equal(moved.seat, 1);
		rows = sqliteRows(server.dataDir, `SELECT count(*) AS n FROM appointments WHERE slot_id = '${A}' AND status = 'active'`);
		assert.equal(rows[0].n, 0, 'the old seat was released');
		// Staff move it back; the citizen is told.
		const back = (await ok(s.staff, 'appointment.reschedule', { appointment_id: ax.id, slot_id: A })).appointment;
		assert.equal(back.slot_id, A);
		const ev = await waitFor(x.client, (m) => m.method === 'event.appointment.updated' && m.params.appointment.slot_id === A);
		assert.equal(ev.params.appointment.id, ax.id);
	});

	test("appointment.list: a citizen's own, the agency's for its staff and leaders, paged", async () => {
		const d = ahead(24);
		const r = await ok(s.staff, 'schedule.create', schedule({ start: at(d, '08:00'), end: at(d, '09:30'), capacity: 2 }));
		const c = await newCitizen(server);
		const o = await newCitizen(server);
		const mine = [];
		for (const x of r.slots) {
			mine.push((await ok(c.client, 'appointment.book', { slot_id: x.slot_id, topic: 'x' })).appointment.id);
		}
		await ok(o.client, 'appointment.book', { slot_id: r.slots[0].slot_id, topic: 'o' });
		const own = await ok(c.client, 'appointment.list', { from: at(d, '00:00'), to: at(addDays(d, 1), '00:00') });
		assert.deepEqual(own.items.map((x) => x.id), mine);
		assert.equal(own.next_cursor, null);
		const paged = [];
		let cursor;
		for (;;) {
			const p = await ok(c.client, 'appointment.list', { from: at(d, '00:00'), limit: 2, ...(cursor ? { cursor } : {}) });
			paged.push(...p.items.map((x) => x.id));
			if (!p.next_cursor) {
				break;
			}
			cursor = p.next_cursor;
		}
		assert.deepEqual(paged, mine);
		for (const who of [s.staff, s.leader]) {
			const agency = await ok(who, 'appointment.list', { agency_id: ward, from: at(d, '00:00'), to: at(addDays(d, 1), '00:00') });
			assert.equal(agency.items.length, 4);
		}
		const outsider = await ok(s.cityLeader, 'appointment.list', { agency_id: ward, from: at(d, '00:00'), to: at(addDays(d, 1), '00:00') });
		assert.equal(outsider.items.length, 0);
		const anon = await server.connect();
		await fails(anon, 'appointment.list', {}, -32001);
		await anon.close();
	});
});

describe('waiting list', () => {
	test('a freed seat goes to the first in line, never to two people, even racing new bookings', async () => {
		const d = ahead(25);
		const r = await ok(s.staff, 'schedule.create', schedule({ start: at(d, '08:00'), end: at(d, '08:30'), capacity: 1 }));
		const slot = r.slots[0].slot_id;
		const [holder, first, second, ...racers] = await pool(
			Array.from({ length: 8 }, () => () => newCitizen(server)),
			4,
		);
		const held = (await ok(holder.client, 'appointment.book', { slot_id: slot, topic: 'h' })).appointment;
		await fails(first.client, 'appointment.wait', { slot_id: 'AAAAAAAAAAAAAAAAAAAAAA' }, NOT_FOUND);
		await fails(holder.client, 'appointment.wait', { slot_id: slot }, CONFLICT, 'booked');
		assert.deepEqual(await ok(first.client, 'appointment.wait', { slot_id: slot, topic: 'Chờ lượt' }), { position: 1 });
		assert.deepEqual(await ok(second.client, 'appointment.wait', { slot_id: slot }), { position: 2 });
		assert.deepEqual(await ok(first.client, 'appointment.wait', { slot_id: slot }), { position: 1 }, 'joining twice keeps the place');
		// The cancellation races five new bookings.
		const race = [
			holder.client.call('appointment.cancel', { appointment_id: held.id, reason: 'Bận' }),
			...racers.map((c) => c.client.call('appointment.book', { slot_id: slot, topic: 'race' })),
		];
		const answers = await Promise.all(race);
		assert.ok(answers[0].result, JSON.stringify(answers[0]));
		for (const a of answers.slice(1)) {
			assert.equal(a.error?.code, CONFLICT, JSON.stringify(a));
			assert.equal(a.error.data.reason, 'full');
		}
		const ev = await waitFor(first.client, (m) => m.method === 'event.appointment.updated' && m.params.appointment.slot_id === slot);
		assert.equal(ev.params.appointment.status, 'active');
		assert.equal(ev.params.appointment.topic, 'Chờ lượt');
		const rows = sqliteRows(server.dataDir, `SELECT citizen_id, seat FROM appointments WHERE slot_id = '${slot}' AND status = 'active'`);
		assert.deepEqual(rows, [{ citizen_id: first.user_id, seat: 1 }]);
		// The second is now first in line; leaving the line works once.
		const slots = await ok(second.client, 'appointment.slots', { agency_id: ward, from: at(d, '08:00'), to: at(d, '08:01') });
		assert.equal(slots.items.find((x) => x.slot_id === slot).waiting, 1);
		assert.deepEqual(await ok(second.client, 'appointment.unwait', { slot_id: slot }), {});
		await fails(second.client, 'appointment.unwait', { slot_id: slot }, NOT_FOUND);
		// A slot with seats left has no waiting list.
		const free = await ok(s.staff, 'schedule.create', schedule({ start: at(d, '10:00'), end: at(d, '10:30'), capacity: 1 }));
		await fails(second.client, 'appointment.wait', { slot_id: free.slots[0].slot_id }, CONFLICT, 'not_full');
		// A reschedule away frees the seat for the line too, in the same transaction.
		assert.deepEqual(await ok(second.client, 'appointment.wait', { slot_id: slot }), { position: 1 });
		const moved = (await ok(first.client, 'appointment.reschedule', { appointment_id: ev.params.appointment.id, slot_id: free.slots[0].slot_id })).appointment;
		assert.equal(moved.slot_id, free.slots[0].slot_id);
		const ev2 = await waitFor(second.client, (m) => m.method === 'event.appointment.updated' && m.params.appointment.slot_id === slot);
		assert.equal(ev2.params.appointment.status, 'active');
		const rows2 = sqliteRows(server.dataDir, `SELECT citizen_id FROM appointments WHERE slot_id = '${slot}' AND status = 'active'`);
		assert.deepEqual(rows2, [{ citizen_id: second.user_id }]);
	});
});

describe('concurrency', () => {
	test('1,000 concurrent booking attempts from 100 connections: exactly capacity succeed per slot', { timeout: 240_000 }, async () => {
		const srv = await startServer({ demo: true, config: { schedule: { max_active_bookings: 10 } } });
		const staff = await login(srv, DEMO.staff);
		const official = await login(srv, DEMO.official);
		const wardId = (await agencyIds(staff)).get('DN-P-TRANBIEN');
		const d = ahead(6);
		// Ten slots of ten seats, one after another (08:00 … 13:00).
		const r = await ok(staff, 'schedule.create', {
			agency_id: wardId,
			host_id: official.user.id,
			start: at(d, '08:00'),
			end: at(d, '13:00'),
			slot_minutes: 30,
			capacity: 10,
			mode: 'in_person',
		});
		assert.equal(r.slots.length, 10);
		const citizens = await pool(
			Array.from({ length: 100 }, () => () => newCitizen(srv)),
			12,
		);
		assert.equal(new Set(citizens.map((c) => c.user_id)).size, 100);
		// Every citizen sends its ten bookings at once, without waiting for answers.
		const calls = [];
		for (const c of citizens) {
			for (const x of r.slots) {
				calls.push(c.client.call('appointment.book', { slot_id: x.slot_id, topic: 'Tiếp công dân' }).then((a) => ({ a, slot: x.slot_id })));
			}
		}
		assert.equal(calls.length, 1000);
		const answers = await Promise.all(calls);
		const won = new Map(r.slots.map((x) => [x.slot_id, 0]));
		let full = 0;
		for (const { a, slot } of answers) {
			if (a.result) {
				won.set(slot, won.get(slot) + 1);
			} else {
				assert.equal(a.error?.code, CONFLICT, JSON.stringify(a));
				assert.equal(a.error.data.reason, 'full', JSON.stringify(a));
				full++;
			}
		}
		for (const [slot, n] of won) {
			assert.equal(n, 10, `slot ${slot}: ${n} bookings succeeded`);
		}
		assert.equal(full, 900);
		const rows = sqliteRows(
			srv.dataDir,
			"SELECT slot_id, count(*) AS n, count(DISTINCT seat) AS seats, min(seat) AS lo, max(seat) AS hi FROM appointments WHERE status = 'active' GROUP BY slot_id",
		);
		assert.equal(rows.length, 10);
		for (const row of rows) {
			assert.deepEqual({ n: row.n, seats: row.seats, lo: row.lo, hi: row.hi }, { n: 10, seats: 10, lo: 1, hi: 10 });
		}
		const total = sqliteRows(srv.dataDir, 'SELECT count(*) AS n FROM appointments');
		assert.equal(total[0].n, 100);
		await Promise.all(citizens.map((c) => c.client.close()));
		await srv.stop();
	});
});

describe('dialogues', () => {
	test('staff schedule a dialogue of a case; participants are invited, see it, and minutes go to the timeline once', async () => {
		const ids = await agencyIds(s.staff);
		const c = await newCitizen(server);
		const other = await newCitizen(server);
		const kase = await submit(c.client, petition('complaint', ids, { address: '12 Nguyễn Ái Quốc, phường Trấn Biên' }));
		const day = addDays(todayVN(), 8);
		const params = {
			case_id: kase.case_id,
			start: at(day, '09:00'),
			end: at(day, '10:30'),
			mode: 'in_person',
			location: 'Hội trường UBND phường',
			participants: [
				{ user_id: c.user_id, role: 'complainant' },
				{ user_id: s.official.user.id, role: 'resolver' },
			],
		};
		const soon = addDays(todayVN(), 2);
		await fails(s.staff, 'dialogue.schedule', { ...params, start: at(soon, '09:00'), end: at(soon, '10:00') }, CONFLICT, 'too_soon');
		await fails(s.cityLeader, 'dialogue.schedule', params, NOT_FOUND);
		await fails(s.official, 'dialogue.schedule', params, FORBIDDEN);
		const bad = await fails(s.staff, 'dialogue.schedule', { ...params, participants: [{ user_id: 'AAAAAAAAAAAAAAAAAAAAAA', role: 'respondent' }] }, INVALID);
		assert.equal(bad.data.field, '/participants/0/user_id');
		await fails(s.staff, 'dialogue.schedule', { ...params, participants: [{ user_id: c.user_id, role: 'judge' }] }, INVALID);
		const { dialogue } = await ok(s.staff, 'dialogue.schedule', params);
		assert.equal(dialogue.case_id, kase.case_id);
		assert.equal(dialogue.agency_id, ward);
		assert.equal(dialogue.start, at(day, '09:00'));
		assert.equal(dialogue.minutes, null);
		assert.deepEqual(
			dialogue.participants.map((p) => [p.user_id, p.role]),
			[
				[c.user_id, 'complainant'],
				[s.official.user.id, 'resolver'],
			],
		);
		const inv = await waitFor(c.client, (m) => m.method === 'event.dialogue.invited');
		assert.equal(inv.params.dialogue.id, dialogue.id);
		// Who sees it.
		assert.equal((await ok(c.client, 'dialogue.get', { dialogue_id: dialogue.id })).dialogue.id, dialogue.id);
		assert.equal((await ok(s.staff, 'dialogue.get', { dialogue_id: dialogue.id })).dialogue.id, dialogue.id);
		await fails(other.client, 'dialogue.get', { dialogue_id: dialogue.id }, NOT_FOUND);
		assert.deepEqual(
			(await ok(c.client, 'dialogue.list', {})).items.map((d) => d.id),
			[dialogue.id],
		);
		assert.deepEqual((await ok(other.client, 'dialogue.list', {})).items, []);
		assert.ok((await ok(s.staff, 'dialogue.list', { case_id: kase.case_id })).items.some((d) => d.id === dialogue.id));
		// Minutes, once, in the case timeline.
		await fails(c.client, 'dialogue.minutes', { dialogue_id: dialogue.id, text: 'x', attendees: [] }, FORBIDDEN);
		await fails(s.official, 'dialogue.minutes', { dialogue_id: dialogue.id, text: 'x', attendees: [other.user_id] }, INVALID);
		const { seq } = await ok(s.official, 'dialogue.minutes', { dialogue_id: dialogue.id, text: 'Hai bên trình bày ý kiến; chưa thống nhất về diện tích.', attendees: [c.user_id] });
		assert.ok(seq >= 2);
		await fails(s.official, 'dialogue.minutes', { dialogue_id: dialogue.id, text: 'again', attendees: [] }, CONFLICT, 'minutes_recorded');
		const tl = await ok(s.official, 'case.timeline', { case_id: kase.case_id });
		const ev = tl.items.find((e) => e.seq === seq);
		assert.equal(ev.action, 'dialogue_minutes');
		assert.deepEqual(ev.data.attendees, [c.user_id]);
		assert.deepEqual(ev.data.absentees, [s.official.user.id]);
		assert.ok(tl.items.some((e) => e.action === 'dialogue_scheduled' && e.data.dialogue_id === dialogue.id));
		const chain = await ok(s.leader, 'case.verify_chain', { case_id: kase.case_id });
		assert.equal(chain.ok, true);
		const after = (await ok(c.client, 'dialogue.get', { dialogue_id: dialogue.id })).dialogue;
		assert.equal(after.minutes.seq, seq);
	});
});
