#!/bin/sh
# imapidled and an imapflow watcher, watching the same N mailboxes on the same
# private Dovecot in the same run: the figures of bench/scale.sh for both, and
# their ratios.
#
#   sh bench/peer.sh N [tls|plain]       (default tls; needs ./build/imapidled, node and npm)
#
# The peer is bench/imapflow-watch.mjs: one ImapFlow client per mailbox, IDLE
# on INBOX, spawning the same hook (bench/stamp) on 'exists'.  imapflow 2.x is
# installed with npm into a cache outside the source tree the first time
# (IMAPFLOW_DIR, default ~/.cache/imapidled-bench/imapflow-2).
#
# The two run one after the other, never side by side: on 2 cores, each would
# otherwise take CPU from the other's setup and latency, and the Dovecot
# processes serving them would compete too.  Both get the same Dovecot, the
# same users (implicit TLS verified against the test CA, or clear text), the
# same "ulimit -Sn 1024", the same deliveries to the same random users, and
# the same hook.  imapidled goes first; the maildirs exist from the start
# (tests/dovecot.sh makes them in scale mode), and each waits until the
# other's sessions are gone from the server.  Each is measured on 1 mailbox,
# then on N, and per-connection memory is (X(N) - X(1)) / (N - 1) for both.
# What each figure is: bench/bench-lib.sh.
#
# Environment: as bench/scale.sh (IMAPIDLED, BUILD, IMAPIDLED_CONF_EXTRA,
# IDLE_TIMEOUT, IDLE_SECONDS, DELIVERIES, BENCH_SEED, BENCH_KEEP, BENCH_NOFILE),
# IMAPFLOW_DIR, BENCH_WATCHERS (default "imapidled imapflow"; one of them alone
# runs only that one, e.g. BENCH_WATCHERS=imapflow BENCH_NOFILE=20000 to load
# the server with 10,000 TLS sessions from a client that copes with them).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-}
MODE=${2:-tls}
[ -n "$N" ] && [ "$N" -gt 1 ] 2>/dev/null || { echo "usage: sh bench/peer.sh N [tls|plain] (N > 1)" >&2; exit 2; }
WATCHERS=${BENCH_WATCHERS:-imapidled imapflow}
. "$top/bench/bench-lib.sh"
bench_init
bench_imapflow
bench_dovecot
debounce=$(bench_daemon_setting debounce)

for k in d1 dn f1 fn; do
        for v in idle_ok idle_s idle_k idle_src cpu_setup rss pss cpu_idle p50 p99 delivered; do
                eval "R_${k}_$v=-"
        done
done
case " $WATCHERS " in
*" imapidled "*)
        bench_start_imapidled d1 1
        bench_measure d1 1 "$dir/stamps-imapidled"
        bench_start_imapidled dn "$N"
        bench_measure dn "$N" "$dir/stamps-imapidled"
        bench_dovecot_quiet
        ;;
esac
case " $WATCHERS " in
*" imapflow "*)
        bench_start_imapflow f1 1
        bench_measure f1 1 "$dir/stamps-imapflow"
        bench_start_imapflow fn "$N"
        bench_measure fn "$N" "$dir/stamps-imapflow"
        ;;
esac

idle_of() {     # idle_of LABEL
        eval "ok=\$R_$1_idle_ok s=\$R_$1_idle_s k=\$R_$1_idle_k"
        case $ok in
        1) echo "$s" ;;
        0) echo "$k/$N after $s" ;;
        *) echo - ;;
        esac
}
row() {         # row LABEL IMAPIDLED IMAPFLOW [RATIO]
        printf '  %-34s %14s %14s %12s\n' "$1" "$2" "$3" "${4-$(ratio "$3" "$2")}"
}
d_rss=$(per_conn "$R_dn_rss" "$R_d1_rss" "$N"); f_rss=$(per_conn "$R_fn_rss" "$R_f1_rss" "$N")
d_pss=$(per_conn "$R_dn_pss" "$R_d1_pss" "$N"); f_pss=$(per_conn "$R_fn_pss" "$R_f1_pss" "$N")
faster=$(echo "$R_fn_p50 $R_dn_p50" | awk '$1 ~ /^[0-9.]+$/ && $2 ~ /^[0-9.]+$/ {
        d = $1 - $2; printf "%.1f ms %s than imapflow", d < 0 ? -d : d, d < 0 ? "slower" : "faster"; exit } { print "-" }')

printf '\nbench/peer.sh %s %s   %s, %s, Dovecot %s, %s cores\n' "$N" "$MODE" "$(date '+%Y-%m-%d %H:%M')" \
        "$("$bin" --version | head -n1)" "$dovecot_version" "$(nproc)"
case " $WATCHERS " in
*" imapidled "*)
        printf '  imapidled %s, debounce = %s%s\n' "$bin" "$debounce" \
                "${IMAPIDLED_CONF_EXTRA:+ (IMAPIDLED_CONF_EXTRA: $IMAPIDLED_CONF_EXTRA)}"
        ;;
esac
printf '  imapflow %s on node %s, one client per mailbox; both under ulimit -Sn %s, one after the other\n\n' \
        "$imapflow_version" "$node_version" "$BENCH_NOFILE"
row "" imapidled imapflow "imapflow/imapidled"
row "time to all idle (s)" "$(idle_of dn)" "$(idle_of fn)"
row "RSS, 1 mailbox (KiB)" "$R_d1_rss" "$R_f1_rss"
row "RSS, $N mailboxes (KiB)" "$R_dn_rss" "$R_fn_rss"
row "RSS per connection (KiB)" "$d_rss" "$f_rss"
row "PSS per connection (KiB)" "$d_pss" "$f_pss"
row "setup CPU (s)" "$R_dn_cpu_setup" "$R_fn_cpu_setup"
row "idle CPU, $IDLE_SECONDS s (ms/s)" "$R_dn_cpu_idle" "$R_fn_cpu_idle"
row "new message -> hook p50 (ms)" "$R_dn_p50" "$R_fn_p50"
row "new message -> hook p99 (ms)" "$R_dn_p99" "$R_fn_p99"
row "deliveries reported" "$R_dn_delivered/$DELIVERIES" "$R_fn_delivered/$DELIVERIES" ""
[ "$faster" = - ] || printf '\n  p50 new message -> hook: imapidled %s (T0: doveadm save returned)\n' "$faster"
