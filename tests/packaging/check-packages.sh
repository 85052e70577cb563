#!/usr/bin/env bash
# Builds the Debian package in each given build folder (cpack -G DEB) and checks it:
#   - the Architecture field matches the ELF machine of the binary built there and inside the package
#     (amd64 / arm64 / armhf), and the folder's name when it is a preset's (release, aarch64, armhf);
#   - the package holds /usr/sbin/relayguard, the systemd unit and /etc/relayguard/relayguard.xml, no
#     test programs, and every file under /etc is listed in conffiles;
#   - the maintainer scripts and the OpenWrt init script parse (sh -n) and the maintainer scripts set -e;
#   - systemd-analyze verify accepts the packaged unit (pointed at the packaged binary), when it can run;
#   - the packaged binary accepts the packaged configuration (check-config; ARM binaries under qemu).
# Usage: tests/packaging/check-packages.sh [BUILD_DIR...]   (default: build/release build/aarch64 build/armhf)
# Ends with "check-packages: N passed, M failed"; exits 1 when any check failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

if [ "$#" -eq 0 ]; then
    set -- build/release build/aarch64 build/armhf
fi

# shellcheck source=tests/packaging/lib.sh
. tests/packaging/lib.sh check-packages

lacks_lines_matching() { ! grep -Eq -- "$1" "$2"; }
executable_with_set_e() { [ -x "$1" ] && grep -qx 'set -e' "$1"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The Debian architecture an ELF file is built for, from its header (empty when not a known one).
elf_deb_arch() {
    local header machine
    header=$(readelf -h "$1" 2>/dev/null) || return 0
    machine=$(sed -n 's/^ *Machine: *//p' <<<"$header")
    case "$machine" in
        *X86-64*) echo amd64 ;;
        AArch64) echo arm64 ;;
        ARM)
            if grep -q 'hard-float' <<<"$header"; then echo armhf; else echo armel; fi
            ;;
        *) echo "unknown($machine)" ;;
    esac
}

native_arch=$(dpkg --print-architecture)

# The emulator that runs a binary of this Debian architecture here (nothing for native ones).
runner_for() {
    case "$1" in
        "$native_arch") echo "" ;;
        arm64) echo qemu-aarch64 ;;
        armhf | armel) echo qemu-arm ;;
        *) echo "none" ;;
    esac
}

# systemd-analyze verify prints its findings (unknown keys, bad values) as warnings and still exits 0,
# so any output counts as a finding. It must first pass a trivial unit, or it cannot run here.
systemd_analyze_usable() {
    command -v systemd-analyze >/dev/null 2>&1 || return 1
    mkdir -p "$work/sanity"
    printf '[Unit]\nDescription=sanity\n[Service]\nExecStart=/bin/true\n' >"$work/sanity/sanity-check.service"
    local out
    out=$(systemd-analyze verify "$work/sanity/sanity-check.service" 2>&1) && [ -z "$out" ]
}
if systemd_analyze_usable; then
    systemd_analyze=yes
else
    systemd_analyze=no
fi

# The OpenWrt init script is not in any .deb; check it once.
check "OpenWrt init script parses (sh -n)" sh -n firmware/packaging/openwrt/files/relayguard.init
check "OpenWrt ubus ACL is valid JSON" python3 -c 'import json, sys; json.load(open(sys.argv[1]))' firmware/packaging/openwrt/files/relayguard-acl.json

package_count=0
for dir in "$@"; do
    name=$(basename "$dir")
    if [ ! -f "$dir/CMakeCache.txt" ]; then
        fail "$dir: not a configured build folder"
        continue
    fi
    package_count=$((package_count + 1))
    echo "=== $dir: cpack -G DEB"
    rm -f "$dir"/relayguard_*.deb
    # A folder configured before the packaging rules existed has no CPack configuration yet.
    if [ ! -f "$dir/CPackConfig.cmake" ] && ! cmake "$dir" >"$work/cpack.log" 2>&1; then
        cat "$work/cpack.log"
        fail "$dir: reconfiguring for CPack"
        continue
    fi
    if ! (cd "$dir" && cpack -G DEB) >"$work/cpack.log" 2>&1; then
        cat "$work/cpack.log"
        fail "$dir: cpack -G DEB"
        continue
    fi
    debs=("$dir"/relayguard_*.deb)
    if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ]; then
        fail "$dir: expected one relayguard_*.deb, found: ${debs[*]}"
        continue
    fi
    deb=${debs[0]}
    pass "$dir: built $(basename "$deb")"

    # Architecture: the field, the binary built here, the binary packaged, and the preset's name.
    field_arch=$(dpkg-deb -f "$deb" Architecture)
    built_arch=$(elf_deb_arch "$dir/firmware/relayguard")
    check "$dir: Architecture $field_arch is that of the binary built here (${built_arch:-none})" \
        test "$field_arch" = "$built_arch"
    case "$name" in
        release) expected=$native_arch ;;
        aarch64) expected=arm64 ;;
        armhf) expected=armhf ;;
        *) expected="" ;;
    esac
    if [ -n "$expected" ]; then
        check "$dir: Architecture $field_arch is the $name preset's ($expected)" test "$field_arch" = "$expected"
    fi

    # Contents.
    dpkg-deb -c "$deb" | awk '{print $NF}' >"$work/contents"
    for path in ./usr/sbin/relayguard ./lib/systemd/system/relayguard.service ./etc/relayguard/relayguard.xml; do
        check "$dir: contains $path" grep -qx -- "$path" "$work/contents"
    done
    check "$dir: contains no test programs" lacks_lines_matching '(_tests|/tests?/|catch)' "$work/contents"

    # Control files: conffiles, maintainer scripts.
    control="$work/control-$package_count"
    dpkg-deb -e "$deb" "$control"
    check "$dir: conffiles lists /etc/relayguard/relayguard.xml" \
        grep -qx /etc/relayguard/relayguard.xml "$control/conffiles"
    sed -n 's#^\./etc/\(.*[^/]\)$#/etc/\1#p' "$work/contents" >"$work/etc-files"
    check "$dir: every file under /etc is a conffile" all_lines_listed "$work/etc-files" "$control/conffiles"
    for script in preinst postinst prerm postrm; do
        [ -e "$control/$script" ] || continue
        check "$dir: $script parses (sh -n)" sh -n "$control/$script"
        check "$dir: $script is executable and runs under set -e" executable_with_set_e "$control/$script"
    done

    # The packaged files themselves.
    root="$work/root-$package_count"
    dpkg-deb -x "$deb" "$root"
    binary="$root/usr/sbin/relayguard"
    check "$dir: packaged binary is $field_arch ($(elf_deb_arch "$binary"))" \
        test "$(elf_deb_arch "$binary")" = "$field_arch"
    info "$dir: packaged binary $(stat -c %s "$binary") bytes," \
        "installed size $(dpkg-deb -f "$deb" Installed-Size) KiB"

    if [ "$systemd_analyze" = yes ]; then
        unit_dir="$work/unit-$package_count"
        mkdir -p "$unit_dir"
        sed "s#/usr/sbin/relayguard#$binary#g" "$root/lib/systemd/system/relayguard.service" \
            >"$unit_dir/relayguard.service"
        if findings=$(systemd-analyze verify "$unit_dir/relayguard.service" 2>&1) && [ -z "$findings" ]; then
            pass "$dir: systemd-analyze verify accepts relayguard.service"
        else
            printf '%s\n' "$findings"
            fail "$dir: systemd-analyze verify relayguard.service"
        fi
    else
        skip "$dir: systemd-analyze verify (systemd-analyze missing or unable to run here)"
    fi

    runner=$(runner_for "$field_arch")
    if [ "$runner" = none ] || { [ -n "$runner" ] && ! command -v "$runner" >/dev/null 2>&1; }; then
        skip "$dir: check-config with the $field_arch binary (no ${runner/none/emulator} here)"
    else
        # shellcheck disable=SC2086  # the runner is one word or nothing
        if output=$($runner "$binary" check-config -c "$root/etc/relayguard/relayguard.xml" 2>&1); then
            pass "$dir: packaged binary accepts the packaged relayguard.xml${runner:+ (under $runner)}"
        else
            printf '%s\n' "$output"
            fail "$dir: relayguard check-config -c /etc/relayguard/relayguard.xml${runner:+ (under $runner)}"
        fi
    fi
done

if [ "$package_count" -eq 0 ]; then
    fail "no build folder to package"
fi
finish
