// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Overdue is computed, and the deadline sweep announces it (issue 4): a paper
// petition registered as received long ago is overdue at once; the sweep
// (--sweep-interval 1) sends event.case.updated {case_id, status, overdue:
// true, warning: "overdue"} to the responsible agency's officials, and
// case.list {overdue: true} finds it.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { describe, startServer, stopAllServers, test } from './lib/harness.mjs';
import { DEMO, loginClient, waitNotification } from './lib/auth-helpers.mjs';

let s;
let official;

before(async () => {
	s = await startServer({ demo: true, args: ['--sweep-interval', '1'] });
	official = await loginClient(s, DEMO.official.login, DEMO.official.password);
});

after(stopAllServers);

function daysAgo(n) {
	/* The portal's zone is UTC+7. */
	const d = new Date(Date.now() + 7 * 3600e3 - n * 86400e3);
	return d.toISOString().slice(0, 10);
}

describe('deadlines', () => {
	test('a petition received 60 days ago is overdue and the sweep says so', async () => {
		const reg = await official.client.call('petition.register', {
			kind: 'feedback', field: 'environment', title: 'Nước thải chảy ra đường',
			content: 'Nước thải từ cơ sở sản xuất chảy ra đường', locality_code: 'DN-P-TRANBIEN',
			petitioner: { full_name: 'Phạm Văn Đông', national_id: '075200123456', address: 'Trấn Biên' },
			via: 'post', received_on: daysAgo(60),
		});
		assert.ok(reg.result, JSON.stringify(reg));
		const id = reg.result.case_id;
		assert.equal(reg.result.case.overdue, true);
		assert.ok(reg.result.deadlines.process_by < daysAgo(0), JSON.stringify(reg.result.deadlines));

		for (;;) {
			const ev = await waitNotification(official.client, 'event.case.updated');
			if (ev.params.case_id === id && ev.params.warning === 'overdue') {
				assert.equal(ev.params.overdue, true);
				assert.equal(ev.params.status, 'received');
				break;
			}
		}
		const list = await official.client.result('case.list', { overdue: true });
		assert.deepEqual(list.items.map((c) => c.id), [id]);
		const none = await official.client.result('case.list', { overdue: false });
		assert.ok(!none.items.some((c) => c.id === id));

		/* Accepting starts the settlement clock today: no longer overdue. */
		const acc = await official.client.result('case.accept', { case_id: id });
		assert.equal(acc.case.overdue, false);
		assert.equal(acc.case.deadlines.process_by, null);
		assert.ok(acc.case.deadlines.settle_by > daysAgo(0));
	});

	test('a petition received on a future date is refused', async () => {
		const r = await official.client.call('petition.register', {
			kind: 'feedback', field: 'environment', title: 'x y z', content: 'nội dung',
			locality_code: 'DN-P-TRANBIEN',
			petitioner: { full_name: 'Phạm Văn Đông', national_id: '075200123456', address: 'Trấn Biên' },
			via: 'post', received_on: daysAgo(-2),
		});
		assert.equal(r.error?.code, -32602);
		assert.equal(r.error?.data?.field, '/received_on');
	});
});
