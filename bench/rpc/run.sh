#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# bench/rpc: `system.ping` over JSON-RPC/WebSocket, tiepdan against the Node.js
# reference (bench/rpc/reference-server.mjs), 1, 10 and 100 connections, each
# with one call outstanding. The server's CPU is read from /proc, so the load
# generator's share of the two cores is not charged to it.
#
#   bench/rpc/run.sh [BUILD_DIR]          (default: build-release)
#
# Environment: DURATION (s, default 5), WARMUP (s, default 1),
# CONNECTIONS (default "1 10 100"), REPEAT (runs of each, default 3: the
# table shows medians, every run is printed below it as a raw line), FLOOR
# (1, the default: also measure bench/rpc-floor-server, a bare epoll server
# that shows what the kernel alone costs per call here; 0: skip it).
#
# BUILD_DIR is set up (release, no tests) when it does not exist, and the two
# programs needed are built in it. The Node reference needs `ws`: run
# `npm install` at the repository root first.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-build-release}
case $BUILD in
/*) ;;
*) BUILD=$ROOT/$BUILD ;;
esac
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-"1 10 100"}
REPEAT=${REPEAT:-3}
FLOOR=${FLOOR:-1}

if [[ ! -f $BUILD/build.ninja ]]; then
	meson setup "$BUILD" "$ROOT" --buildtype=release -Dtests=false >/dev/null
fi
ninja -C "$BUILD" bench/rpc-loadgen bench/rpc-floor-server portal/tiepdan portal/tiepdan-pwhash >/dev/null
LOADGEN=$BUILD/bench/rpc-loadgen
TIEPDAN=$BUILD/portal/tiepdan
FLOOR_SERVER=$BUILD/bench/rpc-floor-server

if ! (cd "$ROOT" && node -e "import('ws').catch(() => process.exit(1))"); then
	echo "run.sh: the Node reference needs the ws package: run 'npm install' in $ROOT" >&2
	exit 1
fi

TMP=$(mktemp -d)
TD_PID=
REF_PID=
FLOOR_PID=
cleanup() {
	local pid
	for pid in $TD_PID $REF_PID $FLOOR_PID; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $TD_PID $REF_PID $FLOOR_PID; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE REGEX PID: the first line of FILE matching REGEX, within 10 s.
wait_for() {
	local file=$1 re=$2 pid=$3 line
	for _ in $(seq 100); do
		line=$(grep -m1 -E "$re" "$file" 2>/dev/null || true)
		if [[ -n $line ]]; then
			echo "$line"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "run.sh: no '$re' from pid $pid; its output:" >&2
	cat "$file" >&2
	return 1
}

# kv LINE KEY: the value of KEY=value in a line of key=value pairs.
kv() {
	local pair
	for pair in $1; do
		if [[ $pair == "$2="* ]]; then
			echo "${pair#*=}"
			return 0
		fi
	done
	echo "?"
}

mkdir -p "$TMP/data"
"$TIEPDAN" --listen 127.0.0.1:0 --data-dir "$TMP/data" --log-level info \
	>"$TMP/tiepdan.out" 2>"$TMP/tiepdan.log" &
TD_PID=$!
line=$(wait_for "$TMP/tiepdan.log" 'msg="ready"' "$TD_PID")
TD_PORT=$(sed -n 's/.* port=\([0-9][0-9]*\).*/\1/p' <<<"$line")

node "$ROOT/bench/rpc/reference-server.mjs" 0 >"$TMP/ref.out" 2>&1 &
REF_PID=$!
line=$(wait_for "$TMP/ref.out" '^ready ' "$REF_PID")
REF_PORT=$(sed -n 's/.* port=\([0-9][0-9]*\).*/\1/p' <<<"$line")

SERVERS="tiepdan reference"
if [[ $FLOOR == 1 ]]; then
	"$FLOOR_SERVER" 0 >"$TMP/floor.out" 2>&1 &
	FLOOR_PID=$!
	line=$(wait_for "$TMP/floor.out" '^ready ' "$FLOOR_PID")
	FLOOR_PORT=$(sed -n 's/.* port=\([0-9][0-9]*\).*/\1/p' <<<"$line")
	SERVERS="$SERVERS floor"
fi

echo "bench/rpc: system.ping, one call outstanding per connection," \
	"${DURATION} s window after ${WARMUP} s warm-up"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
	"Linux $(uname -r), node $(node --version)"
echo "tiepdan: pid $TD_PID port $TD_PORT ($TIEPDAN)"
echo "reference: pid $REF_PID port $REF_PORT (node + ws $(cd "$ROOT" && node -p "require('ws/package.json').version"))"
if [[ $FLOOR == 1 ]]; then
	echo "floor: pid $FLOOR_PID port $FLOOR_PORT ($FLOOR_SERVER: bare epoll, no JSON parser)"
fi
echo

RAW=$TMP/raw
: >"$RAW"
for _ in $(seq "$REPEAT"); do
	for c in $CONNECTIONS; do
		for who in $SERVERS; do
			case $who in
			tiepdan) port=$TD_PORT pid=$TD_PID ;;
			reference) port=$REF_PORT pid=$REF_PID ;;
			floor) port=$FLOOR_PORT pid=$FLOOR_PID ;;
			esac
			if ! "$LOADGEN" --port "$port" --pid "$pid" --connections "$c" \
				--duration "$DURATION" --warmup "$WARMUP" --label "$who" \
				>>"$RAW" 2>"$TMP/loadgen.err"; then
				echo "run.sh: rpc-loadgen failed against $who ($c connections):" >&2
				cat "$TMP/loadgen.err" >&2
				exit 1
			fi
		done
	done
done

# One row per connection count; each figure is the median over the runs.
awk -v conns="$CONNECTIONS" -v repeat="$REPEAT" '
function med(key,   n, i, j, t, a) {
	n = split(V[key], a, " ")
	for (i = 2; i <= n; i++) {
		t = a[i] + 0
		for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	delete kv
	for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
	k = kv["label"] SUBSEP kv["connections"]
	V[k, "rate"] = V[k, "rate"] " " kv["calls_per_s"]
	V[k, "p50"] = V[k, "p50"] " " kv["p50_us"]
	V[k, "p99"] = V[k, "p99"] " " kv["p99_us"]
	V[k, "cpu"] = V[k, "cpu"] " " kv["server_cpu_us_per_call"]
	V[k, "usr"] = V[k, "usr"] " " kv["server_user_us_per_call"]
	V[k, "sys"] = V[k, "sys"] " " kv["server_sys_us_per_call"]
	V[k, "lg"] = V[k, "lg"] " " kv["loadgen_cpu_us_per_call"]
	# runs of the same repetition are adjacent in time: compare them pairwise
	N[k]++
	CPU[k, N[k]] = kv["server_cpu_us_per_call"]
	P99[k, N[k]] = kv["p99_us"]
}
# median over the repetitions of tiepdan run i / reference run i
function paired(A, t, r,   i, m, s) {
	s = ""
	m = N[t] < N[r] ? N[t] : N[r]
	for (i = 1; i <= m; i++) {
		if (A[r, i] > 0) s = s " " A[t, i] / A[r, i]
	}
	V["paired"] = s
	return med("paired")
}
END {
	f = "%5s | %9s %8s %8s %8s | %9s %8s %8s %8s | %6s %6s | %s\n"
	printf f, "", "tiepdan", "", "", "", "reference", "", "", "", "ratio", "ratio", ""
	printf f, "conns", "calls/s", "p50 us", "p99 us", "CPU us", "calls/s", "p50 us", \
		"p99 us", "CPU us", "CPU", "p99", "target: CPU <= 1/3 of ref, lower p99"
	n = split(conns, C, " ")
	for (i = 1; i <= n; i++) {
		t = "tiepdan" SUBSEP C[i]; r = "reference" SUBSEP C[i]
		tc = med(t SUBSEP "cpu"); rc = med(r SUBSEP "cpu")
		tp = med(t SUBSEP "p99"); rp = med(r SUBSEP "p99")
		cr = paired(CPU, t, r); pr = paired(P99, t, r)
		v = (cr <= 1 / 3 && pr < 1) ? "met" : "NOT MET"
		if (cr > 1 / 3) v = v " (CPU)"
		if (pr >= 1) v = v " (p99)"
		printf "%5s | %9.0f %8.1f %8.1f %8.2f | %9.0f %8.1f %8.1f %8.2f | %6.2f %6.2f | %s\n", \
			C[i], med(t SUBSEP "rate"), med(t SUBSEP "p50"), tp, tc, \
			med(r SUBSEP "rate"), med(r SUBSEP "p50"), rp, rc, cr, pr, v
	}
	printf "\nfigures: medians of %d run(s) each; ratios: medians of the ratios of runs made\n", repeat
	printf "one after the other (tiepdan run i / reference run i). CPU us = the server\n"
	printf "process utime+stime over the window / calls completed in it.\n"
	printf "\nCPU split, us/call: user + kernel = total (load generator own CPU)\n"
	printf "%5s | %-31s | %-31s | %-31s\n", "conns", "tiepdan", "reference", \
		"floor (bare epoll server)"
	for (i = 1; i <= n; i++) {
		printf "%5s", C[i]
		split("tiepdan reference floor", S, " ")
		for (j = 1; j <= 3; j++) {
			k = S[j] SUBSEP C[i]
			if (!((k SUBSEP "cpu") in V)) { printf " | %-31s", "-"; continue }
			printf " | %6.2f + %6.2f = %6.2f (%5.2f)", med(k SUBSEP "usr"), \
				med(k SUBSEP "sys"), med(k SUBSEP "cpu"), med(k SUBSEP "lg")
		}
		printf "\n"
	}
}' "$RAW"
echo
sed 's/^/raw: /' "$RAW"
