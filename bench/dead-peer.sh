#!/bin/sh
# SPDX-License-Identifier: MIT
# How long until a dead IDLE connection is noticed and replaced, with the
# DEFAULT settings (liveness_interval 120 s, done_timeout 15 s), side by side
# with fetchmail --idle on the same server through the same kind of fault,
# same run.  The fault is a silent blackhole between client and server (the
# fault-injecting proxy of the test suite, tests/faultproxy): the server and
# the client both still have their sockets open, nothing arrives any more, as
# after a NAT timeout or a suspend that outlived the server's patience.
#
#   sh bench/dead-peer.sh [CAP_SECONDS]   (default 600; needs ./build/imapidled and
#                                          ./build/tests/faultproxy: sh tests/check.sh)
#
# For each client it prints the seconds from the fault to the first new
# connection through the proxy (the proxy passes new connections again right
# after the fault), or "not within CAP s".
set -eu
CAP=${1:-600}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${IMAPIDLED:-$top/build/imapidled}
proxy=$top/build/tests/faultproxy
[ -x "$bin" ] && [ -x "$proxy" ] || { echo "build first (sh tests/check.sh)" >&2; exit 1; }
command -v fetchmail >/dev/null || {
        if [ "$(id -u)" -eq 0 ]; then s=""; else s=sudo; fi
        $s apt-get install -y -qq fetchmail >/dev/null
}

dir=$(mktemp -d /tmp/imapidled-deadpeer-XXXXXX)
pids=""
cleanup() {
        for p in $pids; do kill "$p" 2>/dev/null || true; done
        sleep 0.5
        sh "$top/tests/dovecot.sh" stop "$dir" >/dev/null 2>&1 || true
        rm -rf "$dir"
}
trap cleanup EXIT INT TERM

DOVECOT_USERS=2 sh "$top/tests/dovecot.sh" start "$dir" >/dev/null
. "$dir/ports"

# Two proxies (one per client), each controlled through a FIFO held open on
# fd 4 and 5 (the proxy stops at EOF); answers, one line each, go to a file.
mkfifo "$dir/p1.in" "$dir/p2.in"
"$proxy" "$PLAIN" <"$dir/p1.in" >"$dir/p1.out" 2>&1 &
pids="$pids $!"
exec 4>"$dir/p1.in"
"$proxy" "$PLAIN" <"$dir/p2.in" >"$dir/p2.out" 2>&1 &
pids="$pids $!"
exec 5>"$dir/p2.in"
lines() { wc -l <"$dir/$1.out"; }
wait_lines() {  # wait_lines NAME N
        i=0
        until [ "$(lines "$1")" -ge "$2" ]; do i=$((i + 1)); [ $i -lt 200 ] || exit 1; sleep 0.05; done
}
wait_lines p1 1; wait_lines p2 1
P1=$(head -n1 "$dir/p1.out"); P2=$(head -n1 "$dir/p2.out")
cmd() {         # cmd NAME COMMAND: send, wait for the answer, print it
        n=$(lines "$1")
        if [ "$1" = p1 ]; then echo "$2" >&4; else echo "$2" >&5; fi
        wait_lines "$1" $((n + 1))
        tail -n1 "$dir/$1.out"
}

cat >"$dir/imapidled.conf" <<CONF
accounts = ( { name = "bench"; host = "127.0.0.1"; port = $P1; tls = "none"; allow_plaintext = true;
  username = "user1"; password = "pass1"; } );
CONF
chmod 600 "$dir/imapidled.conf"
STATE_DIRECTORY="$dir/state" "$bin" -v -c "$dir/imapidled.conf" >"$dir/imapidled.log" 2>&1 &
pids="$pids $!"

cat >"$dir/fetchmailrc" <<RC
set no syslog
poll 127.0.0.1 service $P2 protocol imap user "user2" password "pass2" idle keep fetchall sslproto ''
  mda "/bin/true"
RC
chmod 600 "$dir/fetchmailrc"
HOME=$dir FETCHMAILHOME=$dir fetchmail -N -f "$dir/fetchmailrc" -v >"$dir/fetchmail.log" 2>&1 &
pids="$pids $!"

i=0
until grep -q "idling" "$dir/imapidled.log" && grep -q "IDLE" "$dir/fetchmail.log"; do
        i=$((i + 1)); [ $i -lt 300 ] || { echo "clients did not reach IDLE" >&2; tail "$dir"/*.log >&2; exit 1; }
        sleep 0.1
done
sleep 5         # both in IDLE
c1=$(cmd p1 count); c2=$(cmd p2 count)
# The fault: every current connection goes silent; new ones pass.
cmd p1 blackhole >/dev/null; cmd p1 pass >/dev/null; cmd p2 blackhole >/dev/null; cmd p2 pass >/dev/null
t0=$(date +%s)
r1=""; r2=""
while [ -z "$r1" ] || [ -z "$r2" ]; do
        now=$(date +%s)
        el=$((now - t0))
        if [ -z "$r1" ] && [ "$(cmd p1 count)" -gt "$c1" ]; then r1=$el; fi
        if [ -z "$r2" ] && [ "$(cmd p2 count)" -gt "$c2" ]; then r2=$el; fi
        if [ "$el" -ge "$CAP" ]; then
                r1=${r1:-"not within $CAP"}; r2=${r2:-"not within $CAP"}
        fi
        sleep 1
done
echo "dead IDLE connection (silent blackhole) -> new connection, default settings, same run:"
fv=$(fetchmail --version 2>/dev/null | head -n1 | sed 's/^[^0-9]*\([0-9.]*\).*/\1/')
printf '  %-40s %s s\n' "imapidled (liveness 125 s + done 10 s)" "$r1" "fetchmail $fv --idle" "$r2"
grep -m1 "no progress in state" "$dir/imapidled.log" | sed 's/^<[0-7]>/  imapidled log: /' || true
