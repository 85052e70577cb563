#!/usr/bin/env bash
# Runs the OpenWrt init script (firmware/packaging/openwrt/files/relayguard.init) under OpenWrt's own,
# unmodified rc.common, functions.sh, procd.sh, uci.sh and libubox's jshn.sh, and checks the messages
# it sends procd, what reload, stop, enable and a broken configuration do (procd_checks.py says what).
#
# How: a scratch root under build/procd-root with busybox as /bin/sh (OpenWrt's shell is busybox ash)
# and those files at their OpenWrt paths, entered with chroot in private mount and network namespaces
# (root only). procd itself is replaced by a recording ubus stand-in, uci by a minimal stand-in that
# only exports a file, jshn (libubox's C program) by a small awk stand-in of its json_dump side; all
# three are ours, in tests/packaging/openwrt-stand-ins/. With a static x86_64 relayguard (default
# build/musl-x86_64/firmware/relayguard, or --binary), the scenario also runs the instance's command
# and reloads it for real.
#
# The OpenWrt files are not in this repository (other projects' code stays out of it): they are read
# from OPENWRT_FIXTURES (default build/openwrt-fixtures), laid out as
# tests/packaging/openwrt-fixtures/README.md says, with where to get each one. Without them every check
# is skipped, saying so.
#
# Usage: tests/packaging/check-procd.sh [--binary PATH]
# Ends with "check-procd: N passed, M failed"; exits 1 when any check failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
# shellcheck source=tests/packaging/lib.sh
. tests/packaging/lib.sh check-procd

binary=build/musl-x86_64/firmware/relayguard
if [ "${1:-}" = --binary ] && [ -n "${2:-}" ]; then
    binary=$2
elif [ "$#" -ne 0 ]; then
    echo "usage: $0 [--binary PATH]" >&2
    exit 2
fi
fixtures=${OPENWRT_FIXTURES:-build/openwrt-fixtures}
root=$top/build/procd-root
packaging=firmware/packaging

# The OpenWrt files: where the scratch root wants them <- where they are under $fixtures.
openwrt_files=(
    "/etc/rc.common openwrt/package/base-files/files/etc/rc.common"
    "/lib/functions.sh openwrt/package/base-files/files/lib/functions.sh"
    "/lib/functions/service.sh openwrt/package/base-files/files/lib/functions/service.sh"
    "/lib/functions/procd.sh openwrt/package/system/procd/files/procd.sh"
    "/lib/config/uci.sh openwrt/package/system/uci/files/lib/config/uci.sh"
    "/usr/share/libubox/jshn.sh libubox/sh/jshn.sh"
)

missing=()
for entry in "${openwrt_files[@]}"; do
    [ -f "$fixtures/${entry#* }" ] || missing+=("$fixtures/${entry#* }")
done
reason=""
if [ "${#missing[@]}" -ne 0 ]; then
    reason="OpenWrt's files are not in $fixtures (missing ${missing[0]}…; see tests/packaging/openwrt-fixtures/README.md)"
elif [ "$(id -u)" -ne 0 ]; then
    reason="needs root (chroot in private mount and network namespaces)"
elif ! command -v busybox >/dev/null 2>&1; then
    reason="busybox is not installed"
elif ! unshare -m -n true 2>/dev/null; then
    reason="unshare -m -n is not allowed here"
fi
if [ -n "$reason" ]; then
    skip "the init script under OpenWrt's rc.common and procd.sh: $reason"
    finish
    exit
fi

# Copies a host program into the scratch root with the shared libraries it needs.
copy_program() {
    local program=$1 destination=$2 library
    mkdir -p "$root$(dirname "$destination")"
    cp "$program" "$root$destination"
    for library in $(ldd "$program" 2>/dev/null | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$library")"
        cp -L "$library" "$root$library"
    done
}

rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,etc/config,etc/relayguard,proc,dev,tmp,var/run,var/lock,record}
copy_program "$(command -v busybox)" /bin/busybox
for applet in $(busybox --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
# OpenWrt's busybox has flock (procd.sh locks with it); Debian's has not.
if command -v flock >/dev/null 2>&1; then copy_program "$(command -v flock)" /usr/bin/flock; fi

for entry in "${openwrt_files[@]}"; do
    mkdir -p "$root$(dirname "${entry%% *}")"
    cp "$fixtures/${entry#* }" "$root${entry%% *}"
done
cp tests/packaging/openwrt-stand-ins/jshn "$root/usr/bin/jshn"
cp tests/packaging/openwrt-stand-ins/ubus "$root/bin/ubus"
cp tests/packaging/openwrt-stand-ins/uci "$root/sbin/uci"
install -m 0755 "$packaging/openwrt/files/relayguard.init" "$root/etc/init.d/relayguard"
install -m 0600 "$packaging/openwrt/files/relayguard.config" "$root/etc/config/relayguard"
install -m 0644 "$packaging/relayguard.xml" "$root/etc/relayguard/relayguard.xml"
# The user and group USERID creates (relayguard drops to them after binding).
printf 'root:x:0:0:root:/root:/bin/ash\nrelayguard:x:2525:2525:relayguard:/var/run/relayguard:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nrelayguard:x:2525:relayguard\n' >"$root/etc/group"
cp tests/packaging/procd-scenario.sh "$root/scenario.sh"

# /usr/sbin/relayguard records its arguments, then runs the real binary when there is one.
live=0
if [ -f "$binary" ] && file -b "$binary" 2>/dev/null | grep -q 'x86-64.*statically linked'; then
    live=1
    mkdir -p "$root/usr/libexec/relayguard"
    cp "$binary" "$root/usr/libexec/relayguard/relayguard"
    real='exec /usr/libexec/relayguard/relayguard "$@"'
else
    info "no static x86_64 relayguard at $binary: a recording stand-in takes its place"
    real='exit 0'
fi
printf '#!/bin/sh\necho "$*" >>/tmp/relayguard-calls\n%s\n' "$real" >"$root/usr/sbin/relayguard"
chmod 0755 "$root/usr/sbin/relayguard" "$root/scenario.sh"

# The namespaces keep every mount and relayguard's listener (127.0.0.1:2525) away from the host.
# shellcheck disable=SC2016  # expanded by the inner shell
if ! unshare -m -n --fork sh -c '
    set -e
    root=$1
    mount --make-rprivate /
    for device in null zero random urandom; do
        : >"$root/dev/$device"
        mount --bind "/dev/$device" "$root/dev/$device"
    done
    mount --bind /proc "$root/proc"
    ip link set lo up 2>/dev/null || busybox ip link set lo up
    exec chroot "$root" /bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LIVE="$2" /bin/sh /scenario.sh
' check-procd "$root" "$([ "$live" = 1 ] && echo 1)" >"$root/scenario.log" 2>&1; then
    cat "$root/scenario.log"
    fail "the scenario did not run to its end"
fi

while IFS=$'\t' read -r verdict what; do
    case "$verdict" in
        pass) pass "$what" ;;
        skip) skip "$what" ;;
        *) fail "$what" ;;
    esac
done < <(python3 tests/packaging/procd_checks.py "$root/record" "$live")
finish
