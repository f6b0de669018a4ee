#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# Every benchmark, one after the other (see docs/benchmarks.md).
#
#   bench/run-all.sh [BUILD_DIR]          (default: build-release)
#
# Environment: DURATION, WARMUP (seconds, for bench/rpc and bench/commit);
# CONNECTIONS (bench/rpc); WRITERS (default 1,10,100) and COMMIT_DIR (default
# /var/tmp: a directory on a real disk, never tmpfs) for bench/commit;
# AUTH_DURATION, AUTH_WARMUP (default 10 and 2) for bench/auth; REPEAT for
# bench/rpc and bench/auth; CASES_DURATION, CASES_WARMUP (default 10 and 2)
# and the variables of bench/cases/run.sh (CASES, ROUNDS, ...) for bench/cases;
# RUNS and REPORTS_DIR for bench/reports.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build-release}
case $BUILD in
/*) ;;
*) BUILD=$ROOT/$BUILD ;;
esac

if [[ ! -f $BUILD/build.ninja ]]; then
	meson setup "$BUILD" "$ROOT" --buildtype=release -Dtests=false >/dev/null
fi
ninja -C "$BUILD" bench/rpc-loadgen bench/rpc-floor-server bench/commit-bench bench/auth-bench \
	bench/cases-submit-bench bench/cases-q-bench bench/cases-gen portal/tiepdan portal/tiepdan-pwhash >/dev/null

echo "== bench/rpc =="
"$ROOT/bench/rpc/run.sh" "$BUILD"
echo
echo "== bench/commit =="
"$BUILD/bench/commit-bench" --dir "${COMMIT_DIR:-/var/tmp}" --writers "${WRITERS:-1,10,100}" \
	--duration "${DURATION:-5}" --warmup "${WARMUP:-1}"
echo
echo "== bench/auth =="
# DURATION and WARMUP are bench/rpc's (5 s and 1 s by default); bench/auth
# keeps its own longer windows unless AUTH_DURATION / AUTH_WARMUP are set.
DURATION=${AUTH_DURATION:-10} WARMUP=${AUTH_WARMUP:-2} "$ROOT/bench/auth/run.sh" "$BUILD"
echo
echo "== bench/cases =="
# Its own windows too: 10 s after 2 s of warm-up unless CASES_DURATION / CASES_WARMUP are set.
DURATION=${CASES_DURATION:-10} WARMUP=${CASES_WARMUP:-2} "$ROOT/bench/cases/run.sh" "$BUILD"
echo; echo "== bench/booking =="; "$ROOT/bench/booking/run.sh" "$BUILD" # 1,000 connections at appointment.book (ACCOUNTS, SEATS, ...)
echo; echo "== bench/reports =="; "$ROOT/bench/reports/run.sh" "$BUILD" # report.summary, city tree, a year of CASES cases (RUNS, REPORTS_DIR)
