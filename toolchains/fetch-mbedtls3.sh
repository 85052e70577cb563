#!/usr/bin/env bash
# Builds mbedTLS 3.6 (the series OpenWrt ships) from Debian 13's source package into build/deps, for the
# mbedtls3 preset. The machine's own apt configuration is untouched: a private deb-src list and state
# folder live inside build/deps. Nothing of it is committed. Quick when the library is already there.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=toolchains/apt-helpers.sh
source "$top/toolchains/apt-helpers.sh"
deps="$top/build/deps"
prefix="$deps/mbedtls-3.6"

if [ -f "$prefix/lib/cmake/MbedTLS/MbedTLSConfig.cmake" ]; then
    echo "fetch-mbedtls3: $prefix present"
    exit 0
fi

fetch_debian_source "$deps/download" trixie mbedtls || exit 1

tarball=$(ls "$deps"/download/src/mbedtls_3.6.*.orig.tar.* 2>/dev/null | sort -V | tail -n 1)
[ -n "$tarball" ] || { echo "fetch-mbedtls3: no mbedtls 3.6 source tarball downloaded" >&2; exit 1; }
rm -rf "$deps/src" && mkdir -p "$deps/src"
tar xf "$tarball" -C "$deps/src" --strip-components=1

cmake -S "$deps/src" -B "$deps/mbedtls-build" -G Ninja -DENABLE_TESTING=OFF -DENABLE_PROGRAMS=OFF \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DMBEDTLS_FATAL_WARNINGS=OFF
cmake --build "$deps/mbedtls-build"
cmake --install "$deps/mbedtls-build" >/dev/null
echo "fetch-mbedtls3: installed $(basename "$tarball") into $prefix"
