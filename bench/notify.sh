#!/bin/sh
# SPDX-License-Identifier: MIT
# One account with INBOX and F folders, watched twice in the same run on the
# same private Dovecot: imap_notify = "auto" (one NOTIFY connection, RFC 5465,
# docs/NOTIFY.md) and "off" (an IDLE connection per mailbox, max_connections
# raised to F + 1 so that nothing is polled).  For each: the connections the
# server sees, the daemon's RSS, and new message -> hook over DELIVERIES
# deliveries into mailboxes drawn at random (the same for both).
#
#   sh bench/notify.sh F [tls|plain]     (default F = 40, plain; needs ./build/imapidled)
#
# new message -> hook is as in bench/bench-lib.sh: T0 right after doveadm save
# returned, T1 the hook's (bench/stamp) clock at its main(); a hook is matched
# to its delivery by the mailbox name (%m).  debounce = 0 for both.  Environment:
# IMAPIDLED, BUILD, DELIVERIES (default 40), BENCH_SEED, BENCH_KEEP=1.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
F=${1:-40}
MODE=${2:-plain}
N=1
. "$top/bench/bench-lib.sh"
bench_init
bench_dovecot
conf=$dir/$dv/dovecot.conf

# The folders, and the deliveries: mailbox and pause after it.
boxes="INBOX"
i=1
while [ $i -le "$F" ]; do
        boxes="$boxes F$i"
        doveadm -c "$conf" mailbox create -u user1 "F$i"
        i=$((i + 1))
done
seed=${BENCH_SEED:-$(date +%s)}
awk -v f="$F" -v k="$DELIVERIES" -v seed="$seed" 'BEGIN { srand(seed); for (i = 0; i < k; i++) {
        b = int(rand() * (f + 1)); printf "%s %.3f\n", b == 0 ? "INBOX" : "F" b, 0.2 + rand() / 2 } }' \
        >"$dir/targets-notify"

# notify_run LABEL auto|off
notify_run() {
        out=$dir/stamps-$1
        : >"$out"
        if [ "$MODE" = tls ]; then
                t="tls = \"implicit\"; ca_file = \"$dir/$dv/ca.pem\";"
        else
                t='tls = "none"; allow_plaintext = true;'
        fi
        list=$(echo "$boxes" | awk '{ for (i = 1; i <= NF; i++) printf "%s\"%s\"", (i > 1 ? ", " : ""), $i }')
        cat >"$dir/$1.conf" <<EOF
debounce = 0;
accounts = ( { name = "u1"; host = "127.0.0.1"; port = $port; $t
  username = "user1"; password = "pass1"; imap_notify = "$2"; max_connections = $((F + 1));
  mailboxes = [ $list ];
  on_new = [ "$stamp", "$out", "%m" ]; } );
EOF
        chmod 600 "$dir/$1.conf"
        : >"$dir/$1.status"
        "$sdlisten" "$dir/$1.sock" >"$dir/$1.status" 2>"$dir/$1.sd-listen.err" &
        bench_pids="$bench_pids $!"
        i=0
        until [ -S "$dir/$1.sock" ]; do
                i=$((i + 1))
                [ $i -lt 100 ] || bench_die "sd-listen did not start"
                sleep 0.05
        done
        mkdir -p "$dir/$1.state"
        bench_dovecot_quiet
        t_start=$(now_ns)
        NOTIFY_SOCKET=$dir/$1.sock STATE_DIRECTORY=$dir/$1.state "$bin" -c "$dir/$1.conf" >"$dir/$1.log" 2>&1 &
        pid=$!
        bench_pids="$bench_pids $pid"
        bench_wait_idle "$1" $((F + 1))
        sleep 2
        sessions=$(doveadm -c "$conf" who 2>/dev/null | awk 'NR > 1 && $1 == "user1" { n += $2 } END { print n + 0 }')
        bench_memory
        : >"$out.lat"
        while read -r box gap; do
                before=$(wc -l <"$out")
                doveadm -c "$conf" save -u user1 -m "$box" <"$dir/msg.eml"
                t0=$(now_ns)
                until_s=$(($(date +%s) + 10))
                while :; do
                        t1=$(awk -v b="$before" -v id="$box" 'NR > b && $4 == id { print $1; exit }' "$out")
                        if [ -n "$t1" ]; then
                                echo "$t1 $t0" | awk '{ printf "%.3f\n", ($1 - $2) / 1e6 }' >>"$out.lat"
                                break
                        fi
                        [ "$(date +%s)" -lt "$until_s" ] || break
                        sleep 0.02
                done
                sleep "$gap"
        done <"$dir/targets-notify"
        got=$(wc -l <"$out.lat")
        set -- "$1" $(sort -n "$out.lat" | awk '{ v[NR] = $1 } END { if (NR == 0) { print "- -"; exit }
                i50 = int((NR * 50 + 99) / 100); i99 = int((NR * 99 + 99) / 100); printf "%.1f %.1f", v[i50], v[i99] }')
        printf '%-22s %4s connections  %6s KiB RSS  all idle after %5s s  new message -> hook p50 %6s ms, p99 %6s ms  (%s/%s within 10 s)\n' \
                "$label" "$sessions" "$mem_rss" "$idle_s" "$2" "$3" "$got" "$DELIVERIES"
        bench_stop
}

echo "bench/notify.sh $F $MODE: one account, INBOX + $F folders, Dovecot $dovecot_version, $DELIVERIES deliveries (seed $seed), $(date -u +%Y-%m-%d)"
label='imap_notify = "auto"'
notify_run auto auto
label='imap_notify = "off"'
notify_run off off
