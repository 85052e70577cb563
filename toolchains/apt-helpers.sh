# Shell functions shared by the set-up scripts (toolchains/setup-debian.sh, toolchains/fetch-mbedtls3.sh,
# bench/lib/setup.sh); sourced, never run.
#   as_root CMD...                      runs CMD as root (through sudo when not root)
#   missing_packages PKG...             prints each package that is not installed
#   fetch_debian_source DIR SUITE PKG   downloads PKG's source package from Debian SUITE into DIR/src,
#                                       through a private deb-src list and apt state in DIR/apt: the
#                                       machine's own apt configuration is left alone

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii' || echo "$pkg"
    done
}

fetch_debian_source() {
    local dir=$1 suite=$2 package=$3 mirror
    mkdir -p "$dir/apt/lists/partial" "$dir/apt/archives/partial" "$dir/src"
    # The Debian mirror the machine already uses (deb822 sources first, then the one-line format).
    mirror=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' |
             grep -m1 '/debian/\?$' || true)
    if [ -z "$mirror" ]; then
        mirror=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
                 awk '{print $2}' | grep -m1 '/debian/\?$' || true)
    fi
    [ -n "$mirror" ] || { echo "fetch_debian_source: no Debian mirror found in the apt sources" >&2; return 1; }
    echo "deb-src $mirror $suite main" >"$dir/apt/src.list"
    local apt_private=(-o Dir::Etc::SourceList="$dir/apt/src.list" -o Dir::Etc::SourceParts=/dev/null
                       -o Dir::State::Lists="$dir/apt/lists" -o Dir::Cache::Archives="$dir/apt/archives")
    apt-get "${apt_private[@]}" update >&2 || return 1
    (cd "$dir/src" && apt-get "${apt_private[@]}" source --download-only "$package" >&2) || return 1
}
