/* SPDX-License-Identifier: MIT */
/*
 * faultproxy.c: the fault-injecting proxy of faultproxy.h.  The parent makes
 * the listening socket and a control socketpair and forks; the child runs
 * one poll() loop over the control socket, the listening socket and both
 * sockets of every connection, all non-blocking.  Each direction of a
 * connection has a buffer of bytes read but not yet written, capped by
 * reading only while it is below PROXY_BUF_MAX.  Faults act where bytes are
 * read (discard, cut, hold back) or, for drip, where they are written.
 *
 * Control lines are "[@ID ][once ]COMMAND[ ARG]"; the answer repeats "@ID "
 * if the line had it, so the C side can skip an answer left over by a test
 * that died between asking and reading.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "faultproxy.h"

#define PROXY_BUF_MAX (64U * 1024U)     /* per direction and connection */
#define PROXY_READ_SIZE (16U * 1024U)

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

typedef enum ProxyMode {
        MODE_PASS,
        MODE_BLACKHOLE,
        MODE_RST,               /* reset now; with rst_all later connections too */
        MODE_STALL_AFTER,
        MODE_DROP_AFTER_CLIENT,
        MODE_HALF_LINE,
        MODE_DRIP,
        _MODE_MAX,
} ProxyMode;

typedef struct Conn {
        int cfd, sfd;           /* client and server sockets; -EBADF once closed */
        bool connecting;        /* the non-blocking connect() on sfd is in progress */
        Buf up, down;           /* read, not yet written: client→server, server→client */
        bool up_eof, down_eof;  /* FIN read from the client, from the server */
        bool up_shut, down_shut; /* FIN passed on to the server, to the client */
        bool silent;            /* faulted: every byte read from now on is discarded */
        bool dropped;           /* drop-after-client fired: server→client bytes discarded */
        bool stall_eol;         /* stall-after matched: forward to the end of the line, then silent */
        bool half_wait;         /* half-line armed mid-line: skip to the next line start */
        bool at_bol;            /* the last byte queued to the client was LF (or none was) */
        Buf line;               /* half-line: the line collected so far */
        char tail[TH_PROXY_PATTERN_MAX]; /* the last pattern-1 bytes seen, for matches across reads */
        size_t tail_len;
        uint64_t drip_last;     /* CLOCK_MONOTONIC ms of the last dripped byte */
        bool first;             /* the first connection accepted: its dripped bytes are counted */
} Conn;

typedef struct Proxy {
        int listen_fd, ctl_fd;
        uint16_t upstream;
        ProxyMode mode;
        bool once;              /* armed mode: back to pass after the first trigger */
        bool rst_all;
        char pattern[TH_PROXY_PATTERN_MAX];
        size_t pattern_len;
        unsigned drip_ms;
        unsigned accepted, triggered;
        unsigned dripped;       /* bytes dripped to the first connection accepted */
        Conn *conns[TH_PROXY_CONN_MAX];
        size_t n_conns;
        Buf ctl_in;
        bool ctl_skip;          /* dropping the rest of an overlong control line */
} Proxy;

struct ThProxy {
        pid_t pid;
        pid_t owner;            /* the process that forked the child */
        int ctl_fd;
        uint16_t port;
        uint64_t seq;
};

static uint64_t now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

/* ---- the child: connections ------------------------------------------------------------------- */

static void close_fd(int *fd, bool reset) {
        if (*fd < 0)
                return;
        if (reset) {
                /* SO_LINGER {1, 0}: close() sends an RST instead of a FIN. */
                struct linger l = { .l_onoff = 1, .l_linger = 0 };
                (void) setsockopt(*fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        }
        (void) close(*fd);
        *fd = -EBADF;
}

static Conn *conn_free(Conn *c, bool reset) {
        if (!c)
                return NULL;
        close_fd(&c->cfd, reset);
        close_fd(&c->sfd, reset);
        buf_done(&c->up);
        buf_done(&c->down);
        buf_done(&c->line);
        return mfree(c);
}

/* Queue bytes for the client, keeping track of line starts for half-line. */
static int down_queue(Conn *c, const char *d, size_t n) {
        if (n == 0)
                return 0;
        c->at_bol = d[n - 1] == '\n';
        return buf_append(&c->down, d, n, 0);
}

/* Search the pattern in the bytes seen before (c->tail) followed by d.  On a
 * match, *ret_end is the offset in d just past it; else the tail keeps the
 * last pattern_len - 1 bytes. */
static bool stream_find(Conn *c, const Proxy *p, const char *d, size_t n, size_t *ret_end) {
        char tmp[TH_PROXY_PATTERN_MAX + PROXY_READ_SIZE];
        size_t keep = p->pattern_len - 1, total;
        const char *hit;

        memcpy(tmp, c->tail, c->tail_len);
        memcpy(tmp + c->tail_len, d, n);
        total = c->tail_len + n;
        hit = memmem(tmp, total, p->pattern, p->pattern_len);
        if (hit) {
                /* The tail is shorter than the pattern, so the match ends in d. */
                *ret_end = (size_t) (hit - tmp) + p->pattern_len - c->tail_len;
                c->tail_len = 0;
                return true;
        }
        keep = MIN(keep, total);
        memmove(c->tail, tmp + total - keep, keep);
        c->tail_len = keep;
        return false;
}

static int proxy_set_mode(Proxy *p, ProxyMode mode);

/* An armed fault fired on some connection. */
static int proxy_trigger(Proxy *p) {
        p->triggered++;
        return p->once ? proxy_set_mode(p, MODE_PASS) : 0;
}

/* Server→client bytes, mode stall-after. */
static int stall_down(Proxy *p, Conn *c, const char *d, size_t n) {
        bool ends_line = p->pattern[p->pattern_len - 1] == '\n';
        size_t end;
        int r;

        if (!stream_find(c, p, d, n, &end))
                return down_queue(c, d, n);
        r = down_queue(c, d, end);
        if (r < 0)
                return r;
        if (ends_line)
                c->silent = true;
        else {
                const char *lf = memchr(d + end, '\n', n - end);

                if (lf) {
                        r = down_queue(c, d + end, (size_t) (lf - (d + end)) + 1);
                        c->silent = true;
                } else {
                        r = down_queue(c, d + end, n - end);
                        c->stall_eol = true;
                }
                if (r < 0)
                        return r;
        }
        return proxy_trigger(p);
}

/* Server→client bytes, mode half-line. */
static int half_down(Proxy *p, Conn *c, const char *d, size_t n) {
        const char *lf;
        size_t k;
        int r;

        if (c->half_wait) {
                lf = memchr(d, '\n', n);
                if (!lf)
                        return down_queue(c, d, n);
                k = (size_t) (lf - d) + 1;
                r = down_queue(c, d, k);
                if (r < 0)
                        return r;
                c->half_wait = false;
                d += k;
                n -= k;
        }
        if (n == 0)
                return 0;
        lf = memchr(d, '\n', n);
        k = lf ? (size_t) (lf - d) + 1 : n;
        k = MIN(k, TH_PROXY_HALF_LINE_MAX - c->line.len);
        r = buf_append(&c->line, d, k, 0);
        if (r < 0)
                return r;
        if (!lf && c->line.len < TH_PROXY_HALF_LINE_MAX)
                return 0;
        /* The line is complete (or hit the cap): half of it, then silence. */
        r = down_queue(c, c->line.data, c->line.len / 2);
        buf_done(&c->line);
        c->silent = true;
        if (r < 0)
                return r;
        return proxy_trigger(p);
}

/* Client→server bytes, mode drop-after-client: everything goes on to the
 * server; the match only stops the other direction. */
static int drop_up(Proxy *p, Conn *c, const char *d, size_t n) {
        size_t end;
        int r;

        r = buf_append(&c->up, d, n, 0);
        if (r < 0 || c->dropped || !stream_find(c, p, d, n, &end))
                return r;
        c->dropped = true;
        return proxy_trigger(p);
}

static int plain_down(Proxy *p, Conn *c, const char *d, size_t n) {
        (void) p;
        return down_queue(c, d, n);
}

static int plain_up(Proxy *p, Conn *c, const char *d, size_t n) {
        (void) p;
        return buf_append(&c->up, d, n, 0);
}

typedef int (*DataFunc)(Proxy *p, Conn *c, const char *d, size_t n);

typedef enum ArgKind {
        ARG_NONE,
        ARG_PATTERN,    /* the rest of the line, with \r \n \\ escapes */
        ARG_MS,         /* drip interval */
        ARG_ALL,        /* "all" or nothing */
} ArgKind;

typedef struct ModeInfo {
        const char *name;       /* the control command */
        ArgKind arg;
        bool armed;             /* fires per connection; "once" allowed */
        DataFunc down, up;      /* what bytes read from the server, the client go through */
} ModeInfo;

static const ModeInfo modes[_MODE_MAX] = {
        [MODE_PASS] = { "pass", ARG_NONE, false, plain_down, plain_up },
        [MODE_BLACKHOLE] = { "blackhole", ARG_NONE, false, plain_down, plain_up },
        [MODE_RST] = { "rst", ARG_ALL, false, plain_down, plain_up },
        [MODE_STALL_AFTER] = { "stall-after", ARG_PATTERN, true, stall_down, plain_up },
        [MODE_DROP_AFTER_CLIENT] = { "drop-after-client", ARG_PATTERN, true, plain_down, drop_up },
        [MODE_HALF_LINE] = { "half-line", ARG_NONE, true, half_down, plain_up },
        [MODE_DRIP] = { "drip", ARG_MS, false, plain_down, plain_up },
};

/* Bytes read from the server. */
static int conn_from_server(Proxy *p, Conn *c, const char *d, size_t n) {
        if (c->silent || c->dropped)
                return 0;
        if (c->stall_eol) {
                const char *lf = memchr(d, '\n', n);

                if (!lf)
                        return down_queue(c, d, n);
                c->stall_eol = false;
                c->silent = true;
                return down_queue(c, d, (size_t) (lf - d) + 1);
        }
        return modes[p->mode].down(p, c, d, n);
}

/* Bytes read from the client. */
static int conn_from_client(Proxy *p, Conn *c, const char *d, size_t n) {
        if (c->silent || c->sfd < 0)
                return 0;
        return modes[p->mode].up(p, c, d, n);
}

static bool conn_faulted(const Conn *c) {
        return c->silent || c->dropped || c->stall_eol;
}

/* Make c silent now and throw away what it still had to send. */
static void conn_blackhole(Conn *c) {
        c->silent = true;
        c->stall_eol = false;
        buf_clear(&c->up);
        buf_clear(&c->down);
        buf_done(&c->line);
}

static void proxy_remove(Proxy *p, size_t i, bool reset) {
        conn_free(p->conns[i], reset);
        p->conns[i] = p->conns[--p->n_conns];
        p->conns[p->n_conns] = NULL;
}

static int proxy_set_mode(Proxy *p, ProxyMode mode) {
        int r = 0;

        if (mode == MODE_RST) {
                while (p->n_conns > 0)
                        proxy_remove(p, p->n_conns - 1, true);
                p->mode = p->rst_all ? MODE_RST : MODE_PASS;
                return 0;
        }
        for (size_t i = 0; i < p->n_conns; i++) {
                Conn *c = p->conns[i];

                c->tail_len = 0;
                c->drip_last = 0;       /* a new drip starts with one byte at once */
                if (mode == MODE_BLACKHOLE) {
                        conn_blackhole(c);
                        continue;
                }
                /* A half-line being collected that did not fire goes out as it is. */
                if (c->line.len > 0 && !conn_faulted(c))
                        r = MIN(r, down_queue(c, c->line.data, c->line.len));
                buf_done(&c->line);
                c->half_wait = mode == MODE_HALF_LINE && !c->at_bol;
        }
        p->mode = mode;
        if (!modes[mode].armed)
                p->once = false;
        return r;
}

static void set_nodelay(int fd) {
        int one = 1;

        /* Pass on the peers' segmentation (and let drip send single bytes). */
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void proxy_accept(Proxy *p) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                .sin_port = htons(p->upstream),
        };
        _cleanup_close_ int cfd = -EBADF;
        Conn *c;

        cfd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0)
                return;
        p->accepted++;
        if (p->mode == MODE_RST) {
                close_fd(&cfd, true);
                return;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return;         /* the client gets a FIN */
        *c = (Conn) { .cfd = TAKE_FD(cfd), .sfd = -EBADF, .at_bol = true, .first = p->accepted == 1 };
        set_nodelay(c->cfd);
        if (p->mode == MODE_BLACKHOLE)
                c->silent = true;       /* and no upstream connection at all */
        else {
                c->sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (c->sfd < 0) {
                        conn_free(c, false);
                        return;
                }
                set_nodelay(c->sfd);
                if (connect(c->sfd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                        if (errno != EINPROGRESS) {
                                conn_free(c, false);
                                return;
                        }
                        c->connecting = true;
                }
        }
        p->conns[p->n_conns++] = c;
}

/* Write what buf holds (at most max bytes) to fd.  0 or -errno. */
static int flush(int fd, Buf *b, size_t max) {
        ssize_t k;

        if (b->len == 0)
                return 0;
        k = send(fd, b->data, MIN(b->len, max), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0)
                return IN_SET(errno, EAGAIN, EINTR) ? 0 : -errno;
        memmove(b->data, b->data + k, b->len - (size_t) k);
        b->len -= (size_t) k;
        return 0;
}

/* Read from fd into the connection.  > 0 more may come, 0 EOF, -errno. */
static int conn_read(Proxy *p, Conn *c, bool from_server) {
        char tmp[PROXY_READ_SIZE];
        ssize_t n;

        n = recv(from_server ? c->sfd : c->cfd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n < 0)
                return IN_SET(errno, EAGAIN, EINTR) ? 1 : -errno;
        if (n == 0)
                return 0;
        if (from_server)
                return conn_from_server(p, c, tmp, (size_t) n) < 0 ? -ENOMEM : 1;
        return conn_from_client(p, c, tmp, (size_t) n) < 0 ? -ENOMEM : 1;
}

/* poll() events wanted on each socket of c. */
static short client_events(const Proxy *p, const Conn *c) {
        short e = 0;

        if (!c->up_eof && (c->silent || c->up.len < PROXY_BUF_MAX))
                e |= POLLIN;
        if (c->down.len > 0 && p->mode != MODE_DRIP)
                e |= POLLOUT;
        return e;
}

static short server_events(const Conn *c) {
        short e = 0;

        if (c->sfd < 0)
                return 0;
        if (c->connecting)
                return POLLOUT;
        if (!c->down_eof && (c->silent || c->dropped || c->down.len < PROXY_BUF_MAX))
                e |= POLLIN;
        if (c->up.len > 0)
                e |= POLLOUT;
        return e;
}

/* Handle the poll() results of one connection.  Returns false if the
 * connection is finished; *ret_reset then says whether to reset it. */
static bool conn_step(Proxy *p, Conn *c, short crev, short srev, bool *ret_reset) {
        int r;

        *ret_reset = false;
        if (c->sfd >= 0 && c->connecting && srev) {
                int err = 0;
                socklen_t l = sizeof(err);

                if (getsockopt(c->sfd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err != 0)
                        return false;   /* upstream unreachable: the client gets a FIN */
                c->connecting = false;
                srev = 0;
        }

        if (crev & (POLLIN | POLLERR | POLLHUP)) {
                r = client_events(p, c) & POLLIN ? conn_read(p, c, false) : -EPIPE;
                if (r == 0)
                        c->up_eof = true;
                else if (r < 0) {
                        *ret_reset = !conn_faulted(c);
                        return false;
                }
        }
        if (c->sfd >= 0 && !c->connecting && (srev & (POLLIN | POLLERR | POLLHUP))) {
                r = server_events(c) & POLLIN ? conn_read(p, c, true) : -EPIPE;
                if (r == 0 || (r < 0 && conn_faulted(c))) {
                        c->down_eof = true;
                        /* A faulted connection keeps the client waiting, and
                         * has no more use for the server. */
                        if (conn_faulted(c))
                                close_fd(&c->sfd, false);
                } else if (r < 0) {
                        *ret_reset = true;
                        return false;
                }
        }

        if (c->sfd >= 0 && !c->connecting && (srev & POLLOUT) && flush(c->sfd, &c->up, SIZE_MAX) < 0) {
                *ret_reset = !conn_faulted(c);
                return false;
        }
        if ((crev & POLLOUT) && p->mode != MODE_DRIP && flush(c->cfd, &c->down, SIZE_MAX) < 0) {
                *ret_reset = !conn_faulted(c);
                return false;
        }
        if (c->sfd < 0)
                buf_clear(&c->up);

        /* Pass on FINs once the bytes before them are out. */
        if (c->up_eof && c->up.len == 0 && !c->up_shut && c->sfd >= 0 && !c->connecting) {
                (void) shutdown(c->sfd, SHUT_WR);
                c->up_shut = true;
        }
        if (c->down_eof && c->down.len == 0 && !c->down_shut && !conn_faulted(c)) {
                (void) shutdown(c->cfd, SHUT_WR);
                c->down_shut = true;
        }
        if (c->up_eof && c->up.len == 0 && (conn_faulted(c) || c->down_shut))
                return false;
        return true;
}

/* Drip: one byte per interval to each client that has some waiting.
 * Returns the poll() timeout until the next one is due. */
static int proxy_drip(Proxy *p) {
        uint64_t now = now_ms(), next = UINT64_MAX;

        if (p->mode != MODE_DRIP)
                return -1;
        for (size_t i = 0; i < p->n_conns; i++) {
                Conn *c = p->conns[i];

                if (c->down.len == 0)
                        continue;
                if (now >= c->drip_last + p->drip_ms) {
                        size_t before = c->down.len;

                        (void) flush(c->cfd, &c->down, 1);      /* errors show up in poll() */
                        if (c->down.len < before) {
                                c->drip_last = now;
                                if (c->first)
                                        p->dripped++;
                        }
                }
                if (c->down.len > 0)
                        next = MIN(next, c->drip_last + p->drip_ms);
        }
        if (next == UINT64_MAX)
                return -1;
        /* At least 1 ms, so that a byte the kernel did not take is retried
         * without spinning. */
        return (int) MAX(MIN(next > now ? next - now : 0, (uint64_t) INT_MAX), (uint64_t) 1);
}

/* ---- the child: control lines ----------------------------------------------------------------- */

/* Undo the \r \n \\ escapes of a pattern into p->pattern. */
static const char *parse_pattern(Proxy *p, const char *s) {
        size_t n = 0;

        for (; *s; s++) {
                char ch = *s;

                if (ch == '\\') {
                        s++;
                        if (*s == 'r')
                                ch = '\r';
                        else if (*s == 'n')
                                ch = '\n';
                        else if (*s == '\\')
                                ch = '\\';
                        else
                                return "bad escape (only \\r \\n \\\\)";
                }
                if (n >= TH_PROXY_PATTERN_MAX)
                        return "pattern too long";
                p->pattern[n++] = ch;
        }
        if (n == 0)
                return "empty pattern";
        p->pattern_len = n;
        return NULL;
}

static const char *parse_ms(Proxy *p, const char *s) {
        unsigned long v;
        char *end;

        if (!s || *s < '0' || *s > '9')
                return "interval is not a number";
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0' || v == 0 || v > TH_PROXY_DRIP_MAX_MS)
                return "interval out of range 1.." STRINGIFY(TH_PROXY_DRIP_MAX_MS);
        p->drip_ms = (unsigned) v;
        return NULL;
}

/* Run one command (without id and LF); writes the answer into reply. */
static void proxy_command(Proxy *p, char *line, char *reply, size_t n) {
        const ModeInfo *m = NULL;
        const char *err = NULL;
        bool once = false;
        ProxyMode mode = _MODE_MAX;
        char *arg;

        if (strncmp(line, "once ", 5) == 0) {
                once = true;
                line += 5;
        }
        arg = strchr(line, ' ');
        if (arg)
                *arg++ = '\0';

        if (!once && (streq(line, "count") || streq(line, "triggered") || streq(line, "dripped"))) {
                if (arg)
                        err = "no argument expected";
                else
                        (void) snprintf(reply, n, "%u", streq(line, "count") ? p->accepted :
                                                        streq(line, "triggered") ? p->triggered : p->dripped);
                goto done;
        }
        for (size_t i = 0; i < ELEMENTSOF(modes); i++)
                if (streq(line, modes[i].name)) {
                        mode = (ProxyMode) i;
                        m = &modes[i];
                }
        if (!m) {
                err = "unknown command";
                goto done;
        }
        if (once && !m->armed) {
                err = "once works only with stall-after, drop-after-client, half-line";
                goto done;
        }
        /* Parse into scratch fields first: a bad argument changes nothing. */
        {
                Proxy scratch = { .rst_all = false };

                if (m->arg == ARG_NONE && arg)
                        err = "no argument expected";
                else if (m->arg == ARG_PATTERN)
                        err = arg ? parse_pattern(&scratch, arg) : "pattern missing";
                else if (m->arg == ARG_MS)
                        err = parse_ms(&scratch, arg);
                else if (m->arg == ARG_ALL && arg && !streq(arg, "all"))
                        err = "only \"all\" may follow rst";
                if (err)
                        goto done;
                memcpy(p->pattern, scratch.pattern, scratch.pattern_len);
                p->pattern_len = scratch.pattern_len;
                if (m->arg == ARG_MS)
                        p->drip_ms = scratch.drip_ms;
                p->rst_all = m->arg == ARG_ALL && arg;
        }
        if (proxy_set_mode(p, mode) < 0)
                err = "out of memory";
        p->once = once;
done:
        if (err)
                (void) snprintf(reply, n, "error %s", err);
        else if (!reply[0])
                (void) snprintf(reply, n, "ok");
}

static int write_all(int fd, const void *p, size_t n) {
        const char *s = p;

        while (n > 0) {
                ssize_t k = write(fd, s, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? -errno : -EIO;
                s += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Split a leading "@ID " off line into id ("@ID " or ""); returns the rest. */
static char *split_id(char *line, char id[static 32]) {
        size_t l;

        id[0] = '\0';
        if (line[0] != '@')
                return line;
        l = strcspn(line, " ");
        if (l + 2 > 32)
                return line;
        memcpy(id, line, l);
        id[l] = ' ';
        id[l + 1] = '\0';
        return line + l + (line[l] == ' ');
}

static int answer(Proxy *p, const char *id, const char *reply) {
        char out[32 + TH_PROXY_LINE_MAX + 1];
        int m;

        m = snprintf(out, sizeof(out), "%s%s\n", id, reply);
        if (m < 0)
                return -EIO;
        return write_all(p->ctl_fd, out, MIN((size_t) m, sizeof(out) - 1));
}

/* Read from the control socket and answer every complete line.  Returns 0,
 * or < 0 when the parent is gone. */
static int proxy_control(Proxy *p) {
        ssize_t k;
        int r;

        r = buf_reserve(&p->ctl_in, TH_PROXY_LINE_MAX, 0);
        if (r < 0)
                return r;
        k = read(p->ctl_fd, p->ctl_in.data + p->ctl_in.len, TH_PROXY_LINE_MAX);
        if (k < 0)
                return IN_SET(errno, EAGAIN, EINTR) ? 0 : -errno;
        if (k == 0)
                return -EPIPE;
        p->ctl_in.len += (size_t) k;

        for (;;) {
                char reply[TH_PROXY_LINE_MAX], id[32], *line = p->ctl_in.data;
                char *lf = memchr(line, '\n', p->ctl_in.len);
                size_t len;

                if (!lf) {
                        if (p->ctl_in.len < TH_PROXY_LINE_MAX)
                                return 0;
                        /* No LF within the limit: answer now, drop the rest of the line. */
                        line[p->ctl_in.len] = '\0';   /* Buf keeps a spare byte */
                        (void) split_id(line, id);
                        r = p->ctl_skip ? 0 : answer(p, id, "error line too long");
                        p->ctl_skip = true;
                        buf_clear(&p->ctl_in);
                        return r;
                }
                len = (size_t) (lf - line) + 1;
                *lf = '\0';
                if (lf > line && lf[-1] == '\r')
                        lf[-1] = '\0';
                r = 0;
                if (p->ctl_skip)
                        p->ctl_skip = false;    /* the end of a line already answered */
                else {
                        line = split_id(line, id);
                        reply[0] = '\0';
                        if (len > TH_PROXY_LINE_MAX)
                                (void) snprintf(reply, sizeof(reply), "error line too long");
                        else
                                proxy_command(p, line, reply, sizeof(reply));
                        r = answer(p, id, reply);
                }
                if (r < 0)
                        return r;
                memmove(p->ctl_in.data, p->ctl_in.data + len, p->ctl_in.len - len);
                p->ctl_in.len -= len;
        }
}

_noreturn_ static void child_run(int listen_fd, int ctl_fd, uint16_t upstream, pid_t parent) {
        Proxy p = {
                .listen_fd = listen_fd,
                .ctl_fd = ctl_fd,
                .upstream = upstream,
                .mode = MODE_PASS,
                .ctl_in = BUF_INIT,
        };
        struct sigaction sa = { .sa_handler = SIG_DFL };

        /* Die with the test process even if it is killed outright. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(EXIT_FAILURE);
        (void) sigaction(SIGPIPE, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);
        (void) sigaction(SIGINT, &sa, NULL);

        for (;;) {
                struct pollfd fds[2 + 2 * TH_PROXY_CONN_MAX];
                size_t n_polled = p.n_conns;
                int timeout, k;

                timeout = proxy_drip(&p);
                fds[0] = (struct pollfd) { .fd = p.ctl_fd, .events = POLLIN };
                fds[1] = (struct pollfd) { .fd = p.n_conns < TH_PROXY_CONN_MAX ? p.listen_fd : -1,
                                           .events = POLLIN };
                for (size_t i = 0; i < n_polled; i++) {
                        Conn *c = p.conns[i];

                        fds[2 + 2 * i] = (struct pollfd) { .fd = c->cfd, .events = client_events(&p, c) };
                        fds[3 + 2 * i] = (struct pollfd) { .fd = c->sfd, .events = server_events(c) };
                }
                k = poll(fds, 2 + 2 * n_polled, timeout);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        _exit(EXIT_FAILURE);
                }
                if (fds[0].revents) {
                        if (proxy_control(&p) < 0)
                                _exit(EXIT_SUCCESS);
                        continue;       /* the connections may have changed: poll afresh */
                }
                /* Backwards, so that removing connection i (the last one
                 * moves into its place) leaves the ones still to do alone. */
                for (size_t i = n_polled; i > 0; i--) {
                        bool reset;

                        if (!conn_step(&p, p.conns[i - 1], fds[2 * i].revents, fds[2 * i + 1].revents, &reset))
                                proxy_remove(&p, i - 1, reset);
                }
                if (fds[1].revents)
                        proxy_accept(&p);
        }
}

/* ---- the parent --------------------------------------------------------------------------------- */

/* Proxies still running, each stopped at exit by the process that started
 * it (forked children inherit the table and the atexit handler). */
#define TH_PROXY_REGISTRY_MAX 16
static ThProxy *registry[TH_PROXY_REGISTRY_MAX];

static void registry_atexit(void) {
        pid_t self = getpid();

        for (size_t i = 0; i < ELEMENTSOF(registry); i++)
                if (registry[i] && registry[i]->owner == self)
                        th_proxy_stop(registry[i]);
}

static int registry_add(ThProxy *p) {
        static bool registered = false;

        if (!registered) {
                if (atexit(registry_atexit) != 0)
                        return -ENOMEM;
                registered = true;
        }
        for (size_t i = 0; i < ELEMENTSOF(registry); i++)
                if (!registry[i]) {
                        registry[i] = p;
                        return 0;
                }
        return -EMFILE;
}

static void registry_remove(ThProxy *p) {
        for (size_t i = 0; i < ELEMENTSOF(registry); i++)
                if (registry[i] == p)
                        registry[i] = NULL;
}

static void close_from(int keep_a, int keep_b) {
        int lo = MIN(keep_a, keep_b), hi = MAX(keep_a, keep_b);

        if (lo > 3)
                (void) close_range(3, (unsigned) lo - 1, 0);
        if (hi > lo + 1)
                (void) close_range((unsigned) lo + 1, (unsigned) hi - 1, 0);
        (void) close_range((unsigned) hi + 1, ~0U, 0);
}

int th_proxy_start(uint16_t upstream_port, ThProxy **ret) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        _cleanup_close_ int listen_fd = -EBADF, child_ctl = -EBADF;
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        socklen_t sl = sizeof(sa);
        pid_t parent = getpid();
        int sv[2], r;

        assert_return(ret, -EINVAL);
        assert_return(upstream_port > 0, -EINVAL);

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        *p = (ThProxy) { .pid = -1, .owner = parent, .ctl_fd = -EBADF };

        listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (listen_fd < 0)
                return -errno;
        if (bind(listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(listen_fd, 64) < 0 ||
            getsockname(listen_fd, (struct sockaddr *) &sa, &sl) < 0)
                return -errno;
        p->port = ntohs(sa.sin_port);

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        p->ctl_fd = sv[0];
        child_ctl = sv[1];

        r = registry_add(p);
        if (r < 0)
                return r;

        p->pid = fork();
        if (p->pid < 0)
                return -errno;
        if (p->pid == 0) {
                close_from(listen_fd, child_ctl);
                child_run(listen_fd, child_ctl, upstream_port, parent);
        }
        *ret = TAKE_PTR(p);
        return 0;
}

uint16_t th_proxy_port(const ThProxy *p) {
        return p ? p->port : 0;
}

pid_t th_proxy_pid(const ThProxy *p) {
        return p ? p->pid : -1;
}

/* Read one LF-terminated line from fd into buf (NUL-terminated, LF removed)
 * before the deadline. */
static int read_line(int fd, char *buf, size_t n, uint64_t deadline) {
        size_t len = 0;

        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                uint64_t now = now_ms();
                ssize_t k;
                int r;

                r = poll(&pfd, 1, now >= deadline ? 0 : (int) MIN(deadline - now, (uint64_t) INT_MAX));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                /* One byte at a time: the next answer must stay in the socket. */
                k = read(fd, buf + len, 1);
                if (k < 0 && errno == EINTR)
                        continue;
                /* ECONNRESET: the child died with our question unread. */
                if (k < 0)
                        return errno == ECONNRESET ? -EPIPE : -errno;
                if (k == 0)
                        return -EPIPE;
                if (buf[len] == '\n') {
                        buf[len] = '\0';
                        return 0;
                }
                if (len + 2 < n)
                        len++;
        }
}

static int send_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                /* MSG_NOSIGNAL: a dead child is -EPIPE, not SIGPIPE. */
                ssize_t k = send(fd, s, n, MSG_NOSIGNAL);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errno == ECONNRESET ? -EPIPE : -errno;
                s += k;
                n -= (size_t) k;
        }
        return 0;
}

int th_proxy_command(ThProxy *p, const char *line, char *reply, size_t reply_size) {
        char in[TH_PROXY_LINE_MAX + 64], id[32];
        uint64_t deadline = now_ms() + TH_PROXY_REPLY_TIMEOUT_MS;
        size_t idlen;
        int r;

        assert_return(p && p->ctl_fd >= 0, -EINVAL);
        assert_return(line && !strchr(line, '\n'), -EINVAL);

        (void) snprintf(id, sizeof(id), "@%" PRIu64 " ", ++p->seq);
        idlen = strlen(id);
        /* Any length: the child answers an overlong line with an error. */
        r = send_all(p->ctl_fd, id, idlen);
        if (r >= 0)
                r = send_all(p->ctl_fd, line, strlen(line));
        if (r >= 0)
                r = send_all(p->ctl_fd, "\n", 1);
        if (r < 0)
                return r;
        /* Skip answers to earlier commands whose asker died before reading. */
        do {
                r = read_line(p->ctl_fd, in, sizeof(in), deadline);
                if (r < 0)
                        return r;
        } while (strncmp(in, id, idlen) != 0);

        if (reply && reply_size > 0)
                (void) snprintf(reply, reply_size, "%s", in + idlen);
        return strncmp(in + idlen, "error", 5) == 0 ? -EINVAL : 0;
}

static int command_fmt(ThProxy *p, const char *verb, const char *pattern) {
        char line[TH_PROXY_LINE_MAX], *q = line;
        size_t n;

        assert_return(pattern, -EINVAL);
        n = strlen(pattern);
        assert_return(n > 0 && n <= TH_PROXY_PATTERN_MAX, -EINVAL);

        /* verb + ' ' + pattern with every byte escaped at worst twice. */
        if (strlen(verb) + 1 + 2 * n + 1 > sizeof(line))
                return -E2BIG;
        q = stpcpy(q, verb);
        *q++ = ' ';
        for (const char *s = pattern; *s; s++) {
                if (*s == '\r' || *s == '\n' || *s == '\\') {
                        *q++ = '\\';
                        *q++ = *s == '\r' ? 'r' : *s == '\n' ? 'n' : '\\';
                } else
                        *q++ = *s;
        }
        *q = '\0';
        return th_proxy_command(p, line, NULL, 0);
}

int th_proxy_pass(ThProxy *p) {
        return th_proxy_command(p, "pass", NULL, 0);
}

int th_proxy_blackhole(ThProxy *p) {
        return th_proxy_command(p, "blackhole", NULL, 0);
}

int th_proxy_rst(ThProxy *p, bool later_too) {
        return th_proxy_command(p, later_too ? "rst all" : "rst", NULL, 0);
}

int th_proxy_stall_after(ThProxy *p, const char *pattern, bool once) {
        return command_fmt(p, once ? "once stall-after" : "stall-after", pattern);
}

int th_proxy_drop_after_client(ThProxy *p, const char *pattern, bool once) {
        return command_fmt(p, once ? "once drop-after-client" : "drop-after-client", pattern);
}

int th_proxy_half_line(ThProxy *p, bool once) {
        return th_proxy_command(p, once ? "once half-line" : "half-line", NULL, 0);
}

int th_proxy_drip(ThProxy *p, unsigned interval_ms) {
        char line[32];

        (void) snprintf(line, sizeof(line), "drip %u", interval_ms);
        return th_proxy_command(p, line, NULL, 0);
}

static int query(ThProxy *p, const char *what, unsigned *ret) {
        char reply[64];
        unsigned long v;
        char *end;
        int r;

        assert_return(ret, -EINVAL);
        r = th_proxy_command(p, what, reply, sizeof(reply));
        if (r < 0)
                return r;
        errno = 0;
        v = strtoul(reply, &end, 10);
        if (errno != 0 || end == reply || *end != '\0' || v > UINT_MAX)
                return -EBADMSG;
        *ret = (unsigned) v;
        return 0;
}

int th_proxy_count(ThProxy *p, unsigned *ret_accepted) {
        return query(p, "count", ret_accepted);
}

int th_proxy_triggered(ThProxy *p, unsigned *ret_triggered) {
        return query(p, "triggered", ret_triggered);
}

int th_proxy_dripped(ThProxy *p, unsigned *ret_bytes) {
        return query(p, "dripped", ret_bytes);
}

static int wait_for(ThProxy *p, const char *what, unsigned n, unsigned timeout_ms) {
        uint64_t deadline = now_ms() + timeout_ms;

        for (;;) {
                unsigned v;
                int r;

                r = query(p, what, &v);
                if (r < 0)
                        return r;
                if (v >= n)
                        return 0;
                if (now_ms() >= deadline)
                        return -ETIMEDOUT;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 5 * 1000 * 1000 }, NULL);
        }
}

int th_proxy_wait_count(ThProxy *p, unsigned n, unsigned timeout_ms) {
        return wait_for(p, "count", n, timeout_ms);
}

int th_proxy_wait_triggered(ThProxy *p, unsigned n, unsigned timeout_ms) {
        return wait_for(p, "triggered", n, timeout_ms);
}

ThProxy *th_proxy_stop(ThProxy *p) {
        if (!p)
                return NULL;
        registry_remove(p);
        if (p->pid > 0) {
                (void) kill(p->pid, SIGKILL);
                /* ECHILD when a forked test stops its runner's proxy: nothing to reap here. */
                while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        if (p->ctl_fd >= 0)
                (void) close(p->ctl_fd);
        return mfree(p);
}
