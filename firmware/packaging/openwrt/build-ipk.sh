#!/usr/bin/env bash
# Builds the OpenWrt package relayguard_<version>-r<release>_<arch>.ipk of a statically linked
# relayguard, without an OpenWrt SDK:
#
#   firmware/packaging/openwrt/build-ipk.sh --binary PATH --arch OPENWRT_ARCH --out DIR
#   firmware/packaging/openwrt/build-ipk.sh --binary PATH --preset musl-aarch64 --out DIR  (arch from targets.tsv)
#   firmware/packaging/openwrt/build-ipk.sh --arch-for-preset PRESET     (prints the arch, from targets.tsv)
#
# Why each part is the way it is:
#   - One source of truth: the name, version, release, licence, section, URL, USERID, description,
#     conffiles, postinst and the installed files all come from the SDK Makefile beside this script.
#     The Package/relayguard/install recipe is carried out line by line ($(INSTALL_DIR), _BIN, _DATA,
#     _CONF only; anything else is refused rather than guessed), so the .ipk holds exactly what an
#     SDK build of the Makefile would install.
#   - The format is what OpenWrt's include/package-pack.mk and scripts/ipkg-build make: a gzip'd GNU
#     tar holding ./debian-binary ("2.0"), ./data.tar.gz and ./control.tar.gz, in that order; every
#     tar made with --format=gnu --numeric-owner --sort=name and one fixed mtime; gzip -n. ipkg-build
#     runs under fakeroot, so everything is owned 0:0; we say so with --owner/--group instead.
#   - File name and Version: <name>_<PKG_VERSION>-r<PKG_RELEASE>_<arch>.ipk, as OpenWrt 24.10 names
#     its packages (the "-r" came with the apk-compatible versions).
#   - Modes are those of OpenWrt's rules.mk: INSTALL_DIR and INSTALL_BIN 0755, INSTALL_DATA 0644,
#     INSTALL_CONF 0600.
#   - control: the fields and order of package-pack.mk's Package/<name>/CONTROL; "Description:"
#     followed by the description with each line's leading blanks replaced by one space; Installed-Size
#     is, as ipkg-build computes it, the size in bytes of the uncompressed data tar. Depends is "libc",
#     which OpenWrt adds to every non-kernel package (PKG_DEFAULT_DEPENDS): the Makefile's
#     +libmbedtls +libstdcpp are for the SDK's dynamically linked build, and this package is for a
#     binary with everything linked in (check-ipk.sh verifies that it is static).
#   - Source is package/relayguard, where the SDK instructions (README.md) put the Makefile.
#   - postinst and prerm are the ones package-pack.mk writes for every package (default_postinst /
#     default_prerm from /lib/functions.sh, which also creates the USERID user from Require-User); the
#     Makefile's own postinst is postinst-pkg, which default_postinst runs.
#   - conffiles: the Makefile's list of those that exist in the package, sorted (ipkg-build).
#   - Reproducible: the mtime is SOURCE_DATE_EPOCH if set, else the time of the git commit checked out
#     (what OpenWrt uses for a git source), also written as SourceDateEpoch.
#   - The binary is packaged as given: OpenWrt strips in its build (RSTRIP) with the target's strip,
#     which a static cross build already did or should do.
# The make syntax ($(1), $(INSTALL_BIN)) is matched literally, in single quotes; sed works line by line
# on multi-line defines.
# shellcheck disable=SC2016,SC2001
set -euo pipefail
umask 022
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
makefile=$here/Makefile
targets=$here/targets.tsv

usage() {
    echo "usage: $0 --binary PATH {--arch OPENWRT_ARCH | --preset PRESET} --out DIR | --arch-for-preset PRESET" >&2
    exit 2
}
die() {
    echo "build-ipk: $*" >&2
    exit 1
}

# The OpenWrt architecture of a musl-* preset's binary, from targets.tsv.
arch_for_preset() {
    local found
    found=$(awk -F'\t' -v preset="$1" '!/^#/ && $1 == preset { print $2 }' "$targets")
    [ -n "$found" ] || die "no OpenWrt architecture for preset '$1' in $targets"
    echo "$found"
}

binary="" arch="" out=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --binary | --arch | --out | --arch-for-preset | --preset) [ "$#" -ge 2 ] || usage ;;&
        --binary) binary=$2 && shift 2 ;;
        --arch) arch=$2 && shift 2 ;;
        --out) out=$2 && shift 2 ;;
        --arch-for-preset)
            arch_for_preset "$2"
            exit 0
            ;;
        --preset) arch=$(arch_for_preset "$2") && shift 2 ;;
        *) usage ;;
    esac
done
if [ -z "$binary" ] || [ -z "$arch" ] || [ -z "$out" ]; then usage; fi
[ -f "$binary" ] || die "no binary at $binary"
case "$arch" in
    *[!a-z0-9_-]* | '') die "'$arch' is not an OpenWrt package architecture" ;;
esac

# --- The Makefile, read without make. A value that refers to another make variable is refused: this
# script does not expand make, and a silently unexpanded "$(...)" must not end up in the package.
mk_var() {
    local value
    value=$(sed -n "s/^$1:=//p" "$makefile")
    [ -n "$value" ] || die "$1 is not set in $makefile"
    case "$value" in *'$'*) die "$1 refers to make variables ($value); not supported here" ;; esac
    printf '%s\n' "$value"
}
# The body of "define NAME" ... "endef" (empty when there is none).
mk_define() {
    awk -v name="define $1" '$0 == name { inside = 1; next } inside && $0 == "endef" { exit } inside' "$makefile"
}
# A field of define Package/relayguard (SECTION:=mail).
mk_package_field() {
    local value
    value=$(mk_define "Package/$name" | sed -n "s/^[[:space:]]*$1:=//p")
    [ -n "$value" ] || die "$1 is not set in define Package/$name"
    case "$value" in *'$'*) die "$1 refers to make variables ($value); not supported here" ;; esac
    printf '%s\n' "$value"
}
# A script define as make hands it to the shell: "$$" becomes "$"; a lone "$" would be a make
# variable, which this script does not expand.
mk_script() {
    local body
    body=$(mk_define "$1")
    [ -n "$body" ] || return 0
    if sed 's/\$\$//g' <<<"$body" | grep -q '\$'; then
        die "define $1 uses make variables (a lone \$); not supported here"
    fi
    sed 's/\$\$/$/g' <<<"$body"
}

name=$(mk_var PKG_NAME)
version="$(mk_var PKG_VERSION)-r$(mk_var PKG_RELEASE)"
license=$(mk_var PKG_LICENSE)
section=$(mk_package_field SECTION)
url=$(mk_package_field URL)
userid=$(mk_package_field USERID)
description=$(mk_define "Package/$name/description")
[ -n "$description" ] || die "no define Package/$name/description"

if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    epoch=$SOURCE_DATE_EPOCH
else
    epoch=$(git -C "$top" log -1 --format=%ct 2>/dev/null) || die "not a git checkout: set SOURCE_DATE_EPOCH"
fi
case "$epoch" in *[!0-9]* | '') die "SOURCE_DATE_EPOCH '$epoch' is not a number of seconds" ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/data
control=$work/control
mkdir -m 0755 "$root" "$control"

# --- data: carry out Package/<name>/install. $(PKG_INSTALL_DIR) is the CMake install tree, of which
# only usr/sbin/relayguard is used; $(PKG_BUILD_DIR) is the source tree; ./files is beside the Makefile.
pkg_install_dir=$work/pkg-install
mkdir -p "$pkg_install_dir/usr/sbin"
cp "$binary" "$pkg_install_dir/usr/sbin/$name"

resolve() {
    local path=$1
    path=${path//'$(1)'/$root}
    path=${path//'$(PKG_INSTALL_DIR)'/$pkg_install_dir}
    path=${path//'$(PKG_BUILD_DIR)'/$top}
    case "$path" in
        *'$'*) die "install section: cannot resolve '$1'" ;;
        ./*) path=$here/${path#./} ;;
    esac
    printf '%s\n' "$path"
}
install_file() {
    local mode=$1 src dest
    [ "$#" -eq 3 ] || die "install section: expected SOURCE DESTINATION after \$(INSTALL_…): ${*:2}"
    src=$(resolve "$2")
    dest=$(resolve "$3")
    case "$3" in '$(1)/'*) ;; *) die "install section: destination outside the package: $3" ;; esac
    [ -f "$src" ] || die "install section: no file $src"
    case "$dest" in */) dest=$dest$(basename "$src") ;; esac
    [ -d "$(dirname "$dest")" ] || die "install section: $(dirname "$3") was not made by \$(INSTALL_DIR)"
    install -m "$mode" "$src" "$dest"
}

install_lines=0
while read -r -a words; do
    [ "${#words[@]}" -gt 0 ] || continue
    case "${words[0]}" in
        '#'*) continue ;;
        '$(INSTALL_DIR)')
            for dir in "${words[@]:1}"; do
                case "$dir" in '$(1)/'*) ;; *) die "install section: directory outside the package: $dir" ;; esac
                install -d -m 0755 "$(resolve "$dir")"
            done
            ;;
        '$(INSTALL_BIN)') install_file 0755 "${words[@]:1}" ;;
        '$(INSTALL_DATA)') install_file 0644 "${words[@]:1}" ;;
        '$(INSTALL_CONF)') install_file 0600 "${words[@]:1}" ;;
        *) die "install section: unsupported line: ${words[*]}" ;;
    esac
    install_lines=$((install_lines + 1))
done < <(mk_define "Package/$name/install")
[ "$install_lines" -gt 0 ] || die "no define Package/$name/install"
# install -d makes missing parents 0755 under umask 022, as the SDK's install does.

tar_gz() { # DIR OUTPUT ENTRY...: one tar as ipkg-build makes them
    local dir=$1 output=$2
    shift 2
    tar -C "$dir" --format=gnu --numeric-owner --owner=0 --group=0 --sort=name --mtime="@$epoch" -cf - "$@" |
        gzip -n >"$output"
}
tar_gz "$root" "$work/data.tar.gz" .
installed_size=$(gzip -dc "$work/data.tar.gz" | wc -c)

# --- control: Package/<name>/CONTROL of package-pack.mk, then the description.
{
    echo "Package: $name"
    echo "Version: $version"
    echo "Depends: libc"
    echo "Source: package/$name"
    echo "SourceName: $name"
    echo "License: $license"
    echo "Section: $section"
    echo "Require-User: $userid"
    echo "SourceDateEpoch: $epoch"
    echo "URL: $url"
    echo "Architecture: $arch"
    echo "Installed-Size: $installed_size"
    printf 'Description: '
    sed -e 's,^[[:space:]]*, ,g' <<<"$description"
} >"$control/control"
chmod 0644 "$control/control"

# conffiles: those of the Makefile's list that the package holds, sorted.
while read -r conffile; do
    [ -n "$conffile" ] || continue
    [ -f "$root$conffile" ] && echo "$conffile"
done < <(mk_define "Package/$name/conffiles") | sort >"$control/conffiles"
if [ -s "$control/conffiles" ]; then chmod 0644 "$control/conffiles"; else rm "$control/conffiles"; fi

# The maintainer scripts every OpenWrt package gets, with the Makefile's own as *-pkg.
# The ${…} are for the router's shell.
{
    echo '#!/bin/sh'
    echo '[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0'
    echo '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0'
    echo '. ${IPKG_INSTROOT}/lib/functions.sh'
    echo 'default_postinst $0 $@'
} >"$control/postinst"
{
    echo '#!/bin/sh'
    echo '[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0'
    echo '. ${IPKG_INSTROOT}/lib/functions.sh'
    echo 'default_prerm $0 $@'
} >"$control/prerm"
chmod 0755 "$control/postinst" "$control/prerm"
for script in preinst postinst prerm postrm; do
    text=$(mk_script "Package/$name/$script")
    [ -n "$text" ] || continue
    case "$script" in
        postinst | prerm) target=$control/$script-pkg ;;
        *) target=$control/$script ;;
    esac
    printf '%s\n' "$text" >"$target"
    chmod 0755 "$target"
done

tar_gz "$control" "$work/control.tar.gz" .
echo "2.0" >"$work/debian-binary"
chmod 0644 "$work/debian-binary" "$work/data.tar.gz" "$work/control.tar.gz"

mkdir -p "$out"
ipk=$out/${name}_${version}_${arch}.ipk
tar_gz "$work" "$ipk.tmp" ./debian-binary ./data.tar.gz ./control.tar.gz
mv "$ipk.tmp" "$ipk"
echo "$ipk"
