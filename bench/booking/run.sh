#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# bench/booking: appointment.book by 1,000 connections at once, competing for
# 100 seats (scenario A) and booking distinct seats (scenario B); see
# docs/benchmarks.md, "booking: competing and distinct seats".
#
#   bench/booking/run.sh [BUILD_DIR]          (default: build-release)
#
# 1. reference: bench/commit-bench's bare SQLite loop (one INSERT per
#    transaction, one fsync per row) with --writers 1, in BOOKING_DIR;
# 2. a data directory in BOOKING_DIR: `tiepdan-admin demo`, then ACCOUNTS
#    citizens inserted with the sqlite3 shell in one transaction (logins
#    0960000000, 0960000001, ...), all with the demo citizen's argon2id hash
#    (password demo-citizen-2026), so nobody registers: each auth.login is one
#    argon2 verify on the server;
# 3. tiepdan --demo on it (--password-queue 1024 --max-active-bookings 100),
#    then bench/booking-bench: staff creates the slots, CONNECTIONS connections
#    bind (one auth.login per account, auth.authenticate with its token on the
#    account's other connections), then scenario A and scenario B;
# 4. the server stopped, the database checked with sqlite3: active
#    appointments per slot against its capacity, (slot, seat) held twice,
#    and exactly SEATS active appointments in the slot of scenario A.
#
# Environment: CONNECTIONS (default 1000), ACCOUNTS (default 100: 10
# connections per account; 1000 gives every connection its own citizen, at
# ~0.1-0.3 s of argon2 per login), SEATS (default 100), B_SLOTS (default 100),
# REF_DURATION (s, default 3), BOOKING_DIR (default /var/tmp: a real disk,
# never tmpfs), KEEP=1 keeps the data directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-build-release}
case $BUILD in
/*) ;;
*) BUILD=$ROOT/$BUILD ;;
esac
CONNECTIONS=${CONNECTIONS:-1000}
ACCOUNTS=${ACCOUNTS:-100}
SEATS=${SEATS:-100}
B_SLOTS=${B_SLOTS:-100}
REF_DURATION=${REF_DURATION:-3}
BOOKING_DIR=${BOOKING_DIR:-/var/tmp}
KEEP=${KEEP:-0}
PHONE_BASE=960000000

if [[ ! -f $BUILD/build.ninja ]]; then
	meson setup "$BUILD" "$ROOT" --buildtype=release -Dtests=false >/dev/null
fi
ninja -C "$BUILD" portal/tiepdan portal/tiepdan-pwhash portal/tiepdan-admin bench/commit-bench \
	bench/booking-bench >/dev/null
TIEPDAN=$BUILD/portal/tiepdan
if ! command -v sqlite3 >/dev/null; then
	echo "run.sh: the setup needs the sqlite3 shell (apt-get install sqlite3)" >&2
	exit 1
fi

TMP=$(mktemp -d -p "$BOOKING_DIR" tiepdan-booking-XXXXXX)
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

echo "bench/booking: appointment.book, $CONNECTIONS connections ($ACCOUNTS citizen accounts);" \
	"A: $SEATS seats in one slot; B: $B_SLOTS slots of $((CONNECTIONS / B_SLOTS)) seats"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
	"Linux $(uname -r), sqlite3 shell $(sqlite3 --version | cut -d' ' -f1)"
echo "directory: $TMP ($(df --output=fstype,source "$TMP" | tail -1 | tr -s ' '))"
echo

# ---- 1. the reference ------------------------------------------------------
echo "-- reference: bench/commit-bench --writers 1 (bare SQLite, one INSERT and one fsync per transaction)"
"$BUILD/bench/commit-bench" --dir "$TMP" --writers 1 --duration "$REF_DURATION" --warmup 1 \
	| tee "$TMP/commit.out"
echo

# ---- 2. the data directory with the citizens --------------------------------
DATA=$TMP/data
mkdir "$DATA"
"$BUILD/portal/tiepdan-admin" --data-dir "$DATA" demo >/dev/null
DB=$DATA/tiepdan.db
s0=$(date +%s.%N)
sqlite3 "$DB" <<SQL
BEGIN;
CREATE TEMP TABLE h AS SELECT password_hash AS v FROM users WHERE login = '0912345678';
WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n + 1 < $ACCOUNTS)
INSERT INTO users (id, login, full_name, national_id, phone, password_hash, created_at)
SELECT printf('bench-citizen-%06d', n), printf('0%09d', $PHONE_BASE + n),
       printf('Công Dân Thử %d', n), printf('079300%06d', n), printf('0%09d', $PHONE_BASE + n),
       (SELECT v FROM h), strftime('%Y-%m-%dT%H:%M:%S+07:00', 'now', '+7 hours')
FROM k;
INSERT INTO user_roles (user_id, role, agency_id)
SELECT id, 'citizen', NULL FROM users WHERE id LIKE 'bench-citizen-%';
COMMIT;
SQL
n=$(sqlite3 "$DB" "SELECT count(*) FROM user_roles WHERE user_id LIKE 'bench-citizen-%' AND role = 'citizen'")
echo "setup: $n citizens inserted with the sqlite3 shell in one transaction" \
	"($(awk -v a="$s0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s), one argon2id hash for all"

# ---- 3. the server and the two scenarios ------------------------------------
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$TIEPDAN" --demo --listen 127.0.0.1:0 --data-dir "$DATA" --log-level info \
	--password-queue 1024 --max-active-bookings 100 \
	>"$TMP/tiepdan.out" 2>"$TMP/tiepdan.log" &
TD_PID=$!
line=
for _ in $(seq 600); do
	line=$(grep -m1 'msg="ready"' "$TMP/tiepdan.log" 2>/dev/null || true)
	if [[ -n $line ]] || ! kill -0 "$TD_PID" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
if [[ -z $line ]]; then
	echo "run.sh: tiepdan did not get ready; its log:" >&2
	cat "$TMP/tiepdan.log" >&2
	exit 1
fi
TD_PORT=$(sed -n 's/.* port=\([0-9][0-9]*\).*/\1/p' <<<"$line")
echo "tiepdan: pid $TD_PID port $TD_PORT (--password-queue 1024 --max-active-bookings 100," \
	"synchronous=full)"
echo
status=0
"$BUILD/bench/booking-bench" --port "$TD_PORT" --pid "$TD_PID" --connections "$CONNECTIONS" \
	--accounts "$ACCOUNTS" --seats "$SEATS" --b-slots "$B_SLOTS" --phone-base "$PHONE_BASE" \
	--password demo-citizen-2026 | tee "$TMP/booking.out" || status=$?
stop_server
n=$(grep -c -E 'level=(warn|error)' "$TMP/tiepdan.log" || true)
echo "server log: $n warning/error line(s)"
grep -E 'level=(warn|error)' "$TMP/tiepdan.log" | head -10 | sed 's/^/  /' || true
if [[ $status != 0 ]]; then
	echo "run.sh: booking-bench failed (exit status $status)" >&2
	exit "$status"
fi

# ---- 4. the database afterwards ----------------------------------------------
slot_a=$(sed -n 's/^slots .* a=\([^ ]*\).*/\1/p' "$TMP/booking.out")
echo
echo "-- database check (sqlite3, server stopped)"
sqlite3 "$DB" <<SQL
.mode list
.separator ' '
WITH per AS (
  SELECT s.id, s.capacity, count(a.id) AS n, count(DISTINCT a.seat) AS seats,
         ifnull(max(a.seat), 0) AS top
  FROM slots s LEFT JOIN appointments a ON a.slot_id = s.id AND a.status = 'active'
  GROUP BY s.id)
SELECT 'slots', count(*), 'active_appointments', sum(n),
       'slots_over_capacity', sum(n > capacity), 'seats_above_capacity', sum(top > capacity),
       'slots_with_a_seat_twice', sum(n <> seats) FROM per;
SELECT 'scenario_A_slot', '$slot_a', 'capacity', capacity, 'active', count(a.id),
       'distinct_seats', count(DISTINCT a.seat), 'seats', ifnull(min(a.seat), 0) || '..' || ifnull(max(a.seat), 0)
FROM slots s LEFT JOIN appointments a ON a.slot_id = s.id AND a.status = 'active'
WHERE s.id = '$slot_a';
SELECT 'citizens_with_two_active_in_one_slot', count(*) FROM
  (SELECT 1 FROM appointments WHERE status = 'active' GROUP BY slot_id, citizen_id HAVING count(*) > 1);
SQL
twice=$(sqlite3 "$DB" "SELECT count(*) FROM (SELECT 1 FROM appointments WHERE status = 'active'
	GROUP BY slot_id, seat HAVING count(*) > 1)")
over=$(sqlite3 "$DB" "SELECT count(*) FROM slots s WHERE (SELECT count(*) FROM appointments a
	WHERE a.slot_id = s.id AND a.status = 'active') > s.capacity")
in_a=$(sqlite3 "$DB" "SELECT count(*) FROM appointments WHERE slot_id = '$slot_a' AND status = 'active'")
if [[ $twice != 0 || $over != 0 || $in_a != "$SEATS" ]]; then
	echo "CHECK FAILED: seats held twice $twice, slots over capacity $over," \
		"scenario A holds $in_a (expected $SEATS)"
	sqlite3 "$DB" "SELECT slot_id, seat, group_concat(citizen_id) FROM appointments
		WHERE status = 'active' GROUP BY slot_id, seat HAVING count(*) > 1 LIMIT 20"
	status=1
else
	echo "check: no seat held twice, no slot over its capacity, scenario A holds exactly $in_a"
fi

# ---- summary ------------------------------------------------------------------
bare=$(sed -n 's/^result .*bare_rows_per_s=\([0-9.]*\).*/\1/p' "$TMP/commit.out")
echo
awk -v bare="$bare" '
/^result scenario=/ {
	delete kv
	for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
	printf "%s: %5d ok of %d, %6.0f bookings/s, %6.0f answers/s, p50 %7.1f ms, p99 %7.1f ms," \
		" server CPU %.2f s; %.2fx the bare rate\n", kv["scenario"], kv["successes"], \
		kv["requests"], kv["bookings_per_s"], kv["answers_per_s"], kv["p50_ms"], \
		kv["p99_ms"], kv["server_cpu_s"], (bare > 0 ? kv["bookings_per_s"] / bare : 0)
}
END { printf "reference: bare SQLite, one fsync per row, 1 writer: %.0f rows/s (same run)\n", bare }
' "$TMP/booking.out"
exit "$status"
