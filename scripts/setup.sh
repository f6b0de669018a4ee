#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Installs what is missing on Debian 12 and builds. Sourced by scripts/demo and scripts/test.
#   setup_packages run|test   Debian packages (and npm packages for "test")
#   setup_build DIR [meson options...]
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
fi

RUN_PKGS=(build-essential meson ninja-build pkg-config libglib2.0-dev libwebsockets-dev
  libwebsockets-evlib-glib libsqlite3-dev sqlite3 libjansson-dev libjwt-dev libsodium-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev libnice-dev libsoup-3.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-nice)
TEST_PKGS=(prometheus openssl)

missing_pkgs() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

setup_packages() {
  local mode=$1 pkgs=("${RUN_PKGS[@]}")
  if [ "$mode" = test ]; then
    pkgs+=("${TEST_PKGS[@]}")
    command -v node >/dev/null || pkgs+=(nodejs)
    command -v npm >/dev/null || pkgs+=(npm)
  fi
  local missing
  missing=$(missing_pkgs "${pkgs[@]}")
  if [ -n "$missing" ]; then
    echo "== installing Debian packages: $(echo $missing)"
    $SUDO apt-get update -q
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
  fi
  if [ "$mode" = test ]; then
    if [ ! -d "$TOP/node_modules/ws" ] || [ "$TOP/package.json" -nt "$TOP/node_modules/.package-lock.json" ]; then
      echo "== installing npm packages for the tests"
      (cd "$TOP" && npm install --no-audit --no-fund --loglevel=error)
    fi
  fi
}

setup_build() {
  local dir=$1
  shift
  if [ ! -f "$TOP/$dir/build.ninja" ]; then
    meson setup "$TOP/$dir" "$TOP" "$@"
  fi
  ninja -C "$TOP/$dir"
}
