#!/usr/bin/env bash
# Installs everything a fresh Debian 12 machine needs to build, cross-compile and test relayguard.
# Idempotent: when every package is already present it only checks and returns within a second or two.
# It never leaves a Postfix daemon running: the tests only use Postfix's smtp-sink and smtp-source.
set -euo pipefail

native_packages=(
    build-essential cmake ninja-build pkg-config clang-format git ca-certificates bzip2
    libasio-dev libmbedtls-dev libtinyxml2-dev catch2
    g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user
    swaks libio-socket-inet6-perl libnet-ssleay-perl libauthen-sasl-perl postfix nmap fail2ban openssl python3 iproute2
    # systemd-analyze, for tests/packaging/check-packages.sh (installing it starts nothing in a container)
    systemd
    # the OpenWrt package checks: busybox's ash is OpenWrt's shell; file and readelf read the ELF headers
    busybox file binutils
    # the fuzz preset: clang with libFuzzer and the sanitizer runtimes (tests/fuzz)
    clang-14 libclang-rt-14-dev
    # the metrics tests: promtool checks a scrape and the alert rules, a real Prometheus server scrapes,
    # and prometheus_client's strict OpenMetrics parser reads the OpenMetrics exposition
    prometheus python3-prometheus-client
    # the central-log tests: a real rsyslog receives <log server>'s RFC 5424 messages, pflogsumm reads them
    rsyslog pflogsumm
    # the Ansible role: ansible-playbook runs it against this machine, ansible-lint checks it
    ansible-core ansible-lint
)
cross_packages=(
    libmbedtls-dev:arm64 libtinyxml2-dev:arm64
    libmbedtls-dev:armhf libtinyxml2-dev:armhf
)

# shellcheck source=toolchains/apt-helpers.sh
source "$(dirname "$0")/apt-helpers.sh"

foreign=$(dpkg --print-foreign-architectures)
added_arch=no
for arch in arm64 armhf; do
    if ! grep -qx "$arch" <<<"$foreign"; then
        as_root dpkg --add-architecture "$arch"
        added_arch=yes
    fi
done

mapfile -t missing < <(missing_packages "${native_packages[@]}" "${cross_packages[@]}")
if [ "${#missing[@]}" -eq 0 ] && [ "$added_arch" = no ]; then
    echo "setup-debian: all packages present"
    # zig, the musl cross compiler of the static presets, comes pinned from the npm registry.
    exec "$(dirname "$0")/setup-zig.sh"
fi

echo "setup-debian: installing ${missing[*]}"
# The armhf security index has been seen to fail; the installs below still work without it.
as_root apt-get update || echo "setup-debian: apt-get update reported an error; continuing"

# Postfix asks a debconf question on install; answer it and keep the daemon from starting.
echo "postfix postfix/main_mailer_type select Local only" | as_root debconf-set-selections
echo "postfix postfix/mailname string relayguard.test" | as_root debconf-set-selections
policy_rc=/usr/sbin/policy-rc.d
created_policy=no
if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy_rc" >/dev/null
    as_root chmod 755 "$policy_rc"
    created_policy=yes
fi
cleanup() { [ "$created_policy" = no ] || as_root rm -f "$policy_rc"; }
trap cleanup EXIT

as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"

# Belt and braces: on machines without policy-rc.d support a daemon may still have started.
if command -v postfix >/dev/null && as_root postfix status >/dev/null 2>&1; then
    as_root postfix stop || true
fi
if command -v fail2ban-client >/dev/null && pgrep -x fail2ban-server >/dev/null 2>&1; then
    as_root fail2ban-client stop >/dev/null 2>&1 || true
fi
"$(dirname "$0")/setup-zig.sh"
echo "setup-debian: done"
