#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# bench/cases: petition.submit throughput and case.list search (see
# docs/benchmarks.md, "cases: submit throughput and search").
#
#   bench/cases/run.sh [BUILD_DIR]          (default: build-release)
#
# 1. submit: bench/commit-bench's bare SQLite loop (one fsync per row) and the
#    store with 100 writers, as the reference, in CASES_DIR; then tiepdan
#    --demo on a fresh data directory in CASES_DIR and bench/cases-submit-bench:
#    CONNECTIONS citizens registered and logged in, then petition.submit in
#    closed loop, WARMUP then DURATION seconds.
# 2. search: bench/cases-gen writes CASES generated cases into a new data
#    directory in CASES_DIR; the same queries are timed in the sqlite3 shell
#    (REF_ROUNDS passes after a warm-up pass), then tiepdan runs on that
#    directory and bench/cases-q-bench times case.list {q, limit: 20} as the
#    city inspector and as a ward official (ROUNDS passes, BUDGET seconds).
# 3. submit again, on the database of part 2 (SUBMIT_BIG=1, the default):
#    the same closed loop with CASES cases already stored, with BIG_CONNECTIONS
#    citizens (default 10: a submit costs seconds there, and the drain waits
#    for every submit in flight).
#
# Environment: DURATION (s, default 10), WARMUP (s, default 2), CONNECTIONS
# (default 100), CASES (default 1000000), ROUNDS (default 15), REF_ROUNDS
# (default 5), BUDGET (s per login, default 120), SUBMIT_BIG (1 or 0),
# BIG_CONNECTIONS (default 10), DIAG=1 (after part 2, bench/cases/explain.sh
# on the big database: the server's query shapes against faster ones), PARTS
# (default "1 2 3"; part 3 needs part 2),
# CASES_DIR (default /var/tmp: a real disk; the million cases take about
# 2.4 GB there, and are deleted at the end), KEEP=1 keeps them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-build-release}
case $BUILD in
/*) ;;
*) BUILD=$ROOT/$BUILD ;;
esac
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-100}
CASES=${CASES:-1000000}
ROUNDS=${ROUNDS:-15}
REF_ROUNDS=${REF_ROUNDS:-5}
BUDGET=${BUDGET:-120}
SUBMIT_BIG=${SUBMIT_BIG:-1}
BIG_CONNECTIONS=${BIG_CONNECTIONS:-10}
DIAG=${DIAG:-0}
PARTS=${PARTS:-"1 2 3"}
CASES_DIR=${CASES_DIR:-/var/tmp}
KEEP=${KEEP:-0}

# The queries: frequent, medium and rare words, with and without diacritics
# ("" is case.list without q). The rare ones are planted by cases-gen at known
# rates: wifi 1/2000 cases, container 1/20000, gas 1/100000; golf never.
QUERIES=(
	"người dân" "nguoi dan" "rác thải" "rac thai" "lấn chiếm vỉa hè" "lan chiem via he"
	"bảo hiểm xã hội" "trạm phát wifi" "wifi" "xe container" "bình gas" "binh gas"
	"sân golf" ""
)

if [[ ! -f $BUILD/build.ninja ]]; then
	meson setup "$BUILD" "$ROOT" --buildtype=release -Dtests=false >/dev/null
fi
ninja -C "$BUILD" portal/tiepdan portal/tiepdan-pwhash bench/commit-bench bench/cases-submit-bench \
	bench/cases-q-bench bench/cases-gen >/dev/null
TIEPDAN=$BUILD/portal/tiepdan
if ! command -v sqlite3 >/dev/null; then
	echo "run.sh: the reference needs the sqlite3 shell (apt-get install sqlite3)" >&2
	exit 1
fi

TMP=$(mktemp -d -p "$CASES_DIR" tiepdan-cases-XXXXXX)
TD_PID=
stop_server() {
	if [[ -n $TD_PID ]]; then
		kill "$TD_PID" 2>/dev/null || true
		wait "$TD_PID" 2>/dev/null || true
		TD_PID=
	fi
}
cleanup() {
	stop_server
	if [[ $KEEP == 1 ]]; then
		echo "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server DATA_DIR [ARGS...]: tiepdan in the background; sets TD_PID and TD_PORT.
start_server() {
	local dir=$1 line
	shift
	"$TIEPDAN" --listen 127.0.0.1:0 --data-dir "$dir" --log-level info --password-queue 256 "$@" \
		>"$dir/tiepdan.out" 2>"$dir/tiepdan.log" &
	TD_PID=$!
	for _ in $(seq 600); do
		line=$(grep -m1 'msg="ready"' "$dir/tiepdan.log" 2>/dev/null || true)
		if [[ -n $line ]]; then
			TD_PORT=$(sed -n 's/.* port=\([0-9][0-9]*\).*/\1/p' <<<"$line")
			return 0
		fi
		if ! kill -0 "$TD_PID" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "run.sh: tiepdan did not get ready; its log:" >&2
	cat "$dir/tiepdan.log" >&2
	exit 1
}

# server_log DATA_DIR: the warnings and errors the server logged.
server_log() {
	local n
	n=$(grep -c -E 'level=(warn|error)' "$1/tiepdan.log" || true)
	echo "server log: $n warning/error line(s)"
	grep -E 'level=(warn|error)' "$1/tiepdan.log" | head -10 | sed 's/^/  /' || true
}

echo "bench/cases: petition.submit with $CONNECTIONS citizens; case.list q over $CASES cases"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
	"Linux $(uname -r), sqlite3 shell $(sqlite3 --version | cut -d' ' -f1)"
echo "directory: $TMP ($(df --output=fstype,source "$TMP" | tail -1 | tr -s ' '))"
echo

part() { [[ " $PARTS " == *" $1 "* ]]; }

# ---- 1. submit throughput, fresh database ----------------------------------
submit_fresh() {
	local bare store subs
	echo "== 1. petition.submit, fresh demo database =="
	echo "-- reference: bench/commit-bench (bare SQLite, one fsync per row; the store, 100 writers)"
	"$BUILD/bench/commit-bench" --dir "$TMP" --writers 100 --duration "$DURATION" \
		--warmup "$WARMUP" | tee "$TMP/commit.out"
	echo
	mkdir "$TMP/submit"
	start_server "$TMP/submit" --demo
	echo "-- tiepdan: pid $TD_PID port $TD_PORT (synchronous=full, the default)"
	"$BUILD/bench/cases-submit-bench" --port "$TD_PORT" --pid "$TD_PID" \
		--connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" |
		tee "$TMP/submit.out"
	stop_server
	server_log "$TMP/submit"
	bare=$(sed -n 's/^result .*bare_rows_per_s=\([0-9.]*\).*/\1/p' "$TMP/commit.out")
	store=$(sed -n 's/^result .*w100_writes_per_s=\([0-9.]*\).*/\1/p' "$TMP/commit.out")
	subs=$(sed -n 's/^result .*submits_per_s=\([0-9.]*\).*/\1/p' "$TMP/submit.out")
	echo
	awk -v s="$subs" -v b="$bare" -v w="$store" -v c="$CONNECTIONS" 'BEGIN {
		printf "submit: %.0f/s with %d citizens; the bare one-fsync-per-row loop: %.0f rows/s (%.1fx the\n",
			s, c, b, b / s
		printf "        submits), the store with 100 writers of one INSERT: %.0f/s (%.0fx); target >= 2000/s: %s\n",
			w, w / s, (s >= 2000 ? "met" : "NOT MET")
	}'
	rm -rf "$TMP/submit"
	echo
}

# ---- 2. case.list q over CASES cases ---------------------------------------
search_big() {
	local nq i q m docs
	echo "== 2. case.list q over $CASES generated cases =="
	"$BUILD/bench/cases-gen" --data-dir "$BIG" --cases "$CASES"
	echo

	# The reference: the same MATCH, ORDER BY received_at DESC LIMIT 20, in the shell.
	"$BUILD/bench/cases-q-bench" --print-match "${QUERIES[@]/#/--query=}" >"$TMP/match.tsv"
	nq=$(wc -l <"$TMP/match.tsv")
	{
		echo ".timer on"
		echo ".output /dev/null"
		for _ in $(seq 0 "$REF_ROUNDS"); do # the first pass: warm-up
			while IFS=$'\t' read -r _ m; do
				m=${m//\'/\'\'}
				echo "SELECT id, tracking_code, kind, field, title, status, agency_id," \
					"received_at FROM cases WHERE rowid IN (SELECT rowid FROM cases_fts" \
					"WHERE cases_fts MATCH '$m') ORDER BY received_at DESC LIMIT 20;"
			done <"$TMP/match.tsv"
		done
	} >"$TMP/ref.sql"
	echo "-- reference: sqlite3 shell, $REF_ROUNDS passes over $nq queries after a warm-up pass"
	sqlite3 "$BIG/tiepdan.db" <"$TMP/ref.sql" |
		sed -n 's/^Run Time: real \([0-9.]*\).*/\1/p' >"$TMP/ref.times"
	: >"$TMP/ref.tsv"
	i=0
	while IFS=$'\t' read -r q m; do
		docs=$(sqlite3 "$BIG/tiepdan.db" \
			"SELECT count(*) FROM cases_fts WHERE cases_fts MATCH '${m//\'/\'\'}'")
		# the times of query i: lines i+nq, i+2nq, ... (line i is its warm-up)
		awk -v i="$i" -v nq="$nq" -v q="$q" -v docs="$docs" '
		NR > nq && (NR - 1) % nq == i { v[++n] = $1 * 1000 }
		END {
			for (a = 2; a <= n; a++) { t = v[a]; for (b = a - 1; b >= 1 && v[b] > t; b--) v[b + 1] = v[b]; v[b + 1] = t }
			r50 = int(0.5 * n + 0.999999); r99 = int(0.99 * n + 0.999999)
			printf "%s\t%.1f\t%.1f\t%s\n", q, v[r50 < 1 ? 1 : r50], v[r99 < 1 ? 1 : r99], docs
		}' "$TMP/ref.times" >>"$TMP/ref.tsv"
		i=$((i + 1))
	done <"$TMP/match.tsv"
	awk -v nq="$nq" 'NR > nq { v[++n] = $1 * 1000 }
	END {
		for (a = 2; a <= n; a++) { t = v[a]; for (b = a - 1; b >= 1 && v[b] > t; b--) v[b + 1] = v[b]; v[b + 1] = t }
		r50 = int(0.5 * n + 0.999999); r99 = int(0.99 * n + 0.999999)
		printf "reference over all %d statements: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", n, v[r50], v[r99], v[n]
	}' "$TMP/ref.times"
	echo

	start_server "$BIG"
	echo "-- tiepdan: pid $TD_PID port $TD_PORT on $BIG"
	"$BUILD/bench/cases-q-bench" --port "$TD_PORT" --pid "$TD_PID" \
		--as "inspector (city):thanhtra.dongnai:demo-inspector-2026" \
		--as "official (ward):canbo.tranbien:demo-official-2026" \
		--rounds "$ROUNDS" --budget "$BUDGET" --reference "$TMP/ref.tsv" \
		"${QUERIES[@]/#/--query=}"
	echo
	if [[ $DIAG == 1 ]]; then
		echo "-- diagnosis (bench/cases/explain.sh)"
		"$ROOT/bench/cases/explain.sh" "$BIG/tiepdan.db"
		echo
	fi
}

# ---- 3. submit throughput with CASES cases stored (the server of part 2) ---
submit_big() {
	echo "== 3. petition.submit with $CASES cases already stored =="
	"$BUILD/bench/cases-submit-bench" --port "$TD_PORT" --pid "$TD_PID" \
		--connections "$BIG_CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP"
	echo
}

BIG=$TMP/big
if part 1; then
	submit_fresh
fi
if part 2; then
	search_big
	if [[ $SUBMIT_BIG == 1 ]] && part 3; then
		submit_big
	fi
	stop_server
	server_log "$BIG"
fi
