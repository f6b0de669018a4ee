#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# bench/auth: logins per second over 50 connections, and the p99 of
# `system.ping` on 10 other connections measured at the same time, next to
# the p99 of `system.ping` with no logins running (bench/auth/auth-bench.c).
# Target: the p99 under logins stays within 2x of the idle p99 (the loop never
# waits for argon2).
#
#   bench/auth/run.sh [BUILD_DIR]          (default: build-release)
#
# Environment: DURATION (s per measured window, default 10), WARMUP (s before
# each window, default 2), PING_CONNECTIONS (default 10), PING_INTERVAL_US
# (one ping per connection every ..., default 2000), LOGIN_CONNECTIONS
# (default 50), REPEAT (runs, default 3: the run with the median ratio is
# shown in full, every run as a line below it), RETRIES (default 3) and
# IDLE_WAIT (s, default 300), see below.
#
# The cores are shared with whatever else runs on the machine, and any other
# busy process spoils the figures (auth-bench reports the CPU of every other
# process in each window as "others"). So before each run the script waits,
# up to IDLE_WAIT seconds, until the machine has been idle for 5 s, and a run
# in which other processes took more than 5 % of a core in either window is
# discarded (printed as a `discarded:` line) and made again, up to RETRIES
# times; if every attempt was disturbed, the last one is kept and flagged.
#
# The throttles are set to the largest values the server accepts (1000 and
# 100000; every login here succeeds, so they should never trigger); the
# password queue (64) holds all 50 logins, so none should be rejected.
#
# Every run (and every repeated attempt) gets a fresh server (tiepdan --demo
# on a new data directory), started before the wait for an idle machine, so
# no run inherits logins still queued by the one before.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-build-release}
case $BUILD in
/*) ;;
*) BUILD=$ROOT/$BUILD ;;
esac
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
PING_CONNECTIONS=${PING_CONNECTIONS:-10}
PING_INTERVAL_US=${PING_INTERVAL_US:-2000}
LOGIN_CONNECTIONS=${LOGIN_CONNECTIONS:-50}
REPEAT=${REPEAT:-3}
RETRIES=${RETRIES:-3}
IDLE_WAIT=${IDLE_WAIT:-300}

if [[ ! -f $BUILD/build.ninja ]]; then
	meson setup "$BUILD" "$ROOT" --buildtype=release -Dtests=false >/dev/null
fi
if ! out=$(ninja -C "$BUILD" bench/auth-bench portal/tiepdan portal/tiepdan-pwhash 2>&1); then
	echo "$out" >&2
	echo "run.sh: the build failed" >&2
	exit 1
fi
BENCH=$BUILD/bench/auth-bench
TIEPDAN=$BUILD/portal/tiepdan

TMP=$(mktemp -d)
TD_PID=
# stop_server: SIGTERM, and SIGKILL if it is still there after 10 s (a
# graceful stop lets the password worker finish the logins it holds).
stop_server() {
	if [[ -n $TD_PID ]]; then
		kill "$TD_PID" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$TD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$TD_PID" 2>/dev/null || true
		wait "$TD_PID" 2>/dev/null || true
		TD_PID=
	fi
}
cleanup() {
	stop_server
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE REGEX PID: the first line of FILE matching REGEX, within 30 s
# (--demo hashes the demo accounts' passwords before it is ready).
wait_for() {
	local file=$1 re=$2 pid=$3 line
	for _ in $(seq 300); do
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

# wait_idle: until the machine (every CPU, from /proc/stat) has been under 5 %
# busy for 5 s in a row, or IDLE_WAIT seconds have passed.
wait_idle() {
	local quiet=0 b0 i0 b1 i1 pct
	for _ in $(seq "$IDLE_WAIT"); do
		read -r b0 i0 < <(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
		sleep 1
		read -r b1 i1 < <(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
		pct=$(((b1 - b0) * 100 / ((b1 - b0) + (i1 - i0) + 1)))
		if ((pct < 5)); then
			quiet=$((quiet + 1))
			((quiet >= 5)) && return 0
		else
			quiet=0
		fi
	done
	echo "run.sh: the machine did not go idle within ${IDLE_WAIT} s; measuring anyway" >&2
}

# disturbed RESULT_LINE: whether other processes took > 5 % of a core in a window.
disturbed() {
	awk '{
		for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
		exit !(kv["idle_others_pct"] > 5 || kv["load_others_pct"] > 5)
	}' <<<"$1"
}

# start_server: a fresh server on a fresh data directory; sets TD_PID, TD_PORT.
start_server() {
	local data line
	data=$(mktemp -d "$TMP/data.XXXXXX")
	"$TIEPDAN" --demo --listen 127.0.0.1:0 --data-dir "$data" --log-level info \
		--password-queue 64 --login-max-failures 1000 --address-max-failures 100000 \
		>"$data.out" 2>"$data.log" &
	TD_PID=$!
	line=$(wait_for "$data.log" 'msg="ready"' "$TD_PID")
	TD_PORT=$(sed -n 's/.* port=\([0-9][0-9]*\).*/\1/p' <<<"$line")
}

echo "bench/auth: logins under load; ping p99 idle and under logins, ${DURATION} s windows" \
	"after ${WARMUP} s warm-up, ${REPEAT} run(s)"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
	"Linux $(uname -r)"
echo "tiepdan: $TIEPDAN --demo --password-queue 64, a fresh server and data directory per run"
echo

RAW=$TMP/raw
DISCARDED=$TMP/discarded
: >"$RAW"
: >"$DISCARDED"
for rep in $(seq "$REPEAT"); do
	for attempt in $(seq $((RETRIES + 1))); do
		start_server
		wait_idle
		if ! "$BENCH" --port "$TD_PORT" --pid "$TD_PID" --duration "$DURATION" \
			--warmup "$WARMUP" --ping-connections "$PING_CONNECTIONS" \
			--ping-interval-us "$PING_INTERVAL_US" --login-connections "$LOGIN_CONNECTIONS" \
			>"$TMP/run.$rep" 2>"$TMP/bench.err"; then
			echo "run.sh: auth-bench failed (run $rep):" >&2
			cat "$TMP/run.$rep" "$TMP/bench.err" >&2
			exit 1
		fi
		stop_server
		result=$(sed -n "s/^result /run=$rep /p" "$TMP/run.$rep")
		if ! disturbed "$result" || ((attempt == RETRIES + 1)); then
			break
		fi
		echo "$result" >>"$DISCARDED"
	done
	echo "$result" >>"$RAW"
done

# The run with the median ratio (loaded p99 / idle p99), shown in full.
median=$(awk '{
	for (i = 1; i <= NF; i++) { split($i, p, "="); if (p[1] == "ratio") r = p[2]; if (p[1] == "run") n = p[2] }
	print r, n
}' "$RAW" | sort -g | awk '{ a[NR] = $2 } END { print a[int((NR + 1) / 2)] }')
echo "median run (by ratio): run $median of $REPEAT"
echo
grep -v '^result ' "$TMP/run.$median"
echo
awk '{
	delete kv
	for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
	printf "run %s: logins/s %6.2f  rejected/s %5.2f  ping p99 idle %7.1f us  load %7.1f us  ratio %6.2f  server CPU %% idle %5.1f load %5.1f  threads %s  drain %s s%s  others %% %.0f/%.0f%s\n", \
		kv["run"], kv["load_logins_per_s"], kv["load_rejected_per_s"], kv["idle_p99_us"], \
		kv["load_p99_us"], kv["ratio"], kv["idle_cpu_pct"], kv["load_cpu_pct"], kv["load_threads"], \
		kv["drain_s"], (kv["drain_unanswered"] > 0 ? " (" kv["drain_unanswered"] " unanswered)" : ""), \
		kv["idle_others_pct"], kv["load_others_pct"], \
		(kv["idle_others_pct"] > 5 || kv["load_others_pct"] > 5) ? "  (other processes were busy: not trustworthy)" : ""
}' "$RAW"
echo
sed 's/^/raw: /' "$RAW"
sed 's/^/discarded: /' "$DISCARDED"
