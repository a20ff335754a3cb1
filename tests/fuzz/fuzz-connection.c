/* SPDX-License-Identifier: MIT */
/*
 * fuzz-connection.c: libFuzzer target for the daemon's connection with its modes
 * (src/daemon/connection.c, mode-idle.c, mode-poll.c, fetch.c, lister.c) and what it drives
 * (watch.c, scheduler.c, timers.c), against a server that is the fuzzer's input
 * (docs/SECURITY.md, Fuzzing).
 *
 * The connection is the daemon's own code on a real sd-event loop and a real loopback TCP
 * connection (plain: tls "none", or "starttls", whose handshake then fails against the
 * script); this program is the server end.  Four link-time seams (--wrap, Makefile.am) and
 * nothing in the daemon's sources:
 *   - the clock: sd_event_now() reads a fake clock, and the time sources created with
 *     sd_event_add_time() and moved with sd_event_source_set_time() are kept here with their
 *     fake due time (the real source is parked in the far future); the program advances the
 *     clock and fires what is due, in order of due time.  So a 29-minute re-IDLE costs nothing
 *     and a run is the same every time;
 *   - getrandom() gives zeros: the tags (AAAAAA0, AAAAAA1, ...) and the backoff's jitter are
 *     the same every run;
 *   - hook_run()/hook_free(): a hook is recorded and checked instead of spawned; it ends when
 *     the program says so;
 *   - connect(): TCP_NODELAY on the client's socket, so that what it writes in a step arrives
 *     in that step.
 *
 * Input: two header bytes, then a program of ops.  Header byte 0: bits 0-1 the mode (idle,
 * poll, notify, notify), bit 2 mailbox patterns (the poller or notifier is the lister), bit 3
 * the lister's owner replaces the connection when a listing comes, bit 4 STARTTLS, bit 5 hooks
 * want UIDs, bit 6 hooks want details (and so UIDs), bit 7 startup_sync.  Byte 1: bits 0-1 how
 * many more mailboxes besides INBOX, bit 2 debounce 2 s, bit 3 a restored state (the next four
 * bytes), bit 4 idle_interval 100 s (else 1740), bit 5 max_concurrent_hooks 1.
 * An op byte's low nibble is the op, its high nibble 'a' an argument:
 *   0x0 SEND: the next byte n, then n bytes the server writes (0x01 k in them: the tag of the
 *       k-th last command the client sent, 0 the last)
 *   0x1 LINE: canned server line lines[a], tags as above from the next byte
 *   0x2 OK: "<tag> OK done" for the a-th last command
 *   0x3 TIME: the clock advances by advance_usec[a] (0: to the next due time source)
 *   0x4 EOF: the server shuts down its sending side (a >= 8: resets the connection)
 *   0x5 HOOKS: the oldest running hook ends (a = 0: all of them)
 *   0x6 STOP: connection_stop()
 *   0x7 PROBE: connection_probe()
 *   0x8 RECONNECT: connection_reconnect() after advance_usec[a]
 *   else nothing
 *
 * Checked after every step (any failure aborts):
 *   - the loop settles: no source keeps firing without input or time (a spin);
 *   - the client sends nothing before the greeting on a transport, nothing after LOGOUT, and
 *     nothing at all once the lister's owner said it replaces the connection; no NUL and no
 *     bare LF outside literals (a line break from the server that reached a command);
 *   - every state change is reported (on_state's 'old' is the state reported last), and every
 *     state connection.h gives a deadline has one (the shared timer entry is armed); WAITING,
 *     STOPPED and UNSUITED have closed the transport (the server reads end of stream);
 *   - a hook run names a watched mailbox and a known event; its numbers (IMAPIDLED_COUNT,
 *     EXISTS, UIDVALIDITY, UIDNEXT, UIDS, DETAILS) are ones the server sent (or one above, for
 *     a next UID), never made up; no two runs of one command for the account at once, never
 *     more than max_concurrent_hooks; what a watch persists (watch_known()) likewise;
 *   - a listing hands over only valid UTF-8 names, at most the lister's bound;
 *   - no crash, leak or undefined behaviour (the sanitizers), and every fake hook freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "cfg.h"
#include "connection.h"
#include "fuzz.h"
#include "hook.h"
#include "log.h"
#include "macro.h"
#include "scheduler.h"
#include "timers.h"
#include "watch.h"

#define CHECK(x)                                                                                  \
        do {                                                                                      \
                if (!(x)) {                                                                       \
                        fprintf(stderr, "fuzz-connection: %s:%d: invariant failed: %s\n", __FILE__, \
                                __LINE__, #x);                                                    \
                        abort();                                                                  \
                }                                                                                 \
        } while (0)

static int trace = -1;

static bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Well-formed UTF-8 (RFC 3629 §4): no overlong form, surrogate or code point above U+10FFFF. */
static bool utf8_is_valid(const char *s) {
        const unsigned char *p = (const unsigned char *) s;

        while (*p) {
                unsigned n, cp;

                if (*p < 0x80) {
                        p++;
                        continue;
                }
                if ((*p & 0xe0) == 0xc0) {
                        n = 1;
                        cp = *p & 0x1fu;
                } else if ((*p & 0xf0) == 0xe0) {
                        n = 2;
                        cp = *p & 0x0fu;
                } else if ((*p & 0xf8) == 0xf0) {
                        n = 3;
                        cp = *p & 0x07u;
                } else
                        return false;
                for (unsigned i = 1; i <= n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (p[i] & 0x3fu);
                }
                if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                p += n + 1;
        }
        return true;
}
#define TRACE(...)                                                                                \
        do {                                                                                      \
                if (trace > 0)                                                                    \
                        fprintf(stderr, __VA_ARGS__);                                             \
        } while (0)

/* ---- the fake clock (--wrap) ------------------------------------------------------------------ */

/* Where a parked real time source waits: never reached while a run lasts. */
#define PARKED (UINT64_C(1) << 62)
/* More firings than this in one TIME step: a timer that keeps setting itself; the clock jumps. */
#define MAX_FIRINGS 64

typedef struct FakeTimer {
        sd_event_source *s;     /* our reference */
        uint64_t at;            /* fake due time */
} FakeTimer;

static uint64_t fake_now;
static FakeTimer *ftimers;
static size_t n_ftimers, cap_ftimers;

int __real_sd_event_add_time(sd_event *e, sd_event_source **s, clockid_t clock, uint64_t usec, uint64_t accuracy,
                             sd_event_time_handler_t callback, void *userdata);
int __real_sd_event_source_set_time(sd_event_source *s, uint64_t usec);
int __wrap_sd_event_now(sd_event *e, clockid_t clock, uint64_t *usec);
int __wrap_sd_event_add_time(sd_event *e, sd_event_source **s, clockid_t clock, uint64_t usec, uint64_t accuracy,
                             sd_event_time_handler_t callback, void *userdata);
int __wrap_sd_event_source_set_time(sd_event_source *s, uint64_t usec);
ssize_t __wrap_getrandom(void *buf, size_t n, unsigned flags);
int __real_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_hook_run(sd_event *e, const HookSpec *spec, HookDoneFn done, void *userdata, Hook **ret);
Hook *__wrap_hook_free(Hook *h);

int __wrap_sd_event_now(sd_event *e, clockid_t clock, uint64_t *usec) {
        (void) e;
        CHECK(clock == CLOCK_MONOTONIC || clock == CLOCK_BOOTTIME);
        *usec = fake_now;
        return 0;
}

static FakeTimer *ftimer_find(sd_event_source *s) {
        for (size_t i = 0; i < n_ftimers; i++)
                if (ftimers[i].s == s)
                        return &ftimers[i];
        return NULL;
}

int __wrap_sd_event_add_time(sd_event *e, sd_event_source **s, clockid_t clock, uint64_t usec, uint64_t accuracy,
                             sd_event_time_handler_t callback, void *userdata) {
        int r;

        CHECK(s);       /* a floating source could not be tracked; the daemon keeps each one */
        r = __real_sd_event_add_time(e, s, clock, PARKED, accuracy, callback, userdata);
        if (r < 0)
                return r;
        if (n_ftimers == cap_ftimers) {
                cap_ftimers = cap_ftimers ? 2 * cap_ftimers : 16;
                ftimers = realloc(ftimers, cap_ftimers * sizeof(FakeTimer));
                CHECK(ftimers);
        }
        ftimers[n_ftimers++] = (FakeTimer) { sd_event_source_ref(*s), usec };
        return r;
}

int __wrap_sd_event_source_set_time(sd_event_source *s, uint64_t usec) {
        FakeTimer *t = ftimer_find(s);

        CHECK(t);
        t->at = usec;
        return __real_sd_event_source_set_time(s, PARKED);
}

ssize_t __wrap_getrandom(void *buf, size_t n, unsigned flags) {
        (void) flags;
        memset(buf, 0, n);
        return (ssize_t) n;
}

/* No Nagle on the client's socket (nor on ours, accept_new()): a small write behind one not yet
 * acknowledged would wait for the peer's delayed ACK, and what the client sent in a step would
 * show in a later one. */
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len) {
        int one = 1;

        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return __real_connect(fd, sa, len);
}

static bool ftimer_enabled(const FakeTimer *t) {
        int enabled = SD_EVENT_OFF;

        return sd_event_source_get_enabled(t->s, &enabled) >= 0 && enabled != SD_EVENT_OFF;
}

/* The enabled source due soonest, or NULL. */
static FakeTimer *ftimer_next(void) {
        FakeTimer *best = NULL;

        for (size_t i = 0; i < n_ftimers; i++)
                if (ftimer_enabled(&ftimers[i]) && (!best || ftimers[i].at < best->at))
                        best = &ftimers[i];
        return best;
}

static void ftimers_release(void) {
        for (size_t i = 0; i < n_ftimers; i++)
                sd_event_source_unref(ftimers[i].s);
        ftimers = mfree(ftimers);
        n_ftimers = cap_ftimers = 0;
}

/* ---- the fake hooks (--wrap) ------------------------------------------------------------------ */

struct Hook {
        HookDoneFn done;
        void *userdata;
        char *key;              /* the single-flight key: the command */
        bool finished, floating;
        struct Hook *next;
};

static struct Hook *hooks;
static unsigned max_hooks;

/* The numbers the server sent (and the restored state's): hooks may say no other. */
#define MAX_NUMBERS 4096
static uint64_t numbers[MAX_NUMBERS];
static size_t n_numbers;
static uint64_t numbers_sum, numbers_max, server_bytes;
static uint64_t digit_run;
static unsigned digit_len;

static void number_add(uint64_t v) {
        numbers_sum = numbers_sum + v < numbers_sum ? UINT64_MAX : numbers_sum + v;
        numbers_max = MAX(numbers_max, v);
        for (size_t i = 0; i < n_numbers; i++)
                if (numbers[i] == v)
                        return;
        if (n_numbers < MAX_NUMBERS)
                numbers[n_numbers++] = v;
}

static void numbers_scan(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                server_bytes++;
                if (p[i] >= '0' && p[i] <= '9') {
                        if (digit_len < 20)
                                digit_run = digit_run * 10 + (p[i] - '0');
                        digit_len++;
                        continue;
                }
                if (digit_len > 0 && digit_len < 20)
                        number_add(digit_run);
                digit_run = 0;
                digit_len = 0;
        }
}

static bool number_known(uint64_t v) {
        for (size_t i = 0; i < n_numbers; i++)
                if (numbers[i] == v)
                        return true;
        return false;
}

/* A UID or UIDVALIDITY the server named, or one above one it named (the next UID). */
static bool uid_known(uint64_t v, bool next_ok) {
        return v > 0 && (number_known(v) || (next_ok && number_known(v - 1)));
}

static uint64_t parse_u64(const char *s, const char **end) {
        char *e;
        uint64_t v;

        CHECK(*s >= '0' && *s <= '9');
        errno = 0;
        v = strtoull(s, &e, 10);
        CHECK(errno == 0);
        *end = e;
        return v;
}

static void check_uid_set(const char *s) {
        while (*s) {
                const char *e;
                uint64_t lo = parse_u64(s, &e), hi = lo;

                CHECK(uid_known(lo, true));
                if (*e == ':') {
                        if (e[1] == '*')
                                e += 2;
                        else {
                                hi = parse_u64(e + 1, &e);
                                CHECK(uid_known(hi, true) && lo <= hi);
                        }
                }
                CHECK(*e == 0 || *e == ',');
                s = *e ? e + 1 : e;
        }
}

static const CfgAccount *account;
static Watch *watches[4];
static size_t n_watches;

static void check_env(const char *e) {
        const char *end;
        uint64_t v;

        if (startswith(e, "IMAPIDLED_COUNT=")) {
                v = parse_u64(e + strlen("IMAPIDLED_COUNT="), &end);
                CHECK(*end == 0 && v <= numbers_sum + server_bytes);
        } else if (startswith(e, "IMAPIDLED_EXISTS=")) {
                v = parse_u64(e + strlen("IMAPIDLED_EXISTS="), &end);
                CHECK(*end == 0 && v <= numbers_max);
        } else if (startswith(e, "IMAPIDLED_UIDVALIDITY=")) {
                v = parse_u64(e + strlen("IMAPIDLED_UIDVALIDITY="), &end);
                CHECK(*end == 0 && uid_known(v, false));
        } else if (startswith(e, "IMAPIDLED_UIDNEXT=")) {
                v = parse_u64(e + strlen("IMAPIDLED_UIDNEXT="), &end);
                CHECK(*end == 0 && uid_known(v, true));
        } else if (startswith(e, "IMAPIDLED_UIDS="))
                check_uid_set(e + strlen("IMAPIDLED_UIDS="));
        else if (startswith(e, "IMAPIDLED_REASON=")) {
                const char *r = e + strlen("IMAPIDLED_REASON=");

                CHECK(streq(r, "startup") || streq(r, "live") || streq(r, "catchup"));
        } else if (startswith(e, "IMAPIDLED_DETAILS=")) {
                v = parse_u64(e + strlen("IMAPIDLED_DETAILS="), &end);
                CHECK(*end == 0 && v <= account->details_max);
        }
}

int __wrap_hook_run(sd_event *e, const HookSpec *spec, HookDoneFn done, void *userdata, Hook **ret) {
        struct Hook *h;
        unsigned running = 0;
        bool watched = false;
        char key[256];

        (void) e;
        CHECK(spec && done && spec->argv && spec->argv[0]);
        CHECK(spec->account && streq(spec->account, account->name));
        CHECK(spec->event && (streq(spec->event, "new") || streq(spec->event, "expunge") ||
                              streq(spec->event, "flags") || streq(spec->event, "resync")));
        for (size_t i = 0; i < n_watches; i++)
                watched = watched || (spec->mailbox && streq(spec->mailbox, watch_mailbox(watches[i])));
        CHECK(watched);
        for (char *const *x = spec->extra_env; x && *x; x++)
                check_env(*x);
        (void) snprintf(key, sizeof(key), "%s", spec->argv[0]);
        for (h = hooks; h; h = h->next)
                if (!h->finished) {
                        running++;
                        CHECK(!streq(h->key, key));     /* single flight per account and command */
                }
        CHECK(running < max_hooks);
        TRACE("hook %s %s %s\n", key, spec->mailbox, spec->event);

        h = calloc(1, sizeof(*h));
        CHECK(h);
        h->key = strdup(key);
        CHECK(h->key);
        h->done = done;
        h->userdata = userdata;
        h->floating = !ret;
        h->next = hooks;
        hooks = h;
        if (ret)
                *ret = h;
        return 0;
}

static bool hook_alive(const struct Hook *h) {
        for (const struct Hook *i = hooks; i; i = i->next)
                if (i == h)
                        return true;
        return false;
}

Hook *__wrap_hook_free(Hook *h) {
        struct Hook **p;

        if (!h)
                return NULL;
        for (p = &hooks; *p && *p != h; p = &(*p)->next)
                ;
        CHECK(*p);      /* only hooks made here are ever freed (no secret command runs) */
        *p = h->next;
        free(h->key);
        free(h);
        return NULL;
}

/* The oldest running hook ends (all of them: all = true). */
static void hooks_finish(bool all) {
        for (;;) {
                struct Hook *h = NULL;

                for (struct Hook *i = hooks; i; i = i->next)
                        if (!i->finished)
                                h = i;  /* the list is newest first: the last one is the oldest */
                if (!h)
                        return;
                h->finished = true;
                h->done(h, 0, false, h->userdata);
                if (hook_alive(h) && h->floating)
                        (void) __wrap_hook_free(h);
                if (!all)
                        return;
        }
}

/* ---- the server end ----------------------------------------------------------------------------- */

typedef struct Transport {
        int fd;                 /* the accepted socket, -1: none */
        bool greeted;           /* the server sent its first byte */
        bool eof;               /* the client closed */
        bool logout;            /* the client sent LOGOUT */
        bool starttls;          /* the client sent STARTTLS: binary from here on */
        /* The client's output scanner: the current line (its start, for the tag) and a literal. */
        char line[128];
        size_t line_len;
        bool cr;
        uint64_t literal;
} Transport;

static int listener = -1;
static uint16_t port;
static Transport tr = { .fd = -1 };
static char tags[8][32];
static unsigned n_tags;
static bool replaced;

static void listener_setup(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(sa);

        if (listener >= 0)
                return;
        listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        CHECK(listener >= 0);
        CHECK(bind(listener, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        CHECK(listen(listener, 64) == 0);
        CHECK(getsockname(listener, (struct sockaddr *) &sa, &l) == 0);
        port = ntohs(sa.sin_port);
}

/* Close with a reset: no TIME_WAIT left behind by thousands of runs. */
static void close_rst(int fd) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };

        (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        (void) close(fd);
}

static void transport_close(void) {
        if (tr.fd >= 0)
                close_rst(tr.fd);
        tr = (Transport) { .fd = -1 };
}

static void tag_seen(const char *line, size_t n) {
        size_t len = 0;

        while (len < n && len < sizeof(tags[0]) - 1 && line[len] != ' ')
                len++;
        if (len == n || len == 0 || (len == 4 && strncmp(line, "DONE", 4) == 0))
                return;
        memmove(tags[1], tags[0], sizeof(tags) - sizeof(tags[0]));
        memcpy(tags[0], line, len);
        tags[0][len] = 0;
        n_tags = MIN(n_tags + 1, (unsigned) ELEMENTSOF(tags));
        if (n - len - 1 >= 6 && strncasecmp(line + len + 1, "LOGOUT", 6) == 0)
                tr.logout = true;
        if (n - len - 1 >= 8 && strncasecmp(line + len + 1, "STARTTLS", 8) == 0)
                tr.starttls = true;
}

/* What the client wrote: checked byte by byte (see the top of the file). */
static void client_bytes(const uint8_t *p, size_t n) {
        CHECK(tr.greeted);      /* nothing before the greeting */
        CHECK(!tr.logout);      /* nothing after LOGOUT */
        CHECK(!replaced);       /* the lister's owner replaces the connection: it sends nothing more */
        for (size_t i = 0; i < n && !tr.starttls; i++) {
                uint8_t b = p[i];

                if (tr.literal > 0) {
                        tr.literal--;
                        continue;
                }
                CHECK(b != 0);
                if (b == '\n') {
                        size_t l = tr.line_len;

                        CHECK(tr.cr);   /* no bare LF: a line break the server smuggled in */
                        tag_seen(tr.line, MIN(l, sizeof(tr.line)));
                        /* A literal announced at the end of the line: {n} or {n+} (RFC 7888). */
                        if (l > 2 && l <= sizeof(tr.line) && tr.line[l - 1] == '}') {
                                size_t j = l - 1;
                                uint64_t v = 0, m = 1;

                                if (tr.line[j - 1] == '+')
                                        j--;
                                while (j > 0 && tr.line[j - 1] >= '0' && tr.line[j - 1] <= '9') {
                                        v += m * (uint64_t) (tr.line[j - 1] - '0');
                                        m *= 10;
                                        j--;
                                }
                                if (j > 0 && tr.line[j - 1] == '{')
                                        tr.literal = v;
                        }
                        tr.line_len = 0;
                        tr.cr = false;
                        continue;
                }
                if (tr.cr) {
                        /* A CR not followed by LF ends nothing: only CRLF does. */
                        if (tr.line_len < sizeof(tr.line))
                                tr.line[tr.line_len] = '\r';
                        tr.line_len++;
                }
                tr.cr = b == '\r';
                if (!tr.cr) {
                        if (tr.line_len < sizeof(tr.line))
                                tr.line[tr.line_len] = (char) b;
                        tr.line_len++;
                }
        }
}

static void drain_client(void) {
        uint8_t buf[16384];

        while (tr.fd >= 0 && !tr.eof) {
                ssize_t n = recv(tr.fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;
                if (n <= 0) {
                        tr.eof = true;  /* an orderly close, or our own reset */
                        return;
                }
                TRACE("C: %.*s", (int) n, (const char *) buf);
                client_bytes(buf, (size_t) n);
        }
}

static void accept_new(void) {
        for (;;) {
                int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (fd < 0) {
                        CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED);
                        return;
                }
                drain_client();
                transport_close();
                CHECK(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int) { 1 }, sizeof(int)) == 0);
                tr.fd = fd;
                replaced = false;
                n_tags = 0;
                TRACE("-- accepted\n");
        }
}

static void server_write(const uint8_t *p, size_t n) {
        if (tr.fd < 0 || n == 0)
                return;
        TRACE("S: %.*s", (int) n, (const char *) p);
        tr.greeted = true;
        numbers_scan(p, n);
        (void) send(tr.fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* ---- the connection under test ------------------------------------------------------------------ */

static sd_event *event;
static Connection *conn;
static Timers *timers;
static ConnectionState last_state;
static bool replace_on_list;

static void on_state(Connection *c, ConnectionState old, ConnectionState st, void *userdata) {
        (void) c;
        (void) userdata;
        CHECK(old == last_state);       /* every change is reported */
        CHECK((unsigned) st < _CONNECTION_STATE_MAX);
        last_state = st;
        TRACE("-- %s\n", connection_state_to_string(st));
}

static int on_list(Connection *c, const ConnectionListed *l, size_t n, const ConnectionRenamed *renamed,
                   size_t n_renamed, void *userdata) {
        (void) c;
        (void) userdata;
        CHECK(n <= 1000 && n_renamed <= 32);
        for (size_t i = 0; i < n; i++)
                CHECK(l[i].name && l[i].name[0] && utf8_is_valid(l[i].name));
        for (size_t i = 0; i < n_renamed; i++)
                CHECK(renamed[i].from && renamed[i].to && utf8_is_valid(renamed[i].from) &&
                      utf8_is_valid(renamed[i].to));
        if (replace_on_list && n > 0) {
                replaced = true;
                return 1;
        }
        return 0;
}

static void on_changed(Watch *w, void *userdata) {
        uint32_t uidvalidity, uidnext, exists;
        uint64_t modseq;

        (void) userdata;
        if (!watch_known(w, &uidvalidity, &uidnext, &exists, &modseq))
                return;
        CHECK(uidvalidity == 0 || uid_known(uidvalidity, false));
        CHECK(uidnext == 0 || uid_known(uidnext, true));
        CHECK(exists <= numbers_max);
        CHECK(modseq == 0 || number_known(modseq));
}

/* States connection.h gives a deadline (phase_timeouts[] in connection.c). */
static bool state_has_deadline(ConnectionState s) {
        return !IN_SET(s, CONNECTION_WAITING, CONNECTION_SECRET, CONNECTION_QUEUED, CONNECTION_RESTING,
                       CONNECTION_IDLING, CONNECTION_STOPPED, CONNECTION_UNSUITED);
}

/* Run the loop until nothing is left to do at this time, firing the time sources that are due. */
static void settle(void) {
        unsigned turns = 0;

        for (;;) {
                FakeTimer *t;
                int r;

                r = sd_event_run(event, 0);
                CHECK(r >= 0);
                if (r > 0) {
                        CHECK(++turns < 100000);        /* a source that keeps firing: a spin */
                        continue;
                }
                /* A loopback connect completes at once, but its event may come a moment later. */
                if (conn && connection_state(conn) == CONNECTION_CONNECTING && turns < 100) {
                        turns++;
                        if (sd_event_run(event, 10000) > 0)
                                continue;
                }
                t = ftimer_next();
                if (!t || t->at > fake_now)
                        break;
                CHECK(++turns < 100000);
                CHECK(__real_sd_event_source_set_time(t->s, 1) >= 0);
        }
        accept_new();
        drain_client();
}

static void check_state(void) {
        ConnectionState s = connection_state(conn);

        CHECK(s == last_state);
        if (state_has_deadline(s))
                CHECK(timers_count(timers) == 1);
        if (IN_SET(s, CONNECTION_WAITING, CONNECTION_STOPPED, CONNECTION_UNSUITED))
                CHECK(tr.fd < 0 || tr.eof);     /* the transport is closed */
        if (s == CONNECTION_WAITING)
                CHECK(connection_retry_at(conn) > 0);
}

static void advance(uint64_t target) {
        unsigned firings = 0;
        FakeTimer *t;

        while ((t = ftimer_next()) && t->at <= target && firings++ < MAX_FIRINGS) {
                fake_now = MAX(fake_now, t->at);
                settle();
        }
        fake_now = MAX(fake_now, target);
        settle();
}

static const uint64_t advance_usec[16] = {
        0, 1000, 100 * 1000, USEC_PER_SEC, 2 * USEC_PER_SEC, 10 * USEC_PER_SEC, 30 * USEC_PER_SEC,
        60 * USEC_PER_SEC, 61 * USEC_PER_SEC, 100 * USEC_PER_SEC, 125 * USEC_PER_SEC,
        180 * USEC_PER_SEC, 300 * USEC_PER_SEC, 600 * USEC_PER_SEC, 1740 * USEC_PER_SEC,
        3600 * USEC_PER_SEC,
};

/* Canned lines, so that the fuzzer reaches the deep states soon; \1 is a tag (see the top). */
static const char *const lines[16] = {
        "* OK [CAPABILITY IMAP4rev1 IDLE LITERAL+ ENABLE CONDSTORE QRESYNC NOTIFY STARTTLS] ready\r\n",
        "* CAPABILITY IMAP4rev1 IDLE NOTIFY LITERAL+ ENABLE CONDSTORE QRESYNC\r\n",
        "\1 OK [READ-ONLY] done\r\n",
        "+ idling\r\n",
        "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n* OK [UIDNEXT 4] x\r\n* OK [HIGHESTMODSEQ 9] x\r\n",
        "* 5 EXISTS\r\n",
        "* 2 EXPUNGE\r\n",
        "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 3)\r\n* 3 FETCH (UID 4 FLAGS (\\Seen))\r\n",
        "* VANISHED 1:2\r\n",
        "* STATUS INBOX (MESSAGES 4 UIDNEXT 6 UIDVALIDITY 7 HIGHESTMODSEQ 12)\r\n",
        "* STATUS \"Lists/dev\" (MESSAGES 2 UIDNEXT 3 UIDVALIDITY 8)\r\n",
        "* LIST () \"/\" \"Lists/dev\"\r\n* LIST (\\Noselect) \"/\" Lists\r\n",
        "* LIST () \"/\" \"Lists/new\" (\"OLDNAME\" (\"Lists/old\"))\r\n",
        "\1 NO [NOTIFICATIONOVERFLOW] no\r\n",
        "* BYE going away\r\n",
        ("* 4 FETCH (UID 5 ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"hi\" NIL NIL NIL NIL NIL NIL NIL "
         "\"<x@y>\"))\r\n"),
};

/* Expand \1 k into the tag of the k-th last command sent. */
static void send_expanded(const uint8_t *p, size_t n, uint8_t k) {
        uint8_t out[1024];
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                if (p[i] == 1) {
                        const char *tag = n_tags > 0 ? tags[(i + 1 < n && p[i + 1] != ' ' ? p[++i] : k) % n_tags]
                                                     : "X";
                        size_t l = strlen(tag);

                        if (o + l > sizeof(out))
                                break;
                        memcpy(out + o, tag, l);
                        o += l;
                        continue;
                }
                if (o == sizeof(out))
                        break;
                out[o++] = p[i];
        }
        server_write(out, o);
}

static int make_config(uint8_t h0, uint8_t h1, Cfg **ret) {
        static const char *const extra[] = { "\"Lists/dev\"", "\"Archive\"", "\"Spam & Co\"" };
        const char *mode_off = (h0 & 3) == 0 || (h0 & 3) == 1 ? "off" : "auto";
        char text[2048], boxes[256] = "\"INBOX\"";
        _cleanup_free_ char *err = NULL;
        int r;

        for (unsigned i = 0; i < (h1 & 3u); i++) {
                strncat(boxes, ", ", sizeof(boxes) - strlen(boxes) - 1);
                strncat(boxes, extra[i], sizeof(boxes) - strlen(boxes) - 1);
        }
        if (h0 & 4)
                strncat(boxes, ", \"Lists/*\"", sizeof(boxes) - strlen(boxes) - 1);
        (void) snprintf(text, sizeof(text),
                        "idle_interval = %s; debounce = %s; max_concurrent_hooks = %s;\n"
                        "accounts = ( { name = \"fz\"; host = \"127.0.0.1\"; port = %u; tls = \"%s\";\n"
                        "  allow_plaintext = true; username = \"user\"; password = \"p\\\"w\";\n"
                        "  startup_sync = %s; details_max = 3; imap_notify = \"%s\";\n"
                        "  mailboxes = ( %s );\n"
                        "  on_new = { command = [\"new\", \"%%m\"]; uids = %s; details = %s; };\n"
                        "  on_expunge = [\"gone\"]; on_flags = [\"flags\"]; } );\n",
                        h1 & 16 ? "100" : "1740", h1 & 4 ? "2" : "0", h1 & 32 ? "1" : "4", (unsigned) port,
                        h0 & 16 ? "starttls" : "none", h0 & 128 ? "true" : "false", mode_off, boxes,
                        h0 & (32 | 64) ? "true" : "false", h0 & 64 ? "true" : "false");
        r = cfg_load_string(text, "/fuzz/fuzz.conf", ret, &err);
        if (r < 0)
                fprintf(stderr, "fuzz-connection: %s\n%s", err ? err : "?", text);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(cfg_freep) Cfg *cfg = NULL;
        static ConnTlsCtx *tls;
        Sched *sched = NULL;
        size_t i = 2;
        uint8_t h0, h1;
        int r;

        if (trace < 0) {
                trace = getenv("FUZZ_TRACE") ? 1 : 0;
                log_set_max_level(trace ? LOG_DEBUG : LOG_CRIT);
                listener_setup();
        }
        if (size < 2)
                return 0;
        h0 = data[0];
        h1 = data[1];
        if ((h0 & 16) && !tls)
                CHECK(conn_tls_ctx_new(&(ConnTlsParams) {}, &tls) >= 0);
        CHECK(make_config(h0, h1, &cfg) >= 0);
        account = &cfg->accounts[0];
        max_hooks = cfg->max_concurrent_hooks;
        replace_on_list = h0 & 8;
        fake_now = 1000 * USEC_PER_SEC;
        last_state = CONNECTION_WAITING;
        n_numbers = 0;
        numbers_sum = numbers_max = server_bytes = digit_run = digit_len = 0;
        replaced = false;
        n_tags = 0;

        CHECK(sd_event_new(&event) >= 0);
        CHECK(timers_new(event, 0, &timers) >= 0);
        CHECK(sched_new(event, cfg->max_concurrent_hooks, &sched) >= 0);
        n_watches = 0;
        for (size_t m = 0; m < account->n_mailboxes; m++) {
                if (account->mailboxes[m].pattern)
                        continue;
                CHECK(watch_new(event, sched, account, &account->mailboxes[m], on_changed, NULL,
                                &watches[n_watches]) >= 0);
                n_watches++;
        }
        if ((h1 & 8) && i + 4 <= size) {
                uint32_t uv = data[i] + 1u, un = data[i + 1], ex = data[i + 2], ms = data[i + 3];

                number_add(uv);
                number_add(un);
                number_add(ex);
                number_add(ms);
                for (size_t w = 0; w < n_watches; w++)
                        watch_restore(watches[w], uv, un, ex, ms);
                i += 4;
        }
        switch (h0 & 3) {
        case 0:
                r = connection_new(event, account, tls, NULL, timers, watches[0], on_state, NULL, &conn);
                break;
        case 1:
                r = connection_new_poller(event, account, tls, NULL, timers, watches, n_watches, on_state, NULL,
                                          &conn);
                break;
        default:
                r = connection_new_notifier(event, account, tls, NULL, timers, watches, n_watches, on_state,
                                            NULL, &conn);
                break;
        }
        CHECK(r >= 0);
        if ((h0 & 3) != 0 && account->n_patterns > 0)
                CHECK(connection_set_lister(conn, on_list) >= 0);
        (void) connection_start(conn);
        settle();
        check_state();

        while (i < size) {
                uint8_t op = data[i] & 15, a = data[i] >> 4;

                i++;
                switch (op) {
                case 0x0: {
                        size_t n = i < size ? data[i++] : 0;

                        n = MIN(n, size - i);
                        send_expanded(data + i, n, 0);
                        i += n;
                        break;
                }
                case 0x1: {
                        uint8_t k = i < size ? data[i++] : 0;

                        send_expanded((const uint8_t *) lines[a], strlen(lines[a]), k);
                        break;
                }
                case 0x2: {
                        char line[64];

                        if (n_tags == 0)
                                break;
                        (void) snprintf(line, sizeof(line), "%s OK done\r\n", tags[a % n_tags]);
                        server_write((const uint8_t *) line, strlen(line));
                        break;
                }
                case 0x3:
                        if (a == 0) {
                                FakeTimer *t = ftimer_next();

                                if (t && t->at < PARKED)
                                        advance(t->at);
                        } else
                                advance(fake_now + advance_usec[a]);
                        break;
                case 0x4:
                        if (tr.fd >= 0) {
                                if (a >= 8) {
                                        drain_client();
                                        close_rst(tr.fd);
                                        tr.fd = -1;
                                } else
                                        (void) shutdown(tr.fd, SHUT_WR);
                        }
                        break;
                case 0x5:
                        hooks_finish(a == 0);
                        break;
                case 0x6:
                        replaced = false;
                        connection_stop(conn);
                        break;
                case 0x7:
                        (void) connection_probe(conn, "fuzz");
                        break;
                case 0x8:
                        connection_reconnect(conn, advance_usec[a], "fuzz");
                        break;
                default:
                        break;
                }
                settle();
                check_state();
        }

        conn = connection_free(conn);
        for (size_t w = 0; w < n_watches; w++)
                watches[w] = watch_free(watches[w]);
        for (struct Hook *h = hooks; h; h = h->next)
                CHECK(h->floating);     /* every owned hook was freed by its owner */
        while (hooks)
                (void) __wrap_hook_free(hooks);
        sched = sched_free(sched);
        timers = timers_free(timers);
        ftimers_release();
        event = sd_event_unref(event);
        drain_client();
        transport_close();
        /* Connections still in the backlog (a reconnect the program did not wait for). */
        for (int fd; (fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) >= 0;)
                close_rst(fd);
        return 0;
}
