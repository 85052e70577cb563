#!/bin/sh
# Runs inside check-procd.sh's scratch root (busybox ash as /bin/sh, OpenWrt's rc.common, functions.sh,
# procd.sh and jshn.sh at their OpenWrt paths, recording ubus and minimal uci stand-ins), as root in
# private mount and network namespaces. It drives /etc/init.d/relayguard the way a user and procd do
# and records, per step, what the init script printed and returned and every ubus call it made, in
# /record/<step>/. check-procd.sh judges the records afterwards (procd_checks.py).
#
# When /usr/sbin/relayguard is the real binary, this script also plays procd's part once: it starts the
# instance's command line with procd's pid file, so that "reload" really signals a running relayguard,
# whose syslog lines land in /var/log/messages.
set -u
init=/etc/init.d/relayguard
conf=/etc/config/relayguard
xml=/etc/relayguard/relayguard.xml

mkdir -p /var/run /var/lock /var/log /tmp /etc/rc.d
syslogd -n -O /var/log/messages &
syslogd_pid=$!
sleep 1

# step NAME COMMAND...: runs one init command, recording into /record/NAME.
step() {
	name=$1
	shift
	mkdir -p "/record/$name"
	UBUS_RECORD=/record/$name "$@" >"/record/$name/out" 2>&1
	echo $? >"/record/$name/rc"
	ls /var/run >"/record/$name/var-run"
	cp /tmp/relayguard-calls "/record/$name/relayguard-calls" 2>/dev/null
	rm -f /tmp/relayguard-calls
}
uci_set() { # OPTION VALUE: rewrite one option of the UCI file
	sed -i "s|^\(\toption $1 \).*|\1'$2'|" "$conf"
}

step enable "$init" enable
step enabled "$init" enabled
ls -l /etc/rc.d >/record/enabled/rc.d

# The default UCI settings: enabled, no procd watchdog, no interface.
step start "$init" start

if [ -n "${LIVE:-}" ]; then
	# procd's part: run the instance's command (check-procd.sh compares it with the recorded JSON),
	# with the pid file procd writes.
	/usr/sbin/relayguard run -c "$xml" &
	relayguard_pid=$!
	echo "$relayguard_pid" >/var/run/relayguard.pid
	i=0
	while [ "$i" -lt 50 ] && ! grep -q 'relayguard' /var/log/messages; do
		sleep 0.2
		i=$((i + 1))
	done
	sleep 1
	cp /var/log/messages /record/start/messages
	rm -f /tmp/relayguard-calls
else
	# Without the real binary, this shell stands in for the running process (the stand-in
	# relayguard only records its arguments).
	echo $$ >/var/run/relayguard.pid
fi

# Settings unchanged: relayguard re-reads its file on SIGHUP, sent by `relayguard reload`.
step reload "$init" reload
[ -n "${LIVE:-}" ] && sleep 1 && cp /var/log/messages /record/reload/messages

# A broken XML file: reload reports it and changes nothing; start refuses.
cp "$xml" /tmp/good.xml
sed -i 's|<upstream host="127.0.0.1" port="25"/>|<upstream host="127.0.0.1" port="99999"/>|' "$xml"
step reload-broken "$init" reload
step start-broken "$init" start
cp /var/log/messages /record/start-broken/messages
cp /tmp/good.xml "$xml"

step boot "$init" boot
step stop "$init" stop
if [ -n "${LIVE:-}" ]; then
	# procd's part again: the service was deleted, so the instance gets SIGTERM.
	kill -TERM "$relayguard_pid" 2>/dev/null
	wait "$relayguard_pid"
fi
rm -f /var/run/relayguard.pid

# The procd watchdog and an interface trigger: a UCI change that reload turns into a restart.
step start-again "$init" start
uci_set watchdog 30
printf "\tlist interface 'wan'\n" >>"$conf"
step reload-watchdog "$init" reload
step start-watchdog "$init" start

step disable "$init" disable
step disabled "$init" enabled

kill "$syslogd_pid" 2>/dev/null
exit 0
