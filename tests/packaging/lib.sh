# Shared by the packaging checks (check-packages.sh, check-ipk.sh, check-procd.sh); sourced, never run.
#   . tests/packaging/lib.sh NAME
# gives pass/fail/skip/info/check, which print "NAME: ok   …", "NAME: FAIL …", "NAME: SKIP …" and
# "NAME: info …" and count, and finish, which prints the closing line "NAME: N passed, M failed" that
# tests/run-all reads and returns non-zero when any check failed.
# shellcheck shell=bash

check_prefix=$1
passed=0
failed=0
pass() {
    echo "$check_prefix: ok   $*"
    passed=$((passed + 1))
}
fail() {
    echo "$check_prefix: FAIL $*"
    failed=$((failed + 1))
}
skip() {
    echo "$check_prefix: SKIP $*"
}
info() {
    echo "$check_prefix: info $*"
}
# check DESCRIPTION COMMAND...: one check, passed when the command succeeds.
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
    echo "$check_prefix: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# Every line of file $1 is a line of file $2.
all_lines_listed() { ! grep -vxF -f "$2" -- "$1"; }
