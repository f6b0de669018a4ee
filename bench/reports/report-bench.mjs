// SPDX-License-Identifier: AGPL-3.0-or-later
//
// report-bench: `report.summary` latency through the real server over
// WebSocket, one call at a time (bench/reports/run.sh).
//
//   node bench/reports/report-bench.mjs --port PORT --login L --password P \
//       --agency-code DN --from YYYY-MM-DD --to YYYY-MM-DD [--runs 20] [--warmup 1]
//
// Logs in (auth.login binds the connection), finds the agency id by its code
// (directory.agencies), then calls report.summary {agency_id, from, to,
// include_children: true} WARMUP times unclocked and RUNS times clocked:
// latency from the send of the request to the parse of the answer. Prints
// the runs, then one line `result p50_ms=… p90_ms=… min_ms=… max_ms=…
// received=… cases_touched=…`. Exit status 1 when an answer is an error.

import WebSocket from 'ws';

const args = Object.fromEntries(
	process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const runs = Number(args.runs ?? 20);
const warmup = Number(args.warmup ?? 1);

const ws = new WebSocket(`ws://127.0.0.1:${args.port}/ws`, 'tiepdan.v1', { maxPayload: 256 * 1024 * 1024 });
await new Promise((resolve, reject) => {
	ws.once('open', resolve);
	ws.once('error', reject);
});
let seq = 0;
const waiting = new Map();
ws.on('message', (data) => {
	const m = JSON.parse(data.toString());
	const w = waiting.get(m.id);
	if (w) {
		waiting.delete(m.id);
		w(m);
	}
});
function call(method, params) {
	const id = `b${++seq}`;
	return new Promise((resolve) => {
		waiting.set(id, resolve);
		ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
	});
}
function must(r, what) {
	if (r.error) {
		console.error(`report-bench: ${what}: ${JSON.stringify(r.error)}`);
		process.exit(1);
	}
	return r.result;
}

must(await call('auth.login', { login: args.login, password: args.password }), 'auth.login');
const agencies = must(await call('directory.agencies', {}), 'directory.agencies').items;
const agency = agencies.find((a) => a.code === args['agency-code']);
if (!agency) {
	console.error(`report-bench: no agency ${args['agency-code']}`);
	process.exit(1);
}
const params = { agency_id: agency.id, from: args.from, to: args.to, include_children: true };
const times = [];
let last;
for (let i = 0; i < warmup + runs; i++) {
	const t0 = process.hrtime.bigint();
	last = must(await call('report.summary', params), 'report.summary');
	const ms = Number(process.hrtime.bigint() - t0) / 1e6;
	if (i >= warmup) {
		times.push(ms);
	}
}
ws.close();
const sorted = [...times].sort((a, b) => a - b);
const rank = (p) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
console.log(`runs (ms): ${times.map((t) => t.toFixed(0)).join(' ')}`);
console.log(`totals: received=${last.totals.received} carried_over=${last.totals.carried_over} decided=${last.totals.decided} ` +
	`on_time=${last.totals.on_time} overdue=${last.totals.overdue} pending=${last.totals.pending} agencies=${Object.keys(last.by_agency).length}`);
console.log(`result p50_ms=${rank(0.5).toFixed(1)} p90_ms=${rank(0.9).toFixed(1)} min_ms=${sorted[0].toFixed(1)} ` +
	`max_ms=${sorted.at(-1).toFixed(1)} received=${last.totals.received} runs=${runs}`);
