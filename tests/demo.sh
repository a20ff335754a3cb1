#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's run command: imapidled live, on a throwaway local Dovecot.
#
# Installs what is missing, builds, starts a private Dovecot (tests/dovecot.sh)
# in a temporary directory, writes a demo configuration (one account, a demo
# hook that prints the event it got), runs the daemon in the foreground and
# delivers a demo message every few seconds so a hook fires.  Ctrl-C stops
# everything and removes the directory.
#
# For the test suite: IMAPIDLED=path skips the build; DEMO_ONCE=1 stops after
# the first hook ran.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ -z "${IMAPIDLED:-}" ]; then
        sh tests/deps.sh
        autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
        mkdir -p build
        (cd build && { [ -f Makefile ] || ../configure >/dev/null; } && make -j"$(nproc)" imapidled >/dev/null)
        IMAPIDLED=$top/build/imapidled
fi

dir=$(mktemp -d /tmp/imapidled-demo-XXXXXX)
daemon=""
feeder=""
viewer=""
cleanup() {
        trap - EXIT INT TERM
        [ -n "$feeder" ] && kill "$feeder" 2>/dev/null || true
        [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
        sh "$top/tests/dovecot.sh" stop "$dir" >/dev/null 2>&1 || true
        [ -n "$viewer" ] && kill "$viewer" 2>/dev/null || true
        rm -rf "$dir"
        echo "demo: stopped, $dir removed"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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
tail --pid="$daemon" -n +1 -f "$dir/daemon.log" | sed -u 's/^<[0-7]>//' &
viewer=$!

# Deliver a demo message once the daemon is idling, then one every 10 s.
(
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
                sleep 10 </dev/null >/dev/null 2>&1
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
        sleep 0.3       # let the viewer print it
        exit 0
fi
wait "$daemon"
