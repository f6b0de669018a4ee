// SPDX-License-Identifier: AGPL-3.0-or-later
//
// event.schedule.leader_days_short (DOMAIN.md §5, docs/schedule.md "Leader
// days"): when a leader's reception days for a month fall short, the
// agency's staff — and nobody else — are warned, at most once a day per
// agency and month, across a restart: by the periodic check (the current and
// the next month, as soon as a staff member is bound) and by a
// schedule.create for the months its slots fall in (sent before its answer).
//
// The demo city has no leader day published: the ward (one a week) and the
// city (one a month) are short in every month until schedules say otherwise.
// Nothing here sleeps: waits are for events, answers and log lines.

import assert from 'node:assert/strict';
import { after } from 'node:test';
import { removeTmpDir, startServer, stopAllServers, test, tmpDir } from './lib/harness.mjs';
import { DEMO, agencyIds } from './lib/auth-helpers.mjs';
import { addDays, isWorkingDay, login, newStaffAccount, ok, todayVN, waitFor } from './lib/case-helpers.mjs';

after(stopAllServers);

const EVENT = 'event.schedule.leader_days_short';
const at = (date, hm) => `${date}T${hm}:00+07:00`;

function addMonths(ym, n) {
	let [y, m] = ym.split('-').map(Number);
	m += n;
	y += Math.floor((m - 1) / 12);
	m = ((m - 1) % 12) + 1;
	return `${y}-${String(m).padStart(2, '0')}`;
}

/* The first working day on or after the 10th of month ym. */
function workingDayIn(ym) {
	let d = `${ym}-10`;
	while (!isWorkingDay(d)) {
		d = addDays(d, 1);
	}
	return d;
}

const warnings = (client, agency, month) =>
	client.received.filter((m) => m && m.method === EVENT && (!agency || m.params.agency_id === agency) && (!month || m.params.month === month));

const warned = (client, agency, month) => waitFor(client, (m) => m.method === EVENT && m.params.agency_id === agency && m.params.month === month);

test('staff of the agency are warned of short months once a day, across a restart; nobody else is', { timeout: 180_000 }, async () => {
	const dataDir = tmpDir('tiepdan-leader-days-');
	let server = await startServer({ demo: true, dataDir });
	const admin = await login(server, DEMO.admin);
	const ids = await agencyIds(admin);
	const ward = ids.get('DN-P-TRANBIEN');
	const city = ids.get('DN');
	const acct = await newStaffAccount(admin, { role: 'staff', agencyId: city, login: 'vanthu.dongnai.ngay', full_name: 'Văn thư Thành phố' });
	// Everyone else first: anything sent to them would come before their later answers.
	const others = { admin };
	for (const key of ['leader', 'official', 'citizen', 'cityLeader']) {
		others[key] = await login(server, DEMO[key]);
	}
	const cityStaff = await login(server, { login: acct.login, password: acct.password });
	const staff = await login(server, DEMO.staff);
	const cur = todayVN().slice(0, 7);
	const next = addMonths(cur, 1);

	// The periodic check: this month and the next, as soon as staff are bound.
	const [w1, w2] = await Promise.all([warned(staff, ward, cur), warned(staff, ward, next)]);
	for (const [w, month] of [
		[w1, cur],
		[w2, next],
	]) {
		assert.deepEqual(Object.keys(w.params).sort(), ['agency_id', 'leader_days', 'level', 'month', 'rule', 'weeks_without']);
		assert.equal(w.params.month, month);
		assert.equal(w.params.level, 'ward');
		assert.equal(w.params.rule, 'weekly');
		assert.deepEqual(w.params.leader_days, []);
		assert.ok(w.params.weeks_without.length >= 4, JSON.stringify(w.params));
		for (const monday of w.params.weeks_without) {
			assert.equal(new Date(`${monday}T00:00:00Z`).getUTCDay(), 1, `${monday} is a Monday`);
		}
	}
	const [c1, c2] = await Promise.all([warned(cityStaff, city, cur), warned(cityStaff, city, next)]);
	for (const w of [c1, c2]) {
		assert.equal(w.params.level, 'city');
		assert.equal(w.params.rule, 'monthly');
		assert.deepEqual(w.params.weeks_without, []);
	}
	// Nobody else got any: one round trip each, after the warnings were sent.
	for (const [label, c] of Object.entries(others)) {
		await ok(c, 'system.ping', {});
		assert.deepEqual(warnings(c), [], `${label} got no warning`);
	}
	assert.deepEqual(warnings(staff, city), [], "the ward's staff get none of the city's");
	assert.deepEqual(warnings(cityStaff, ward), [], "the city's staff get none of the ward's");

	// Another connection of the ward's staff, later the same day: this month and the next
	// are not announced to it again.
	const staff2 = await login(server, DEMO.staff);
	// A month not checked yet (two ahead): its first schedule.create warns, before answering.
	const m2 = addMonths(cur, 2);
	const d0 = workingDayIn(m2);
	const base = { agency_id: ward, host_id: others.official.user.id, slot_minutes: 30, capacity: 2, mode: 'in_person' };
	await ok(staff2, 'schedule.create', { ...base, start: at(d0, '08:00'), end: at(d0, '08:30') });
	assert.equal(warnings(staff2, ward, m2).length, 1, 'the warning came before the answer');
	const w3 = await warned(staff, ward, m2);
	assert.equal(w3.params.rule, 'weekly');
	// A leader day in that month: still short (one week of four or five is held), and said once.
	let d1 = addDays(d0, 1);
	while (!isWorkingDay(d1)) {
		d1 = addDays(d1, 1);
	}
	await ok(others.leader, 'schedule.create', { ...base, host_id: others.leader.user.id, leader_day: true, start: at(d1, '08:00'), end: at(d1, '08:30') });
	await ok(staff2, 'schedule.create', { ...base, start: at(d1, '09:00'), end: at(d1, '09:30') });
	assert.equal(warnings(staff2, ward, m2).length, 1, 'the month is not announced twice the same day');
	for (const c of [staff, staff2]) {
		await ok(c, 'system.ping', {});
		assert.equal(warnings(c, ward, cur).length, c === staff ? 1 : 0, 'this month: once, to the connections bound then');
		assert.equal(warnings(c, ward, next).length, c === staff ? 1 : 0);
		assert.equal(warnings(c, ward, m2).length, 1);
	}
	const slots = await ok(staff, 'appointment.slots', { agency_id: ward, from: at(d1, '00:00'), to: at(addDays(d1, 1), '00:00') });
	assert.ok(slots.items.every((x) => x.leader_days_short === true));

	// Restart: the check runs again and finds both months announced today; nothing is sent.
	await server.stop();
	server = await startServer({ demo: true, dataDir });
	const again = await login(server, DEMO.staff);
	const line = (month) => new RegExp(`msg="leader days short" agency=${ward} month=${month} announced=`);
	const lines = await Promise.all([server.waitForLine(line(cur)), server.waitForLine(line(next))]);
	for (const l of lines) {
		assert.match(l, /announced=earlier_today /, l);
	}
	await ok(again, 'system.ping', {});
	assert.deepEqual(warnings(again), [], 'not announced twice the same day, across a restart');
	await server.stop();
	removeTmpDir(dataDir);
});

test('a month whose leader days are enough is not announced', { timeout: 120_000 }, async () => {
	const server = await startServer({ demo: true });
	const admin = await login(server, DEMO.admin);
	const ids = await agencyIds(admin);
	const city = ids.get('DN');
	const acct = await newStaffAccount(admin, { role: 'staff', agencyId: city, login: 'vanthu.dongnai.du', full_name: 'Văn thư Thành phố' });
	const cityLeader = await login(server, DEMO.cityLeader);
	const cur = todayVN().slice(0, 7);
	// Before any city staff is bound: a leader day three months ahead makes that month enough.
	const m3 = addMonths(cur, 3);
	const d = workingDayIn(m3);
	const base = { agency_id: city, host_id: cityLeader.user.id, slot_minutes: 30, capacity: 5, mode: 'in_person' };
	await ok(cityLeader, 'schedule.create', { ...base, leader_day: true, start: at(d, '08:00'), end: at(d, '08:30') });
	const cityStaff = await login(server, { login: acct.login, password: acct.password });
	await warned(cityStaff, city, cur);
	// Staff publish in that month and in the one after: only the one after is short.
	const d4 = workingDayIn(addMonths(cur, 4));
	await ok(cityStaff, 'schedule.create', { ...base, start: at(d, '09:00'), end: at(d, '09:30') });
	await ok(cityStaff, 'schedule.create', { ...base, start: at(d4, '09:00'), end: at(d4, '09:30') });
	assert.deepEqual(warnings(cityStaff, city, m3), [], 'a month with its leader day is not short');
	const [w] = warnings(cityStaff, city, addMonths(cur, 4));
	assert.ok(w, 'the month without one is');
	assert.deepEqual(w.params.leader_days, []);
	await server.stop();
});
