#!/bin/sh
# SPDX-License-Identifier: MIT
# The command line: --version and --help; --check-config on a good file
# (secrets redacted), on one that includes a directory of accounts (and
# --list-accounts on it), and on
# bad ones (non-zero exit, FILE:LINE and the key);
# unknown options and arguments refused.
set -eu
bin="${top_builddir:-.}/imapidled"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail() { echo "FAIL: $*"; echo "$pass passed, 1 failed"; exit 1; }
ok() { pass=$((pass + 1)); }

out=$("$bin" --version) || fail "--version exited $?"
case "$out" in "imapidled "[0-9]*) ok ;; *) fail "--version printed '$out'";; esac

out=$("$bin" --help) || fail "--help exited $?"
echo "$out" | grep -q "^Usage: imapidled" || fail "--help has no usage line"
echo "$out" | grep -q "not Cyrus IMAP" || fail "--help does not say what it is not"
ok

if "$bin" --no-such-option >/dev/null 2>&1; then fail "unknown option accepted"; fi
if "$bin" -c /dev/null stray-argument >/dev/null 2>&1; then fail "stray argument accepted"; fi
if "$bin" --log-level loud -c /dev/null --check-config >/dev/null 2>&1; then fail "bad log level accepted"; fi
if "$bin" -c "$tmp/missing.conf" --check-config >/dev/null 2>&1; then fail "missing file accepted"; fi
ok

# A good file: exit 0, the effective config printed, the password redacted.
cat >"$tmp/good.conf" <<'CONF'
debounce = 0.5;
accounts = ( { name = "work"; host = "imap.example.org"; username = "me"; password = "hunter2";
               on_new = ["mbsync", "%a:%m"]; on_flags = { command = ["flags", "%m"]; details = true; }; } );
CONF
chmod 600 "$tmp/good.conf"
out=$("$bin" -c "$tmp/good.conf" --check-config 2>&1) || fail "good config refused: $out"
echo "$out" | grep -q 'name = "work"' || fail "dump lacks the account: $out"
echo "$out" | grep -q 'port = ' || fail "dump lacks the default port"
echo "$out" | grep -q hunter2 && fail "the password was printed"
echo "$out" | grep -q '^debounce = 0.5;$' || fail "dump lacks debounce = 0.5"
echo "$out" | grep -q '^    debounce = 0.5;$' || fail "the account did not inherit debounce"
echo "$out" | grep -q '^      details = true;$' || fail "dump lacks the hook group"
echo "$out" | grep -q '^liveness_interval = 125;$' || fail "dump lacks the default liveness_interval"
echo "$out" | grep -q '^    done_timeout = 10;$' || fail "the account did not inherit done_timeout"
echo "$out" | grep -q '^    max_connections = 10;$' || fail "dump lacks the default max_connections"
ok

# One file per account in a directory: every account in the dump, in order;
# an error in one of the files names it.
mkdir "$tmp/conf.d"
printf 'debounce = 0.5;\n@include "conf.d"\n' >"$tmp/inc.conf"
printf 'accounts = ( { name = "two"; tunnel = ["t"]; } );\n' >"$tmp/conf.d/2.conf"
printf 'accounts = ( { name = "one"; tunnel = ["t"]; } );\n' >"$tmp/conf.d/1.conf"
out=$("$bin" -c "$tmp/inc.conf" --check-config 2>&1) || fail "included accounts refused: $out"
[ "$(echo "$out" | grep '^    name = ' | tr -d ' \n')" = 'name="one";name="two";' ] ||
        fail "dump lacks the included accounts, in order: $out"
# --list-accounts: the names alone, in the same order, for scripts and shell completion.
out=$("$bin" -c "$tmp/inc.conf" --list-accounts 2>/dev/null) || fail "--list-accounts exited $?"
[ "$out" = "$(printf 'one\ntwo')" ] || fail "--list-accounts printed '$out'"
if "$bin" -c "$tmp/inc.conf" --list-accounts --check-config >/dev/null 2>&1; then
        fail "--list-accounts with --check-config accepted"
fi
printf 'accounts = ( {\n name = "two"; tunnel = ["t"]; port = 1; } );\n' >"$tmp/conf.d/2.conf"
if "$bin" -c "$tmp/inc.conf" --list-accounts >/dev/null 2>&1; then fail "--list-accounts on a bad file exited 0"; fi
if out=$("$bin" -c "$tmp/inc.conf" --check-config 2>&1); then fail "bad included file accepted"; fi
echo "$out" | grep -qF "$tmp/conf.d/2.conf:2: account \"two\": port:" || fail "error not at the included file: $out"
ok

# Bad files: each must fail, naming FILE:LINE and the key.
n=0
bad() {
        key=$1
        n=$((n + 1))
        f="$tmp/bad$n.conf"
        cat >"$f"
        chmod 600 "$f"
        if out=$("$bin" -c "$f" --check-config 2>&1); then fail "bad config $n ($key) accepted"; fi
        echo "$out" | grep -q "$f:[0-9][0-9]*:" || fail "bad config $n: no FILE:LINE in: $out"
        echo "$out" | grep -q "$key" || fail "bad config $n: key '$key' not named in: $out"
        ok
}
bad "syntax" <<'CONF'
accounts = ( { name = "a"
CONF
bad "pasword" <<'CONF'
accounts = ( { name = "a"; host = "h"; username = "u"; pasword = "p"; } );
CONF
bad "idle_interval" <<'CONF'
idle_interval = 1741;
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; } );
CONF
bad "idle_interval" <<'CONF'
idle_interval = 0;
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; } );
CONF
bad "port" <<'CONF'
accounts = ( { name = "a"; host = "h"; port = 70000; username = "u"; password = "p"; } );
CONF
bad "tls" <<'CONF'
accounts = ( { name = "a"; host = "h"; tls = "maybe"; username = "u"; password = "p"; } );
CONF
bad "tls" <<'CONF'
accounts = ( { name = "a"; host = "h"; tls = "none"; username = "u"; password = "p"; } );
CONF
bad "password" <<'CONF'
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; password_command = ["pass"]; } );
CONF
bad "host" <<'CONF'
accounts = ( { name = "a"; username = "u"; password = "p"; } );
CONF
bad "username" <<'CONF'
accounts = ( { name = "a"; host = "h"; password = "p"; } );
CONF
bad "name" <<'CONF'
accounts = ( { host = "h"; username = "u"; password = "p"; } );
CONF
bad "name" <<'CONF'
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; },
             { name = "a"; host = "h"; username = "u"; password = "p"; } );
CONF
bad "on_new" <<'CONF'
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; on_new = ["mbsync", "%x"]; } );
CONF
bad "on_new" <<'CONF'
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; on_new = "mbsync -a"; } );
CONF
bad "on_new" <<'CONF'
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; on_new = []; } );
CONF
bad "mailboxes" <<'CONF'
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; mailboxes = ["INBOX", "INBOX"]; } );
CONF
bad "auth" <<'CONF'
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; auth = ["KERBEROS"]; } );
CONF
bad "tunnel" <<'CONF'
accounts = ( { name = "a"; host = "h"; tunnel = ["ssh", "h", "imapd"]; } );
CONF
bad "hook_timeout" <<'CONF'
hook_timeout = "long";
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; } );
CONF
bad "debounce" <<'CONF'
debounce = 3600.5;
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; } );
CONF
bad "max_delay" <<'CONF'
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; debounce = 5; max_delay = 2; } );
CONF
bad "max_concurrent_hooks" <<'CONF'
max_concurrent_hooks = 0;
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; } );
CONF
bad "details_max" <<'CONF'
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; details_max = 1001; } );
CONF
bad "detials" <<'CONF'
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; on_flags = { command = ["x"]; detials = true; }; } );
CONF
bad "connect_timeout" <<'CONF'
connect_timeout = 0;
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; } );
CONF
bad "liveness_interval" <<'CONF'
idle_interval = 600;
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; liveness_interval = 600; } );
CONF
bad "keepalive_idle" <<'CONF'
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; keepalive_idle = 1.5; } );
CONF
bad "max_connections" <<'CONF'
accounts = ( { name = "a"; host = "h"; username = "u"; password = "p"; max_connections = 0; } );
CONF
[ $n -ge 15 ] || fail "only $n bad configs"

echo "$pass passed, 0 failed"
