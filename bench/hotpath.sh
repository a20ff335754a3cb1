#!/bin/sh
# SPDX-License-Identifier: MIT
# The time imapidled itself takes from a server's "* n EXISTS" to its hook's
# exec: against a scripted server (bench/hotpath.c) on loopback, so no real
# server's own delay (Dovecot batches its change notices for half a second)
# is in the figure.
#
#   sh bench/hotpath.sh [ROUNDS]     (default 200; needs a built ./build/imapidled)
#
# The scripted server answers whatever the daemon sends (CAPABILITY, LOGIN,
# EXAMINE, IDLE, DONE, UID FETCH, FETCH, NOOP, STATUS, LOGOUT), so the figure
# includes every round trip the daemon makes before it starts the hook.  The
# daemon runs in clear text with debounce = 0 and on_new = bench/stamp, the
# hook that records its own CLOCK_MONOTONIC first thing in main().  Each round
# waits until the connection idles again and the previous hook's exit was
# logged, then a random 0-300 ms, then writes the EXISTS.  Printed: p50, p99
# and max of EXISTS written -> hook's main() in microseconds, which commands
# the daemon sent in between, and for reference the exec alone (the daemon's
# posix_spawn wrapper to main(), no daemon involved) of the static bench/stamp
# and of the same program linked dynamically, bench/stamp-dynamic: the floor
# under the first figure.  On x86-64 it runs once more first with
# bench/stamp-raw, the same hook without the C library, and the daemon's own
# figure (read() of the EXISTS to the hook's exec, logged with -v) is printed
# for both.
#
# Environment: IMAPIDLED=/path/to/imapidled, BUILD (build directory with
# bench/hotpath and the stamps, made there if missing; default ./build),
# HOTPATH_CONF_EXTRA (configuration lines for the daemon), HOTPATH_KEEP=1
# (keep the directory with the daemon's log).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
bin=${IMAPIDLED:-$BUILD/imapidled}
ROUNDS=${1:-200}
[ -x "$bin" ] || { echo "no $bin: build imapidled first (see docs/HACKING.md) or set IMAPIDLED" >&2; exit 1; }
make -C "$BUILD" -s bench/hotpath bench/stamp bench/stamp-dynamic >/dev/null
echo "bench/hotpath.sh $ROUNDS   $(date '+%Y-%m-%d %H:%M'), $("$bin" --version | head -n1), $(nproc) cores"
# First with the hook that has no C library (x86-64): the figure is the daemon and the exec.
# Then with the static glibc hook, whose own start-up (about 1 ms here) runs on the daemon's
# CPU and delays the daemon's return from posix_spawn() (bench/stamp-raw.c).
if [ "$(uname -m)" = x86_64 ] && make -C "$BUILD" -s bench/stamp-raw >/dev/null 2>&1; then
        echo "== hook: bench/stamp-raw (no C library)"
        "$BUILD/bench/hotpath" -r "$ROUNDS" "$bin" "$BUILD/bench/stamp-raw" "$BUILD/bench/stamp"
        echo "== hook: bench/stamp (static, glibc)"
fi
exec "$BUILD/bench/hotpath" -r "$ROUNDS" "$bin" "$BUILD/bench/stamp" "$BUILD/bench/stamp-dynamic"
