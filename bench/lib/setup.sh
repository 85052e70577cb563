#!/usr/bin/env bash
# Installs what the benchmarks need, idempotently; sourced by bench/run.
#   bench_apt_install PKG...   Debian packages, without recommends, with no daemon left running
#   bench_haraka_install DIR   Haraka from npm into DIR (under build/, never the source tree)
#   bench_tinyxml2_source DIR  tinyxml2's Debian 12 source (for the fully static build; private apt state)

# shellcheck source=toolchains/apt-helpers.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../toolchains/apt-helpers.sh"

# Installing haproxy or nginx starts their system services on a normal machine; a policy-rc.d that
# answers 101 ("action forbidden") keeps every service down during the install, and anything that still
# started (machines that ignore policy-rc.d) is stopped afterwards.
bench_apt_install() {
    local missing
    mapfile -t missing < <(missing_packages "$@")
    [ "${#missing[@]}" -ne 0 ] || return 0
    echo "bench: installing ${missing[*]}"
    as_root apt-get update >/dev/null || echo "bench: apt-get update reported an error; continuing"
    local policy_rc=/usr/sbin/policy-rc.d created=no status=0
    if [ ! -e "$policy_rc" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy_rc" >/dev/null
        as_root chmod 755 "$policy_rc"
        created=yes
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" || status=$?
    [ "$created" = no ] || as_root rm -f "$policy_rc"
    bench_stop_services "${missing[@]}"
    return "$status"
}

# Only services that the install itself started are stopped: a package's init script, run by dpkg
# where policy-rc.d is not honoured. Our own instances run in the foreground from build/bench.
bench_stop_services() {
    local service
    for service in "$@"; do
        if [ -x "/etc/init.d/$service" ] && [ -e "/run/$service.pid" ]; then
            as_root "/etc/init.d/$service" stop >/dev/null 2>&1 || true
        fi
    done
}

# Haraka 3.3.4 needs Node 20; Debian 12's own nodejs is 18, for which 3.1.1 is the last release.
bench_haraka_install() {
    local dir=$1
    if [ -f "$dir/node_modules/Haraka/bin/haraka" ]; then
        return 0
    fi
    local major version
    major=$(node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/')
    if [ -z "$major" ]; then
        echo "bench: node is not installed" >&2
        return 1
    fi
    version=3.3.4
    [ "$major" -ge 20 ] || version=3.1.1
    mkdir -p "$dir"
    [ -f "$dir/package.json" ] || echo '{"name": "relayguard-bench-haraka", "private": true}' >"$dir/package.json"
    echo "bench: npm install Haraka@$version into $dir"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "Haraka@$version")
}

# tinyxml2 from Debian 12's source package (fetch_debian_source: private apt state inside DIR).
bench_tinyxml2_source() {
    local dir=$1
    local found
    found=$(ls -d "$dir"/src/tinyxml2-*/ 2>/dev/null | head -n 1)
    if [ -n "$found" ] && [ -f "$found/tinyxml2.cpp" ]; then
        echo "${found%/}"
        return 0
    fi
    fetch_debian_source "$dir" bookworm tinyxml2 || return 1
    local tarball
    tarball=$(ls "$dir"/src/tinyxml2_*.orig.tar.* 2>/dev/null | sort -V | tail -n 1)
    [ -n "$tarball" ] || { echo "bench: no tinyxml2 source tarball downloaded" >&2; return 1; }
    mkdir -p "$dir/src/tinyxml2-src"
    tar xf "$tarball" -C "$dir/src/tinyxml2-src" --strip-components=1
    [ -f "$dir/src/tinyxml2-src/tinyxml2.cpp" ] || { echo "bench: tinyxml2.cpp not in $tarball" >&2; return 1; }
    echo "$dir/src/tinyxml2-src"
}
