#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's run command: imapidled live, on a throwaway local Dovecot.
#
# Installs what is missing, builds, starts a private Dovecot (tests/dovecot.sh)
# in a temporary directory, writes a demo configuration (one account, a demo
# hook that prints the event it got), runs the daemon in the foreground and
# delivers a demo message every few seconds so a hook fires.  Ctrl-C stops
# everything and removes the directory, once, however many signals follow.
#
# The build is redone only where needed: autoreconf when configure or
# Makefile.in is missing or older than configure.ac, Makefile.am or a *.mk;
# configure when the build directory has no config.status or it is older than
# configure; make itself decides about the sources.
#
# For the test suite (tests/test-demo.sh): IMAPIDLED=path skips the build;
# DEMO_ONCE=1 stops after the first hook ran; DEMO_BUILDDIR=dir builds there
# instead of build/; DEMO_BUILD_ONLY=1 stops after the build;
# DEMO_CLEANUP_PAUSE=dir makes the cleanup, once it ignores signals, write a
# line to the fifo dir/paused and wait for one on the fifo dir/resume.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# Whether autoreconf must run (see above).
need_autoreconf() {
        [ -f configure ] && [ -f Makefile.in ] || return 0
        [ configure.ac -nt configure ] && return 0
        [ -n "$(find Makefile.am src tests systemd shell-completion docs bench \
                \( -name Makefile.am -o -name '*.mk' \) -newer Makefile.in -print 2>/dev/null | head -n 1)" ]
}

if [ -z "${IMAPIDLED:-}" ]; then
        sh tests/deps.sh --check 2>/dev/null || sh tests/deps.sh
        if need_autoreconf; then
                echo "demo: autoreconf"
                autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
        fi
        builddir=${DEMO_BUILDDIR:-$top/build}
        mkdir -p "$builddir"
        if [ ! -f "$builddir/config.status" ] || [ configure -nt "$builddir/config.status" ]; then
                echo "demo: configure in $builddir"
                (cd "$builddir" && "$top/configure" >/dev/null)
        fi
        (cd "$builddir" && make -j"$(nproc)" imapidled >/dev/null)
        IMAPIDLED=$builddir/imapidled
        if [ "${DEMO_BUILD_ONLY:-0}" = 1 ]; then
                echo "demo: built $IMAPIDLED"
                exit 0
        fi
fi

dir=""
daemon=""
feeder=""
viewer=""
cleaned=0
cleanup() {
        # Once, and to the end: a second Ctrl-C (or TERM, HUP) while
        # stopping must not leave Dovecot or the directory behind.  What
        # runs from here on inherits the ignored signals.
        trap '' INT TERM HUP
        trap - EXIT
        [ "$cleaned" = 0 ] || return 0
        cleaned=1
        if [ -n "${DEMO_CLEANUP_PAUSE:-}" ]; then
                echo cleaning >"$DEMO_CLEANUP_PAUSE/paused"
                read -r _ <"$DEMO_CLEANUP_PAUSE/resume" || true
        fi
        # Only our own children, by pid.
        [ -n "$feeder" ] && kill "$feeder" 2>/dev/null && wait "$feeder" 2>/dev/null || true
        [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
        # tail --pid ends once the daemon has: the whole log is shown.
        [ -n "$viewer" ] && wait "$viewer" 2>/dev/null || true
        [ -n "$dir" ] || return 0
        sh "$top/tests/dovecot.sh" stop "$dir" >/dev/null 2>&1 || true
        rm -rf "$dir"
        echo "demo: stopped, $dir removed"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
dir=$(mktemp -d /tmp/imapidled-demo-XXXXXX)

echo "demo: starting a private Dovecot in $dir"
DOVECOT_USERS=1 sh "$top/tests/dovecot.sh" start "$dir" >/dev/null
. "$dir/ports"

cat >"$dir/imapidled.conf" <<CONF
# imapidled demo: one account on the local Dovecot, STARTTLS with its throwaway CA.
idle_interval = 1740;
accounts = (
  {
    name = "demo";
    host = "localhost";
    port = $PLAIN;
    tls = "starttls";
    ca_file = "$dir/ca.pem";
    username = "user1";
    password_file = "$dir/password";
    mailboxes = ["INBOX"];
    # The hook is an argv: no shell unless you write one, as here on purpose.
    on_new = ["/bin/sh", "-c",
              "echo \">>> demo hook: \$IMAPIDLED_COUNT new message(s) in \$IMAPIDLED_ACCOUNT/\$IMAPIDLED_MAILBOX (now \$IMAPIDLED_EXISTS)\""];
    on_expunge = ["/bin/sh", "-c", "echo \">>> demo hook: \$IMAPIDLED_COUNT message(s) expunged\""];
  }
);
CONF
printf 'pass1\n' >"$dir/password"
chmod 600 "$dir/password" "$dir/imapidled.conf"

echo "demo: configuration in $dir/imapidled.conf; the daemon logs below; Ctrl-C to stop"
: >"$dir/daemon.log"     # exists before the viewer starts
# Its state (what it saw, for catch-up after a restart) is as throwaway as the server.
STATE_DIRECTORY="$dir/state" RUNTIME_DIRECTORY="$dir" "$IMAPIDLED" -c "$dir/imapidled.conf" >>"$dir/daemon.log" 2>&1 &
daemon=$!
# Show the log without the "<N>" priority prefixes meant for journald.
tail --pid="$daemon" -s 0.1 -n +1 -f "$dir/daemon.log" | sed -u 's/^<[0-7]>//' &
viewer=$!

# Deliver a demo message once the daemon is idling, then one every 10 s.
# Its sleep runs in the background so that TERM from the cleanup ends both.
(
        sleeper=""
        trap '[ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null; exit 0' TERM
        i=0
        while ! grep -q "Ready:" "$dir/daemon.log" 2>/dev/null; do
                i=$((i + 1))
                [ $i -lt 300 ] || exit 1
                sleep 0.1
        done
        n=1
        while :; do
                printf 'From: demo@example.org\nTo: user1@localhost\nSubject: demo message %s\n\nHello from the imapidled demo.\n' "$n" |
                        doveadm -c "$dir/dovecot.conf" save -u user1 -m INBOX
                echo "demo: delivered demo message $n"
                n=$((n + 1))
                sleep 10 </dev/null >/dev/null 2>&1 &
                sleeper=$!
                wait "$sleeper" || true
                sleeper=""
        done
) &
feeder=$!

if [ "${DEMO_ONCE:-0}" = 1 ]; then
        i=0
        while ! grep -q ">>> demo hook" "$dir/daemon.log" 2>/dev/null; do
                i=$((i + 1))
                [ $i -lt 300 ] || { echo "demo: no hook fired within 30 s" >&2; exit 1; }
                sleep 0.1
        done
        exit 0          # the cleanup waits for the viewer to print it
fi
wait "$daemon"
