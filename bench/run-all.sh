#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# Every benchmark, one after the other (see docs/benchmarks.md).
#
#   bench/run-all.sh [BUILD_DIR]          (default: build-release)
#
# Environment: DURATION, WARMUP (seconds, for both); CONNECTIONS (bench/rpc);
# WRITERS (default 1,10,100) and COMMIT_DIR (default /var/tmp: a directory on
# a real disk, never tmpfs) for bench/commit.
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
ninja -C "$BUILD" bench/rpc-loadgen bench/rpc-floor-server bench/commit-bench portal/tiepdan >/dev/null

echo "== bench/rpc =="
"$ROOT/bench/rpc/run.sh" "$BUILD"
echo
echo "== bench/commit =="
"$BUILD/bench/commit-bench" --dir "${COMMIT_DIR:-/var/tmp}" --writers "${WRITERS:-1,10,100}" \
	--duration "${DURATION:-5}" --warmup "${WARMUP:-1}"
