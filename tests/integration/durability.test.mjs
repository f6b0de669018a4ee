// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Graceful shutdown with writes in flight (issue 2): every connection keeps
// an auth.refresh outstanding (each one a durable write: the presented token
// is marked used and its successor stored) while the server gets SIGTERM.
// Every write that was answered must be there after a restart, and no write
// may have happened without its answer: the last token each client received
// must still be the live one (refreshing with it succeeds, neither -32001
// "unknown" nor -32009 "already used").

import assert from 'node:assert/strict';
import { after } from 'node:test';
import { describe, startServer, stopAllServers, test } from './lib/harness.mjs';

after(stopAllServers);

const CITIZEN = { login: '0912345678', password: 'demo-citizen-2026' };

describe('durability', () => {
	for (const signal of ['SIGTERM', 'SIGINT']) {
		test(`${signal} while refreshes are in flight: none answered is lost, none unanswered happened`, async (t) => {
			const s = await startServer({ demo: true });
			const clients = [];
			for (let i = 0; i < 4; i++) {
				const c = await s.connect();
				const login = await c.result('auth.login', CITIZEN);
				clients.push({ c, latest: login.refresh_token, answered: 0 });
			}
			const closes = clients.map((st) => st.c.closed);
			let stopping = false;
			const loops = clients.map(async (st) => {
				for (;;) {
					let r;
					try {
						r = await st.c.call('auth.refresh', { refresh_token: st.latest });
					} catch {
						return; /* the connection closed with this request unanswered */
					}
					assert.ok(r.result, `refresh answered with ${JSON.stringify(r)}`);
					st.latest = r.result.refresh_token;
					st.answered++;
					if (!stopping && clients.every((x) => x.answered >= 20)) {
						stopping = true;
						s.proc.kill(signal);
					}
				}
			});
			const codes = await Promise.all(closes);
			await Promise.all(loops);
			const exit = await s.finished;
			assert.deepEqual(exit, { code: 0, signal: null });
			for (const code of codes) {
				assert.equal(code.code, 1001, JSON.stringify(code));
			}
			t.diagnostic(`refreshes answered per connection: ${clients.map((x) => x.answered).join(' ')}`);

			const again = await startServer({ dataDir: s.dataDir });
			const c = await again.connect();
			for (const [i, st] of clients.entries()) {
				const r = await c.call('auth.refresh', { refresh_token: st.latest });
				assert.ok(r.result, `connection ${i}: its last answered token is live after restart: ${JSON.stringify(r)}`);
			}
			await again.stop();
		});
	}
});
