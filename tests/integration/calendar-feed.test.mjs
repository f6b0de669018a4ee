// SPDX-License-Identifier: AGPL-3.0-or-later
//
// calendar.ticket (PROTOCOL.md §6): a private iCalendar feed URL of the
// caller's appointments, parsed with a real RFC 5545 parser (ical.js):
// stable UIDs, the portal's zone, a rescheduled booking keeping its UID with
// its new time and a higher SEQUENCE, a cancelled one marked CANCELLED with a
// higher SEQUENCE still; a forged or foreign URL gives 404.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import ICAL from 'ical.js';
import { describe, startServer, stopAllServers, test } from './lib/harness.mjs';
import { DEMO, agencyIds } from './lib/auth-helpers.mjs';
import { login, ok, todayVN, workingDeadline } from './lib/case-helpers.mjs';

let server;
let s;

before(async () => {
	server = await startServer({ demo: true });
	s = {};
	for (const key of ['citizen', 'official', 'staff']) {
		s[key] = await login(server, DEMO[key]);
	}
});

after(stopAllServers);

function parse(text) {
	const cal = new ICAL.Component(ICAL.parse(text));
	return {
		cal,
		events: cal.getAllSubcomponents('vevent').map((e) => ({
			uid: e.getFirstPropertyValue('uid'),
			status: e.getFirstPropertyValue('status'),
			sequence: e.getFirstPropertyValue('sequence'),
			start: e.getFirstPropertyValue('dtstart').toJSDate(),
		})),
	};
}

describe('calendar feed', () => {
	test('an appointment appears, moves (same UID, higher SEQUENCE), then shows cancelled; the feed URL cannot be forged', async () => {
		const ward = (await agencyIds(s.staff)).get('DN-P-TRANBIEN');
		const day = workingDeadline(todayVN(), 6);
		const sch = await ok(s.staff, 'schedule.create', {
			agency_id: ward, host_id: s.official.user.id, slot_minutes: 30, capacity: 1,
			mode: 'in_person', start: `${day}T09:00:00+07:00`, end: `${day}T10:00:00+07:00`,
		});
		assert.equal(sch.slots.length, 2);
		const slot = sch.slots[0].slot_id;
		const appt = (await ok(s.citizen, 'appointment.book', { slot_id: slot, topic: 'Hỏi về đất' })).appointment;

		const t = await ok(s.citizen, 'calendar.ticket', {});
		assert.match(t.url, /^\/api\/calendar\/.+\.ics$/);
		let r = await fetch(`${server.url}${t.url}`);
		assert.equal(r.status, 200);
		assert.match(r.headers.get('content-type'), /^text\/calendar/);
		let feed = parse(await r.text());
		assert.equal(feed.cal.getFirstPropertyValue('x-wr-timezone'), 'Asia/Ho_Chi_Minh');
		const mine = feed.events.find((e) => e.uid === `appointment-${appt.id}@tiepdan`);
		assert.ok(mine, `the appointment in the feed: ${JSON.stringify(feed.events)}`);
		assert.equal(mine.status, 'CONFIRMED');
		assert.equal(mine.start.toISOString(), new Date(`${day}T09:00:00+07:00`).toISOString());

		/* The host sees it in their own feed too. */
		const th = await ok(s.official, 'calendar.ticket', {});
		const host = parse(await (await fetch(`${server.url}${th.url}`)).text());
		assert.ok(host.events.some((e) => e.uid === mine.uid));

		/* Rescheduled: the same UID (the client updates its copy), the new time, a higher SEQUENCE. */
		await ok(s.citizen, 'appointment.reschedule', { appointment_id: appt.id, slot_id: sch.slots[1].slot_id });
		feed = parse(await (await fetch(`${server.url}${t.url}`)).text());
		const moved = feed.events.filter((e) => e.uid === mine.uid);
		assert.equal(moved.length, 1, 'one event per appointment, under its UID');
		assert.equal(moved[0].status, 'CONFIRMED');
		assert.equal(moved[0].start.toISOString(), new Date(`${day}T09:30:00+07:00`).toISOString());
		assert.ok(moved[0].sequence > mine.sequence, `SEQUENCE grows with the reschedule: ${mine.sequence} → ${moved[0].sequence}`);
		const hostMoved = parse(await (await fetch(`${server.url}${th.url}`)).text()).events.find((e) => e.uid === mine.uid);
		assert.equal(hostMoved.sequence, moved[0].sequence, "the host's feed shows the same SEQUENCE");

		await ok(s.citizen, 'appointment.cancel', { appointment_id: appt.id, reason: 'bận việc' });
		feed = parse(await (await fetch(`${server.url}${t.url}`)).text());
		const again = feed.events.find((e) => e.uid === mine.uid);
		assert.equal(again.status, 'CANCELLED');
		assert.ok(again.sequence > moved[0].sequence, 'SEQUENCE grows with the cancellation');

		/* Forged: another user's id with this signature, or a changed expiry. */
		const [, user, exp, mac] = t.url.match(/^\/api\/calendar\/([^.]+)\.([0-9]+)\.([0-9a-f]+)\.ics$/);
		for (const bad of [
			`/api/calendar/${s.official.user.id}.${exp}.${mac}.ics`,
			`/api/calendar/${user}.${Number(exp) + 1}.${mac}.ics`,
			`/api/calendar/${user}.${exp}.${'0'.repeat(32)}.ics`,
			'/api/calendar/nonsense',
		]) {
			r = await fetch(`${server.url}${bad}`);
			assert.equal(r.status, 404, bad);
		}
	});

	test('calendar.ticket needs a bound identity', async () => {
		const anon = await server.connect();
		const r = await anon.call('calendar.ticket', {});
		assert.equal(r.error?.code, -32001);
	});
});
