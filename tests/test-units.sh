#!/bin/sh
# SPDX-License-Identifier: MIT
# The systemd units and the man page: both generated units (and the user
# units of docs/recipes/systemd-user) pass
# systemd-analyze verify and set a hard LimitNOFILE=, TasksMax=, MemoryMax=
# and allow AF_NETLINK, the system unit's
# exposure from systemd-analyze security is at most 2.0, its system call
# filter still lets the daemon spawn hooks, the user unit leaves $HOME
# alone, and imapidled(8) renders without
# warnings and documents every option of --help.  Runs offline, without a
# running systemd.  A missing systemd-analyze is a failure, not a skip.
set -eu
srcdir="${top_srcdir:-.}"
builddir="${top_builddir:-.}"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() {
        echo "$passed passed, $failed failed"
        [ "$failed" -eq 0 ] && exit 0
        exit 1
}

command -v systemd-analyze >/dev/null || { bad "systemd-analyze not found (install the systemd package)"; finish; }
echo "# $(systemd-analyze --version | head -n 1)"

sys_unit="$builddir/systemd/imapidled.service"
user_unit="$builddir/systemd/user/imapidled.service"
daemon="$(cd "$builddir" && pwd)/imapidled"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/system" "$tmp/user" "$tmp/runtime" "$tmp/neg"
chmod 700 "$tmp/runtime"

# --- generation ---------------------------------------------------------------
for u in "$sys_unit" "$user_unit"; do
        if ! [ -f "$u" ]; then
                bad "$u was not generated"
        elif grep -n '@[a-z_]*@' "$u"; then
                bad "$u still holds a placeholder"
        elif ! grep -qx "ExecStart=${bindir:?}/imapidled .*" "$u"; then
                bad "$u: ExecStart does not run $bindir/imapidled"
        else
                ok "$u generated with ExecStart in $bindir"
        fi
done
grep -qx 'ExecStart=.*/imapidled -c /etc/imapidled/imapidled.conf' "$sys_unit" &&
        ok "system unit reads /etc/imapidled/imapidled.conf" || bad "system unit's config path"
grep -qx 'ExecStart=.*/imapidled -c %E/imapidled/imapidled.conf' "$user_unit" &&
        ok "user unit reads %E/imapidled/imapidled.conf" || bad "user unit's config path"

# The template: one daemon per configuration file and state directory (docs/SCALING.md),
# otherwise the system unit line for line.
tmpl_unit="$builddir/systemd/imapidled@.service"
if ! [ -f "$tmpl_unit" ]; then
        bad "$tmpl_unit was not generated"
else
        grep -qx 'ExecStart=.*/imapidled -c /etc/imapidled/%i.conf' "$tmpl_unit" &&
                ok "template reads /etc/imapidled/%i.conf" || bad "template's config path"
        grep -qx 'StateDirectory=imapidled/%i' "$tmpl_unit" &&
                ok "template keeps state in imapidled/%i" || bad "template's state directory"
        n=$(diff "$sys_unit" "$tmpl_unit" | grep -c '^>' || true)
        [ "$n" -eq 5 ] && ok "template differs from the system unit in 5 lines" ||
                bad "template differs from the system unit in $n lines, not 5"
fi

# Reload (issue 13): each unit checks the file ExecStart= reads, then sends SIGHUP, so that a
# broken file makes "systemctl reload" fail.  Then the check as the unit writes it, on a
# good and a broken file: only its exit status matters to systemd.
printf 'accounts = ( { name = "a"; tunnel = [ "true" ]; } );\n' >"$tmp/good.conf"
printf 'accounts = ( { name = "a"; tunnel = [ "true" ]; } );\nhook_timeout = 0;\n' >"$tmp/bad.conf"
for u in "$sys_unit" "$user_unit" "$tmpl_unit"; do
        [ -f "$u" ] || continue
        conf=$(sed -n 's/^ExecStart=[^ ]*\/imapidled -c \([^ ]*\)$/\1/p' "$u")
        reloads=$(grep '^ExecReload=' "$u" || true)
        want=$(printf 'ExecReload=%s/imapidled --check-config -c %s\nExecReload=/bin/kill -HUP $MAINPID' "$bindir" "$conf")
        if [ -n "$conf" ] && [ "$reloads" = "$want" ]; then
                ok "$u: ExecReload= checks $conf, then sends SIGHUP"
        else
                bad "$u: ExecReload= lines are not the check of ExecStart's file ($conf) then kill -HUP:"
                printf '%s\n' "$reloads"
        fi
        check=$(sed -n "s|^ExecReload=[^ ]*/imapidled \(--check-config -c\) [^ ]*\$|\1|p" "$u")
        if [ -z "$check" ]; then
                bad "$u: no ExecReload= check to run"
        elif ! "$daemon" $check "$tmp/good.conf" >/dev/null 2>&1; then
                bad "$u: the reload check fails on a good file"
        elif "$daemon" $check "$tmp/bad.conf" >/dev/null 2>"$tmp/check.err"; then
                bad "$u: the reload check passes a broken file"
        elif ! grep -q "bad.conf:2: hook_timeout" "$tmp/check.err"; then
                bad "$u: the reload check does not name file:line and the key:"
                cat "$tmp/check.err"
        else
                ok "$u: the reload check passes a good file, fails a broken one naming bad.conf:2"
        fi
done

# Many mailboxes need many open files: both units set the hard limit, which
# the daemon raises its soft limit to (tests/test-nofile.sh).
for u in "$sys_unit" "$user_unit"; do
        hard=$(sed -n 's/^LimitNOFILE=[0-9]*:\([0-9]*\)$/\1/p' "$u")
        [ -n "$hard" ] && [ "$hard" -ge 65536 ] && ok "$u: LimitNOFILE= hard limit $hard" ||
                bad "$u: no LimitNOFILE=SOFT:HARD with a hard limit of at least 65536"
done

# Both units bound the tasks and the memory of the service with its hooks
# (sized for 10,000 connections, docs/SCALING.md), and let netmon.c open its
# rtnetlink socket.
for u in "$sys_unit" "$user_unit"; do
        tasks=$(sed -n 's/^TasksMax=\([0-9][0-9]*\)$/\1/p' "$u")
        mem=$(sed -n 's/^MemoryMax=\([0-9][0-9]*\)G$/\1/p' "$u")
        [ -n "$tasks" ] && [ "$tasks" -ge 1024 ] && ok "$u: TasksMax=$tasks" ||
                bad "$u: no TasksMax= of at least 1024"
        # 10,000 TLS connections take about 236 MiB: leave room for the hooks.
        [ -n "$mem" ] && [ "$mem" -ge 1 ] && ok "$u: MemoryMax=${mem}G" || bad "$u: no MemoryMax= of at least 1G"
        grep -qx 'RestrictAddressFamilies=.*AF_NETLINK.*' "$u" && ok "$u: AF_NETLINK allowed" ||
                bad "$u: RestrictAddressFamilies= lacks AF_NETLINK (src/daemon/netmon.c)"
done

# verify needs ExecStart's binary to exist: point copies at the built daemon.
# The copies keep the name, which verify takes as the unit name.
retarget() { sed -e "s|^ExecStart=[^ ]*/imapidled |ExecStart=$daemon |" -e "s|^ExecReload=[^ ]*/imapidled |ExecReload=$daemon |" "$1" >"$2"; }
retarget "$sys_unit" "$tmp/system/imapidled.service"
retarget "$user_unit" "$tmp/user/imapidled.service"
retarget "$tmpl_unit" "$tmp/system/imapidled@shard1.service"

# --- systemd-analyze verify ---------------------------------------------------
# --man=no: imapidled.conf(5) need not be installed.  Any output (verify
# only warns about unknown keys) counts as a failure too.
verify() {
        mode=$1 unit=$2
        if out=$(XDG_RUNTIME_DIR="$tmp/runtime" systemd-analyze $mode verify --man=no "$unit" 2>&1) &&
                [ -z "$out" ]; then
                ok "systemd-analyze $mode verify $(basename "$(dirname "$unit")")/$(basename "$unit")"
        else
                bad "systemd-analyze $mode verify $unit:"
                printf '%s\n' "$out"
        fi
}
verify --system "$tmp/system/imapidled.service"
verify --system "$tmp/system/imapidled@shard1.service"
verify --user "$tmp/user/imapidled.service"

# Negative control: this environment's verify does reject a unit whose binary
# is missing, so the passes above mean something.
sed 's|^ExecStart=[^ ]*|ExecStart=/nonexistent/imapidled|' "$tmp/system/imapidled.service" \
        >"$tmp/neg/imapidled.service"
if systemd-analyze verify --man=no "$tmp/neg/imapidled.service" >/dev/null 2>&1; then
        bad "verify accepted a unit whose ExecStart does not exist"
else
        ok "verify rejects a missing ExecStart binary"
fi

# The recipes' user units (docs/recipes/systemd-user, docs/RECIPES.md): the
# graphical-session drop-in applied to the user unit, and the --once timer
# with its service.  Only their syntax: tests/test-once runs imapidled --once.
recipes="$srcdir/docs/recipes/systemd-user"
mkdir -p "$tmp/recipe/imapidled.service.d" "$tmp/recipe-neg/imapidled.service.d"
cp "$tmp/user/imapidled.service" "$tmp/recipe/"
cp "$recipes/imapidled.service.d/graphical-session.conf" "$tmp/recipe/imapidled.service.d/"
sed "s|^ExecStart=imapidled |ExecStart=$daemon |" "$recipes/imapidled-once.service" >"$tmp/recipe/imapidled-once.service"
cp "$recipes/imapidled-once.timer" "$tmp/recipe/"
grep -q "^ExecStart=$daemon --once " "$tmp/recipe/imapidled-once.service" &&
        ok "imapidled-once.service runs imapidled --once" || bad "imapidled-once.service's ExecStart"
verify --user "$tmp/recipe/imapidled.service"
verify --user "$tmp/recipe/imapidled-once.service"
verify --user "$tmp/recipe/imapidled-once.timer"
grep -qx 'PartOf=graphical-session.target' "$recipes/imapidled.service.d/graphical-session.conf" &&
        grep -qx 'After=graphical-session.target' "$recipes/imapidled.service.d/graphical-session.conf" &&
        ok "the drop-in ties the user unit to graphical-session.target" || bad "the drop-in's [Unit] lines"
# Negative control: verify reads the drop-in next to the unit (a bad key in it is reported).
cp "$tmp/user/imapidled.service" "$tmp/recipe-neg/"
{ cat "$recipes/imapidled.service.d/graphical-session.conf"; echo 'NoSuchKey=1'; } \
        >"$tmp/recipe-neg/imapidled.service.d/graphical-session.conf"
out=$(XDG_RUNTIME_DIR="$tmp/runtime" systemd-analyze --user verify --man=no "$tmp/recipe-neg/imapidled.service" 2>&1 || true)
case "$out" in
*NoSuchKey*) ok "verify reads the drop-in beside the unit" ;;
*) bad "verify did not read the drop-in: $out" ;;
esac

# --- systemd-analyze security -------------------------------------------------
exposure() {  # mode unit -> the overall exposure, e.g. 1.2
        XDG_RUNTIME_DIR="$tmp/runtime" systemd-analyze $1 security --offline=yes "$2" >"$tmp/security.out" 2>&1 ||
                true
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9]*\.[0-9]\).*/\1/p' "$tmp/security.out"
}
score=$(exposure --system "$tmp/system/imapidled.service")
echo "# system unit exposure: ${score:-?}"
if [ -z "$score" ]; then
        bad "no overall exposure in systemd-analyze security output:"
        cat "$tmp/security.out"
elif awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
        ok "system unit exposure $score <= 2.0"
else
        bad "system unit exposure $score > 2.0"
        grep '✗' "$tmp/security.out" || true
fi
# The sandbox must still allow what the daemon needs: Internet and local
# sockets, netlink for the network-change monitor (src/daemon/netmon.c; a ✗
# on these lines means "allowed"), and the host's network.
for need in 'RestrictAddressFamilies=~AF_(INET|INET6)' 'RestrictAddressFamilies=~AF_UNIX' \
        'RestrictAddressFamilies=~AF_NETLINK' 'PrivateNetwork='; do
        if grep -F "$need " "$tmp/security.out" | grep -q '✗'; then
                ok "system unit allows $need"
        else
                bad "system unit forbids what $need covers"
        fi
done
user_score=$(exposure --user "$tmp/user/imapidled.service")
echo "# user unit exposure (systemd-analyze --user security; counts root-only checks): ${user_score:-?}"
[ -n "$user_score" ] && ok "user unit exposure measured: $user_score" || bad "no exposure for the user unit"

# Negative control for the parser: an unhardened unit scores far above 2.0.
printf '[Service]\nExecStart=%s\n' "$daemon" >"$tmp/neg/bare.service"
bare=$(exposure --system "$tmp/neg/bare.service")
if [ -n "$bare" ] && awk -v s="$bare" 'BEGIN { exit !(s > 2.0) }'; then
        ok "an unhardened unit scores $bare > 2.0"
else
        bad "unhardened unit scored '${bare}'"
fi

# --- system call filter --------------------------------------------------------
# Expand a filter set recursively into syscall names.
expand() {
        systemd-analyze syscall-filter "$1" | sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e '/^$/d' |
                tail -n +2 | while read -r s; do
                case $s in @*) expand "$s" ;; *) echo "$s" ;; esac
        done
}
allow=$(sed -n 's/^SystemCallFilter=\([^~].*\)/\1/p' "$sys_unit")
deny=$(sed -n 's/^SystemCallFilter=~\(.*\)/\1/p' "$sys_unit")
: >"$tmp/allow"
: >"$tmp/deny"
for g in $allow; do expand "$g" >>"$tmp/allow"; done
for g in $deny; do expand "$g" >>"$tmp/deny"; done
sort -u -o "$tmp/allow" "$tmp/allow"
sort -u -o "$tmp/deny" "$tmp/deny"
comm -23 "$tmp/allow" "$tmp/deny" >"$tmp/effective"
missing=""
# Spawning and reaping hooks, the sd-event loop, sockets, raising RLIMIT_NOFILE.
for s in fork vfork clone clone3 execve execveat wait4 waitid pipe2 dup3 close_range setsid kill \
        pidfd_open pidfd_send_signal socket connect sendmsg recvmsg epoll_wait epoll_ctl signalfd4 \
        timerfd_create timerfd_settime rt_sigprocmask setrlimit prlimit64 getrandom; do
        grep -qx "$s" "$tmp/effective" || missing="$missing $s"
done
if [ ! -s "$tmp/effective" ]; then
        bad "system unit has no system call allow list"
elif [ -n "$missing" ]; then
        bad "system unit's SystemCallFilter denies:$missing"
else
        ok "system unit's SystemCallFilter ($allow minus $deny) allows spawning hooks"
fi

# --- the user unit keeps $HOME usable ---------------------------------------------
if grep -E '^(ProtectHome|ProtectSystem|PrivateTmp|PrivateUsers|ReadOnlyPaths|InaccessiblePaths|TemporaryFileSystem|DynamicUser|StateDirectory)=' "$user_unit"; then
        bad "user unit restricts the file system the hooks need (or maps StateDirectory to ~/.config)"
else
        ok "user unit leaves \$HOME, /tmp and the file system alone"
fi
grep -qx 'WantedBy=default.target' "$user_unit" && ok "user unit WantedBy=default.target" ||
        bad "user unit is not WantedBy=default.target"

# --- imapidled(8) ---------------------------------------------------------------
man8="$srcdir/docs/imapidled.8"
if warn=$(groff -man -Tutf8 -ww -z "$man8" 2>&1) && [ -z "$warn" ]; then
        ok "imapidled.8 renders without groff warnings"
else
        bad "groff warns about imapidled.8:"
        printf '%s\n' "$warn"
fi
if MANWIDTH=80 man -l "$man8" >"$tmp/man.txt" 2>"$tmp/man.err" && [ ! -s "$tmp/man.err" ] &&
        grep -q 'SYNOPSIS' "$tmp/man.txt"; then
        ok "man -l renders imapidled.8"
else
        bad "man -l imapidled.8 failed:"
        cat "$tmp/man.err"
fi
# Every long option the daemon knows is documented.  -Tascii renders \- as -.
groff -man -Tascii -P-c -P-b -P-u "$man8" 2>/dev/null >"$tmp/man.ascii"
opts=$("$daemon" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
undocumented=""
for o in $opts; do grep -q -- "$o" "$tmp/man.ascii" || undocumented="$undocumented $o"; done
if [ -z "$opts" ]; then
        bad "imapidled --help lists no options"
elif [ -n "$undocumented" ]; then
        bad "options missing from imapidled.8:$undocumented"
else
        ok "imapidled.8 documents every option of --help:" $opts
fi
missing=""
for v in ACCOUNT MAILBOX EVENT COUNT EXISTS UIDVALIDITY UIDNEXT; do
        grep -q "IMAPIDLED_$v" "$tmp/man.ascii" || missing="$missing IMAPIDLED_$v"
done
[ -z "$missing" ] && ok "imapidled.8 documents the hook environment" || bad "imapidled.8 lacks:$missing"

finish
