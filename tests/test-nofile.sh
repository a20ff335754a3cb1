#!/bin/sh
# SPDX-License-Identifier: MIT
# Open files (RLIMIT_NOFILE): the daemon raises its soft limit to the hard
# one at start, and warns, naming the numbers, when the configuration needs
# more than the hard limit; --check-config gives the same warning and still
# exits 0 (the limit is the environment's, not the file's).  The expected
# numbers follow the rule of cfg_descriptors_needed() (src/daemon/cfg.h),
# whose per-item constants are read from that header.
#
# The daemon connects to a closed port on 127.0.0.1: only its start matters.
# Needs a hard limit of at least 1024 to lower from; otherwise exits 77.
set -eu
bin="${top_builddir:-.}/imapidled"
hdr="${top_srcdir:-.}/src/daemon/cfg.h"
tmp=$(mktemp -d)
daemon=
trap '[ -z "$daemon" ] || kill "$daemon" 2>/dev/null || true; rm -rf "$tmp"' EXIT
pass=0
fail() { echo "FAIL: $*"; echo "$pass passed, 1 failed"; exit 1; }
ok() { pass=$((pass + 1)); echo "ok: $*"; }

[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 1024 ] ||
        { echo "hard limit $(ulimit -Hn) is below 1024: SKIP"; exit 77; }

define() { sed -n "s/^#define $1 \([0-9][0-9]*\).*/\1/p" "$hdr"; }
per_hook=$(define CFG_FDS_PER_HOOK)
per_connecting=$(define CFG_FDS_PER_CONNECTING)
reserve=$(define CFG_FDS_RESERVE)
[ -n "$per_hook" ] && [ -n "$per_connecting" ] && [ -n "$reserve" ] || fail "constants not found in $hdr"

# A configuration with 'n' connections: one account per 'per' mailboxes,
# max_connections = per, so each mailbox has a connection.
conf() {
        n=$1 per=$2 f=$3 i=0 m=0
        {
                echo "accounts = ("
                while [ $i -lt $((n / per)) ]; do
                        printf '  { name = "a%d"; host = "127.0.0.1"; port = 1; tls = "none"; allow_plaintext = true;\n' $i
                        printf '    username = "u"; password = "p"; max_connections = %d; mailboxes = [' "$per"
                        m=0
                        while [ $m -lt "$per" ]; do
                                printf '%s"m%d"' "$([ $m -eq 0 ] || echo ', ')" $m
                                m=$((m + 1))
                        done
                        i=$((i + 1))
                        printf '%s\n' "]; }$([ $i -eq $((n / per)) ] || echo ,)"
                done
                echo ");"
        } >"$f"
        chmod 600 "$f"
}

# The total for 'conns' connections with the default max_concurrent_hooks (4) and max_connecting (64).
need() {
        conns=$1
        connecting=$((conns < 64 ? conns : 64))
        echo $((conns + 4 * per_hook + connecting * per_connecting + reserve))
}

conns=300
conf $conns 100 "$tmp/big.conf"
total=$(need $conns)
hard=$((total - 1))
warning="needs about $total open files ($conns connections, 4 hooks × $per_hook, 64 connecting × $per_connecting, reserve $reserve) but the hard limit (LimitNOFILE=) is $hard: connections beyond it will fail; raise LimitNOFILE="

# --- --check-config -------------------------------------------------------------
# One below the need: the warning with every number, exit status 0, the verdict.
out=$( (ulimit -n $hard && "$bin" -c "$tmp/big.conf" --check-config 2>"$tmp/err") ) ||
        fail "--check-config exited $? under a short hard limit: $(cat "$tmp/err")"
grep -qF "$warning" "$tmp/err" || fail "--check-config did not warn as expected; stderr: $(cat "$tmp/err")"
[ "$out" = "configuration OK: $((conns / 100)) accounts, $conns mailboxes" ] || fail "--check-config printed '$out'"
ok "--check-config warns at hard limit $hard for a need of $total, exits 0"

# Exactly the need: no warning.
(ulimit -n "$total" && "$bin" -c "$tmp/big.conf" --check-config >/dev/null 2>"$tmp/err") ||
        fail "--check-config exited $?"
! grep -q "open files" "$tmp/err" || fail "warned with the hard limit at the need: $(cat "$tmp/err")"
ok "--check-config is silent at hard limit $total"

# The soft limit does not count: the daemon raises it.
(ulimit -Sn 64 && ulimit -Hn "$total" && "$bin" -c "$tmp/big.conf" --check-config >/dev/null 2>"$tmp/err") ||
        fail "--check-config exited $?"
! grep -q "open files" "$tmp/err" || fail "warned about the soft limit: $(cat "$tmp/err")"
ok "--check-config judges by the hard limit, not the soft one"

# --- the daemon -------------------------------------------------------------------
# Start it with the given limits and configuration; wait until its log has 'pattern'.
start() {
        hardn=$1 softn=$2 f=$3 pattern=$4
        : >"$tmp/log"
        # The soft limit first: a hard limit below it is refused.
        (ulimit -Sn "$softn" && ulimit -Hn "$hardn" &&
                exec env STATE_DIRECTORY="$tmp/state" RUNTIME_DIRECTORY="$tmp" "$bin" -v -c "$f" >"$tmp/log" 2>&1) &
        daemon=$!
        i=0
        until grep -qF "$pattern" "$tmp/log"; do
                i=$((i + 1))
                [ $i -lt 300 ] || fail "no '$pattern' within 30 s; log: $(head -n 20 "$tmp/log")"
                kill -0 "$daemon" 2>/dev/null || fail "the daemon exited; log: $(head -n 20 "$tmp/log")"
                sleep 0.1
        done
}

# /proc/PID/limits: "Max open files  SOFT  HARD  files".
limits() { awk '/^Max open files/ { print $4, $5 }' "/proc/$daemon/limits"; }

stop() {
        kill -TERM "$daemon"
        wait "$daemon" || fail "the daemon exited $? after SIGTERM; log: $(tail -n 5 "$tmp/log")"
        daemon=
}

conf 1 1 "$tmp/small.conf"
start 1024 64 "$tmp/small.conf" "Open files: soft limit raised from 64 to 1024"
[ "$(limits)" = "1024 1024" ] || fail "limits of the running daemon: $(limits), not 1024 1024"
! grep -q "needs about" "$tmp/log" || fail "warned with enough files: $(grep "needs about" "$tmp/log")"
stop
ok "the daemon raised its soft limit from 64 to 1024"

start $hard 64 "$tmp/big.conf" "Open files: soft limit raised from 64 to $hard"
i=0
until grep -qF "$warning" "$tmp/log"; do
        i=$((i + 1)); [ $i -lt 100 ] || fail "no warning at start; log: $(head -n 20 "$tmp/log")"
        sleep 0.1
done
[ "$(limits)" = "$hard $hard" ] || fail "limits of the running daemon: $(limits), not $hard $hard"
stop
ok "the daemon warns at start with hard limit $hard and raised the soft one to it"

echo "$pass passed, 0 failed"
