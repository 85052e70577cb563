#!/bin/sh
# Runs fail2ban-regex with relayguard's filter over a sample log and checks the result exactly.
#   fail2ban_filter_test.sh <filter.d/relayguard.conf> <sample.log>
# In the sample, every log line follows a comment "# match <address>" (the filter must match it and
# capture that address as <HOST>) or "# no match…" (it must not match). fail2ban-regex skips comments.
# The filter includes common.conf, which fail2ban looks for beside the filter, so the filter is copied
# next to the system's common.conf (FAIL2BAN_COMMON_CONF overrides where that is) in a temporary folder.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 <filter.conf> <sample.log>" >&2
    exit 2
fi
filter=$1
sample=$2
common_conf=${FAIL2BAN_COMMON_CONF:-/etc/fail2ban/filter.d/common.conf}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

command -v fail2ban-regex >/dev/null 2>&1 || fail "fail2ban-regex not found (install Debian's fail2ban package)"
[ -r "$filter" ] || fail "cannot read filter $filter"
[ -r "$sample" ] || fail "cannot read sample log $sample"
[ -r "$common_conf" ] || fail "cannot read $common_conf"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/filter.d"
cp "$common_conf" "$work/filter.d/common.conf"
cp "$filter" "$work/filter.d/relayguard.conf"

# What the sample says should happen, in log order.
awk -v expected_lines="$work/expected-lines" -v expected_addresses="$work/expected-addresses" '
    /^# match / { pending = "match"; address = $3; next }
    /^# no match/ { pending = "no match"; next }
    /^#/ || /^[[:space:]]*$/ { next }
    {
        if (pending == "") {
            printf "line %d has no \"# match\" or \"# no match\" comment before it\n", NR > "/dev/stderr"
            bad = 1
        }
        total++
        if (pending == "match") {
            matches++
            print > expected_lines
            print address > expected_addresses
        }
        pending = ""
    }
    END {
        printf "%d %d\n", total, matches
        exit bad
    }' "$sample" >"$work/expected-counts" || fail "the sample log is not annotated correctly"
: >>"$work/expected-lines"
: >>"$work/expected-addresses"
read -r total matches <"$work/expected-counts"
missed=$((total - matches))
[ "$matches" -gt 0 ] || fail "the sample has no line that must match"
[ "$missed" -gt 0 ] || fail "the sample has no line that must not match"

fail2ban-regex --print-all-matched --print-all-missed "$sample" "$work/filter.d/relayguard.conf" \
    >"$work/report" 2>&1 || { cat "$work/report"; fail "fail2ban-regex failed"; }
cat "$work/report"

summary=$(grep '^Lines: ' "$work/report") || fail "no \"Lines:\" summary in fail2ban-regex's report"
want="Lines: $total lines, 0 ignored, $matches matched, $missed missed"
case $summary in
"$want" | "$want "*) ;;
*) fail "expected \"$want\", got \"$summary\"" ;;
esac

# Which lines matched, and which address each one gave fail2ban.
fail2ban-regex -o msg "$sample" "$work/filter.d/relayguard.conf" >"$work/matched-lines" 2>&1 ||
    fail "fail2ban-regex -o msg failed"
fail2ban-regex -o ip "$sample" "$work/filter.d/relayguard.conf" >"$work/matched-addresses" 2>&1 ||
    fail "fail2ban-regex -o ip failed"
diff -u "$work/expected-lines" "$work/matched-lines" ||
    fail "the matched lines differ from the lines marked \"# match\" (- expected, + matched)"
diff -u "$work/expected-addresses" "$work/matched-addresses" ||
    fail "the captured <HOST> addresses differ from the expected ones (- expected, + captured)"

echo "PASS: $matches of $total lines matched, each with the expected address; $missed lines left alone"
