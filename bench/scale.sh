#!/bin/sh
# SPDX-License-Identifier: MIT
# imapidled watching N mailboxes on one private Dovecot: how long until all of
# them idle, memory per connection, CPU to set up and to sit idle, and how soon
# a new message runs the hook.
#
#   sh bench/scale.sh N [tls|plain]      (default tls; needs a built ./build/imapidled)
#
# The private Dovecot (tests/dovecot.sh with DOVECOT_SCALE=1) has N users; the
# daemon gets one account per user, INBOX, host 127.0.0.1, implicit TLS with
# the test CA (tls) or clear text (plain: tls = "none", allow_plaintext), and
# on_new = bench/stamp; everything else at its default.  It is started under
# "ulimit -Sn 1024" (the soft limit only; the hard one stays), first on one
# mailbox, then on N.  What each figure is and how it is taken:
# bench/bench-lib.sh.  Nothing is assumed to succeed: a run that does not
# reach N/N idling within IDLE_TIMEOUT says "k/N idle after T s" and goes on
# with the rest.
#
# Environment: IMAPIDLED=/path/to/imapidled, BUILD, IMAPIDLED_CONF_EXTRA
# ('debounce = 0;' until that is the default), IDLE_TIMEOUT, IDLE_SECONDS,
# DELIVERIES, BENCH_SEED, BENCH_KEEP=1, BENCH_NOFILE (only to check the server
# side: the figures are meant under 1024).  Everything started is stopped on exit
# and on Ctrl-C.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-}
MODE=${2:-tls}
[ -n "$N" ] || { echo "usage: sh bench/scale.sh N [tls|plain]" >&2; exit 2; }
. "$top/bench/bench-lib.sh"
bench_init
bench_dovecot
debounce=$(bench_daemon_setting debounce)

bench_start_imapidled one 1
bench_measure one 1 "$dir/stamps-imapidled"
bench_start_imapidled many "$N"
bench_measure many "$N" "$dir/stamps-imapidled"

if [ "$R_many_idle_ok" = 1 ]; then
        idle="$R_many_idle_s s ($N/$N idling, seen in the daemon's $R_many_idle_src)"
else
        idle="not all: $R_many_idle_k/$N idle after $R_many_idle_s s"
fi
printf '\nbench/scale.sh %s %s   %s, %s, Dovecot %s, %s cores\n' "$N" "$MODE" "$(date '+%Y-%m-%d %H:%M')" \
        "$("$bin" --version | head -n1)" "$dovecot_version" "$(nproc)"
printf '  daemon %s under ulimit -Sn %s; debounce = %s%s\n' "$bin" "$BENCH_NOFILE" "$debounce" \
        "${IMAPIDLED_CONF_EXTRA:+ (IMAPIDLED_CONF_EXTRA: $IMAPIDLED_CONF_EXTRA)}"
printf '  %-30s %s\n' "time to all idle" "$idle"
printf '  %-30s %s KiB, %s KiB with 1 mailbox: %s KiB per connection\n' "RSS" "$R_many_rss" "$R_one_rss" \
        "$(per_conn "$R_many_rss" "$R_one_rss" "$N")"
printf '  %-30s %s KiB, %s KiB with 1 mailbox: %s KiB per connection\n' "PSS" "$R_many_pss" "$R_one_pss" \
        "$(per_conn "$R_many_pss" "$R_one_pss" "$N")"
printf '  %-30s %s s\n' "setup CPU (at all idle)" "$R_many_cpu_setup"
printf '  %-30s %s ms/s\n' "idle CPU, $IDLE_SECONDS s from all idle" "$R_many_cpu_idle"
printf '  %-30s p50 %s ms, p99 %s ms; %s/%s reported (T0: doveadm save returned)\n' "new message -> hook" \
        "$R_many_p50" "$R_many_p99" "$R_many_delivered" "$DELIVERIES"
printf '  %-30s %s processes, PSS %s KiB in all; MemAvailable %s GiB\n' "Dovecot" \
        "$R_many_dv_procs" "$R_many_dv_pss" "$R_many_mem_avail"
