#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's run command, end to end: a hook fires on the demo message; the
# cleanup runs once and to the end under repeated INT, TERM and HUP (sent while
# it waits on a fifo, DEMO_CLEANUP_PAUSE), leaving no process and no directory;
# a second run on a built tree neither reruns autoreconf nor configure.
set -eu
passed=0
failed=0
ok() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }

t=$(mktemp -d /tmp/test-demo-XXXXXX)
pid=""
finish() {
        [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
        rm -rf "$t"
}
trap finish EXIT

# The pids whose command line names $1 (this shell's builtins only: no
# process of ours carries the name in its argv).
pids_naming() {
        for p in /proc/[0-9]*; do
                l=
                { l=$(tr '\0' ' ' <"$p/cmdline"); } 2>/dev/null || true
                case $l in
                *"$1"*) echo "${p#/proc/}" ;;
                esac
        done
}

# 1. The demo with signals during its cleanup.
mkdir "$t/pause"
mkfifo "$t/pause/paused" "$t/pause/resume"
run="sh $top_srcdir/tests/demo.sh"
# Its own session, as under a terminal: signals go to its whole group.
command -v setsid >/dev/null 2>&1 && run="setsid $run"
IMAPIDLED="$top_builddir/imapidled" DEMO_ONCE=1 DEMO_CLEANUP_PAUSE="$t/pause" $run >"$t/out" 2>&1 &
pid=$!
if [ "$(timeout 120 cat "$t/pause/paused")" != cleaning ]; then
        cat "$t/out"
        fail "demo-cleanup: the cleanup never paused"
        echo "$passed passed, $failed failed"
        exit 1
fi
for sig in INT TERM HUP INT TERM; do
        kill -s "$sig" -- "-$pid" 2>/dev/null || kill -s "$sig" "$pid"
done
echo go >"$t/pause/resume"
rc=0
wait "$pid" || rc=$?
pid=""
cat "$t/out"
dir=$(sed -n 's/^demo: starting a private Dovecot in //p' "$t/out")
if grep -q ">>> demo hook: 1 new message(s) in demo/INBOX" "$t/out"; then ok "demo-hook"; else fail "demo-hook"; fi
if [ "$rc" = 0 ] && [ "$(grep -c "^demo: stopped, $dir removed" "$t/out")" = 1 ]; then
        ok "demo-cleanup-once"
else
        fail "demo-cleanup-once (exit $rc)"
fi
left=""
[ -z "$dir" ] || left=$(pids_naming "${dir##*/}")
if [ -n "$dir" ] && [ ! -e "$dir" ] && [ -z "$left" ]; then
        ok "demo-no-leftovers"
else
        fail "demo-no-leftovers: dir '$dir', processes: $left"
        # shellcheck disable=SC2086
        [ -z "$left" ] || kill $left 2>/dev/null || true
fi

# 2. A second run on a built tree (this one) reruns neither autoreconf nor
#    configure; the demo would install missing packages, so not here.
if sh "$top_srcdir/tests/deps.sh" --check 2>/dev/null; then
        before=$(stat -c %Y "$top_builddir/config.status")
        out=$(unset MAKEFLAGS MFLAGS MAKELEVEL; DEMO_BUILDDIR="$top_builddir" DEMO_BUILD_ONLY=1 \
                sh "$top_srcdir/tests/demo.sh" 2>&1) || true
        echo "$out"
        if echo "$out" | grep -q "^demo: built $top_builddir/imapidled" &&
                ! echo "$out" | grep -q -e "^demo: configure" -e "^demo: autoreconf" &&
                [ "$(stat -c %Y "$top_builddir/config.status")" = "$before" ]; then
                ok "demo-build-reuse"
        else
                fail "demo-build-reuse"
        fi
else
        echo "SKIP: demo-build-reuse (packages missing, see tests/deps.sh --check)"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
