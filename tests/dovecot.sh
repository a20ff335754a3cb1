#!/bin/sh
# SPDX-License-Identifier: MIT
# A private Dovecot 2.3 for one test run, living entirely inside DIR: its own
# config, throwaway CA and server certificate, passwd-file users, maildirs,
# base_dir, state_dir and logs, listening on two free loopback ports.  It
# never touches the system dovecot service or /etc/dovecot.
#
#   sh tests/dovecot.sh start DIR     # DIR is created if missing
#   sh tests/dovecot.sh stop DIR      # idempotent; also cleans up after a crash
#
# After start, DIR holds:
#   ports          shell-style "PLAIN=<port> TLS=<port>" (STARTTLS/plain, implicit TLS)
#   ca.pem         the CA clients must trust; cert.pem/key.pem are the server's
#   users          passwd-file: user1..userN with passwords pass1..passN
#   tunnel         executable: Dovecot's imap on stdin/stdout, pre-authenticated as user1
#   dovecot.conf   the configuration (also for doveadm -c)
#   dovecot.pid    the master's pid
#   log/           dovecot.log (all services), tunnel.log, start.err (stderr of the last
#                  start), openssl.err, auth-test.out
#   home/userN/    homes; mail in home/userN/Maildir
#
# Environment: DOVECOT_USERS (number of users, default 4), DOVECOT_MAIL_USER
# (system account owning the mail when run as root, default "nobody": Dovecot
# refuses mail access as uid 0), DOVECOT_IDLE_NOTIFY (imap_idle_notify_interval,
# default "2 mins", Dovecot's own default), DOVECOT_LOGIN_PROCESSES (imap-login's
# process_limit without DOVECOT_SCALE, default 100 as Dovecot's: one process per
# client, which stays to proxy TLS after login, so more than 100 TLS clients need
# more), DOVECOT_SCALE (1: size the server for DOVECOT_USERS clients at once, see
# scale_conf; 0: the small configuration; default 1 above 500 users, else 0).
set -eu

die() {
        echo "dovecot.sh: $*" >&2
        exit 1
}

usage() {
        die "usage: dovecot.sh start|stop|restart DIR"
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2

for b in dovecot doveadm openssl; do
        command -v "$b" >/dev/null 2>&1 || die "'$b' not found (run tests/deps.sh)"
done

imap_bin=/usr/lib/dovecot/imap

# Whether process $1 is alive (and not a zombie we could wait for).
alive() {
        kill -0 "$1" 2>/dev/null || return 1
        st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)
        [ "$st" != Z ]
}

# The pids of this instance's processes other than the master: Dovecot
# titles them "dovecot-<instance_name>/<service>", and instance_name holds
# DIR's unique temporary name (see write_conf).
instance_pids() {
        for p in /proc/[0-9]*; do
                l=
                { read -r l <"$p/cmdline"; } 2>/dev/null || true
                case $l in
                "dovecot-$1/"*) echo "${p#/proc/}" ;;
                esac
        done
}

# Wait up to $1 tenths of a second for the pids in $2 to exit.
wait_gone() {
        i=0
        while [ $i -lt "$1" ]; do
                left=""
                for k in $2; do
                        alive "$k" && left="$left $k"
                done
                [ -z "$left" ] && return 0
                sleep 0.1
                i=$((i + 1))
        done
        return 1
}

do_stop() {
        [ -f "$dir/dovecot.conf" ] || return 0
        instance=$(sed -n 's/^instance_name = //p' "$dir/dovecot.conf")
        pid=""
        if [ -s "$dir/dovecot.pid" ]; then
                pid=$(cat "$dir/dovecot.pid")
        elif [ -s "$dir/run/master.pid" ]; then
                # Interrupted start: the master wrote its pid, start did not
                # copy it yet.
                pid=$(cat "$dir/run/master.pid")
        fi
        case $pid in
        *[!0-9]*) pid="" ;;
        esac
        # The master does not wait for its children (imap sessions still
        # connected, log, stats), and after a crash there is no master: so
        # signal the instance's other processes too, found by their title.
        kids=""
        if [ -n "$instance" ]; then
                kids=$(instance_pids "$instance")
        fi
        # Only signal the pid if it still is a dovecot master: after a crash
        # the pid may have been reused by an unrelated process.
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dovecot ] && alive "$pid"; then
                kids="$pid $kids"
        fi
        if [ -n "$kids" ]; then
                # shellcheck disable=SC2086
                kill -TERM $kids 2>/dev/null || true
                if ! wait_gone 100 "$kids"; then
                        echo "dovecot.sh: some of $kids ignored SIGTERM, killing them" >&2
                        # shellcheck disable=SC2086
                        kill -KILL $kids 2>/dev/null || true
                        wait_gone 50 "$kids" || true
                fi
        fi
        rm -f "$dir/dovecot.pid" "$dir/run/master.pid"
        return 0
}

# A random port in 10000..32767: under Linux's default ephemeral range, so an
# outgoing connection of another test cannot have taken it by chance.
random_port() {
        n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
        echo $((10000 + n % 22768))
}

# Whether something listens on TCP port $1 (IPv4 or IPv6), from /proc.
port_listening() {
        hex=$(printf '%04X' "$1")
        cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
                awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }'
}

make_certs() {
        # EC keys: generating them is instant, unlike RSA.
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 7 \
                -subj "/CN=imapidled test CA" 2>"$dir/log/openssl.err"
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                -keyout "$dir/key.pem" -out "$dir/cert.csr" -subj "/CN=localhost" 2>>"$dir/log/openssl.err"
        cat >"$dir/cert.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
EOF
        openssl x509 -req -in "$dir/cert.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
                -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 7 \
                -extfile "$dir/cert.ext" -out "$dir/cert.pem" 2>>"$dir/log/openssl.err"
        rm -f "$dir/cert.csr" "$dir/cert.ext"
        chmod 600 "$dir/ca.key" "$dir/key.pem"
}

# Scale mode (DOVECOT_SCALE=1, the benchmarks in bench/): one IDLE session per
# user for thousands of users at once.  The small configuration runs one
# imap-login process per connection (which stays as the TLS proxy of the
# session) and one imap process per session, capped at 1024; here:
# - imap-login in high-performance mode: service_count = 0, at least one
#   process per core, each serving up to $login_clients clients.  A TLS client
#   costs its login process two descriptors (the client's socket and the
#   proxied one to imap), so no login process needs more than about 8,300 of
#   the 20,000 a process may open here; process_limit lets the master start
#   more processes as those fill up;
# - imap with client_limit $imap_clients: sessions share processes (all users
#   have the same uid, so one process may serve several users), an imap
#   process per session would cost more memory than the machine has at 10,000;
# - auth, anvil and stats get a client per login and imap process;
# - vsz_limit 1G for the processes that hold many sessions.
# Dovecot itself is started with the hard open-file limit as its soft one.
scale_conf() {
        [ "$scale" = 1 ] || return 0
        cat <<EOF

# --- Sized for $nusers clients at once (DOVECOT_SCALE=1; tests/dovecot.sh, scale_conf).
default_vsz_limit = 1G
service imap {
  service_count = 0
  client_limit = $imap_clients
  process_limit = $imap_procs
}
service auth {
  client_limit = $((login_procs + imap_procs + 100))
}
service anvil {
  client_limit = $((2 * (login_procs + imap_procs) + 100))
}
service stats {
  client_limit = $((2 * (login_procs + imap_procs) + 100))
}
EOF
}

# Lines inside "service imap-login" in scale mode.
scale_login_conf() {
        if [ "$scale" != 1 ]; then
                echo "  process_limit = $login_processes"
                return 0
        fi
        cat <<EOF
  service_count = 0
  process_min_avail = $cores
  client_limit = $login_clients
  process_limit = $login_procs
EOF
}

write_conf() {
        plain=$1
        tls=$2
        cat >"$dir/dovecot.conf" <<EOF
# Generated by tests/dovecot.sh for one test run.  Do not edit: rewritten on start.
base_dir = $dir/run
state_dir = $dir/state
instance_name = imapidled-test-${dir##*/}
log_path = $dir/log/dovecot.log
info_log_path = $dir/log/dovecot.log
protocols = imap
listen = 127.0.0.1
shutdown_clients = yes

default_login_user = $login_user
default_internal_user = $internal_user
first_valid_uid = 1
first_valid_gid = 1

ssl = yes
ssl_cert = <$dir/cert.pem
ssl_key = <$dir/key.pem

# Tests need LOGIN and AUTHENTICATE without TLS as well as after STARTTLS.
disable_plaintext_auth = no
# CRAM-MD5 needs the password in plaintext, hence scheme=PLAIN below.
auth_mechanisms = plain login cram-md5
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $dir/users
}
userdb {
  driver = passwd-file
  args = username_format=%n $dir/users
}

mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
# NOTIFY (RFC 5465) reports non-selected mailboxes only with the list index (docs/NOTIFY.md).
mailbox_list_index = yes
namespace inbox {
  inbox = yes
  separator = /
}

# ACL with a per-mailbox dovecot-acl file; QUOTA counted from the maildir.
mail_plugins = \$mail_plugins acl quota
protocol imap {
  mail_plugins = \$mail_plugins imap_acl imap_quota
  mail_max_userip_connections = 200
}
plugin {
  acl = vfile
  quota = maildir:User quota
  quota_rule = *:storage=100M
  quota_rule2 = *:messages=10000
}

# METADATA (RFC 5464), kept per user in a file dict.  ANNOTATE is not
# implemented by Dovecot.
imap_metadata = yes
mail_attribute_dict = file:%h/dovecot-attributes

# IDLE: Dovecot watches the maildir with inotify and reports changes about
# half a second after they happen; without inotify it polls every
# mailbox_idle_check_interval (default 30 s, lowered here).  The notify
# interval is only the "* OK Still here" keepalive.
imap_idle_notify_interval = $idle_notify
mailbox_idle_check_interval = 1 secs

service imap-login {
$(scale_login_conf)
  inet_listener imap {
    address = 127.0.0.1
    port = $plain
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $tls
    ssl = yes
  }
}
$(scale_conf)
EOF
}

write_tunnel() {
        # Dovecot's imap binary started outside the master serves one session
        # on stdin/stdout, pre-authenticated ("* PREAUTH") as the -u user,
        # which it looks up in the userdb; as root it then drops to that
        # user's uid.  (doveadm exec imap would skip the "protocol imap"
        # block and lose ACL, QUOTA and METADATA.)  Its log lines go to
        # stderr, so they are kept out of the client's way.
        cat >"$dir/tunnel" <<EOF
#!/bin/sh
# Dovecot's imap on stdin/stdout, pre-authenticated as \${1:-user1}.
# Run as root, imap refuses a socket as stdout ("must not be started from
# inetd"); the pipe through cat keeps socketpair callers working.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin $imap_bin -c "$dir/dovecot.conf" -u "\${1:-user1}" \\
        2>>"$dir/log/tunnel.log" | cat
EOF
        chmod 755 "$dir/tunnel"
}

# Start the master.  In scale mode with the hard open-file limit as the soft
# one: the processes inherit it, and a login process with thousands of TLS
# clients needs two descriptors for each.
run_dovecot() {
        if [ "$scale" = 1 ]; then
                (ulimit -Sn "$(ulimit -Hn)" && exec dovecot -c "$dir/dovecot.conf") 2>"$dir/log/start.err"
        else
                dovecot -c "$dir/dovecot.conf" 2>"$dir/log/start.err"
        fi
}

# Every imap process with IDLE sessions watches their maildirs with one
# inotify instance (one for all its sessions: 100 instances for 10,000
# sessions, counted here); all mail processes of all instances on the machine
# run as the same user, and fs.inotify.max_user_instances (often 128) caps
# the instances per user.  Past that Dovecot polls every
# mailbox_idle_check_interval (1 s here) instead.  As root, raise the limit to
# this instance's imap processes plus 256 for everyone else (never lower it;
# it is not put back) and say so.
raise_inotify() {
        f=/proc/sys/fs/inotify/max_user_instances
        [ -r $f ] || return 0
        have=$(cat $f)
        want=$((imap_procs + 256))
        [ "$have" -lt "$want" ] || return 0
        if [ "$(id -u)" -eq 0 ] && [ -w $f ] && echo "$want" >$f 2>/dev/null; then
                echo "dovecot.sh: raised fs.inotify.max_user_instances from $have to $want (sysctl, system-wide; not put back)" >&2
        else
                echo "dovecot.sh: fs.inotify.max_user_instances is $have (< $want) and cannot be raised here:" \
                        "IDLE sessions beyond it are polled every mailbox_idle_check_interval (1 s)" >&2
        fi
}

do_start() {
        nusers=${DOVECOT_USERS:-4}
        case $nusers in
        '' | *[!0-9]* | 0) die "DOVECOT_USERS must be a positive number" ;;
        esac
        idle_notify=${DOVECOT_IDLE_NOTIFY:-2 mins}
        login_processes=${DOVECOT_LOGIN_PROCESSES:-100}
        case $login_processes in
        '' | *[!0-9]* | 0) die "DOVECOT_LOGIN_PROCESSES must be a positive number" ;;
        esac
        scale=${DOVECOT_SCALE:-}
        case $scale in
        '') scale=0; [ "$nusers" -le 500 ] || scale=1 ;;
        0 | 1) ;;
        *) die "DOVECOT_SCALE must be 0 or 1" ;;
        esac
        if [ "$scale" = 1 ]; then
                cores=$(nproc 2>/dev/null || echo 2)
                login_clients=4096
                login_procs=$(( (nusers + login_clients - 1) / login_clients + cores ))
                imap_clients=100
                imap_procs=$(( (nusers + imap_clients - 1) / imap_clients + 10 ))
        fi

        mkdir -p "$dir"
        dir=$(cd "$dir" && pwd -P)
        # base_dir holds unix sockets, whose paths are limited to 107 bytes.
        [ ${#dir} -le 60 ] || die "DIR path too long for unix sockets: $dir"

        if [ -s "$dir/dovecot.pid" ] && alive "$(cat "$dir/dovecot.pid")"; then
                die "already running in $dir (pid $(cat "$dir/dovecot.pid"))"
        fi

        if [ "$(id -u)" -eq 0 ]; then
                mail_user=${DOVECOT_MAIL_USER:-nobody}
                login_user=dovenull
                internal_user=dovecot
        else
                # Unprivileged: everything runs as the caller.
                mail_user=$(id -un)
                login_user=$mail_user
                internal_user=$mail_user
        fi
        uid=$(id -u "$mail_user") || die "no user $mail_user"
        gid=$(id -g "$mail_user")

        mkdir -p "$dir/log" "$dir/run" "$dir/state" "$dir/home"
        # The mail user and the login processes must reach into DIR
        # (mkdtemp makes it 0700).
        chmod 755 "$dir"

        make_certs

        # One awk and one xargs, not a process per user: 10,000 users take a
        # fraction of a second.  In scale mode the maildirs are made here too,
        # so that the first client of the run does not pay for creating them.
        awk -v n="$nusers" -v uid="$uid" -v gid="$gid" -v home="$dir/home" \
                'BEGIN { for (i = 1; i <= n; i++) printf "user%d:pass%d:%s:%s::%s/user%d::\n", i, i, uid, gid, home, i }' \
                >"$dir/users"
        if [ "$scale" = 1 ]; then
                awk -v n="$nusers" -v home="$dir/home" 'BEGIN { for (i = 1; i <= n; i++)
                        printf "%s/user%d/Maildir/cur\n%s/user%d/Maildir/new\n%s/user%d/Maildir/tmp\n", home, i, home, i, home, i }' |
                        xargs mkdir -p
        else
                awk -v n="$nusers" -v home="$dir/home" 'BEGIN { for (i = 1; i <= n; i++) printf "%s/user%d\n", home, i }' |
                        xargs mkdir -p
        fi
        chmod 644 "$dir/users"
        if [ "$(id -u)" -eq 0 ]; then
                chown -R "$uid:$gid" "$dir/home"
        fi
        if [ "$scale" = 1 ]; then
                raise_inotify
        fi

        write_tunnel

        attempt=0
        while :; do
                attempt=$((attempt + 1))
                plain=$(random_port)
                tls=$(random_port)
                if [ "$plain" = "$tls" ] || port_listening "$plain" || port_listening "$tls"; then
                        continue
                fi
                write_conf "$plain" "$tls"
                # The master binds its listeners before it daemonizes, so a
                # port taken since the check above shows up here.
                if run_dovecot; then
                        break
                fi
                if grep -q "Address already in use" "$dir/log/start.err" && [ $attempt -lt 20 ]; then
                        continue
                fi
                cat "$dir/log/start.err" >&2
                die "dovecot did not start; see $dir/log/"
        done

        i=0
        while [ ! -s "$dir/run/master.pid" ] && [ $i -lt 100 ]; do
                sleep 0.05
                i=$((i + 1))
        done
        [ -s "$dir/run/master.pid" ] || die "no master.pid in $dir/run"
        cp "$dir/run/master.pid" "$dir/dovecot.pid"
        # Bring the auth process up now (and check the passdb): a client
        # that connects before it is ready first gets an untagged
        # "* OK Waiting for authentication process to respond.." instead
        # of the greeting.
        if ! doveadm -c "$dir/dovecot.conf" auth test user1 pass1 >"$dir/log/auth-test.out" 2>&1; then
                cat "$dir/log/auth-test.out" >&2
                do_stop
                die "authentication of user1 failed; see $dir/log/"
        fi
        printf 'PLAIN=%s TLS=%s\n' "$plain" "$tls" >"$dir/ports.tmp"
        mv "$dir/ports.tmp" "$dir/ports"
}

# restart DIR: stop every process of the instance, then start it again with
# the same configuration, ports and mail (for reconnection tests).
do_restart() {
        [ -f "$dir/dovecot.conf" ] || die "no instance in $dir"
        do_stop
        scale=0
        grep -q '^# --- Sized for' "$dir/dovecot.conf" && scale=1
        if ! run_dovecot; then
                cat "$dir/log/start.err" >&2
                die "dovecot did not restart; see $dir/log/"
        fi
        i=0
        while [ ! -s "$dir/run/master.pid" ] && [ $i -lt 100 ]; do
                sleep 0.05
                i=$((i + 1))
        done
        [ -s "$dir/run/master.pid" ] || die "no master.pid in $dir/run"
        cp "$dir/run/master.pid" "$dir/dovecot.pid"
        doveadm -c "$dir/dovecot.conf" auth test user1 pass1 >"$dir/log/auth-test.out" 2>&1 ||
                die "authentication of user1 failed after restart"
}

case $cmd in
start) do_start ;;
stop) do_stop ;;
restart) do_restart ;;
*) usage ;;
esac
