/* SPDX-License-Identifier: MIT */
/*
 * hotpath.c: how long imapidled takes from a server's "* n EXISTS" to its
 * hook's exec, measured inside one machine against a scripted server, so no
 * real server's own delay is in the figure (bench/hotpath.sh runs it).
 *
 *     hotpath [-r ROUNDS] [-w WARMUP] [-g GAP_MS] DAEMON STAMP [STAMP2]
 *
 * It listens on 127.0.0.1, writes a configuration (one account, clear text,
 * debounce = 0, on_new = [STAMP, FILE]; lines from $HOTPATH_CONF_EXTRA are
 * added at the top level), starts DAEMON on it, and plays a minimal IMAP
 * server for the one connection: greeting, CAPABILITY (IMAP4rev1 IDLE),
 * LOGIN, EXAMINE (UIDVALIDITY, UIDNEXT), IDLE ("+ idling"), DONE, UID FETCH
 * and FETCH (the right UIDs: message n has UID n), NOOP, STATUS, CLOSE,
 * LOGOUT, OK to anything else harmless.  It answers whatever the daemon sends
 * whenever it sends it, so the measurement does not assume which commands
 * come between the EXISTS and the hook.
 *
 * Each round: once the connection idles, the previous hook has stamped and
 * the daemon logged its exit, and after a random pause of 0 to GAP_MS
 * milliseconds (default 300), it reads CLOCK_MONOTONIC, writes
 * "* n EXISTS", and waits for the stamp program's line (the hook's own
 * CLOCK_MONOTONIC, read first thing in its main()).  The difference is the
 * figure: the daemon's reaction, every round trip it makes to this server
 * first, and the exec of the hook.  WARMUP rounds (default 5) are run first
 * and not counted.  For reference it then measures the exec alone:
 * spawn_clean() (the daemon's own posix_spawn wrapper, src/shared/spawn-util.c)
 * of STAMP (and STAMP2) to its main(), ROUNDS times each.
 *
 * The daemon runs with -v, and logs for every hook it starts how long after
 * the read() that returned the EXISTS the hook was exec'd (posix_spawn()
 * returns once the child has exec'd): that is the figure inside the daemon,
 * without the loopback's delivery, the wake-up of the daemon or the hook's own
 * start-up (a static glibc program takes about 1 ms from exec to main() on
 * the project's virtual machine, most of it glibc's start-up).  Also counted:
 * rounds in which the daemon logged a DONE before the exec (the hot path
 * sends no command first: 0).
 *
 * Prints p50/p99/max in microseconds, and the commands the server read
 * between the EXISTS and the hook's main() in the first counted round.
 * Exit status 0, or 1 if a round timed out (5 s) or the daemon died.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "spawn-util.h"

#define ROUND_TIMEOUT_NS (5 * 1000000000LL)
#define START_TIMEOUT_NS (30 * 1000000000LL)
#define SETTLE_NS (2 * 1000000LL)       /* after the hook's exit is logged, before the next round */
#define GAP_MS_DEFAULT 300
#define CAPS "IMAP4rev1 IDLE"

typedef struct Server {
        int fd;                 /* the daemon's connection */
        char in[65536];
        size_t in_len;
        char out[65536];        /* responses, written at once after each read (as a server corks) */
        size_t out_len;
        uint32_t exists;        /* messages 1..exists, UID = sequence number */
        bool idling;
        char idle_tag[64];
        bool logged_out;
        struct {
                int64_t at;     /* CLOCK_MONOTONIC when read */
                char name[16];
        } cmds[16];             /* commands received since the last EXISTS, in order */
        size_t n_cmds;
} Server;

typedef struct Bench {
        Server srv;
        pid_t daemon;
        int log_rd;             /* the daemon's stderr */
        int log_fd;             /* a copy of it, in DIR/imapidled.log */
        char log_line[4096];
        size_t log_len;
        unsigned hook_exits;    /* "exited with status" lines seen */
        /* The daemon's own figure (it runs with -v): read() of the EXISTS to the hook's exec,
         * from "exec'd N us after its input was read", one per hook in order. */
        int64_t *inside;
        size_t n_inside, cap_inside;
        unsigned done_before_exec;      /* rounds in which a DONE was logged before the exec */
        bool round_exec_seen;
        int ino;                /* inotify on the stamp file */
        int stamp_fd;           /* read side of the stamp file */
        char stamp_buf[4096];
        size_t stamp_len;
        char dir[PATH_MAX];
} Bench;

static int64_t now_ns(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static _noreturn_ _printf_(1, 2) void die(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("hotpath: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(1);
}

static void flush_out(Server *s) {
        for (size_t off = 0; off < s->out_len;) {
                ssize_t w = write(s->fd, s->out + off, s->out_len - off);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        die("write to the daemon: %m");
                off += (size_t) w;
        }
        s->out_len = 0;
}

/* Queue a response; serve() and the rounds flush the queue with one write(). */
static void send_str(Server *s, const char *fmt, ...) _printf_(2, 3);
static void send_str(Server *s, const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(s->out + s->out_len, sizeof(s->out) - s->out_len, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= sizeof(s->out) - s->out_len)
                die("responses too long");
        s->out_len += (size_t) n;
}

static void trace_add(Server *s, const char *cmd) {
        if (s->n_cmds >= ELEMENTSOF(s->cmds))
                return;
        s->cmds[s->n_cmds].at = now_ns();
        (void) snprintf(s->cmds[s->n_cmds].name, sizeof(s->cmds[s->n_cmds].name), "%s", cmd);
        s->n_cmds++;
}

/* The commands read before 'before' (ns), comma-separated. */
static void trace_format(const Server *s, int64_t before, char *buf, size_t size) {
        size_t l = 0;

        buf[0] = 0;
        for (size_t i = 0; i < s->n_cmds && s->cmds[i].at < before && l < size; i++)
                l += (size_t) snprintf(buf + l, size - l, "%s%s", l ? ", " : "", s->cmds[i].name);
}

/* The sequence numbers in an RFC 3501 sequence-set such as "3:*" or "1,4:5";
 * '*' is the last message, and "n:*" names it even when n is above it
 * (§6.4.8).  UID n is message n here, so UIDs and numbers are the same. */
static void send_fetch(Server *s, const char *set, bool flags) {
        char *copy = strdup(set), *save = NULL;

        if (!copy)
                die("out of memory");
        for (char *part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
                char *colon = strchr(part, ':');
                uint32_t lo, hi;

                if (colon)
                        *colon = 0;
                lo = part[0] == '*' ? s->exists : (uint32_t) strtoul(part, NULL, 10);
                hi = !colon ? lo : colon[1] == '*' ? s->exists : (uint32_t) strtoul(colon + 1, NULL, 10);
                if (lo > hi) {
                        uint32_t t = lo;
                        lo = hi;
                        hi = t;
                }
                for (uint32_t i = MAX(lo, 1u); i <= MIN(hi, s->exists); i++)
                        send_str(s, "* %" PRIu32 " FETCH (UID %" PRIu32 "%s)\r\n", i, i, flags ? " FLAGS ()" : "");
        }
        free(copy);
}

/* One command line from the daemon. */
static void serve_line(Server *s, char *line) {
        char tag[64], cmd[32], sub[32] = "";
        char *rest;
        int n = 0;

        if (s->idling) {
                if (strcasecmp(line, "DONE") != 0)
                        die("expected DONE in IDLE, got \"%s\"", line);
                trace_add(s, "DONE");
                s->idling = false;
                send_str(s, "%s OK Idle completed\r\n", s->idle_tag);
                return;
        }
        if (sscanf(line, "%63s %31s%n", tag, cmd, &n) != 2)
                die("cannot parse \"%s\"", line);
        rest = line + n;
        while (*rest == ' ')
                rest++;
        if (strcasecmp(cmd, "UID") == 0) {
                if (sscanf(rest, "%31s%n", sub, &n) != 1)
                        die("cannot parse \"%s\"", line);
                rest += n;
                while (*rest == ' ')
                        rest++;
                trace_add(s, strcasecmp(sub, "FETCH") == 0 ? "UID FETCH" : "UID ?");
        } else
                trace_add(s, cmd);

        if (strcasecmp(cmd, "CAPABILITY") == 0)
                send_str(s, "* CAPABILITY " CAPS "\r\n%s OK done\r\n", tag);
        else if (strcasecmp(cmd, "LOGIN") == 0)
                send_str(s, "%s OK [CAPABILITY " CAPS "] Logged in\r\n", tag);
        else if (strcasecmp(cmd, "EXAMINE") == 0 || strcasecmp(cmd, "SELECT") == 0)
                send_str(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
                         "* %" PRIu32 " EXISTS\r\n* 0 RECENT\r\n"
                         "* OK [UIDVALIDITY 1] UIDs valid\r\n* OK [UIDNEXT %" PRIu32 "] Predicted next UID\r\n"
                         "%s OK [READ-ONLY] done\r\n", s->exists, s->exists + 1, tag);
        else if (strcasecmp(cmd, "IDLE") == 0) {
                (void) snprintf(s->idle_tag, sizeof(s->idle_tag), "%s", tag);
                s->idling = true;
                send_str(s, "+ idling\r\n");
        } else if (strcasecmp(cmd, "UID") == 0 && strcasecmp(sub, "FETCH") == 0) {
                char set[256];

                if (sscanf(rest, "%255s", set) != 1)
                        die("cannot parse \"%s\"", line);
                send_fetch(s, set, strcasestr(rest, "FLAGS") != NULL);
                send_str(s, "%s OK done\r\n", tag);
        } else if (strcasecmp(cmd, "FETCH") == 0) {
                char set[256];

                if (sscanf(rest, "%255s", set) != 1)
                        die("cannot parse \"%s\"", line);
                send_fetch(s, set, strcasestr(rest, "FLAGS") != NULL);
                send_str(s, "%s OK done\r\n", tag);
        } else if (strcasecmp(cmd, "STATUS") == 0)
                send_str(s, "* STATUS INBOX (MESSAGES %" PRIu32 " UIDNEXT %" PRIu32 " UIDVALIDITY 1)\r\n%s OK done\r\n",
                         s->exists, s->exists + 1, tag);
        else if (strcasecmp(cmd, "LOGOUT") == 0) {
                send_str(s, "* BYE bye\r\n%s OK done\r\n", tag);
                s->logged_out = true;
        } else if (strcasecmp(cmd, "NOOP") == 0 || strcasecmp(cmd, "CHECK") == 0 ||
                   strcasecmp(cmd, "CLOSE") == 0 || strcasecmp(cmd, "UNSELECT") == 0 ||
                   strcasecmp(cmd, "ENABLE") == 0 || strcasecmp(cmd, "ID") == 0)
                send_str(s, "%s OK done\r\n", tag);
        else
                send_str(s, "%s BAD not in this script\r\n", tag);
}

/* Read what the daemon sent and answer every complete line.  Returns false at EOF. */
static bool serve(Server *s) {
        ssize_t n = read(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len);
        char *p, *eol;

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return true;
        if (n <= 0)
                return false;
        s->in_len += (size_t) n;
        p = s->in;
        while ((eol = memmem(p, s->in_len - (size_t) (p - s->in), "\r\n", 2))) {
                *eol = 0;
                serve_line(s, p);
                p = eol + 2;
        }
        flush_out(s);
        s->in_len -= (size_t) (p - s->in);
        memmove(s->in, p, s->in_len);
        if (s->in_len == sizeof(s->in))
                die("line too long");
        return true;
}

/* Copy the daemon's log to DIR/imapidled.log and count the hook exits. */
static bool read_log(Bench *b) {
        ssize_t n = read(b->log_rd, b->log_line + b->log_len, sizeof(b->log_line) - 1 - b->log_len);
        char *p, *eol;

        if (n < 0 && errno == EINTR)
                return true;
        if (n <= 0)
                return false;
        (void) !write(b->log_fd, b->log_line + b->log_len, (size_t) n);
        b->log_len += (size_t) n;
        b->log_line[b->log_len] = 0;
        p = b->log_line;
        while ((eol = strchr(p, '\n'))) {
                *eol = 0;
                const char *x = strstr(p, "exec'd ");

                if (strstr(p, "]: exited with status"))
                        b->hook_exits++;
                if (x) {
                        if (b->n_inside == b->cap_inside) {
                                size_t cap = b->cap_inside ? b->cap_inside * 2 : 256;
                                int64_t *v = reallocarray(b->inside, cap, sizeof(int64_t));

                                if (!v)
                                        die("out of memory");
                                b->inside = v;
                                b->cap_inside = cap;
                        }
                        b->inside[b->n_inside++] = strtoll(x + 7, NULL, 10) * 1000;
                        b->round_exec_seen = true;
                }
                if (strstr(p, ": DONE (") && !b->round_exec_seen)
                        b->done_before_exec++;
                p = eol + 1;
        }
        b->log_len -= (size_t) (p - b->log_line);
        memmove(b->log_line, p, b->log_len);
        if (b->log_len == sizeof(b->log_line) - 1)
                b->log_len = 0;
        return true;
}

/* The next complete stamp line's CLOCK_MONOTONIC, or -1. */
static int64_t next_stamp(Bench *b) {
        char *eol;
        long long rt, mono;
        int64_t r = -1;

        for (;;) {
                ssize_t n;

                eol = memchr(b->stamp_buf, '\n', b->stamp_len);
                if (eol)
                        break;
                n = read(b->stamp_fd, b->stamp_buf + b->stamp_len, sizeof(b->stamp_buf) - b->stamp_len);
                if (n <= 0)
                        return -1;
                b->stamp_len += (size_t) n;
        }
        *eol = 0;
        if (sscanf(b->stamp_buf, "%lld %lld", &rt, &mono) == 2)
                r = mono;
        b->stamp_len -= (size_t) (eol + 1 - b->stamp_buf);
        memmove(b->stamp_buf, eol + 1, b->stamp_len);
        return r;
}

/* Wait for events until 'deadline' (ns) or until one of them arrived:
 * serve the daemon's commands, read its log, drain inotify.  Returns false
 * if the daemon or its connection went away. */
static bool pump(Bench *b, int64_t deadline) {
        struct pollfd p[3] = {
                { .fd = b->srv.fd, .events = POLLIN },
                { .fd = b->log_rd, .events = POLLIN },
                { .fd = b->ino, .events = POLLIN },
        };
        int64_t left = deadline - now_ns();
        int r;

        if (left < 0)
                left = 0;
        r = poll(p, 3, (int) MIN(left / 1000000 + 1, (int64_t) 1000));
        if (r < 0 && errno != EINTR)
                die("poll: %m");
        if (r <= 0)
                return true;
        if (p[0].revents && !serve(&b->srv))
                return false;
        if (p[1].revents && !read_log(b))
                return false;
        if (p[2].revents) {
                char ev[4096];

                (void) !read(b->ino, ev, sizeof(ev));
        }
        return true;
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

        return x < y ? -1 : x > y;
}

static int64_t pct(const int64_t *v, size_t n, unsigned p) {
        /* Nearest rank: the smallest value with at least p% of the values at or below it. */
        size_t k = (n * p + 99) / 100;

        return v[k > 0 ? k - 1 : 0];
}

/* Sorts v; prints p50, p99 and max; returns p50. */
static int64_t report(const char *what, int64_t *v, size_t n) {
        qsort(v, n, sizeof(*v), cmp_i64);
        printf("  %-50s p50 %9.1f  p99 %9.1f  max %9.1f µs  (n = %zu)\n", what, pct(v, n, 50) / 1e3,
               pct(v, n, 99) / 1e3, v[n - 1] / 1e3, n);
        return pct(v, n, 50);
}

/* spawn_clean() (the daemon's own posix_spawn wrapper) of each stamp program to its main(),
 * rounds times each after 10 unmeasured ones, the programs taking turns so that a drift of the
 * machine's speed affects them alike. */
static int64_t exec_floor(Bench *b, char **stamps, size_t n_stamps, unsigned rounds) {
        char file[PATH_MAX + 16], floor_id[] = "floor";
        int64_t *v = calloc((size_t) rounds * n_stamps, sizeof(int64_t)), first_p50 = 0;
        int fd;

        if (!v)
                die("out of memory");
        (void) snprintf(file, sizeof(file), "%s/floor", b->dir);
        fd = open(file, O_RDONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                die("%s: %m", file);
        for (unsigned i = 0; i < rounds + 10; i++)
                for (size_t k = 0; k < n_stamps; k++) {
                        char *argv[] = { stamps[k], file, floor_id, NULL };
                        char *envp[] = { NULL };
                        char line[256];
                        long long rt, mono;
                        ssize_t n;
                        int st;
                        pid_t pid;
                        int64_t t0 = now_ns();
                        int r = spawn_clean(argv, envp, (const int[3]) { -1, -1, -1 }, true, &pid);

                        if (r < 0)
                                die("spawning %s: %s", stamps[k], strerror(-r));
                        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                                die("%s failed", stamps[k]);
                        /* One line per run; the offset follows the appends. */
                        n = read(fd, line, sizeof(line) - 1);
                        if (n <= 0 || line[n - 1] != '\n')
                                die("no stamp from %s", stamps[k]);
                        line[n] = 0;
                        if (sscanf(line, "%lld %lld", &rt, &mono) != 2)
                                die("bad stamp \"%s\"", line);
                        if (i >= 10)
                                v[k * rounds + i - 10] = mono - t0;
                }
        close(fd);
        for (size_t k = 0; k < n_stamps; k++) {
                char label[PATH_MAX + 64];

                const char *base = strrchr(stamps[k], '/');

                (void) snprintf(label, sizeof(label), "exec alone: spawn -> main() of %s", base ? base + 1 : stamps[k]);
                if (k == 0)
                        first_p50 = report(label, v + k * rounds, rounds);
                else
                        (void) report(label, v + k * rounds, rounds);
        }
        free(v);
        return first_p50;
}

static void write_config(const Bench *b, const char *path, unsigned port, const char *stamp) {
        const char *extra = getenv("HOTPATH_CONF_EXTRA");
        FILE *f = fopen(path, "we");

        if (!f)
                die("%s: %m", path);
        fprintf(f, "# Written by bench/hotpath for one run.\ndebounce = 0;\n%s\n"
                "accounts = ( { name = \"hot\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                "  on_new = [\"%s\", \"%s/stamps\"]; } );\n",
                extra ? extra : "", port, stamp, b->dir);
        if (fchmod(fileno(f), 0600) < 0 || fclose(f) != 0)
                die("%s: %m", path);
}

static Bench bench = { .daemon = -1 };

static void kill_daemon(void) {
        if (bench.daemon > 0) {
                (void) kill(bench.daemon, SIGTERM);
                (void) waitpid(bench.daemon, NULL, 0);
                bench.daemon = -1;
        }
}

static void on_signal(int sig) {
        if (bench.daemon > 0)
                (void) kill(bench.daemon, SIGTERM);
        signal(sig, SIG_DFL);
        raise(sig);
}

int main(int argc, char *argv[]) {
        unsigned rounds = 200, warmup = 5, gap_ms = GAP_MS_DEFAULT;
        char *daemon, *stamp, *stamp2 = NULL;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        char conf[PATH_MAX + 32], file[PATH_MAX + 32], statedir[PATH_MAX + 32], logpath[PATH_MAX + 32];
        const char *tmp = getenv("TMPDIR");
        int lfd, pipefd[2], c, failed = 0;
        Bench *b = &bench;
        int64_t *lat, deadline;
        char first_trace[512] = "";

        while ((c = getopt(argc, argv, "r:w:g:")) >= 0)
                switch (c) {
                case 'r':
                        rounds = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'w':
                        warmup = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'g':
                        gap_ms = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                default:
                        return 2;
                }
        if (argc - optind < 2 || argc - optind > 3 || rounds == 0) {
                fprintf(stderr, "usage: hotpath [-r ROUNDS] [-w WARMUP] [-g GAP_MS] DAEMON STAMP [STAMP2]\n");
                return 2;
        }
        daemon = argv[optind];
        stamp = argv[optind + 1];
        if (argc - optind == 3)
                stamp2 = argv[optind + 2];

        (void) snprintf(b->dir, sizeof(b->dir), "%s/imapidled-hotpath-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
        if (!mkdtemp(b->dir))
                die("mkdtemp: %m");
        srandom((unsigned) now_ns());
        (void) signal(SIGINT, on_signal);
        (void) signal(SIGTERM, on_signal);
        (void) signal(SIGPIPE, SIG_IGN);

        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0 ||
            getsockname(lfd, (struct sockaddr *) &sa, &sl) < 0)
                die("listen: %m");

        (void) snprintf(conf, sizeof(conf), "%s/imapidled.conf", b->dir);
        (void) snprintf(file, sizeof(file), "%s/stamps", b->dir);
        (void) snprintf(statedir, sizeof(statedir), "STATE_DIRECTORY=%s/state", b->dir);
        (void) snprintf(logpath, sizeof(logpath), "%s/imapidled.log", b->dir);
        write_config(b, conf, ntohs(sa.sin_port), stamp);
        b->stamp_fd = open(file, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
        b->log_fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        b->ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (b->stamp_fd < 0 || b->log_fd < 0 || b->ino < 0 || inotify_add_watch(b->ino, file, IN_MODIFY) < 0)
                die("%s: %m", b->dir);

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                die("pipe: %m");
        {
                char opt_v[] = "-v", opt_c[] = "-c", path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
                char *dargv[] = { daemon, opt_v, opt_c, conf, NULL };
                char *denvp[] = { statedir, path_env, NULL };
                int r = spawn_clean(dargv, denvp, (const int[3]) { -1, -1, pipefd[1] }, false, &b->daemon);

                if (r < 0)
                        die("cannot start %s: %s", daemon, strerror(-r));
        }
        close(pipefd[1]);
        b->log_rd = pipefd[0];
        atexit(kill_daemon);

        {
                struct pollfd p = { .fd = lfd, .events = POLLIN };

                if (poll(&p, 1, 10000) <= 0)
                        die("the daemon did not connect within 10 s (log: %s)", logpath);
                b->srv.fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (b->srv.fd < 0)
                        die("accept: %m");
                close(lfd);
        }
        {
                int one = 1;

                /* Each response goes out at once, as from a server that writes whole
                 * responses: no Nagle delay waiting for the daemon's delayed ACK. */
                if (setsockopt(b->srv.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
                        die("TCP_NODELAY: %m");
        }
        send_str(&b->srv, "* OK [CAPABILITY " CAPS "] hotpath ready\r\n");
        flush_out(&b->srv);

        /* Until the first IDLE. */
        deadline = now_ns() + START_TIMEOUT_NS;
        while (!b->srv.idling) {
                if (now_ns() > deadline)
                        die("no IDLE within 30 s (log: %s)", logpath);
                if (!pump(b, deadline))
                        die("the daemon went away (log: %s)", logpath);
        }

        lat = calloc(rounds, sizeof(int64_t));
        if (!lat)
                die("out of memory");
        for (unsigned i = 0; i < warmup + rounds; i++) {
                int64_t t0, st = -1;

                /* Ready: idling, and the previous hook has exited (and was logged). */
                deadline = now_ns() + ROUND_TIMEOUT_NS;
                while (!b->srv.idling || b->hook_exits < i) {
                        if (now_ns() > deadline || !pump(b, deadline)) {
                                fprintf(stderr, "hotpath: round %u: not idle again, or no hook exit (log: %s)\n",
                                        i, logpath);
                                failed = 1;
                                goto done;
                        }
                }
                /* A random pause, so that the EXISTS come at times unrelated to the daemon's
                 * own timers (a timer coalesced to a grid would otherwise always be hit at
                 * the same phase). */
                deadline = now_ns() + SETTLE_NS + (gap_ms ? (int64_t) (random() % (gap_ms * 1000)) * 1000 : 0);
                while (now_ns() < deadline)
                        if (!pump(b, deadline))
                                break;
                if (!b->srv.idling)
                        die("the daemon left IDLE by itself in round %u", i);

                b->srv.exists++;
                b->srv.n_cmds = 0;
                send_str(&b->srv, "* %" PRIu32 " EXISTS\r\n", b->srv.exists);
                b->round_exec_seen = false;
                t0 = now_ns();
                flush_out(&b->srv);
                deadline = t0 + ROUND_TIMEOUT_NS;
                while ((st = next_stamp(b)) < 0) {
                        if (now_ns() > deadline || !pump(b, deadline)) {
                                fprintf(stderr, "hotpath: round %u: no hook within 5 s (log: %s)\n", i, logpath);
                                failed = 1;
                                goto done;
                        }
                }
                if (i == warmup)
                        trace_format(&b->srv, st, first_trace, sizeof(first_trace));
                if (i >= warmup)
                        lat[i - warmup] = st - t0;
        }
        /* The last hook's exit. */
        deadline = now_ns() + ROUND_TIMEOUT_NS;
        while (b->hook_exits < warmup + rounds && now_ns() < deadline && pump(b, deadline))
                ;
done:
        kill_daemon();
        if (failed)
                return 1;
        printf("hotpath: %u rounds (after %u warm-up), daemon %s, hook %s\n", rounds, warmup, daemon, stamp);
        printf("  commands the server read between the EXISTS and the hook's main(): %s\n",
               first_trace[0] ? first_trace : "none");
        printf("  rounds in which the daemon ended IDLE before it exec'd the hook: %u\n", b->done_before_exec);
        if (b->n_inside >= rounds)
                (void) report("in the daemon: read() of the EXISTS -> hook exec'd", b->inside + b->n_inside - rounds,
                              rounds);
        else
                printf("  the daemon logged %zu of %u exec times (it needs -v and a daemon that logs them)\n",
                       b->n_inside, rounds);
        {
                int64_t p50 = report("\"* n EXISTS\" written -> hook's main()", lat, rounds);
                int64_t exec_p50 = exec_floor(b, argv + optind + 1, stamp2 ? 2 : 1, rounds);

                printf("  %-50s p50 %9.1f µs (the first p50 less the exec's p50)\n", "so in the daemon, about",
                       (p50 - exec_p50) / 1e3);
        }
        free(lat);
        if (!getenv("HOTPATH_KEEP")) {
                char rm0[] = "rm", rm1[] = "-rf", path_env[] = "PATH=/usr/bin:/bin";
                char *rm[] = { rm0, rm1, b->dir, NULL }, *envp[] = { path_env, NULL };
                pid_t pid;

                if (spawn_clean(rm, envp, (const int[3]) { -1, -1, -1 }, false, &pid) >= 0)
                        (void) waitpid(pid, NULL, 0);
        } else
                printf("  kept %s\n", b->dir);
        return 0;
}
