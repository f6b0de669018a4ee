// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Cases through the real protocol, part 2: the state machine of DOMAIN.md §2
// (every move tried from every reachable status: the allowed ones set the
// documented status, every other one is -32009 invalid_transition), the
// kind-specific exits (a complaint is guided, never forwarded; a denunciation,
// recommendation or feedback is forwarded once, and only to the agency the
// competence rules name), second-instance appeals, who may make which move,
// two officials racing on one case, and event.case.updated (who gets it, who
// does not).
//
// One --demo server for the file. Nothing sleeps: an absence is proved by a
// later event on the same connection arriving first.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { describe, startServer, stopAllServers, test } from './lib/harness.mjs';
import { expectInvalid } from './lib/auth-helpers.mjs';
import {
	CONFLICT,
	FORBIDDEN,
	MADE_UP_ID,
	NOT_FOUND,
	addDays,
	calendarDeadline,
	caseEventsSeen,
	deviation,
	demoSessions,
	fails,
	getCase,
	login,
	newCitizen,
	newStaffAccount,
	ok,
	petition,
	submit,
	timeline,
	todayVN,
	waitCaseEvent,
	workingDeadline,
} from './lib/case-helpers.mjs';

let server;
let s; // demo sessions
let extra = {}; // official2 (Trấn Biên), leaderB (Biên Hòa), officialSNV, officialSNNMT

before(async () => {
	server = await startServer({ demo: true });
	s = await demoSessions(server);
	const accounts = [
		['official2', 'official', 'DN-P-TRANBIEN', 'canbo2.tranbien', 'Đỗ Văn Em'],
		['leaderB', 'leader', 'DN-P-BIENHOA', 'chutich.bienhoa', 'Mai Văn Phúc'],
		['officialSNV', 'official', 'DN-SNV', 'canbo.snv', 'Lâm Thị Giang'],
		['officialSNNMT', 'official', 'DN-SNNMT', 'canbo.snnmt', 'Tô Văn Hải'],
	];
	for (const [key, role, code, loginName, full_name] of accounts) {
		const a = await newStaffAccount(s.admin, { role, agencyId: s.ids.get(code), login: loginName, full_name });
		extra[key] = await login(server, a);
	}
});

after(async () => {
	await stopAllServers();
});

/* ------------------------------------------------------------------ */
/* The state machine                                                   */

const TEXT = 'Nội dung xử lý';

/* move → [session key ('owner' = the citizen who filed), method, params]. */
function moves() {
	return {
		accept: ['official', 'case.accept', {}],
		forward: ['official', 'case.forward', { to_agency_id: s.ids.get('DN-P-BIENHOA'), reason: 'Chuyển đơn' }],
		guide: ['official', 'case.guide', { text: 'Hướng dẫn gửi đơn đến cơ quan có thẩm quyền' }],
		reject: ['official', 'case.reject', { reason_code: 'other', text: 'Không đủ điều kiện thụ lý' }],
		file: ['official', 'case.file', { reason_code: 'missing_content', text: 'Thiếu nội dung' }],
		withdraw: ['owner', 'petition.withdraw', { reason: 'Tôi rút đơn' }],
		suspend: ['leader', 'case.suspend', { reason: 'Chờ kết quả giám định' }],
		resume: ['leader', 'case.resume', { reason: 'Đã có kết quả' }],
		extend: ['leader', 'case.extend', { reason: 'Gia hạn' }],
		decide: ['leader', 'case.decide', { outcome: 'rejected', decision_no: '12/QĐ-UBND', text: TEXT }],
		appeal: ['owner', 'case.appeal', { content: 'Tôi không đồng ý với quyết định giải quyết lần đầu' }],
		close: ['leader', 'case.close', { text: 'Đã thi hành xong' }],
		terminate: ['leader', 'case.terminate', { notice_no: '3/TB-UBND', reason: 'Chấm dứt thụ lý' }],
	};
}

/* How each reachable status is reached from received (a complaint at Trấn Biên). */
const PATHS = {
	received: [],
	accepted: ['accept'],
	suspended: ['accept', 'suspend'],
	guided: ['guide'],
	rejected: ['reject'],
	filed: ['file'],
	withdrawn: ['withdraw'],
	decided: ['accept', 'decide'],
	closed: ['accept', 'decide', 'close'],
	terminated: ['accept', 'decide', 'terminate'],
};

/* DOMAIN.md §2 for a complaint: status → {move: status it leads to}. */
const ALLOWED = {
	received: { accept: 'accepted', guide: 'guided', reject: 'rejected', file: 'filed', withdraw: 'withdrawn' },
	accepted: { suspend: 'suspended', decide: 'decided', withdraw: 'withdrawn' },
	suspended: { resume: 'accepted' },
	guided: {},
	rejected: {},
	filed: {},
	withdrawn: {},
	decided: { appeal: 'received', close: 'closed', terminate: 'terminated' },
	closed: { terminate: 'terminated' },
	terminated: {},
};

/* The deadline that runs in a status has its explanation; statuses without one show none. */
function assertDeadlinesExplained(c, label) {
	const d = c.deadlines;
	assert.ok(d && 'process_by' in d && 'settle_by' in d && 'explanation' in d, `${label}: deadlines ${JSON.stringify(d)}`);
	const running = { received: 'process_by', accepted: 'settle_by', suspended: 'settle_by' }[c.status];
	for (const key of ['process_by', 'settle_by']) {
		if (key === running) {
			assert.match(d[key] ?? '', /^\d{4}-\d{2}-\d{2}$/, `${label}: ${key} runs while ${c.status}`);
			assert.equal(d.explanation?.[key]?.last_day, d[key], `${label}: explanation.${key}`);
			assert.equal(typeof d.explanation[key].text_en, 'string');
		} else {
			assert.equal(d[key], null, `${label}: no ${key} while ${c.status}`);
		}
	}
	if (!running) {
		assert.equal(d.explanation, null, `${label}: nothing to explain while ${c.status}`);
	}
}

async function move(owner, caseId, name) {
	const [who, method, params] = moves()[name];
	const client = who === 'owner' ? owner : s[who];
	return client.call(method, { case_id: caseId, ...params });
}

/* A complaint of owner driven into status. */
async function complaintIn(owner, status, over = {}) {
	const r = await submit(owner, petition('complaint', s.ids, over));
	for (const name of PATHS[status]) {
		const res = await move(owner, r.case_id, name);
		assert.ok(res.result, `reaching ${status}: ${name}: ${JSON.stringify(res)}`);
	}
	assert.equal((await getCase(s.official, r.case_id)).status, status, `reached ${status}`);
	return r.case_id;
}

describe('state machine', () => {
	for (const status of Object.keys(PATHS)) {
		test(`from ${status}: the allowed moves lead where DOMAIN.md §2 says; every other move → -32009 invalid_transition`, async () => {
			const allowed = ALLOWED[status];
			/* Refusals on one case: nothing changes, nothing is appended. */
			const id = await complaintIn(s.citizen, status);
			const before = await timeline(s.official, id);
			for (const name of Object.keys(moves())) {
				if (name in allowed || (status === 'suspended' && name === 'withdraw')) {
					continue; // suspended → withdrawn: its own test below
				}
				const res = await move(s.citizen, id, name);
				assert.ok(res.error, `${status} → ${name} must be refused: ${JSON.stringify(res).slice(0, 300)}`);
				assert.equal(res.error.code, CONFLICT, `${status} → ${name}: ${JSON.stringify(res.error)}`);
				if (name === 'extend' && (status === 'accepted' || status === 'suspended')) {
					continue; // a complaint has no extension: -32009 with its own reason
				}
				assert.equal(res.error.data?.reason, 'invalid_transition', `${status} → ${name}: data ${JSON.stringify(res.error.data)}`);
			}
			const c = await getCase(s.official, id);
			assert.equal(c.status, status, 'refusals leave the status');
			assert.deepEqual(await timeline(s.official, id), before, 'refusals append nothing');
			/* Each allowed move on a fresh case. */
			for (const [name, to] of Object.entries(allowed)) {
				const fresh = await complaintIn(s.citizen, status);
				const n = (await timeline(s.official, fresh)).length;
				const res = await move(s.citizen, fresh, name);
				assert.ok(res.result, `${status} → ${name}: ${JSON.stringify(res)}`);
				assert.equal(res.result.case.status, to, `${status} → ${name} leads to ${to}`);
				assert.equal((await getCase(s.official, fresh)).status, to, `case.get agrees after ${name}`);
				assert.equal((await timeline(s.official, fresh)).length, n + 1, `${name}: one event`);
				assertDeadlinesExplained(res.result.case, `${status} → ${name}`);
				if (name === 'appeal') {
					assert.equal(res.result.case.instance, 2);
					assert.equal(res.result.case.agency.code, 'DN', 'the second instance is at the city');
					assert.equal(res.result.case.effective_on, null, 'an appealed decision takes no effect');
				}
				if (name === 'decide') {
					const today = todayVN();
					const eff = res.result.case.effective_on;
					assert.ok([addDays(today, 30), calendarDeadline(today, 30)].includes(eff), `effective_on 30 days after the decision: ${eff}`);
					assert.equal(res.result.case.outcome, 'rejected');
				}
			}
		});
	}

	deviation('from suspended: petition.withdraw → -32009 (DOMAIN.md §2: suspended → accepted only)', 'petition.withdraw is allowed from suspended', async () => {
		const id = await complaintIn(s.citizen, 'suspended');
		const res = await move(s.citizen, id, 'withdraw');
		assert.equal(res.error?.code, CONFLICT, `suspended → withdrawn: ${JSON.stringify(res).slice(0, 300)}`);
	});

	test('a complaint is never forwarded (-32009), whatever the target; it is guided instead', async () => {
		const id = await complaintIn(s.citizen, 'received');
		for (const code of ['DN-P-BIENHOA', 'DN', 'DN-SNNMT']) {
			await fails(s.official, 'case.forward', { case_id: id, to_agency_id: s.ids.get(code), reason: 'Chuyển' }, CONFLICT, 'invalid_transition', code);
		}
		const g = (await ok(s.official, 'case.guide', { case_id: id, text: 'Hướng dẫn gửi UBND thành phố', to_agency_id: s.ids.get('DN') })).case;
		assert.equal(g.status, 'guided');
		const ev = (await timeline(s.official, id)).at(-1);
		assert.equal(ev.action, 'guided');
		assert.equal(ev.data.to_agency_id, s.ids.get('DN'));
	});

	test('only complaints are appealed: a decided feedback or denunciation → -32009', async () => {
		for (const kind of ['feedback', 'denunciation', 'recommendation']) {
			const r = await submit(s.citizen, petition(kind, s.ids));
			await ok(s.official, 'case.accept', { case_id: r.case_id });
			await ok(s.leader, 'case.decide', { case_id: r.case_id, outcome: 'upheld', decision_no: '1/KL', text: TEXT });
			await fails(s.citizen, 'case.appeal', { case_id: r.case_id, content: 'Không đồng ý' }, CONFLICT, 'invalid_transition', kind);
		}
	});
});

/* ------------------------------------------------------------------ */

describe('forwarding', () => {
	test('a feedback on a local matter of ward A forwarded to ward B → -32009 not_competent, with the explanation', async () => {
		const r = await submit(s.citizen, petition('feedback', s.ids));
		const e = await fails(
			s.official,
			'case.forward',
			{ case_id: r.case_id, to_agency_id: s.ids.get('DN-P-BIENHOA'), reason: 'Chuyển sai' },
			CONFLICT,
			'not_competent',
		);
		assert.ok(e.data.explanation && typeof e.data.explanation.text_en === 'string', `explanation ${JSON.stringify(e.data)}`);
		assert.equal(e.data.explanation.agency_id, s.ids.get('DN-P-TRANBIEN'), 'names the competent agency');
		assert.equal(e.data.explanation.rule, 'feedback.local');
		await fails(s.official, 'case.forward', { case_id: r.case_id, to_agency_id: s.ids.get('DN-P-TRANBIEN'), reason: 'Chính mình' }, CONFLICT, 'not_competent', 'to itself');
		await fails(s.official, 'case.forward', { case_id: r.case_id, to_agency_id: MADE_UP_ID, reason: 'Không có' }, CONFLICT, undefined, 'to no agency');
		const c = await getCase(s.official, r.case_id);
		assert.equal(c.status, 'received');
		assert.equal(c.agency.code, 'DN-P-TRANBIEN');
		assert.equal((await timeline(s.official, r.case_id)).length, 1, 'refused forwards append nothing');
	});

	test('a feedback reclassified into another field is forwarded once to the department the rules name; a second forward → -32009', async () => {
		const today = todayVN();
		/* Feedback on a city labour policy → Department of Home Affairs (feedback.policy_city). */
		const r = await submit(
			s.citizen,
			petition('feedback', s.ids, { field: 'labour_policy', title: 'Phản ánh chính sách hỗ trợ người lao động', respondent: { type: 'decision', agency_id: s.ids.get('DN'), decision_no: '5/QĐ-UBND' } }),
		);
		assert.equal(r.agency.code, 'DN-SNV');
		const snv = extra.officialSNV;
		await fails(snv, 'case.forward', { case_id: r.case_id, to_agency_id: s.ids.get('DN-SNNMT'), reason: 'Chuyển' }, CONFLICT, 'not_competent', 'before reclassifying');
		/* It is really about land: the Department of Agriculture and Environment is competent. */
		await ok(snv, 'case.classify', { case_id: r.case_id, field: 'land', reason: 'Nội dung về đất đai' });
		const f = (await ok(snv, 'case.forward', { case_id: r.case_id, to_agency_id: s.ids.get('DN-SNNMT'), reason: 'Thuộc thẩm quyền Sở Nông nghiệp và Môi trường' })).case;
		assert.equal(f.status, 'received', 'received at the next agency (forwarded is transient)');
		assert.equal(f.agency.code, 'DN-SNNMT');
		assert.equal(f.deadlines.process_by, workingDeadline(today, 10), 'processing starts again at the new agency');
		const ev = (await timeline(extra.officialSNNMT, r.case_id)).at(-1);
		assert.equal(ev.action, 'forwarded');
		assert.equal(ev.data.from_agency_id, s.ids.get('DN-SNV'));
		assert.equal(ev.data.to_agency_id, s.ids.get('DN-SNNMT'));
		assert.ok(ev.data.explanation?.text_vi, 'the forward carries the competence explanation');
		/* The new agency acts; the old one still sees it but may not act. */
		assert.equal((await getCase(snv, r.case_id)).agency.code, 'DN-SNNMT');
		await fails(snv, 'case.accept', { case_id: r.case_id }, FORBIDDEN, 'not_responsible', 'the former agency');
		/* Back to labour policy: competent again is the SNV, but a case is forwarded once. */
		await ok(extra.officialSNNMT, 'case.classify', { case_id: r.case_id, field: 'labour_policy' });
		await fails(
			extra.officialSNNMT,
			'case.forward',
			{ case_id: r.case_id, to_agency_id: s.ids.get('DN-SNV'), reason: 'Chuyển lại' },
			CONFLICT,
			'forwarded_once',
			'second forward',
		);
		assert.equal((await ok(extra.officialSNNMT, 'case.accept', { case_id: r.case_id })).case.status, 'accepted');
		/* The former agency still sees it, so it still hears of it; so do the city's leaders above. */
		await waitCaseEvent(snv, r.case_id, 'accepted');
		await waitCaseEvent(s.cityLeader, r.case_id, 'accepted');
		await waitCaseEvent(s.inspector, r.case_id, 'accepted');
	});

	test('an accepted case is not forwarded (-32009 invalid_transition)', async () => {
		const r = await submit(s.citizen, petition('feedback', s.ids));
		await ok(s.official, 'case.accept', { case_id: r.case_id });
		await fails(s.official, 'case.forward', { case_id: r.case_id, to_agency_id: s.ids.get('DN-P-BIENHOA'), reason: 'x' }, CONFLICT, 'invalid_transition');
	});
});

/* ------------------------------------------------------------------ */

describe('appeal', () => {
	test('the owner appeals a decided complaint → instance 2 at the city: 10 working days to process, 45 days to settle; no third instance', async () => {
		const today = todayVN();
		const id = await complaintIn(s.citizen, 'decided');
		const other = await newCitizen(server, { full_name: 'Kiều Văn Lạ' });
		await fails(other.client, 'case.appeal', { case_id: id, content: 'Tôi cũng khiếu nại' }, NOT_FOUND, undefined, 'a stranger');
		await fails(s.official, 'case.appeal', { case_id: id, content: 'x' }, FORBIDDEN, undefined, 'an official');
		const a = (await ok(s.citizen, 'case.appeal', { case_id: id, content: 'Tôi không đồng ý với quyết định lần đầu' })).case;
		assert.equal(a.status, 'received');
		assert.equal(a.instance, 2);
		assert.equal(a.agency.code, 'DN');
		assert.equal(a.deadlines.process_by, workingDeadline(today, 10), JSON.stringify(a.deadlines));
		const ev = (await timeline(s.cityLeader, id)).at(-1);
		assert.equal(ev.action, 'appealed');
		assert.equal(ev.data.to_agency_id, s.ids.get('DN'));
		/* The ward no longer acts on it. */
		await fails(s.official, 'case.accept', { case_id: id }, FORBIDDEN, 'not_responsible', 'the first resolver');
		const acc = (await ok(s.cityLeader, 'case.accept', { case_id: id })).case;
		assert.equal(acc.deadlines.settle_by, calendarDeadline(today, 45), `second instance: 45 days ${JSON.stringify(acc.deadlines)}`);
		await ok(s.cityLeader, 'case.decide', { case_id: id, outcome: 'rejected', decision_no: '99/QĐ-UBND', text: TEXT });
		await fails(s.citizen, 'case.appeal', { case_id: id, content: 'Lần ba' }, CONFLICT, 'second_instance', 'a third instance');
		await other.client.close();
	});

	test('a complaint first settled by the city chairman: the second instance is outside the portal (-32009 outside_portal)', async () => {
		const r = await submit(s.citizen, petition('complaint', s.ids, { respondent: { type: 'decision', agency_id: s.ids.get('DN'), decision_no: '1/QĐ-UBND' } }));
		assert.equal(r.agency.code, 'DN');
		await ok(s.cityLeader, 'case.accept', { case_id: r.case_id });
		await ok(s.cityLeader, 'case.decide', { case_id: r.case_id, outcome: 'rejected', decision_no: '2/QĐ-UBND', text: TEXT });
		const e = await fails(s.citizen, 'case.appeal', { case_id: r.case_id, content: 'Khiếu nại lần hai' }, CONFLICT, 'outside_portal');
		assert.match(e.data.explanation?.text_en ?? '', /minister/i, JSON.stringify(e.data));
		assert.equal((await getCase(s.citizen, r.case_id)).status, 'decided');
	});
});

/* ------------------------------------------------------------------ */

describe('roles', () => {
	test('case.decide: an official → -32002; the leader of another ward → -32004; the city leader (sees, not responsible) → -32002', async () => {
		const id = await complaintIn(s.citizen, 'accepted');
		const params = { case_id: id, outcome: 'upheld', decision_no: '8/QĐ', text: TEXT };
		await fails(s.official, 'case.decide', params, FORBIDDEN, undefined, 'an official');
		await fails(extra.leaderB, 'case.decide', params, NOT_FOUND, undefined, 'the leader of Biên Hòa');
		await fails(s.cityLeader, 'case.decide', params, FORBIDDEN, 'not_responsible', 'the city leader');
		for (const who of ['inspector', 'staff', 'citizen', 'admin']) {
			await fails(s[who], 'case.decide', params, FORBIDDEN, undefined, who);
		}
		assert.equal((await getCase(s.official, id)).status, 'accepted', 'nothing happened');
		assert.equal((await ok(s.leader, 'case.decide', params)).case.status, 'decided');
	});

	test('handling moves: staff and inspectors → -32002, another ward → -32004, made-up ids → -32004', async () => {
		const id = await complaintIn(s.citizen, 'received');
		for (const who of ['staff', 'inspector', 'citizen', 'admin']) {
			await fails(s[who], 'case.accept', { case_id: id }, FORBIDDEN, undefined, who);
		}
		await fails(extra.leaderB, 'case.accept', { case_id: id }, NOT_FOUND, undefined, 'another ward');
		await fails(s.official, 'case.accept', { case_id: MADE_UP_ID }, NOT_FOUND, undefined, 'made-up id');
		/* The leader of the ward handles too. */
		assert.equal((await ok(s.leader, 'case.accept', { case_id: id })).case.status, 'accepted');
	});

	test('petition.withdraw: another citizen → -32004 (as a made-up id); an official → -32002; the owner → withdrawn', async () => {
		const id = await complaintIn(s.citizen, 'received');
		const other = await newCitizen(server, { full_name: 'Kiều Thị Khác' });
		const e1 = await fails(other.client, 'petition.withdraw', { case_id: id, reason: 'Rút hộ' }, NOT_FOUND);
		const e2 = await fails(other.client, 'petition.withdraw', { case_id: MADE_UP_ID, reason: 'Rút hộ' }, NOT_FOUND);
		assert.deepEqual(e1, e2, 'indistinguishable from a missing case');
		await fails(s.official, 'petition.withdraw', { case_id: id, reason: 'x' }, FORBIDDEN);
		const w = (await ok(s.citizen, 'petition.withdraw', { case_id: id, reason: 'Đã được giải thích' })).case;
		assert.equal(w.status, 'withdrawn');
		assert.equal((await timeline(s.official, id)).at(-1).data.reason, 'Đã được giải thích');
		await other.client.close();
	});

	test('case.assign: an official of the agency; one of another agency → -32602; staff → -32002', async () => {
		const id = await complaintIn(s.citizen, 'received');
		expectInvalid(await s.official.call('case.assign', { case_id: id, official_id: extra.officialSNV.user.id }), '/official_id', 'not_in_agency', 'another agency');
		await fails(s.staff, 'case.assign', { case_id: id, official_id: extra.official2.user.id }, FORBIDDEN);
		const a = (await ok(s.leader, 'case.assign', { case_id: id, official_id: extra.official2.user.id })).case;
		assert.deepEqual(a.assigned_official, { id: extra.official2.user.id, full_name: 'Đỗ Văn Em' });
		assert.equal(a.status, 'received', 'assigning keeps the status');
	});

	test('after case.terminate, a new petition of the same citizen on the same matter is flagged repeat_after_termination', async () => {
		const ward = s.ids.get('DN-P-TRANBIEN');
		const resp = { type: 'decision', agency_id: ward, decision_no: '77/QĐ-UBND' };
		const p = await newCitizen(server, { full_name: 'Lục Văn Lặp', address: 'Tổ 4, khu phố 5, phường Trấn Biên' });
		const first = await submit(p.client, petition('complaint', s.ids, { title: 'Khiếu nại bồi thường giải phóng mặt bằng', respondent: resp }));
		assert.equal(first.case.repeat_after_termination, false);
		await ok(s.official, 'case.accept', { case_id: first.case_id });
		await ok(s.leader, 'case.decide', { case_id: first.case_id, outcome: 'rejected', decision_no: '78/QĐ', text: TEXT });
		await ok(s.leader, 'case.terminate', { case_id: first.case_id, notice_no: '9/TB', reason: 'Đã giải quyết đúng pháp luật' });
		const again = await submit(p.client, petition('complaint', s.ids, { title: 'Khiếu nại bồi thường giải phóng mặt bằng lần nữa', respondent: resp }));
		assert.equal(again.case.repeat_after_termination, true, 'flagged');
		assert.equal((await getCase(s.official, again.case_id)).repeat_after_termination, true);
		const q = await newCitizen(server, { full_name: 'Lục Thị Khác', address: 'Tổ 5, khu phố 5, phường Trấn Biên' });
		const stranger = await submit(q.client, petition('complaint', s.ids, { title: 'Khiếu nại bồi thường giải phóng mặt bằng', respondent: resp }));
		assert.equal(stranger.case.repeat_after_termination, false, 'another citizen is not flagged');
		await Promise.all([p.client.close(), q.client.close()]);
	});

	deviation('after case.terminate, a complaint of the same citizen on another matter (another agency, another decision) is not flagged', 'any shared title word of 3+ letters ("Khiếu", "nại") flags a repeat', async () => {
		const p = await newCitizen(server, { full_name: 'Lục Văn Khác Việc', address: 'Tổ 6, khu phố 5, phường Trấn Biên' });
		const first = await submit(p.client, petition('complaint', s.ids, { title: 'Khiếu nại bồi thường giải phóng mặt bằng', respondent: { type: 'decision', agency_id: s.ids.get('DN-P-TRANBIEN'), decision_no: '77/QĐ-UBND' } }));
		await ok(s.official, 'case.accept', { case_id: first.case_id });
		await ok(s.leader, 'case.decide', { case_id: first.case_id, outcome: 'rejected', decision_no: '78/QĐ', text: TEXT });
		await ok(s.leader, 'case.terminate', { case_id: first.case_id, notice_no: '9/TB', reason: 'Đã giải quyết đúng pháp luật' });
		const other = await submit(
			p.client,
			petition('complaint', s.ids, {
				field: 'environment',
				title: 'Khiếu nại quyết định xử phạt vi phạm hành chính về môi trường',
				content: 'Tôi khiếu nại quyết định xử phạt số 15/QĐ-XPVPHC của Sở về xả thải, vì cơ sở của tôi không xả thải.',
				respondent: { type: 'decision', agency_id: s.ids.get('DN-SNNMT'), decision_no: '15/QĐ-XPVPHC' },
			}),
		);
		await p.client.close();
		assert.equal(other.case.repeat_after_termination, false, `a different matter is not a repeat: ${JSON.stringify(other.case).slice(0, 200)}`);
	});
});

/* ------------------------------------------------------------------ */

describe('concurrency', () => {
	test('two officials accept and reject the same case at the same moment: exactly one wins, the other → -32009', async () => {
		for (let round = 0; round < 6; round++) {
			const r = await submit(s.citizen, petition('feedback', s.ids, { title: `Phản ánh số ${round + 1} về ngập nước` }));
			const [a, b] = await Promise.all([
				s.official.call('case.accept', { case_id: r.case_id }),
				extra.official2.call(round % 2 ? 'case.accept' : 'case.reject', { case_id: r.case_id, ...(round % 2 ? {} : { reason_code: 'other', text: 'Không thụ lý' }) }),
			]);
			const wins = [a, b].filter((x) => x.result);
			const losses = [a, b].filter((x) => x.error);
			assert.equal(wins.length, 1, `round ${round}: exactly one succeeds: ${JSON.stringify([a, b]).slice(0, 400)}`);
			assert.equal(losses[0].error.code, CONFLICT, `round ${round}: ${JSON.stringify(losses[0])}`);
			assert.equal(losses[0].error.data?.reason, 'invalid_transition');
			const c = await getCase(s.official, r.case_id);
			assert.equal(c.status, wins[0].result.case.status, 'the winner’s status stands');
			const items = await timeline(s.official, r.case_id);
			assert.equal(items.length, 2, `round ${round}: one move recorded`);
			assert.equal((await ok(s.leader, 'case.verify_chain', { case_id: r.case_id })).ok, true);
		}
	});
});

/* ------------------------------------------------------------------ */

describe('event.case.updated', () => {
	test('the owner (another connection) and the responsible officials get {case_id, status, overdue}; other citizens and wards get nothing', async () => {
		const a = await newCitizen(server, { full_name: 'Hà Thị Sự Kiện', address: 'Số 1 đường 30/4, phường Trấn Biên' });
		const a2 = await login(server, { login: a.login, password: a.password });
		const b = await newCitizen(server, { full_name: 'Hà Văn Ngoài' });
		const official = await login(server, { login: 'canbo.tranbien', password: 'demo-official-2026' });
		const leaderB = extra.leaderB;

		const shape = (m, id, status) => {
			assert.equal(m.jsonrpc, '2.0');
			assert.ok(!('id' in m), 'a notification');
			const { warning, ...rest } = m.params;
			assert.deepEqual(rest, { case_id: id, status, overdue: false }, JSON.stringify(m));
			assert.ok(warning === undefined || typeof warning === 'string');
		};

		const r = await submit(a.client, petition('complaint', s.ids, { title: 'Khiếu nại để thử thông báo' }));
		shape(await waitCaseEvent(official, r.case_id, 'received'), r.case_id, 'received');
		shape(await waitCaseEvent(a2, r.case_id, 'received'), r.case_id, 'received');

		await ok(s.official, 'case.accept', { case_id: r.case_id });
		shape(await waitCaseEvent(a2, r.case_id, 'accepted'), r.case_id, 'accepted');
		shape(await waitCaseEvent(a.client, r.case_id, 'accepted'), r.case_id, 'accepted');
		shape(await waitCaseEvent(official, r.case_id, 'accepted'), r.case_id, 'accepted');
		shape(await waitCaseEvent(s.leader, r.case_id, 'accepted'), r.case_id, 'accepted');

		/* Later events for their own cases reach B and the Biên Hòa leader: anything about
		 * A's case would have come before them on the same connection. */
		const own = await submit(b.client, petition('feedback', s.ids, { locality_code: 'DN-P-BIENHOA' }));
		await waitCaseEvent(b.client, own.case_id, 'received');
		await waitCaseEvent(leaderB, own.case_id, 'received');
		await ok(leaderB, 'case.accept', { case_id: own.case_id });
		await waitCaseEvent(b.client, own.case_id, 'accepted');
		await waitCaseEvent(leaderB, own.case_id, 'accepted');
		assert.deepEqual(caseEventsSeen(b.client, r.case_id), [], 'another citizen hears nothing of the case');
		assert.deepEqual(caseEventsSeen(leaderB, r.case_id), [], 'another ward hears nothing of the case');
		/* And A heard nothing of B's case. */
		await ok(s.leader, 'case.suspend', { case_id: r.case_id, reason: 'Chờ' });
		await waitCaseEvent(a2, r.case_id, 'suspended');
		assert.deepEqual(caseEventsSeen(a2, own.case_id), [], 'A hears nothing of B’s case');
		await Promise.all([a.client.close(), a2.close(), b.client.close(), official.close()]);
	});

	test('it reaches everyone who may see the case: the ward\'s staff and leader, the city leader and inspectorate above, a co-petitioner with an account; no one else', async () => {
		const owner = await newCitizen(server, { full_name: 'Đồng Văn Chủ' });
		const co = await newCitizen(server, { full_name: 'Đồng Thị Ký' });
		const b = await newCitizen(server, { full_name: 'Đồng Văn Ngoài' });
		const r = await submit(
			owner.client,
			petition('recommendation', s.ids, { title: 'Kiến nghị chung của hai hộ', co_petitioners: [{ full_name: co.full_name, national_id: co.national_id }] }),
		);
		for (const [who, c] of Object.entries({ owner: owner.client, co: co.client, official: s.official, leader: s.leader, staff: s.staff, cityLeader: s.cityLeader, inspector: s.inspector })) {
			const m = await waitCaseEvent(c, r.case_id, 'received');
			assert.equal(m.params.case_id, r.case_id, who);
		}
		/* Barriers: a later event on the same connection, after which any event of r would have come. */
		const own = await submit(b.client, petition('feedback', s.ids, { locality_code: 'DN-P-BIENHOA' }));
		await waitCaseEvent(b.client, own.case_id, 'received');
		await waitCaseEvent(extra.leaderB, own.case_id, 'received');
		assert.deepEqual(caseEventsSeen(b.client, r.case_id), [], 'another citizen hears nothing');
		assert.deepEqual(caseEventsSeen(extra.leaderB, r.case_id), [], 'another ward\'s leader hears nothing');
		await Promise.all([owner.client.close(), co.client.close(), b.client.close()]);
	});
});
