// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Slots a few minutes ahead (ad hoc): refusals in the past and inside the
// cancellation window, and event.appointment.reminder sent exactly once to
// the citizen and the host across restarts (docs/schedule.md, "Reminders").
//
// The server runs on a data directory holding its own holidays.ini whose
// weekend avoids today and tomorrow, so that a slot minutes ahead is on a
// working day whatever day the suite runs.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { removeTmpDir, startServer, stopAllServers, test, tmpDir } from './lib/harness.mjs';
import { DEMO, agencyIds, sqliteRows } from './lib/auth-helpers.mjs';
import { CONFLICT, fails, login, newCitizen, ok, waitFor } from './lib/case-helpers.mjs';

after(stopAllServers);

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const CONFIG = { schedule: { reminder_offsets: '1', cancel_before_minutes: 60 } };

/* RFC 3339 in +07:00 of a Unix time in ms, whole seconds. */
function vn(ms) {
	const t = new Date(Math.ceil(ms / 1000) * 1000 + 7 * 3600_000);
	return t.toISOString().slice(0, 19) + '+07:00';
}

function calendarDir() {
	const dir = tmpDir('tiepdan-sched-');
	const todayDow = new Date(Date.now() + 7 * 3600_000).getUTCDay();
	const weekend = DAYS[(todayDow + 3) % 7];
	fs.writeFileSync(path.join(dir, 'holidays.ini'), `[rules]\nweekend = ${weekend}\nmake_up = none\n`);
	return dir;
}

async function sessions(server) {
	const staff = await login(server, DEMO.staff);
	const official = await login(server, DEMO.official);
	const citizen = await login(server, DEMO.citizen);
	const ward = (await agencyIds(staff)).get('DN-P-TRANBIEN');
	return { staff, official, citizen, ward };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a slot that has begun cannot be booked or waited for; a schedule cannot start in the past', async () => {
	const dir = calendarDir();
	const server = await startServer({ demo: true, dataDir: dir, config: CONFIG });
	const s = await sessions(server);
	const base = { agency_id: s.ward, host_id: s.official.user.id, slot_minutes: 5, capacity: 1, mode: 'online', ad_hoc: true };
	await fails(s.staff, 'schedule.create', { ...base, start: vn(Date.now() - 60_000), end: vn(Date.now() + 600_000) }, CONFLICT, 'past');
	const start = Date.now() + 2500;
	const r = await ok(s.staff, 'schedule.create', { ...base, start: vn(start), end: vn(start + 300_000) });
	assert.equal(r.slots.length, 1);
	// The one wait of this file: until the slot has begun.
	await sleep(Math.max(0, Math.ceil(start / 1000) * 1000 - Date.now() + 1200));
	await fails(s.citizen, 'appointment.book', { slot_id: r.slots[0].slot_id, topic: 'late' }, CONFLICT, 'past');
	await fails(s.citizen, 'appointment.wait', { slot_id: r.slots[0].slot_id }, CONFLICT, 'past');
	await server.stop();
	removeTmpDir(dir);
});

test(
	'reminders at the configured offset reach the citizen and the host once, across restarts',
	{ timeout: 180_000 },
	async () => {
		const dir = calendarDir();
		let server = await startServer({ demo: true, dataDir: dir, config: CONFIG });
		let s = await sessions(server);
		// A slot 100 s ahead: the 1-minute reminder falls due about 40 s from now.
		const start = Date.now() + 100_000;
		const r = await ok(s.staff, 'schedule.create', {
			agency_id: s.ward,
			host_id: s.official.user.id,
			start: vn(start),
			end: vn(start + 600_000),
			slot_minutes: 5,
			capacity: 2,
			mode: 'online',
			ad_hoc: true,
		});
		const slot = r.slots[0].slot_id;
		const a = (await ok(s.citizen, 'appointment.book', { slot_id: slot, topic: 'Nhắc lịch' })).appointment;
		let rows = sqliteRows(dir, `SELECT user_id, offset_min, sent_at FROM reminders WHERE appointment_id = '${a.id}' ORDER BY user_id`);
		assert.deepEqual(
			rows,
			[
				{ user_id: s.citizen.user.id, offset_min: 1, sent_at: null },
				{ user_id: s.official.user.id, offset_min: 1, sent_at: null },
			].sort((x, y) => (x.user_id < y.user_id ? -1 : 1)),
		);
		// Inside the cancellation window (60 minutes) the owner may not cancel; staff may.
		const other = await newCitizen(server);
		const b = (await ok(other.client, 'appointment.book', { slot_id: slot, topic: 'x' })).appointment;
		const e = await fails(other.client, 'appointment.cancel', { appointment_id: b.id, reason: 'x' }, CONFLICT, 'too_late');
		assert.equal(e.data.cancel_before_minutes, 60);
		await fails(other.client, 'appointment.reschedule', { appointment_id: b.id, slot_id: r.slots[1].slot_id }, CONFLICT, 'too_late');
		await ok(s.staff, 'appointment.cancel', { appointment_id: b.id, reason: 'Đổi lịch' });
		rows = sqliteRows(dir, `SELECT count(*) AS n FROM reminders WHERE appointment_id = '${b.id}' AND sent_at IS NULL`);
		assert.equal(rows[0].n, 0, "a cancelled appointment's reminders are dropped");

		// Restart before the reminder is due: it is still sent, once, to both.
		await server.stop();
		server = await startServer({ demo: true, dataDir: dir, config: CONFIG });
		s = await sessions(server);
		const [toCitizen, toHost] = await Promise.all([
			waitFor(s.citizen, (m) => m.method === 'event.appointment.reminder'),
			waitFor(s.official, (m) => m.method === 'event.appointment.reminder'),
		]);
		for (const ev of [toCitizen, toHost]) {
			assert.equal(ev.params.appointment.id, a.id);
			assert.equal(ev.params.appointment.status, 'active');
			assert.equal(ev.params.offset_minutes, 1);
		}
		assert.ok(Date.now() >= start - 61_000, 'not sent before it was due');
		rows = sqliteRows(dir, `SELECT count(*) AS n FROM reminders WHERE appointment_id = '${a.id}' AND sent_at IS NOT NULL`);
		assert.equal(rows[0].n, 2);

		// Another restart: nothing is sent again (three reminder ticks).
		await server.stop();
		server = await startServer({ demo: true, dataDir: dir, config: CONFIG });
		s = await sessions(server);
		await sleep(3500);
		for (const c of [s.citizen, s.official]) {
			assert.equal(c.received.filter((m) => m.method === 'event.appointment.reminder').length, 0);
		}
		await server.stop();
		removeTmpDir(dir);
	},
);
