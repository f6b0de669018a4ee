// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Live sessions with media (issue 6): two C test peers
// (tiepdan-session-peer: the real protocol over WebSocket, its own webrtcbin
// sending videotestsrc/audiotestsrc) — an official who hosts and a citizen —
// go through start, join, lobby, admission, consent, the server's offers,
// answers and trickled candidates; each decodes frames of the other; an
// inspector observes (decodes both, sends nothing); session.stats; the
// session ends; the recording holds both tracks of both participants, lasts
// the session's duration within a second, and its SHA-256 is the timeline's
// (downloaded through file.ticket by those who may see the case, signed with
// the server's key). Then a peer killed mid-session: the session survives the
// reconnect window, ends by itself and is sealed. Media stays on 127.0.0.1
// (`[session] ice_addresses`).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import readline from 'node:readline';
import { after, before } from 'node:test';
import fs from 'node:fs';
import { describe, runAdmin, startServer, stopAllServers, test } from './lib/harness.mjs';
import { DEMO, agencyIds, loginClient } from './lib/auth-helpers.mjs';
import { fails, newCitizen, ok, petition, submit, timeline, todayVN, waitFor, workingDeadline, NOT_FOUND } from './lib/case-helpers.mjs';

const PEER = process.env.TIEPDAN_SESSION_PEER;
const WINDOW_S = 3;
const FRAMES = 30;
const at = (date, hm) => `${date}T${hm}:00+07:00`;

const CONFIG = { session: { reconnect_window: WINDOW_S, ice_addresses: '127.0.0.1' } };
let server;
let slotSeq = 0;
const peers = [];

/* One tiepdan-session-peer process: commands in, answers and events out. */
class Peer {
	constructor(name, token, srv = server) {
		this.name = name;
		this.proc = spawn(PEER, ['--url', srv.wsUrl, '--token', token, '--name', name], { stdio: ['pipe', 'pipe', 'inherit'] });
		this.lines = [];
		this.waiters = [];
		this.seq = 0;
		this.exited = new Promise((resolve) => this.proc.on('exit', resolve));
		readline.createInterface({ input: this.proc.stdout }).on('line', (l) => {
			if (l.startsWith('#')) {
				/* testpeer.c's diagnostics (g_test_message) */
				process.stderr.write(`${name}: ${l}\n`);
				return;
			}
			const m = JSON.parse(l);
			assert.equal(m.fatal, undefined, `${name}: ${l}`);
			this.lines.push(m);
			this.waiters = this.waiters.filter((w) => !w());
		});
		peers.push(this);
	}

	/* The first line (from the start) for which pred holds, waiting for it. */
	take(pred) {
		return new Promise((resolve) => {
			const look = () => {
				const i = this.lines.findIndex(pred);
				if (i < 0) {
					return false;
				}
				resolve(this.lines.splice(i, 1)[0]);
				return true;
			};
			if (!look()) {
				this.waiters.push(look);
			}
		});
	}

	async send(cmd) {
		const tag = `${this.name}-${++this.seq}`;
		this.proc.stdin.write(JSON.stringify({ ...cmd, tag }) + '\n');
		return this.take((m) => m.tag === tag);
	}

	async call(method, params) {
		const r = await this.send({ call: method, params });
		assert.ok(r.result !== undefined, `${this.name} ${method}: ${JSON.stringify(r)}`);
		return r.result;
	}

	event(method) {
		return this.take((m) => m.event === method);
	}

	kill() {
		this.proc.kill('SIGKILL');
		return this.exited;
	}
}

before(async () => {
	server = await startServer({ demo: true, config: CONFIG });
});

after(async () => {
	for (const p of peers) {
		p.proc.kill('SIGKILL');
	}
	await stopAllServers();
});

/* An official peer and a citizen peer for a new online appointment on a case of the citizen. */
async function setUp(srv = server) {
	const staff = (await loginClient(srv, DEMO.staff.login, DEMO.staff.password)).client;
	const ids = await agencyIds(staff);
	const off = await loginClient(srv, DEMO.official.login, DEMO.official.password);
	const c = await newCitizen(srv);
	const kase = await submit(c.client, petition('complaint', ids, { address: '12 Nguyễn Ái Quốc, phường Trấn Biên' }));
	const day = workingDeadline(todayVN(), 6 + slotSeq++);
	const sch = await ok(staff, 'schedule.create', {
		agency_id: ids.get('DN-P-TRANBIEN'),
		host_id: off.login.user.id,
		start: at(day, '09:00'),
		end: at(day, '09:30'),
		slot_minutes: 30,
		capacity: 1,
		mode: 'online',
	});
	const appt = (await ok(c.client, 'appointment.book', { slot_id: sch.slots[0].slot_id, topic: 'Khiếu nại đất đai', case_id: kase.case_id })).appointment;
	const citizenLogin = (await loginClient(srv, c.login, c.password)).login;
	const host = new Peer('official', off.login.access_token, srv);
	const citizen = new Peer('citizen', citizenLogin.access_token, srv);
	await Promise.all([host.take((m) => m.ready), citizen.take((m) => m.ready)]);
	return { host, citizen, hostId: off.login.user.id, citizenId: c.user_id, caseId: kase.case_id, appointmentId: appt.id, officialClient: off.client, citizenClient: c.client };
}

/* Start, join, lobby, admission, consent; then each peer decodes FRAMES of the other. */
async function meet(t) {
	const { session_id: sid } = await t.host.call('session.start', { appointment_id: t.appointmentId });
	await t.host.call('session.join', { session_id: sid });
	await t.citizen.event('event.session.ready');
	const joined = await t.citizen.call('session.join', { session_id: sid });
	assert.equal(joined.state, 'lobby');
	await t.host.event('event.session.lobby');
	await t.host.call('session.admit', { session_id: sid, user_id: t.citizenId });
	await t.citizen.event('event.session.admitted');
	await t.citizen.call('session.consent', { session_id: sid, accept: true });
	const [a, b] = await Promise.all([
		t.host.send({ frames: t.citizenId, min: FRAMES }),
		t.citizen.send({ frames: t.hostId, min: FRAMES }),
	]);
	assert.ok(a.video >= FRAMES && a.audio >= FRAMES, `the official decodes the citizen: ${JSON.stringify(a)}`);
	assert.ok(b.video >= FRAMES && b.audio >= FRAMES, `the citizen decodes the official: ${JSON.stringify(b)}`);
	return sid;
}

function sha256(buf) {
	return crypto.createHash('sha256').update(buf).digest('hex');
}

async function download(client, fileId, srv = server) {
	const { url } = await ok(client, 'file.ticket', { file_id: fileId });
	const res = await fetch(`${srv.url.replace(/\/$/, '')}${url}`);
	assert.equal(res.status, 200);
	return Buffer.from(await res.arrayBuffer());
}

async function sessionEvents(client, caseId) {
	return (await timeline(client, caseId)).filter((e) => e.action === 'reception_session');
}

const skip = !PEER && 'no tiepdan-session-peer (libsoup-3.0 missing)';

describe('two peers', () => {
	test('each decodes the other; the recording has both tracks of both, the session duration, the timeline hash', { skip, timeout: 240_000 }, async () => {
		const t = await setUp();
		const sid = await meet(t);
		/* An inspector watches: receives both, sends nothing (the recording keeps 2 + 2 tracks). */
		const insp = await loginClient(server, DEMO.inspector.login, DEMO.inspector.password);
		const watcher = new Peer('inspector', insp.login.access_token);
		await watcher.take((m) => m.ready);
		const w = await watcher.call('session.join', { session_id: sid, observe: true });
		assert.equal(w.state, 'admitted');
		const [fromHost, fromCitizen] = await Promise.all([
			watcher.send({ frames: t.hostId, min: FRAMES }),
			watcher.send({ frames: t.citizenId, min: FRAMES }),
		]);
		assert.ok(fromHost.video >= FRAMES && fromCitizen.video >= FRAMES, 'the observer decodes both');
		/* session.stats: both legs carry media both ways. */
		const st = await t.host.call('session.stats', { session_id: sid });
		assert.deepEqual(st.participants.map((p) => p.user_id).sort(), [t.hostId, t.citizenId, insp.login.user.id].sort());
		const seen = st.participants.find((p) => p.role === 'observer');
		assert.equal(seen.packets_received, 0, `the observer sends nothing: ${JSON.stringify(seen)}`);
		assert.ok(seen.bitrate_out_bps > 0, JSON.stringify(seen));
		for (const p of st.participants.filter((x) => x.role !== 'observer')) {
			assert.ok(p.bitrate_in_bps > 0 && p.bitrate_out_bps > 0 && p.packets_received > 0, JSON.stringify(p));
			assert.ok(p.packet_loss >= 0 && p.packet_loss <= 1, JSON.stringify(p));
			assert.ok(p.round_trip_s === null || p.round_trip_s >= 0, JSON.stringify(p));
		}
		const refused = await t.citizen.send({ call: 'session.stats', params: { session_id: sid } });
		assert.equal(refused.error?.code, -32002, 'only the host side');
		const { session } = await t.host.call('session.end', { session_id: sid, summary: 'Đã tiếp nhận' });
		await t.citizen.event('event.session.ended');
		const rec = session.recording;
		assert.ok(rec, `a recording: ${JSON.stringify(session)}`);
		assert.equal(rec.status, 'verified', JSON.stringify(rec));
		assert.match(rec.sha256, /^[0-9a-f]{64}$/);
		/* The recording covers the session from its first media (before it: ICE and DTLS). */
		assert.ok(session.media_s > 0 && session.media_s <= session.duration_s, JSON.stringify(session));
		assert.ok(Math.abs(rec.duration_s - session.media_s) <= 1, `recording ${rec.duration_s} s, session ${session.media_s} s of media`);

		const [ev] = await sessionEvents(t.officialClient, t.caseId);
		assert.equal(ev.data.session_id, sid);
		assert.deepEqual(ev.data.recording, rec);
		assert.deepEqual(ev.data.participants.map((p) => p.role).sort(), ['citizen', 'host', 'observer']);

		/* Those who may see the case download it; the bytes are the sealed ones. */
		const bytes = await download(t.officialClient, rec.file_id);
		assert.equal(bytes.length, rec.bytes);
		assert.equal(sha256(bytes), ev.data.recording.sha256);
		assert.equal(sha256(await download(t.citizenClient, rec.file_id)), rec.sha256);
		const stranger = await newCitizen(server);
		await fails(stranger.client, 'file.ticket', { file_id: rec.file_id }, NOT_FOUND);

		/* Signed with the server's Ed25519 key, published at /api/keys. */
		const keys = await (await fetch(`${server.url.replace(/\/$/, '')}/api/keys`)).json();
		const pub = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(keys.recording_signing_key, 'base64').toString('base64url') }, format: 'jwk' });
		assert.ok(crypto.verify(null, Buffer.from(rec.sha256), pub, Buffer.from(rec.signature, 'base64')), 'the signature checks');

		/* Both tracks of both participants, the duration of the session. */
		const path = `${server.dataDir}/files/${rec.sha256.slice(0, 2)}/${rec.sha256}`;
		const info = await t.host.send({ inspect: path });
		assert.deepEqual([info.video, info.audio], [2, 2], JSON.stringify(info));
		assert.ok(Math.abs(info.duration_s - session.media_s) <= 1, `file ${info.duration_s} s, session ${session.media_s} s of media`);

		/* tiepdan-admin verify checks the hash and the signature; a changed byte fails it. */
		const good = await runAdmin(['--data-dir', server.dataDir, 'verify']);
		assert.equal(good.code, 0, good.stdout + good.stderr);
		assert.match(good.stdout, /recordings: ok/);
		const original = fs.readFileSync(path);
		fs.writeFileSync(path, Buffer.concat([original.subarray(0, 100), Buffer.from([original[100] ^ 1]), original.subarray(101)]));
		const bad = await runAdmin(['--data-dir', server.dataDir, 'verify']);
		fs.writeFileSync(path, original);
		assert.equal(bad.code, 1, bad.stdout);
		assert.match(bad.stdout, new RegExp(`case ${t.caseId} event \\d+: the recording does not hash to its SHA-256`));
	});

	test('a peer killed mid-session: the session survives the reconnect window, then ends and is sealed', { skip, timeout: 60_000 }, async () => {
		const t = await setUp();
		const sid = await meet(t);
		/* Joining again replaces the citizen's leg: its new peer connection gets media again. */
		await t.citizen.take((m) => m.leg === 1);
		await t.citizen.call('session.join', { session_id: sid });
		await t.citizen.take((m) => m.leg === 2);
		const again = await t.citizen.send({ frames: t.hostId, min: FRAMES });
		assert.ok(again.video >= FRAMES && again.audio >= FRAMES, `after a rejoin: ${JSON.stringify(again)}`);
		const killedAt = Date.now();
		await t.citizen.kill();
		const ended = await t.host.event('event.session.ended');
		assert.equal(ended.params.session_id, sid);
		assert.equal(ended.params.reason, 'citizen_gone');
		assert.ok(Date.now() - killedAt >= WINDOW_S * 1000, 'not before the window closed');
		/* The host kept receiving nothing new but kept the session until then; sealed after. */
		let evs;
		while ((evs = await sessionEvents(t.officialClient, t.caseId)).length === 0) {
			await new Promise((r) => setImmediate(r));
		}
		assert.equal(evs.length, 1);
		const d = evs[0].data;
		assert.equal(d.ended_by, 'citizen_gone');
		assert.ok(d.recording, 'a recording');
		assert.equal(d.recording.status, 'verified', JSON.stringify(d.recording));
		assert.equal(sha256(await download(t.officialClient, d.recording.file_id)), d.recording.sha256);
		await fails(t.officialClient, 'session.join', { session_id: sid }, NOT_FOUND);
	});

	test('a citizen who refuses the recording: what was recorded is deleted, the session goes on unrecorded', { skip, timeout: 240_000 }, async () => {
		const t = await setUp();
		const { session_id: sid } = await t.host.call('session.start', { appointment_id: t.appointmentId });
		await t.host.call('session.join', { session_id: sid });
		await t.citizen.call('session.join', { session_id: sid });
		await t.host.call('session.admit', { session_id: sid, user_id: t.citizenId });
		/* The host's own media was being recorded while the citizen decided. */
		await t.citizen.call('session.consent', { session_id: sid, accept: false });
		const told = await t.host.event('event.session.consent');
		assert.equal(told.params.recording, false);
		await t.host.call('session.admit', { session_id: sid, user_id: t.citizenId });
		const [a, b] = await Promise.all([
			t.host.send({ frames: t.citizenId, min: FRAMES }),
			t.citizen.send({ frames: t.hostId, min: FRAMES }),
		]);
		assert.ok(a.video >= FRAMES && b.video >= FRAMES, 'media flows unrecorded');
		const { session } = await t.host.call('session.end', { session_id: sid });
		assert.equal(session.recording, null);
		assert.deepEqual(session.consent.map((c) => c.accept), [false]);
		assert.deepEqual(fs.readdirSync(`${server.dataDir}/recordings`).filter((d) => d === sid), [], 'nothing of it left on disk');
	});

	test('a server killed mid-session: at the next start the recording is remuxed and recorded as interrupted', { skip, timeout: 240_000 }, async () => {
		const dead = await startServer({ demo: true, config: CONFIG });
		const t = await setUp(dead);
		const sid = await meet(t);
		dead.proc.kill('SIGKILL');
		await Promise.all([t.host.exited, t.citizen.exited]);
		const again = await startServer({ dataDir: dead.dataDir, config: CONFIG });
		const off = await loginClient(again, DEMO.official.login, DEMO.official.password);
		let evs;
		while ((evs = await sessionEvents(off.client, t.caseId)).length === 0) {
			await new Promise((r) => setImmediate(r));
		}
		assert.equal(evs.length, 1);
		const d = evs[0].data;
		assert.equal(d.session_id, sid);
		assert.equal(d.ended_by, 'interrupted');
		assert.ok(d.recording, 'what was recorded is kept');
		assert.equal(d.recording.status, 'interrupted');
		assert.match(d.recording.signature, /^[A-Za-z0-9+/]+=*$/, 'readable: signed');
		const bytes = await download(off.client, d.recording.file_id, again);
		assert.equal(crypto.createHash('sha256').update(bytes).digest('hex'), d.recording.sha256);
		const inspector = new Peer('inspect', off.login.access_token, again);
		await inspector.take((m) => m.ready);
		const info = await inspector.send({ inspect: `${again.dataDir}/files/${d.recording.sha256.slice(0, 2)}/${d.recording.sha256}` });
		assert.deepEqual([info.video, info.audio], [2, 2], JSON.stringify(info));
	});
});

/* Last: live sessions torn down, the recordings closed, nothing leaked. */
test('the server exits cleanly (status 0, no sanitizer report)', async () => {
	const info = await server.stop();
	const tail = server.stderrLines.filter((l) => !/^ts=/.test(l)).slice(-80).join('\n');
	assert.deepEqual({ code: info?.code, signal: info?.signal }, { code: 0, signal: null }, `exit; stderr (not logfmt):\n${tail}`);
	assert.deepEqual(server.stderrLines.filter((l) => /Sanitizer|runtime error:/.test(l)), [], tail);
});
