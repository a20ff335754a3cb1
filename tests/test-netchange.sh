#!/bin/sh
# SPDX-License-Identifier: MIT
# A network change makes a connection that waits to retry try again at once
# (docs/LIVENESS.md), instead of sleeping out its backoff.  The daemon runs
# in a network namespace of its own whose loopback is down, as at boot
# before the network is up: every attempt fails and the backoff grows.  Then
# the loopback comes up: rtnetlink tells the daemon, which tries at once.
#
# Needs root (or CAP_SYS_ADMIN) for unshare -n, and ip(8); without them it
# exits 77, which the test driver reports as SKIP, never as a pass.
set -eu
bin="${top_builddir:-.}/imapidled"
command -v unshare >/dev/null && command -v ip >/dev/null || { echo "no unshare or ip: SKIP"; exit 77; }
unshare -n true 2>/dev/null || { echo "unshare -n not permitted: SKIP"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/conf" <<'CONF'
accounts = ( { name = "net"; host = "127.0.0.1"; port = 1430; tls = "none"; allow_plaintext = true;
  username = "u"; password = "p"; } );
CONF
chmod 600 "$tmp/conf"

# Inside the namespace: start the daemon, wait until its backoff is at least
# 7.5 s ("retrying in 8s"), bring lo up, and report how long the next attempt took.
unshare -n sh -eu -c '
bin=$1 tmp=$2
STATE_DIRECTORY=$tmp/state RUNTIME_DIRECTORY=$tmp "$bin" -v -c "$tmp/conf" >"$tmp/log" 2>&1 &
daemon=$!
trap "kill $daemon 2>/dev/null || true" EXIT
i=0
until grep -q "retrying in [8-9]s\|retrying in [1-9][0-9]s" "$tmp/log"; do
        i=$((i + 1)); [ $i -lt 400 ] || { echo "backoff never reached 8 s"; cat "$tmp/log"; exit 1; }
        sleep 0.1
done
attempts=$(grep -c "retrying in" "$tmp/log")
ip link set lo up
t0=$(date +%s%N)
i=0
until [ "$(grep -c "retrying in" "$tmp/log")" -gt "$attempts" ]; do
        i=$((i + 1)); [ $i -lt 300 ] || { echo "no new attempt within 30 s"; cat "$tmp/log"; exit 1; }
        sleep 0.05
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q "Network configuration changed" "$tmp/log" || { echo "no network change logged"; cat "$tmp/log"; exit 1; }
echo "lo up -> next attempt after $ms ms (the backoff had at least 7 s left to run)"
[ "$ms" -lt 3500 ] || { echo "too slow: the backoff, not the change, caused the attempt"; cat "$tmp/log"; exit 1; }
# Connection refused now (lo is up, nobody listens), no longer unreachable.
tail -n 3 "$tmp/log" | grep -q "refused" || { echo "attempt did not reach lo"; tail "$tmp/log"; exit 1; }
' sh "$bin" "$tmp"
echo "1 passed, 0 failed"
