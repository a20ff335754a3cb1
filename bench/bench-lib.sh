# SPDX-License-Identifier: MIT
# Shared by bench/scale.sh and bench/peer.sh (sourced, not run): a private
# Dovecot sized for N users (tests/dovecot.sh, DOVECOT_SCALE=1), a watcher of N
# mailboxes started under "ulimit -Sn 1024", and the figures taken from it:
#
#   time to all idle   from just before the watcher is started until it reports
#                      N/N mailboxes idling (imapidled: the STATUS= of sd_notify,
#                      received by bench/sd-listen, or its log, whichever first, see
#                      bench_wait_idle; the imapflow watcher prints the STATUS= line
#                      on stdout), in seconds
#   setup CPU          utime + stime (/proc/PID/stat, all threads) when all idle
#                      was seen (polled every 0.1 s), in seconds
#   idle CPU           utime + stime over the IDLE_SECONDS (default 30) from then on,
#                      ms per s: what the watcher does once everything idles (imapidled
#                      writes its state files 1 s after each mailbox opened), but not
#                      the server's "* OK Still here" of every 2 minutes
#                      (imap_idle_notify_interval) nor what answers them:
#                      IDLE_SECONDS=150 covers one round.  Resolution: one clock tick
#                      (10 ms) over the whole window
#   RSS, PSS           VmRSS (/proc/PID/status) and Pss (/proc/PID/smaps_rollup),
#                      right after the idle CPU window (2 s after all idle for 1
#                      mailbox); per connection = (X(N) - X(1)) / (N - 1), X(1) from a
#                      1-mailbox run of the same program in the same run
#   new message->hook  DELIVERIES (default 40) messages, one at a time, to users
#                      drawn at random (the same users and pauses for every watcher
#                      of a run; after each hook a pause of 0.2-0.7 s at random):
#                      doveadm save, T0 = the moment doveadm returned (date +%s%N
#                      right after it), T1 = the hook's CLOCK_REALTIME at its main()
#                      (bench/stamp); p50 and p99 (nearest rank) of T1 - T0, and how
#                      many of the deliveries ran the hook within 10 s (a later hook
#                      is not counted)
#
# The caller sets top (the source tree), N and MODE (tls or plain) and calls
# bench_init first.  Environment: IMAPIDLED (the binary, default
# ./build/imapidled), BUILD (the build directory with bench/stamp and
# bench/sd-listen, default ./build; they are made there if missing),
# IMAPIDLED_CONF_EXTRA (lines added at the top level of the daemon's
# configuration, e.g. 'debounce = 0;'), IDLE_TIMEOUT (seconds to wait for all
# idle, default 60 + N/50), IDLE_SECONDS, DELIVERIES, BENCH_SEED (for the
# random users), BENCH_KEEP=1 (keep the directory, and print it),
# BENCH_NOFILE (the soft open-file limit of the watchers, default 1024; another
# value only to check the server side, e.g. 20000 with N = 10,000).

BUILD=${BUILD:-$top/build}
bin=${IMAPIDLED:-$BUILD/imapidled}
stamp=$BUILD/bench/stamp
sdlisten=$BUILD/bench/sd-listen
IDLE_SECONDS=${IDLE_SECONDS:-30}
# The soft open-file limit the watchers start with.  1024 is the point of the
# benchmark (a daemon must raise its own); another value only for checks.
BENCH_NOFILE=${BENCH_NOFILE:-1024}
DELIVERIES=${DELIVERIES:-40}
bench_pids=""
dir=""
dv=""

bench_die() {
        echo "${0##*/}: $*" >&2
        exit 1
}

bench_cleanup() {
        trap - EXIT INT TERM
        for p in $bench_pids; do
                kill "$p" 2>/dev/null || true
        done
        for p in $bench_pids; do
                i=0
                while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do
                        sleep 0.1
                        i=$((i + 1))
                done
                kill -KILL "$p" 2>/dev/null || true
        done
        if [ -n "$dir" ]; then
                [ -z "$dv" ] || sh "$top/tests/dovecot.sh" stop "$dir/$dv" >/dev/null 2>&1 || true
                if [ "${BENCH_KEEP:-0}" = 1 ]; then
                        echo "kept $dir" >&2
                else
                        rm -rf "$dir"
                fi
        fi
}

bench_init() {
        case $N in
        '' | *[!0-9]* | 0) bench_die "N must be a positive number" ;;
        esac
        case $MODE in
        tls | plain) ;;
        *) bench_die "mode must be tls or plain" ;;
        esac
        [ -x "$bin" ] || bench_die "no $bin: build imapidled first (see docs/HACKING.md) or set IMAPIDLED"
        if [ ! -x "$stamp" ] || [ ! -x "$sdlisten" ]; then
                make -C "$BUILD" -s bench/stamp bench/sd-listen >/dev/null ||
                        bench_die "cannot build bench/stamp and bench/sd-listen in $BUILD"
        fi
        command -v doveadm >/dev/null || bench_die "doveadm not found (tests/deps.sh)"
        dir=$(mktemp -d /tmp/imapidled-bench-XXXXXX)
        # The Dovecot's directory: its last component names the instance, whose
        # processes "dovecot.sh stop" finds by their title, so it must be unique.
        dv=dv-${dir##*-}
        # The private Dovecot's processes (other users) must reach into it.
        chmod 711 "$dir"
        trap bench_cleanup EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        IDLE_TIMEOUT=${IDLE_TIMEOUT:-$((60 + N / 50))}
        clk_tck=$(getconf CLK_TCK)
}

now_ns() { date +%s%N; }

# The private Dovecot with N users, sized for them.
bench_dovecot() {
        DOVECOT_USERS=$N DOVECOT_SCALE=1 sh "$top/tests/dovecot.sh" start "$dir/$dv" >"$dir/dovecot-start.out" 2>&1 || {
                cat "$dir/dovecot-start.out" >&2
                bench_die "the private Dovecot did not start"
        }
        # Notes (the inotify limit) go to the caller's stderr.
        cat "$dir/dovecot-start.out" >&2
        . "$dir/$dv/ports"
        dovecot_version=$(dovecot --version | cut -d' ' -f1)
        if [ "$MODE" = tls ]; then port=$TLS; else port=$PLAIN; fi
        # The users to deliver to, drawn once, so that every watcher of the run gets the same.
        seed=${BENCH_SEED:-$(date +%s)}
        # Each with a pause before the next, 0.2 to 0.7 s drawn at random, so that
        # deliveries do not keep one phase against the watcher's own timers.
        awk -v n="$N" -v k="$DELIVERIES" -v seed="$seed" \
                'BEGIN { srand(seed); for (i = 0; i < k; i++) printf "%d %.3f\n", 1 + int(rand() * n), 0.2 + rand() / 2 }' \
                >"$dir/targets"
        printf 'From: bench <bench@localhost>\r\nTo: user <user@localhost>\r\nSubject: bench\r\n\r\nbody\r\n' >"$dir/msg.eml"
}

# Wait until no session of an earlier watcher is left on the server (at most 30 s).
bench_dovecot_quiet() {
        i=0
        while [ $i -lt 300 ]; do
                [ -z "$(doveadm -c "$dir/$dv/dovecot.conf" who 2>/dev/null | sed 1d)" ] && return 0
                sleep 0.1
                i=$((i + 1))
        done
        echo "${0##*/}: sessions of an earlier watcher are still open after 30 s" >&2
}

# imapidled's configuration for users 1..$1 in $2: one account per user, INBOX.
# The accounts are written 2,000 to a file, $2.d/K.conf, which the list in $2
# includes with libconfig's "@include" (text in place of the line): the
# daemon reads at most 1 MiB from its main file (CFG_FILE_MAX in
# src/daemon/cfg.h), and 10,000 accounts take 2.3 MB.
bench_daemon_conf() {
        rm -rf "$2.d"
        mkdir -m 700 "$2.d"
        awk -v n="$1" -v port="$port" -v mode="$MODE" -v ca="$dir/$dv/ca.pem" -v stamp="$stamp" \
                -v out="$dir/stamps-imapidled" -v d="$2.d" -v per=2000 'BEGIN {
                if (mode == "tls")
                        t = sprintf("tls = \"implicit\"; ca_file = \"%s\";", ca)
                else
                        t = "tls = \"none\"; allow_plaintext = true;"
                for (i = 1; i <= n; i++) {
                        f = sprintf("%s/%d.conf", d, int((i - 1) / per) + 1)
                        printf "%s{ name = \"u%d\"; host = \"127.0.0.1\"; port = %s; %s username = \"user%d\"; password = \"pass%d\"; on_new = [\"%s\", \"%s\"]; }\n",
                                ((i - 1) % per ? ", " : ""), i, port, t, i, i, stamp, out >f
                        if (i % per == 0 || i == n)
                                close(f)
                }
        }'
        chmod 600 "$2.d"/*.conf
        {
                echo "# Written by ${0##*/} for one run."
                [ -n "${IMAPIDLED_CONF_EXTRA:-}" ] && printf '%s\n' "$IMAPIDLED_CONF_EXTRA"
                echo "accounts = ("
                k=1
                while [ $(( (k - 1) * 2000 )) -lt "$1" ]; do
                        [ $k -gt 1 ] && echo ","
                        echo "@include \"${2##*/}.d/$k.conf\""
                        k=$((k + 1))
                done
                echo ");"
        } >"$2"
        chmod 600 "$2"
}

# The effective value of a daemon setting, from --dump.
bench_daemon_setting() {
        bench_daemon_conf 1 "$dir/check.conf"
        "$bin" --dump -c "$dir/check.conf" 2>/dev/null | sed -n "s/^$1 = \(.*\);\$/\1/p"
}

# bench_start_imapidled LABEL COUNT: start the daemon on users 1..COUNT.
bench_start_imapidled() {
        bench_daemon_conf "$2" "$dir/$1.conf"
        : >"$dir/$1.status"
        "$sdlisten" "$dir/$1.sock" >"$dir/$1.status" 2>"$dir/$1.sd-listen.err" &
        bench_pids="$bench_pids $!"
        i=0
        until [ -S "$dir/$1.sock" ]; do
                i=$((i + 1))
                [ $i -lt 100 ] || bench_die "sd-listen did not start"
                sleep 0.05
        done
        mkdir -p "$dir/$1.state"
        t_start=$(now_ns)
        (
                ulimit -Sn "$BENCH_NOFILE"
                NOTIFY_SOCKET=$dir/$1.sock STATE_DIRECTORY=$dir/$1.state exec "$bin" -c "$dir/$1.conf"
        ) >"$dir/$1.log" 2>&1 &
        pid=$!
        bench_pids="$bench_pids $pid"
}

# Stop the watcher $pid (SIGTERM, then wait up to 10 s).
bench_stop() {
        kill "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
                sleep 0.1
                i=$((i + 1))
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
}

# CPU time of process $1 in clock ticks (utime + stime, all threads).
cpu_ticks() {
        sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
pss_kb() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup"; }

# The latest "STATUS=k/n mailboxes idling" of LABEL: prints "k n".
idle_status() {
        sed -n 's/.*STATUS=\([0-9]*\)\/\([0-9]*\) mailboxes idling.*/\1 \2/p' "$dir/$1.status" | tail -n1
}

# How many mailboxes of LABEL have logged "<account>/<mailbox>: idling" (imapidled
# logs it when a connection first idles, and again after a reconnection).
idle_logged() {
        n=$(grep -c ': idling$' "$dir/$1.log" 2>/dev/null || true)
        if [ "${n:-0}" -ge "$2" ]; then
                n=$(sed -n 's/^<[0-7]>\(.*\): idling$/\1/p' "$dir/$1.log" | sort -u | wc -l)
        fi
        echo "${n:-0}"
}

# bench_wait_idle LABEL COUNT: wait (at most IDLE_TIMEOUT s) for COUNT/COUNT idling:
# the first "STATUS=COUNT/COUNT mailboxes idling" (its time of arrival), or, for
# imapidled, COUNT mailboxes with an "idling" line in the log (the time that was
# seen, polled every 0.1 s), whichever comes first: the daemon's STATUS= can lag
# behind its connections when thousands are busy.  Sets idle_ok (1/0), idle_s
# (seconds from start, or the time waited), idle_k, idle_src, cpu_setup_s (CPU
# seconds at that moment).
bench_wait_idle() {
        deadline=$(($(date +%s) + IDLE_TIMEOUT))
        idle_ok=0
        idle_src=
        while :; do
                line=$(grep -m1 "STATUS=$2/$2 mailboxes idling" "$dir/$1.status" || true)
                if [ -n "$line" ]; then
                        idle_ok=1
                        idle_src=STATUS
                        t_idle=${line%% *}
                        break
                fi
                if [ -s "$dir/$1.log" ] && [ "$(idle_logged "$1" "$2")" -ge "$2" ]; then
                        idle_ok=1
                        idle_src=log
                        t_idle=$(now_ns)
                        break
                fi
                kill -0 "$pid" 2>/dev/null || break
                [ "$(date +%s)" -lt "$deadline" ] || break
                sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
                cpu_setup_s=$(echo "$(cpu_ticks "$pid") $clk_tck" | awk '{ printf "%.2f", $1 / $2 }')
        else
                cpu_setup_s=-
        fi
        if [ $idle_ok = 1 ]; then
                idle_k=$2
                idle_s=$(echo "$t_idle $t_start" | awk '{ printf "%.2f", ($1 - $2) / 1e9 }')
        else
                set -- "$1" "$2" $(idle_status "$1") 0
                idle_k=$3
                if [ -s "$dir/$1.log" ]; then
                        k=$(idle_logged "$1" "$2")
                        [ "$k" -le "$idle_k" ] || idle_k=$k
                fi
                idle_s=$(echo "$(now_ns) $t_start" | awk '{ printf "%.1f", ($1 - $2) / 1e9 }')
        fi
}

# bench_memory: RSS and PSS of $pid in KiB (mem_rss, mem_pss).
bench_memory() {
        mem_rss=$(rss_kb "$pid" 2>/dev/null || echo 0)
        mem_pss=$(pss_kb "$pid" 2>/dev/null || echo 0)
}

# bench_idle_cpu: CPU of $pid over IDLE_SECONDS, ms per s (cpu_idle).
bench_idle_cpu() {
        a=$(cpu_ticks "$pid")
        ta=$(now_ns)
        sleep "$IDLE_SECONDS"
        b=$(cpu_ticks "$pid" 2>/dev/null || echo "$a")
        tb=$(now_ns)
        cpu_idle=$(echo "$a $b $ta $tb $clk_tck" | awk '{ printf "%.1f", ($2 - $1) / $5 * 1000 / (($4 - $3) / 1e9) }')
}

# bench_deliver STAMPFILE: the deliveries to the users in $dir/targets, one at
# a time, each waited for (at most 10 s) in STAMPFILE.  Sets lat_p50, lat_p99
# (ms) and lat_n (hooks seen); the latencies in STAMPFILE.lat.
bench_deliver() {
        out=$1
        : >"$out.lat"
        touch "$out"
        while read -r u gap; do
                before=$(wc -l <"$out")
                doveadm -c "$dir/$dv/dovecot.conf" save -u "user$u" -m INBOX <"$dir/msg.eml" ||
                        echo "${0##*/}: doveadm save for user$u failed" >&2
                t0=$(now_ns)
                until_s=$(($(date +%s) + 10))
                while :; do
                        t1=$(awk -v b="$before" -v id="u$u" 'NR > b && $4 == id { print $1; exit }' "$out")
                        if [ -n "$t1" ]; then
                                echo "$t1 $t0" | awk '{ printf "%.3f\n", ($1 - $2) / 1e6 }' >>"$out.lat"
                                break
                        fi
                        [ "$(date +%s)" -lt "$until_s" ] || break
                        sleep 0.02
                done
                # Let the hook end and the watcher settle before the next one.
                sleep "$gap"
        done <"$dir/targets"
        lat_n=$(wc -l <"$out.lat")
        if [ "$lat_n" -gt 0 ]; then
                set -- $(sort -n "$out.lat" | awk '{ v[NR] = $1 } END {
                        i50 = int((NR * 50 + 99) / 100); i99 = int((NR * 99 + 99) / 100)
                        printf "%.1f %.1f", v[i50], v[i99] }')
                lat_p50=$1
                lat_p99=$2
        else
                lat_p50=-
                lat_p99=-
        fi
}

# Total PSS of the private Dovecot's processes (KiB) and their number: dv_pss, dv_procs.
bench_dovecot_memory() {
        inst=$(sed -n 's/^instance_name = //p' "$dir/$dv/dovecot.conf")
        dv_pss=0
        dv_procs=0
        for p in /proc/[0-9]*; do
                l=
                { read -r l <"$p/cmdline"; } 2>/dev/null || true
                case $l in
                "dovecot-$inst/"*)
                        s=$(awk '/^Pss:/ { print $2 }' "$p/smaps_rollup" 2>/dev/null || echo 0)
                        dv_pss=$((dv_pss + ${s:-0}))
                        dv_procs=$((dv_procs + 1))
                        ;;
                esac
        done
        mem_avail=$(awk '/^MemAvailable:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
}

# bench_measure LABEL COUNT STAMPFILE: after the watcher $pid was started on
# COUNT mailboxes: wait for all idle; for COUNT > 1 the idle CPU from then on,
# then memory, then the deliveries; for COUNT = 1 memory 2 s after all idle.
# Stops the watcher.  Results in R_<LABEL>_*.
bench_measure() {
        bench_wait_idle "$1" "$2"
        eval "R_$1_idle_ok=$idle_ok R_$1_idle_s=$idle_s R_$1_idle_k=$idle_k R_$1_cpu_setup=$cpu_setup_s"
        eval "R_$1_idle_src=$idle_src"
        if [ "$2" -gt 1 ] && kill -0 "$pid" 2>/dev/null; then
                bench_idle_cpu
                bench_memory
                bench_dovecot_memory
                bench_deliver "$3"
        elif [ "$2" -gt 1 ]; then
                cpu_idle=- lat_p50=- lat_p99=- lat_n=0 mem_rss=0 mem_pss=0
                bench_dovecot_memory
                echo "${0##*/}: the watcher died; see $dir/$1.log (BENCH_KEEP=1 keeps it)" >&2
        else
                sleep 2
                bench_memory
                bench_dovecot_memory
        fi
        eval "R_$1_rss=$mem_rss R_$1_pss=$mem_pss R_$1_dv_pss=$dv_pss R_$1_dv_procs=$dv_procs R_$1_mem_avail=$mem_avail"
        if [ "$2" -gt 1 ]; then
                eval "R_$1_cpu_idle=$cpu_idle R_$1_p50=$lat_p50 R_$1_p99=$lat_p99 R_$1_delivered=$lat_n"
        fi
        bench_stop
}

# Per connection, in KiB with one decimal: (X(N) - X(1)) / (N - 1).
per_conn() {
        echo "$1 $2 $3" | awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ && $3 > 1 { printf "%.1f", ($1 - $2) / ($3 - 1); exit }
                { print "-" }'
}

# A ratio a/b with one decimal, or "-".
ratio() {
        echo "$1 $2" | awk '$1 ~ /^[0-9.]+$/ && $2 ~ /^[0-9.]+$/ && $2 > 0 { printf "%.1fx", $1 / $2; exit } { print "-" }'
}

# imapflow 2.x for the peer, installed with npm into a cache outside the source
# tree (IMAPFLOW_DIR, default ${XDG_CACHE_HOME:-$HOME/.cache}/imapidled-bench/imapflow-2)
# the first time; only the benchmark uses it.  Sets imapflow_dir and imapflow_version.
bench_imapflow() {
        command -v node >/dev/null && command -v npm >/dev/null || bench_die "node and npm are needed for the peer"
        imapflow_dir=${IMAPFLOW_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imapidled-bench/imapflow-2}
        if [ ! -f "$imapflow_dir/node_modules/imapflow/package.json" ]; then
                mkdir -p "$imapflow_dir"
                [ -f "$imapflow_dir/package.json" ] || echo '{ "private": true }' >"$imapflow_dir/package.json"
                echo "${0##*/}: installing imapflow 2.x into $imapflow_dir (npm)" >&2
                (cd "$imapflow_dir" && npm install --no-audit --no-fund --silent imapflow@2 >&2) ||
                        bench_die "npm install imapflow@2 failed"
        fi
        imapflow_version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$imapflow_dir/node_modules/imapflow/package.json" | head -n1)
        node_version=$(node --version)
}

# bench_start_imapflow LABEL COUNT: the imapflow watcher on users 1..COUNT.
bench_start_imapflow() {
        : >"$dir/$1.status"
        t_start=$(now_ns)
        (
                ulimit -Sn "$BENCH_NOFILE"
                exec node "$top/bench/imapflow-watch.mjs" "$imapflow_dir" "$port" "$MODE" "$dir/$dv/ca.pem" 1 "$2" \
                        "$stamp" "$dir/stamps-imapflow"
        ) >"$dir/$1.status" 2>"$dir/$1.log" &
        pid=$!
        bench_pids="$bench_pids $pid"
}
