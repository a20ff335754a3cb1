#!/bin/sh
# SPDX-License-Identifier: MIT
# Memory per IDLE connection: imapidled watching N mailboxes on a private
# Dovecot, side by side with fetchmail --idle (one process per mailbox: IDLE
# in fetchmail watches one folder per process) on the same server, same run.
#
#   sh bench/idle-rss.sh [N]        (default N = 100; needs a built ./build/imapidled)
#
# Prints RSS (VmRSS from /proc) for both, and per connection.  imapidled's
# per-connection figure is (RSS(N) - RSS(1)) / (N - 1), so the fixed cost of
# the process is not spread over the connections.
set -eu
N=${1:-100}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${IMAPIDLED:-$top/build/imapidled}
[ -x "$bin" ] || { echo "build imapidled first (sh tests/check.sh)" >&2; exit 1; }
command -v fetchmail >/dev/null || {
        if [ "$(id -u)" -eq 0 ]; then s=""; else s=sudo; fi
        $s apt-get install -y -qq fetchmail >/dev/null
}

dir=$(mktemp -d /tmp/imapidled-bench-XXXXXX)
pids=""
cleanup() {
        for p in $pids; do kill "$p" 2>/dev/null || true; done
        sleep 0.5
        sh "$top/tests/dovecot.sh" stop "$dir" >/dev/null 2>&1 || true
        rm -rf "$dir"
}
trap cleanup EXIT INT TERM

DOVECOT_USERS=$N sh "$top/tests/dovecot.sh" start "$dir" >/dev/null
. "$dir/ports"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# Proportional set size: shared pages (libraries) divided among the processes
# that map them, the fair measure for many processes.
pss_kb() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup"; }

# imapidled with n accounts, one mailbox each; prints its RSS in KiB once all idle.
run_imapidled() {
        n=$1
        conf="$dir/imapidled-$n.conf"
        {
                echo "accounts = ("
                i=1
                while [ "$i" -le "$n" ]; do
                        [ "$i" -gt 1 ] && echo ","
                        printf '{ name = "u%d"; host = "localhost"; port = %s; tls = "starttls"; ca_file = "%s"; username = "user%d"; password = "pass%d"; }' \
                                "$i" "$PLAIN" "$dir/ca.pem" "$i" "$i"
                        i=$((i + 1))
                done
                echo ");"
        } >"$conf"
        chmod 600 "$conf"
        "$bin" -c "$conf" >"$dir/imapidled-$n.log" 2>&1 &
        p=$!
        pids="$pids $p"
        i=0
        until grep -q "Ready: $n/$n mailboxes idling" "$dir/imapidled-$n.log"; do
                i=$((i + 1)); [ $i -lt 600 ] || { echo "imapidled did not reach $n idling" >&2; cat "$dir/imapidled-$n.log" >&2; exit 1; }
                sleep 0.1
        done
        sleep 1
        r="$(rss_kb "$p") $(pss_kb "$p")"
        kill "$p"; wait "$p" 2>/dev/null || true
        echo "$r"
}

# fetchmail --idle for n users, one process each; prints the total RSS in KiB.
run_fetchmail() {
        n=$1
        fpids=""
        i=1
        while [ "$i" -le "$n" ]; do
                rc="$dir/fetchmailrc-$i"
                printf 'set no syslog\npoll localhost port %s protocol IMAP user "user%d" password "pass%d" keep idle folder INBOX sslproto TLS1.2+ sslcertck sslcertfile "%s" mda "/bin/true"\n' \
                        "$PLAIN" "$i" "$i" "$dir/ca.pem" >"$rc"
                chmod 600 "$rc"
                mkdir -p "$dir/fm-$i"
                FETCHMAILHOME="$dir/fm-$i" HOME="$dir" fetchmail -v -f "$rc" --nodetach --idle --pidfile "$dir/fm-$i.pid" \
                        >"$dir/fm-$i.log" 2>&1 &
                fpids="$fpids $!"
                pids="$pids $!"
                i=$((i + 1))
        done
        # Until every fetchmail sits in IDLE (its -v log shows "+ idling").
        i=0
        until [ "$(grep -l '^fetchmail: IMAP< + idling' "$dir"/fm-*.log 2>/dev/null | wc -l)" -ge "$n" ]; do
                i=$((i + 1)); [ $i -lt 600 ] || { echo "fetchmail did not reach $n idling" >&2; break; }
                sleep 0.1
        done
        sleep 1
        total=0
        ptotal=0
        for p in $fpids; do
                r=$(rss_kb "$p" 2>/dev/null || echo 0)
                s=$(pss_kb "$p" 2>/dev/null || echo 0)
                total=$((total + r))
                ptotal=$((ptotal + s))
        done
        for p in $fpids; do kill "$p" 2>/dev/null || true; done
        echo "$total $ptotal"
}

set -- $(run_imapidled 1); one=$1 one_pss=$2
set -- $(run_imapidled "$N"); many=$1 many_pss=$2
set -- $(run_fetchmail "$N"); fm=$1 fm_pss=$2

printf '\nIDLE connections on one private Dovecot (STARTTLS), N = %d\n\n' "$N"
printf '%-34s %12s %12s %16s\n' "" "total RSS" "total PSS" "PSS/connection"
printf '%-34s %8d KiB %8d KiB %14s\n' "imapidled, 1 mailbox" "$one" "$one_pss" "-"
printf '%-34s %8d KiB %8d KiB %12d B\n' "imapidled, $N mailboxes" "$many" "$many_pss" \
        "$(( (many_pss - one_pss) * 1024 / (N - 1) ))"
printf '%-34s %8d KiB %8d KiB %12d B\n' "fetchmail --idle, $N processes" "$fm" "$fm_pss" "$(( fm_pss * 1024 / N ))"
