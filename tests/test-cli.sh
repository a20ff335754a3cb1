#!/bin/sh
# SPDX-License-Identifier: MIT
# The command line: --version and --help; --check-config's verdict and --dump's
# listing (secrets redacted) on a good file, on one that includes a directory of
# accounts (and --list-accounts on it), and on bad ones (non-zero exit,
# FILE:LINE and the key, the account by its name); files and programs that are
# not there; --list-mailboxes with an unknown account; unknown options and
# arguments refused.
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

# A good file: --check-config says so in one line and exits 0; --dump prints the
# effective config, the password redacted.  The hooks must exist: the fake ones are
# on PATH here.
mkdir "$tmp/bin"
printf '#!/bin/sh\n' >"$tmp/bin/mbsync"
printf '#!/bin/sh\n' >"$tmp/bin/flags"
chmod 755 "$tmp/bin/mbsync" "$tmp/bin/flags"
PATH="$tmp/bin:$PATH"
cat >"$tmp/good.conf" <<'CONF'
debounce = 0.5;
accounts = ( { name = "work"; host = "imap.example.org"; username = "me"; password = "hunter2";
               on_new = ["mbsync", "%a:%m"]; on_flags = { command = ["flags", "%m"]; details = true; }; },
             { name = "home"; tunnel = ["mbsync"]; mailboxes = ["INBOX", "Lists/*", "Sent", "Archive/%"]; } );
CONF
chmod 600 "$tmp/good.conf"
out=$("$bin" -c "$tmp/good.conf" --check-config 2>&1) || fail "good config refused: $out"
[ "$out" = "configuration OK: 2 accounts, 3 mailboxes, 2 mailbox patterns" ] || fail "--check-config printed '$out'"
ok
out=$("$bin" -c "$tmp/good.conf" --dump 2>&1) || fail "--dump refused a good config: $out"
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
printf 'accounts = ( { name = "two"; tunnel = ["mbsync"]; } );\n' >"$tmp/conf.d/2.conf"
printf 'accounts = ( { name = "one"; tunnel = ["mbsync"]; } );\n' >"$tmp/conf.d/1.conf"
out=$("$bin" -c "$tmp/inc.conf" --check-config 2>&1) || fail "included accounts refused: $out"
[ "$out" = "configuration OK: 2 accounts, 2 mailboxes" ] || fail "--check-config printed '$out'"
out=$("$bin" -c "$tmp/inc.conf" --dump 2>&1) || fail "included accounts refused by --dump: $out"
[ "$(echo "$out" | grep '^    name = ' | tr -d ' \n')" = 'name="one";name="two";' ] ||
        fail "dump lacks the included accounts, in order: $out"
# --list-accounts: the names alone, in the same order, for scripts and shell completion.
out=$("$bin" -c "$tmp/inc.conf" --list-accounts 2>/dev/null) || fail "--list-accounts exited $?"
[ "$out" = "$(printf 'one\ntwo')" ] || fail "--list-accounts printed '$out'"
if "$bin" -c "$tmp/inc.conf" --list-accounts --check-config >/dev/null 2>&1; then
        fail "--list-accounts with --check-config accepted"
fi
# --once is the daemon's run, not a tool mode: it combines with none.
for tool in --check-config --dump --list-accounts --list-mailboxes=one; do
        if out=$("$bin" -c "$tmp/inc.conf" --once "$tool" 2>&1); then fail "--once with $tool accepted"; fi
        echo "$out" | grep -qF -- "--once cannot be combined" || fail "--once with $tool: $out"
done
if "$bin" -c "$tmp/inc.conf" --dump --check-config >/dev/null 2>&1; then
        fail "--dump with --check-config accepted"
fi
# An account that is not there: the known ones are listed.
if out=$("$bin" -c "$tmp/inc.conf" --list-mailboxes=onw 2>&1); then fail "--list-mailboxes=onw exited 0"; fi
echo "$out" | grep -qF "No account 'onw' in $tmp/inc.conf; the accounts are one, two" ||
        fail "unknown account: the known ones are not listed: $out"
ok
printf 'accounts = ( {\n name = "two"; tunnel = ["mbsync"]; port = 1; } );\n' >"$tmp/conf.d/2.conf"
if "$bin" -c "$tmp/inc.conf" --list-accounts >/dev/null 2>&1; then fail "--list-accounts on a bad file exited 0"; fi
if out=$("$bin" -c "$tmp/inc.conf" --check-config 2>&1); then fail "bad included file accepted"; fi
echo "$out" | grep -qF "$tmp/conf.d/2.conf:2: account \"two\": port:" || fail "error not at the included file: $out"
ok

# Files and programs that are not there, or not for us: each named, with its account, key and
# file:line, all of them at once; exit 1.  The daemon refuses to start the same way.  Without
# them (--dump) the file is fine.
cat >"$tmp/files.conf" <<CONF
accounts = ( { name = "work"; host = "h"; username = "u"; password_file = "no-pw"; ca_file = "$tmp";
               on_new = ["imapidled-no-such-hook"]; },
             { name = "home"; host = "h"; username = "u"; password_command = ["$tmp/good.conf"]; } );
CONF
chmod 600 "$tmp/files.conf"
if out=$("$bin" -c "$tmp/files.conf" --check-config 2>&1); then fail "missing files accepted: $out"; fi
for want in "$tmp/files.conf:1: account \"work\": password_file: cannot read $tmp/no-pw: No such file or directory" \
            "$tmp/files.conf:1: account \"work\": ca_file: $tmp is a directory, not a file" \
            "$tmp/files.conf:1: account \"work\": on_new: program 'imapidled-no-such-hook' not found in PATH" \
            "$tmp/files.conf:3: account \"home\": password_command: cannot run '$tmp/good.conf': Permission denied"; do
        echo "$out" | grep -qF "$want" || fail "--check-config does not say '$want': $out"
done
echo "$out" | grep -q "configuration OK" && fail "a verdict of OK with errors: $out"
if out=$("$bin" -c "$tmp/files.conf" 2>&1); then fail "the daemon started with missing files: $out"; fi
echo "$out" | grep -qF "account \"work\": password_file: cannot read $tmp/no-pw" ||
        fail "the daemon does not name the missing password file: $out"
"$bin" -c "$tmp/files.conf" --dump >/dev/null 2>&1 || fail "--dump refused a file whose files are missing"
ok

# A password file others may read: a warning, not an error.
printf 'secret\n' >"$tmp/pw"
chmod 644 "$tmp/pw"
printf 'accounts = ( { name = "work"; host = "h"; username = "u"; password_file = "%s"; } );\n' "$tmp/pw" >"$tmp/pw.conf"
out=$("$bin" -c "$tmp/pw.conf" --check-config 2>&1) || fail "a readable password file refused: $out"
echo "$out" | grep -qF "account \"work\": password_file: $tmp/pw holds a password but its mode is 0644, so everyone can read it" ||
        fail "no warning about the password file's mode: $out"
echo "$out" | grep -qx "configuration OK: 1 account, 1 mailbox" || fail "no verdict: $out"
# The same warning when a missing file fails the check: errors do not hide it.
printf 'accounts = ( { name = "work"; host = "h"; username = "u"; password_file = "%s"; ca_file = "%s/no-ca"; } );\n' \
        "$tmp/pw" "$tmp" >"$tmp/pw2.conf"
if out=$("$bin" -c "$tmp/pw2.conf" --check-config 2>&1); then fail "a missing ca_file accepted: $out"; fi
echo "$out" | grep -qF "so everyone can read it" || fail "the warning is hidden by the error: $out"
echo "$out" | grep -qF "ca_file: cannot read $tmp/no-ca" || fail "no error for the missing ca_file: $out"
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
bad 'account "a": host' <<'CONF'
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
