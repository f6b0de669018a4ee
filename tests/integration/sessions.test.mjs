// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Live sessions through the protocol without media flowing (PROTOCOL.md §6,
// docs/protocol.md "Live sessions"): who may start, join, admit, consent and
// end; the lobby and the consent to recording (a refusal recorded, the host
// going on unrecorded); observers; malformed SDP and candidates refused with
// -32602 changing nothing; the reconnect window (rejoin within it, the
// session ending past it); the concurrent-session limit (-32009); one
// `reception_session` event per session in the case timeline. The media
// itself (two C peers exchanging frames, the sealed recording) is
// tests/integration/session-media.test.mjs.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { describe, startServer, stopAllServers, test } from './lib/harness.mjs';
import { DEMO, agencyIds, sqliteRows } from './lib/auth-helpers.mjs';
import {
	CONFLICT,
	FORBIDDEN,
	INVALID,
	NOT_FOUND,
	fails,
	login,
	newCitizen,
	ok,
	petition,
	submit,
	timeline,
	todayVN,
	waitFor,
	workingDeadline,
} from './lib/case-helpers.mjs';

const at = (date, hm) => `${date}T${hm}:00+07:00`;
const WINDOW_S = 2;

let server;
let s;
let ids;
let slotSeq = 0;

before(async () => {
	server = await startServer({
		demo: true,
		config: {
			session: {
				reconnect_window: WINDOW_S,
				max_sessions: 3,
				stun_server: 'stun://127.0.0.1:3478',
				turn_servers: 'turn://tiepdan:b%C3%AD-m%E1%BA%ADt@127.0.0.1:3478, turns://u2:p2@127.0.0.1:5349',
				ice_addresses: '127.0.0.1',
			},
		},
	});
	s = {};
	for (const key of ['official', 'staff', 'inspector', 'cityLeader', 'citizen']) {
		s[key] = await login(server, DEMO[key]);
	}
	ids = await agencyIds(s.staff);
});

after(stopAllServers);

/*
 * A new citizen with a complaint at the ward and an online appointment for it
 * hosted by the ward's official: {c, caseId, appointmentId}.
 */
async function booked() {
	const c = await newCitizen(server);
	const kase = await submit(c.client, petition('complaint', ids, { address: '12 Nguyễn Ái Quốc, phường Trấn Biên' }));
	const day = workingDeadline(todayVN(), 6 + slotSeq++);
	const sch = await ok(s.staff, 'schedule.create', {
		agency_id: ids.get('DN-P-TRANBIEN'),
		host_id: s.official.user.id,
		start: at(day, '08:00'),
		end: at(day, '08:30'),
		slot_minutes: 30,
		capacity: 1,
		mode: 'online',
	});
	const appt = (await ok(c.client, 'appointment.book', { slot_id: sch.slots[0].slot_id, topic: 'Khiếu nại đất đai', case_id: kase.case_id })).appointment;
	return { c, caseId: kase.case_id, appointmentId: appt.id };
}

const event = (client, method, sessionId) => waitFor(client, (m) => m.method === method && m.params?.session_id === sessionId);

/* The reception_session events of a case (as the agency side sees the timeline). */
async function sessionEvents(caseId) {
	return (await timeline(s.official, caseId)).filter((e) => e.action === 'reception_session');
}

describe('session.start', () => {
	test('the host starts; the invited citizen gets event.session.ready; a second start is -32009', async () => {
		const b = await booked();
		await fails(b.c.client, 'session.start', { appointment_id: b.appointmentId }, FORBIDDEN);
		await fails(s.cityLeader, 'session.start', { appointment_id: b.appointmentId }, NOT_FOUND);
		await fails(s.official, 'session.start', {}, INVALID, 'required');
		await fails(s.official, 'session.start', { appointment_id: b.appointmentId, dialogue_id: b.appointmentId }, INVALID);
		const { session_id: sid } = await ok(s.official, 'session.start', { appointment_id: b.appointmentId });
		assert.match(sid, /^[A-Za-z0-9_-]{22}$/);
		await event(b.c.client, 'event.session.ready', sid);
		await fails(s.official, 'session.start', { appointment_id: b.appointmentId }, CONFLICT);
		/* A connection made later finds the session with session.list. */
		const late = await login(server, { login: b.c.login, password: b.c.password });
		const listed = (await ok(late, 'session.list', {})).items.filter((i) => i.session_id === sid);
		assert.deepEqual(listed.map((i) => [i.appointment_id, i.state]), [[b.appointmentId, 'invited']]);
		const stranger = await newCitizen(server);
		assert.deepEqual((await ok(stranger.client, 'session.list', {})).items.filter((i) => i.session_id === sid), []);
		await ok(s.official, 'session.join', { session_id: sid });
		await ok(s.official, 'session.end', { session_id: sid });
	});
});

describe('lobby, admission and consent', () => {
	test('the citizen waits in the lobby, is admitted, consents, and only then is offered media', async () => {
		const b = await booked();
		const { session_id: sid } = await ok(s.official, 'session.start', { appointment_id: b.appointmentId });
		const host = await ok(s.official, 'session.join', { session_id: sid });
		assert.equal(host.state, 'admitted');
		assert.equal(host.recording, true);
		/* The browser gets the server's STUN and TURN configuration as RTCIceServer objects. */
		assert.deepEqual(host.ice_servers, [
			{ urls: ['stun:127.0.0.1:3478'] },
			{ urls: ['turn:127.0.0.1:3478'], username: 'tiepdan', credential: 'bí-mật' },
			{ urls: ['turns:127.0.0.1:5349'], username: 'u2', credential: 'p2' },
		]);
		/* The host is alone: the server offers at once. */
		await event(s.official, 'event.session.offer', sid);

		const stranger = await newCitizen(server);
		await fails(stranger.client, 'session.join', { session_id: sid }, NOT_FOUND);
		await fails(b.c.client, 'session.consent', { session_id: sid, accept: true }, CONFLICT, undefined, 'before joining');

		const joined = await ok(b.c.client, 'session.join', { session_id: sid });
		assert.equal(joined.state, 'lobby');
		assert.equal(joined.recording, true);
		assert.equal(joined.consent_needed, true);
		const lobby = await event(s.official, 'event.session.lobby', sid);
		assert.equal(lobby.params.user_id, b.c.user_id);
		await fails(b.c.client, 'session.answer', { session_id: sid, sdp: 'v=0' }, CONFLICT, undefined, 'in the lobby');

		await fails(b.c.client, 'session.admit', { session_id: sid, user_id: b.c.user_id }, FORBIDDEN);
		await fails(s.official, 'session.admit', { session_id: sid, user_id: stranger.user_id }, NOT_FOUND);
		await ok(s.official, 'session.admit', { session_id: sid, user_id: b.c.user_id });
		await event(b.c.client, 'event.session.admitted', sid);
		await fails(s.official, 'session.admit', { session_id: sid, user_id: b.c.user_id }, CONFLICT, undefined, 'twice');
		await fails(s.official, 'session.consent', { session_id: sid, accept: true }, FORBIDDEN);

		/* Admitted, but recording is on: no media before consent. */
		assert.equal(b.c.client.inbox.filter((m) => m.method === 'event.session.offer').length, 0);
		await ok(b.c.client, 'session.consent', { session_id: sid, accept: true });
		await fails(b.c.client, 'session.consent', { session_id: sid, accept: false }, CONFLICT, undefined, 'answered once');
		const offer = await event(b.c.client, 'event.session.offer', sid);
		assert.match(offer.params.sdp, /^v=0/);
		assert.match(offer.params.sdp, /VP8\/90000/);
		assert.match(offer.params.sdp, /opus\/48000/i);

		const consent = (await timeline(s.official, b.caseId)).filter((e) => e.action === 'session_consent');
		assert.equal(consent.length, 1);
		assert.deepEqual(consent[0].data, { session_id: sid, accept: true });
		assert.equal(consent[0].actor?.id ?? consent[0].actor, b.c.user_id);

		const end = await ok(s.official, 'session.end', { session_id: sid, summary: 'Đã hướng dẫn' });
		assert.equal(end.session.session_id, sid);
		await event(b.c.client, 'event.session.ended', sid);
		const evs = await sessionEvents(b.caseId);
		assert.equal(evs.length, 1, 'one reception_session event');
		const d = evs[0].data;
		assert.equal(d.session_id, sid);
		assert.deepEqual(d.participants.map((p) => [p.user_id, p.role]), [
			[b.c.user_id, 'citizen'],
			[s.official.user.id, 'host'],
		]);
		assert.equal(typeof d.started_at, 'string');
		assert.equal(typeof d.ended_at, 'string');
		assert.equal(typeof d.duration_s, 'number');
		assert.deepEqual(d.consent.map((x) => [x.user_id, x.accept]), [[b.c.user_id, true]]);
		/* No media flowed: nothing was recorded. */
		assert.equal(d.recording, null);
		/* The reception register has the session. */
		assert.match(d.reception_id, /^[A-Za-z0-9_-]{22}$/);
		const rows = sqliteRows(server.dataDir, `SELECT mode, people_count, citizens, summary, case_id, official_id FROM receptions WHERE id = '${d.reception_id}'`);
		assert.deepEqual(rows, [{
			mode: 'online',
			people_count: 1,
			citizens: JSON.stringify([{ full_name: b.c.full_name }]),
			summary: 'Đã hướng dẫn',
			case_id: b.caseId,
			official_id: s.official.user.id,
		}]);
		await fails(s.official, 'session.join', { session_id: sid }, NOT_FOUND, undefined, 'after the end');
	});

	test('a refusal is recorded; the host goes on unrecorded by admitting again', async () => {
		const b = await booked();
		const { session_id: sid } = await ok(s.official, 'session.start', { appointment_id: b.appointmentId });
		await ok(s.official, 'session.join', { session_id: sid });
		await ok(b.c.client, 'session.join', { session_id: sid });
		await ok(s.official, 'session.admit', { session_id: sid, user_id: b.c.user_id });
		await ok(b.c.client, 'session.consent', { session_id: sid, accept: false });
		const told = await event(s.official, 'event.session.consent', sid);
		assert.deepEqual([told.params.user_id, told.params.accept, told.params.recording], [b.c.user_id, false, false]);
		/* Back in the lobby until the host decides. */
		await fails(b.c.client, 'session.answer', { session_id: sid, sdp: 'v=0' }, CONFLICT);
		await ok(s.official, 'session.admit', { session_id: sid, user_id: b.c.user_id });
		await event(b.c.client, 'event.session.offer', sid);
		await ok(s.official, 'session.end', { session_id: sid });
		const [ev] = await sessionEvents(b.caseId);
		assert.deepEqual(ev.data.consent.map((x) => x.accept), [false]);
		assert.equal(ev.data.recording, null);
		const refusal = (await timeline(s.official, b.caseId)).filter((e) => e.action === 'session_consent');
		assert.deepEqual(refusal.map((e) => e.data.accept), [false]);
	});
});

describe('observers', () => {
	test('an inspector who may see the case watches; a citizen or a stranger official may not', async () => {
		const b = await booked();
		const { session_id: sid } = await ok(s.official, 'session.start', { appointment_id: b.appointmentId });
		await ok(s.official, 'session.join', { session_id: sid });
		await fails(b.c.client, 'session.join', { session_id: sid, observe: true }, NOT_FOUND);
		await fails(s.official, 'session.join', { session_id: sid, observe: true }, NOT_FOUND, undefined, 'the host is a party');
		const w = await ok(s.inspector, 'session.join', { session_id: sid, observe: true });
		assert.equal(w.state, 'admitted', 'observers skip the lobby');
		const offer = await event(s.inspector, 'event.session.offer', sid);
		/* Watch-only: the observer's own m-lines ask for nothing. */
		assert.doesNotMatch(offer.params.sdp, /a=recvonly/);
		await fails(s.inspector, 'session.end', { session_id: sid }, FORBIDDEN);
		const w2 = await ok(s.cityLeader, 'session.join', { session_id: sid, observe: true });
		assert.equal(w2.state, 'admitted');
		await ok(s.official, 'session.end', { session_id: sid });
		const [ev] = await sessionEvents(b.caseId);
		assert.deepEqual(
			ev.data.participants.filter((p) => p.role === 'observer').map((p) => p.user_id).sort(),
			[s.inspector.user.id, s.cityLeader.user.id].sort(),
		);
	});
});

describe('bad input', () => {
	test('malformed SDP and candidates get -32602 and change nothing', async () => {
		const b = await booked();
		const { session_id: sid } = await ok(s.official, 'session.start', { appointment_id: b.appointmentId });
		await ok(s.official, 'session.join', { session_id: sid });
		const offer = (await event(s.official, 'event.session.offer', sid)).params.sdp;
		const bad = [
			'garbage',
			'v=0\r\n',
			offer, // the offer itself is no answer
			offer.replace(/a=sendrecv|a=recvonly/g, 'a=sendonly').replace(/m=video 9 UDP\/TLS\/RTP\/SAVPF 96/, 'm=video 9 UDP/TLS/RTP/SAVPF 100'),
			'v=0\r\n'.repeat(4000),
		];
		for (const sdp of bad) {
			const e = await fails(s.official, 'session.answer', { session_id: sid, sdp }, INVALID, undefined, sdp.slice(0, 30));
			assert.equal(e.data.field, '/sdp');
		}
		for (const candidate of ['nonsense', 'candidate:1 1 UDP notapriority 127.0.0.1 5000 typ host', 'candidate:1 1 UDP 2130706431 127.0.0.1 99999 typ host']) {
			const e = await fails(s.official, 'session.ice', { session_id: sid, candidate, sdp_mline_index: 0 }, INVALID, undefined, candidate);
			assert.equal(e.data.field, '/candidate');
		}
		await fails(s.official, 'session.ice', { session_id: sid, candidate: 'candidate:1 1 UDP 2130706431 127.0.0.1 5000 typ host', sdp_mline_index: 40 }, INVALID);
		await fails(s.official, 'session.ice', { session_id: sid, candidate: 'x', sdp_mline_index: -1 }, INVALID, 'range');
		await fails(s.official, 'session.answer', { session_id: sid, sdp: 'v=0', extra: 1 }, INVALID, 'unknown');
		await fails(s.official, 'session.join', { session_id: 'not an id!' }, INVALID, 'format');
		/* Nothing changed: the offer still waits for its answer, a good candidate is taken. */
		await ok(s.official, 'session.ice', { session_id: sid, candidate: 'candidate:1 1 UDP 2130706431 127.0.0.1 5000 typ host', sdp_mline_index: 0 });
		await fails(s.official, 'session.answer', { session_id: sid, sdp: 'garbage' }, INVALID, undefined, 'still waiting');
		assert.equal(s.official.inbox.filter((m) => m.method === 'event.session.ended' && m.params.session_id === sid).length, 0);
		await ok(s.official, 'session.end', { session_id: sid });
	});
});

describe('the reconnect window', () => {
	test('a citizen whose connection drops rejoins within the window and is admitted again', async () => {
		const b = await booked();
		const { session_id: sid } = await ok(s.official, 'session.start', { appointment_id: b.appointmentId });
		await ok(s.official, 'session.join', { session_id: sid });
		await ok(b.c.client, 'session.join', { session_id: sid });
		await ok(s.official, 'session.admit', { session_id: sid, user_id: b.c.user_id });
		await ok(b.c.client, 'session.consent', { session_id: sid, accept: true });
		const first = await event(b.c.client, 'event.session.offer', sid);
		/* Joining again on the same connection restarts the media leg: a new offer, a new leg. */
		assert.equal(first.params.leg, 1);
		assert.equal((await ok(b.c.client, 'session.join', { session_id: sid })).state, 'admitted');
		const second = await event(b.c.client, 'event.session.offer', sid);
		assert.equal(second.params.leg, 2);
		await fails(b.c.client, 'session.answer', { session_id: sid, sdp: 'v=0', leg: 1 }, CONFLICT, undefined, 'an answer for the replaced leg');
		await fails(b.c.client, 'session.ice', { session_id: sid, candidate: '', sdp_mline_index: 0, leg: 1 }, CONFLICT, undefined, 'a candidate for it');
		await ok(b.c.client, 'session.ice', { session_id: sid, candidate: '', sdp_mline_index: 0, leg: 2 });
		await b.c.client.close();
		const again = await login(server, { login: b.c.login, password: b.c.password });
		const r = await ok(again, 'session.join', { session_id: sid });
		assert.equal(r.state, 'admitted', 'no lobby on a rejoin within the window');
		await event(again, 'event.session.offer', sid);
		await ok(s.official, 'session.end', { session_id: sid });
		assert.equal((await sessionEvents(b.caseId)).length, 1);
	});

	test('past the window the citizen is removed and the session ends by itself, sealed', async () => {
		const b = await booked();
		const { session_id: sid } = await ok(s.official, 'session.start', { appointment_id: b.appointmentId });
		await ok(s.official, 'session.join', { session_id: sid });
		await ok(b.c.client, 'session.join', { session_id: sid });
		await ok(s.official, 'session.admit', { session_id: sid, user_id: b.c.user_id });
		await b.c.client.close();
		const ended = await event(s.official, 'event.session.ended', sid);
		assert.equal(ended.params.reason, 'citizen_gone');
		const evs = await waitForSessionEvents(b.caseId, 1);
		assert.equal(evs[0].data.ended_by, 'citizen_gone');
		assert.ok(evs[0].data.duration_s >= WINDOW_S, `the session outlived the window: ${evs[0].data.duration_s}`);
	});
});

/* The sealing is written after event.session.ended: wait for it by asking again. */
async function waitForSessionEvents(caseId, n) {
	for (;;) {
		const evs = await sessionEvents(caseId);
		if (evs.length >= n) {
			return evs;
		}
		await new Promise((r) => setImmediate(r));
	}
}

describe('the concurrent-session limit', () => {
	test('beyond max_sessions session.start gets -32009 until one ends', async () => {
		const bs = [];
		for (let i = 0; i < 4; i++) {
			bs.push(await booked());
		}
		const sids = [];
		for (const b of bs.slice(0, 3)) {
			sids.push((await ok(s.official, 'session.start', { appointment_id: b.appointmentId })).session_id);
		}
		const e = await fails(s.official, 'session.start', { appointment_id: bs[3].appointmentId }, CONFLICT);
		assert.match(e.message, /too many/);
		for (const sid of sids) {
			await ok(s.official, 'session.join', { session_id: sid });
		}
		await ok(s.official, 'session.end', { session_id: sids[0] });
		const { session_id: last } = await ok(s.official, 'session.start', { appointment_id: bs[3].appointmentId });
		for (const sid of [...sids.slice(1), last]) {
			await ok(s.official, 'session.join', { session_id: sid });
			await ok(s.official, 'session.end', { session_id: sid });
		}
	});
});

/* Last: live sessions torn down, the recordings closed, nothing leaked. */
test('the server exits cleanly (status 0, no sanitizer report)', async () => {
	const info = await server.stop();
	const tail = server.stderrLines.filter((l) => !/^ts=/.test(l)).slice(-80).join('\n');
	assert.deepEqual({ code: info?.code, signal: info?.signal }, { code: 0, signal: null }, `exit; stderr (not logfmt):\n${tail}`);
	assert.deepEqual(server.stderrLines.filter((l) => /Sanitizer|runtime error:/.test(l)), [], tail);
});
