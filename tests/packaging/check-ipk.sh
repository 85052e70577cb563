#!/usr/bin/env bash
# Builds the OpenWrt package of each given static musl build folder with
# firmware/packaging/openwrt/build-ipk.sh and checks it:
#   - the archive as OpenWrt's ipkg-build makes it, the control fields, conffiles, the exact files,
#     modes and 0:0 ownership, the maintainer scripts, and that the Makefile's install section names the
#     same files (tests/packaging/ipk_checks.py, which reads the Makefile on its own);
#   - that building it twice gives the same bytes;
#   - that the binary is a static ELF of the package's Architecture (machine, class, byte order, and the
#     float ABI OpenWrt builds that architecture with), per firmware/packaging/openwrt/targets.tsv;
#   - that the init script and maintainer scripts parse with busybox ash, OpenWrt's shell;
#   - that the packaged binary accepts the packaged relayguard.xml (natively or under qemu-user).
# Usage: tests/packaging/check-ipk.sh [BUILD_DIR...]
#        (default: the build folders of every preset in targets.tsv, build/musl-x86_64 …)
# A folder's name is its preset's (musl-aarch64 …), which gives the OpenWrt architecture.
# Ends with "check-ipk: N passed, M failed"; exits 1 when any check failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
# shellcheck source=tests/packaging/lib.sh
. tests/packaging/lib.sh check-ipk

openwrt=firmware/packaging/openwrt
build_ipk=$openwrt/build-ipk.sh
targets=$openwrt/targets.tsv
if [ "$#" -eq 0 ]; then
    # shellcheck disable=SC2046  # preset names are single words
    set -- $(awk -F'\t' '!/^#/ { print "build/" $1 }' "$targets")
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

have() { command -v "$1" >/dev/null 2>&1; }
# A column of the preset's line in targets.tsv (2 arch, 3 machine, 4 class, 5 endian, 6 float, 7 emulator).
target_column() { awk -F'\t' -v preset="$1" -v column="$2" '!/^#/ && $1 == preset { print $column }' "$targets"; }

# The ELF facts of $1 as "machine|class|endian|float|static|isa"; float is hard/soft/- as targets.tsv
# writes it, static is yes when there is neither a program interpreter nor a needed library.
elf_facts() {
    local header machine class endian float=- static=yes isa=-
    header=$(readelf -h "$1")
    machine=$(sed -n 's/^ *Machine: *//p' <<<"$header")
    class=$(sed -n 's/^ *Class: *//p' <<<"$header")
    case "$(sed -n 's/^ *Data: *//p' <<<"$header")" in
        *little*) endian=little ;;
        *big*) endian=big ;;
        *) endian=unknown ;;
    esac
    case "$machine" in
        ARM)
            # EF_ARM_ABI_FLOAT_HARD / _SOFT in e_flags, as readelf spells them.
            if grep -q 'hard-float ABI' <<<"$header"; then float=hard; elif grep -q 'soft-float ABI' <<<"$header"; then float=soft; fi
            ;;
        MIPS*)
            # The .MIPS.abiflags FP ABI; a 24Kc is a MIPS32r2 core.
            local abiflags
            abiflags=$(readelf -A "$1" 2>/dev/null)
            if grep -q 'FP ABI: *Soft float' <<<"$abiflags"; then float=soft; elif grep -q 'FP ABI: *Hard float' <<<"$abiflags"; then float=hard; fi
            isa=$(sed -n 's/^ISA: *//p' <<<"$abiflags")
            ;;
    esac
    if readelf -l "$1" 2>/dev/null | grep -q 'INTERP' || readelf -d "$1" 2>/dev/null | grep -q '(NEEDED)'; then
        static=no
    fi
    echo "$machine|$class|$endian|$float|$static|${isa:--}"
}

# MIPS32r2 and older run on a 24Kc; r6 and 64-bit ISAs do not.
mips_isa_fits_24kc() { case "$1" in MIPS32r2 | MIPS32 | MIPS2 | MIPS1) return 0 ;; *) return 1 ;; esac; }

folder_count=0
for dir in "$@"; do
    preset=$(basename "$dir")
    arch=$(target_column "$preset" 2)
    if [ -z "$arch" ]; then
        fail "$dir: $preset is not a preset of $targets"
        continue
    fi
    folder_count=$((folder_count + 1))
    echo "=== $dir: $build_ipk ($arch)"
    built=$dir/firmware/relayguard
    if [ ! -f "$built" ]; then
        fail "$dir: no binary at $built"
        continue
    fi
    out=$dir/openwrt
    rm -f "$out"/*.ipk
    if ! "$build_ipk" --binary "$built" --arch "$arch" --out "$out" >"$work/build.log" 2>&1; then
        cat "$work/build.log"
        fail "$dir: build-ipk.sh"
        continue
    fi
    ipks=("$out"/*.ipk)
    if [ "${#ipks[@]}" -ne 1 ] || [ ! -f "${ipks[0]}" ]; then
        fail "$dir: expected one .ipk in $out, found: ${ipks[*]}"
        continue
    fi
    ipk=${ipks[0]}
    pass "$dir: built $(basename "$ipk")"

    # The same inputs give the same bytes (fixed mtimes, sorted entries, gzip -n).
    mkdir -p "$work/again-$folder_count"
    if "$build_ipk" --binary "$built" --arch "$arch" --out "$work/again-$folder_count" >/dev/null 2>&1 &&
        cmp -s "$ipk" "$work/again-$folder_count/$(basename "$ipk")"; then
        pass "$dir: a second build is byte for byte the same"
    else
        fail "$dir: a second build differs (not reproducible)"
    fi

    # Format, control, conffiles, files, modes, owners, Makefile agreement.
    unpacked=$work/unpacked-$folder_count
    mkdir -p "$unpacked"
    if ! python3 tests/packaging/ipk_checks.py "$ipk" "$openwrt/Makefile" "$arch" "$built" "$unpacked" \
        >"$work/checks.out" 2>"$work/checks.err"; then
        cat "$work/checks.err"
        fail "$dir: ipk_checks.py could not read the package"
    fi
    while IFS=$'\t' read -r verdict what; do
        if [ "$verdict" = pass ]; then pass "$dir: $what"; else fail "$dir: $what"; fi
    done <"$work/checks.out"
    binary=$unpacked/data/usr/sbin/relayguard
    if [ ! -f "$binary" ]; then
        fail "$dir: the package has no /usr/sbin/relayguard"
        continue
    fi
    info "$dir: packaged binary $(stat -c %s "$binary") bytes, .ipk $(stat -c %s "$ipk") bytes"

    # The binary: static, and of the Architecture's machine, class, byte order and float ABI.
    if have file; then
        description=$(file -b "$binary")
        check "$dir: file(1) says statically linked ($description)" grep -q 'statically linked' <<<"$description"
    else
        skip "$dir: file(1) description (file is not installed)"
    fi
    if have readelf; then
        IFS='|' read -r machine class endian float static isa <<<"$(elf_facts "$binary")"
        check "$dir: no program interpreter and no needed libraries (static)" test "$static" = yes
        want_machine=$(target_column "$preset" 3)
        check "$dir: ELF machine '$machine' is $arch's ($want_machine)" grep -qw -- "$want_machine" <<<"$machine"
        check "$dir: ELF class $class is $arch's" test "$class" = "$(target_column "$preset" 4)"
        check "$dir: byte order $endian is $arch's" test "$endian" = "$(target_column "$preset" 5)"
        want_float=$(target_column "$preset" 6)
        if [ "$want_float" != - ]; then
            check "$dir: float ABI $float is the one OpenWrt builds $arch with ($want_float)" test "$float" = "$want_float"
        fi
        if [ "$machine" = MIPS ] || [[ "$machine" == MIPS* ]]; then
            check "$dir: MIPS ISA $isa runs on a 24Kc (MIPS32r2 or older)" mips_isa_fits_24kc "$isa"
        fi
    else
        skip "$dir: ELF header checks (readelf, from binutils, is not installed)"
    fi

    # Scripts, in OpenWrt's shell.
    if have busybox; then
        check "$dir: /etc/init.d/relayguard parses with busybox ash" busybox sh -n "$unpacked/data/etc/init.d/relayguard"
        for script in "$unpacked"/control/{preinst,postinst,postinst-pkg,prerm,prerm-pkg,postrm}; do
            [ -e "$script" ] || continue
            check "$dir: $(basename "$script") parses with busybox ash" busybox sh -n "$script"
        done
    else
        skip "$dir: scripts under busybox ash (busybox is not installed)"
    fi

    # The packaged binary accepts the packaged configuration.
    emulator=$(target_column "$preset" 7)
    if [ "$emulator" = - ]; then
        runner=()
    elif have "$emulator"; then
        runner=("$emulator")
    else
        skip "$dir: check-config with the $arch binary ($emulator is not installed: qemu-user)"
        continue
    fi
    if output=$("${runner[@]}" "$binary" check-config -c "$unpacked/data/etc/relayguard/relayguard.xml" 2>&1); then
        pass "$dir: packaged binary accepts the packaged relayguard.xml${runner[0]:+ (under ${runner[0]})}"
    else
        printf '%s\n' "$output"
        fail "$dir: relayguard check-config -c /etc/relayguard/relayguard.xml${runner[0]:+ (under ${runner[0]})}"
    fi
done

if [ "$folder_count" -eq 0 ]; then
    fail "no build folder to package"
fi
finish
