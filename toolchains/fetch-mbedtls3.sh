#!/usr/bin/env bash
# Builds mbedTLS 3.6 (the series OpenWrt ships) from Debian 13's source package into build/deps, for the
# mbedtls3 preset. The machine's own apt configuration is untouched: a private deb-src list and state
# folder live inside build/deps. Nothing of it is committed. Quick when the library is already there.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
deps="$top/build/deps"
prefix="$deps/mbedtls-3.6"

if [ -f "$prefix/lib/cmake/MbedTLS/MbedTLSConfig.cmake" ]; then
    echo "fetch-mbedtls3: $prefix present"
    exit 0
fi

mkdir -p "$deps/apt/lists/partial" "$deps/apt/archives/partial"
# The Debian mirror the machine already uses (deb822 sources first, then the one-line format).
mirror=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -m1 '/debian/\?$' || true)
if [ -z "$mirror" ]; then
    mirror=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
             awk '{print $2}' | grep -m1 '/debian/\?$' || true)
fi
[ -n "$mirror" ] || { echo "fetch-mbedtls3: no Debian mirror found in the apt sources" >&2; exit 1; }
echo "deb-src $mirror trixie main" > "$deps/apt/src.list"

apt_private=(-o Dir::Etc::SourceList="$deps/apt/src.list" -o Dir::Etc::SourceParts=/dev/null
             -o Dir::State::Lists="$deps/apt/lists" -o Dir::Cache::Archives="$deps/apt/archives")
apt-get "${apt_private[@]}" update
(cd "$deps" && apt-get "${apt_private[@]}" source --download-only mbedtls)

tarball=$(ls "$deps"/mbedtls_3.6.*.orig.tar.* 2>/dev/null | sort -V | tail -n 1)
[ -n "$tarball" ] || { echo "fetch-mbedtls3: no mbedtls 3.6 source tarball downloaded" >&2; exit 1; }
rm -rf "$deps/src" && mkdir -p "$deps/src"
tar xf "$tarball" -C "$deps/src" --strip-components=1

cmake -S "$deps/src" -B "$deps/mbedtls-build" -G Ninja -DENABLE_TESTING=OFF -DENABLE_PROGRAMS=OFF \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DMBEDTLS_FATAL_WARNINGS=OFF
cmake --build "$deps/mbedtls-build"
cmake --install "$deps/mbedtls-build" >/dev/null
echo "fetch-mbedtls3: installed $(basename "$tarball") into $prefix"
