#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# bench/reports: report.summary for the whole city tree over a year of
# CASES generated cases (see docs/benchmarks.md, "reports").
#
#   bench/reports/run.sh [BUILD_DIR]          (default: build-release)
#
# 1. bench/cases-gen --no-fts writes CASES cases (default 1,000,000) spread
#    over the year before now into a new data directory in REPORTS_DIR; the
#    schema's triggers fill report_stints as they would on a live server.
# 2. The reference: the same aggregation (every case indicator by agency,
#    kind and field) written as one SQL query, run in the sqlite3 shell, one
#    warm-up then RUNS times; its p50. It compares days against a plain
#    30-day limit where the server counts working-day deadlines with the
#    holiday calendar, so it does a little less work than the server.
# 3. tiepdan on that directory; bench/reports/report-bench.mjs logs in as the
#    city inspector and calls report.summary {agency_id: the city,
#    include_children: true, from: today - 364 days, to: today} once to warm
#    up, then RUNS times over WebSocket, one at a time; its p50 next to the
#    reference's. Target: p50 under 1 s and at most 2x the reference.
#
# Environment: CASES (default 1000000), RUNS (default 20), REPORTS_DIR
# (default /var/tmp: a real disk; the million cases take about 2.1 GB and are
# deleted at the end), KEEP=1 keeps them, DATA_DIR=DIR reuses a directory
# cases-gen already filled (step 1 skipped).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-build-release}
case $BUILD in
/*) ;;
*) BUILD=$ROOT/$BUILD ;;
esac
CASES=${CASES:-1000000}
RUNS=${RUNS:-20}
REPORTS_DIR=${REPORTS_DIR:-/var/tmp}
KEEP=${KEEP:-0}

if [[ ! -f $BUILD/build.ninja ]]; then
	meson setup "$BUILD" "$ROOT" --buildtype=release -Dtests=false >/dev/null
fi
ninja -C "$BUILD" portal/tiepdan portal/tiepdan-pwhash bench/cases-gen >/dev/null
TIEPDAN=$BUILD/portal/tiepdan
for tool in sqlite3 node; do
	if ! command -v $tool >/dev/null; then
		echo "run.sh: needs $tool" >&2
		exit 1
	fi
done
if [[ ! -d $ROOT/node_modules/ws ]]; then
	echo "run.sh: needs the ws package in $ROOT/node_modules (npm ci)" >&2
	exit 1
fi

TMP=$(mktemp -d -p "$REPORTS_DIR" tiepdan-reports-XXXXXX)
TD_PID=
cleanup() {
	if [[ -n $TD_PID ]]; then
		kill "$TD_PID" 2>/dev/null || true
		wait "$TD_PID" 2>/dev/null || true
	fi
	if [[ $KEEP == 1 ]]; then
		echo "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TO=$(TZ=Asia/Ho_Chi_Minh date +%F)
FROM=$(TZ=Asia/Ho_Chi_Minh date -d "$TO - 364 days" +%F)
echo "bench/reports: report.summary, city tree, $FROM to $TO, $CASES cases, p50 of $RUNS runs"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
	"Linux $(uname -r), sqlite3 shell $(sqlite3 --version | cut -d' ' -f1), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo

if [[ -n ${DATA_DIR:-} ]]; then
	BIG=$DATA_DIR
else
	BIG=$TMP/big
	mkdir "$BIG"
	"$BUILD/bench/cases-gen" --no-fts --data-dir "$BIG" --cases "$CASES" 2>/dev/null | tail -3
	echo
fi

# ---- the reference: one SQL query in the shell ----------------------------
F=$(sqlite3 "$BIG/tiepdan.db" "SELECT CAST(julianday('$FROM') - 2440587.5 AS INTEGER)")
T=$(sqlite3 "$BIG/tiepdan.db" "SELECT CAST(julianday('$TO') - 2440587.5 AS INTEGER)")
P="BETWEEN $F AND $T"
{
	echo ".timer on"
	echo ".output /dev/null"
	for _ in $(seq 0 "$RUNS"); do # the first: warm-up
		cat <<SQL
SELECT agency_id, kind, field,
 total(received_day $P), total(received_day < $F), total(accepted_day $P),
 total(settled_day $P AND status = 'forwarded'), total(settled_day $P AND status = 'guided'),
 total(settled_day $P AND status = 'rejected'), total(settled_day $P AND status = 'filed'),
 total(settled_day $P AND status = 'withdrawn'), total(decided_day $P),
 total(decided_day $P AND outcome = 'upheld'), total(decided_day $P AND outcome = 'partly_upheld'),
 total(decided_day $P AND outcome = 'rejected'),
 total(decided_day $P AND decided_day <= stage_day + 30), total(decided_day $P AND decided_day > stage_day + 30),
 total(received_day $P AND mass), total(received_day $P AND complex > 0),
 total(received_day $P AND repeat), total(received_day $P AND duplicate),
 total(received_day $P AND instance = 1), total(received_day $P AND instance = 2),
 total(settled_day IS NULL OR settled_day > $T),
 total(settled_day IS NULL AND status = 'received' AND $T > stage_day + 14),
 avg(CASE WHEN decided_day $P THEN decided_day - received_day END)
FROM report_stints WHERE received_day <= $T AND (settled_day IS NULL OR settled_day >= $F)
GROUP BY agency_id, kind, field;
SQL
	done
} >"$TMP/ref.sql"
sqlite3 "$BIG/tiepdan.db" <"$TMP/ref.sql" | sed -n 's/^Run Time: real \([0-9.]*\).*/\1/p' | tail -n +2 >"$TMP/ref.times"
REF=$(sort -n "$TMP/ref.times" | awk '{ v[NR] = $1 * 1000 } END { r = int(0.5 * NR + 0.999999); printf "%.1f", v[r] }')
echo "-- reference: the aggregation as one SQL query in the sqlite3 shell: p50 $REF ms" \
	"(runs: $(awk '{ printf "%.0f ", $1 * 1000 }' "$TMP/ref.times")ms)"
echo

# ---- tiepdan ----------------------------------------------------------------
"$TIEPDAN" --listen 127.0.0.1:0 --data-dir "$BIG" --log-level info >"$TMP/tiepdan.out" 2>"$TMP/tiepdan.log" &
TD_PID=$!
for _ in $(seq 600); do
	line=$(grep -m1 'msg="ready"' "$TMP/tiepdan.log" 2>/dev/null || true)
	if [[ -n $line ]]; then
		TD_PORT=$(sed -n 's/.* port=\([0-9][0-9]*\).*/\1/p' <<<"$line")
		break
	fi
	sleep 0.1
done
if [[ -z ${TD_PORT:-} ]]; then
	echo "run.sh: tiepdan did not get ready" >&2
	cat "$TMP/tiepdan.log" >&2
	exit 1
fi
echo "-- tiepdan: report.summary over WebSocket (pid $TD_PID, port $TD_PORT)"
NODE_PATH=$ROOT/node_modules node "$ROOT/bench/reports/report-bench.mjs" --port "$TD_PORT" \
	--login thanhtra.dongnai --password demo-inspector-2026 --agency-code DN \
	--from "$FROM" --to "$TO" --runs "$RUNS" --warmup 1 | tee "$TMP/bench.out"
P50=$(sed -n 's/^result p50_ms=\([0-9.]*\).*/\1/p' "$TMP/bench.out")
echo
awk -v s="$P50" -v r="$REF" 'BEGIN {
	printf "report.summary p50 %.0f ms; the one-query reference p50 %.0f ms (%.2fx); target < 1000 ms and <= 2x: %s\n",
		s, r, s / r, (s < 1000 && s <= 2 * r) ? "met" : "NOT MET"
}'
