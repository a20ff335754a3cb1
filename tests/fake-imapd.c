/* SPDX-License-Identifier: MIT */
/*
 * fake-imapd.c: the scripted fake IMAP server of fake-imapd.h.  The parent
 * sets up the listening socket (or socketpair) and a report pipe, forks, and
 * the child plays the script on one connection (or on opts.connections, one
 * after the other, TCP only); at the end the child writes
 * one message on the pipe: a fixed header, the report text and the recorded
 * bytes.  Everything the child does is bounded by a per-step deadline.
 *
 * TLS: the parent loads the certificate into an SSL_CTX (so bad files fail
 * fake_imapd_start_full() at once); the child inherits it through fork(),
 * makes the socket non-blocking and drives every SSL_* call with poll() on
 * the step's deadline, polling for whatever OpenSSL says it wants
 * (SSL_ERROR_WANT_READ/WRITE).  SSL_read() is always tried before polling,
 * because OpenSSL may hold decrypted bytes that poll() cannot see.  With
 * opts.starttls the same handshake runs at the FAKE_STARTTLS() step instead
 * of after accept(); until then the connection is plain TCP.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fake-imapd.h"

/* Longest tag we capture; longer ones make the line not match. */
#define FAKE_TAG_MAX 128

struct FakeImapd {
        pid_t pid;
        int report_fd;
        uint16_t port;
        bool waited;
        Buf received;
};

/* What the child sends back on the report pipe, followed by report_len bytes
 * of text and record_len bytes of recorded input. */
typedef struct FakeReportHeader {
        int32_t r;
        uint32_t report_len;
        uint32_t record_len;
} FakeReportHeader;

typedef struct FakeChild {
        FakeImapdOptions opts;
        int fd;                         /* the connection; -EBADF once closed */
        SSL *ssl;                       /* TLS over fd, or NULL */
        SSL_CTX *tls_ctx;               /* for the handshake (at accept, or FAKE_STARTTLS()), or NULL */
        char tls_err[256];              /* OpenSSL's reason for the last -EPROTO */
        char tag[FAKE_TAG_MAX];
        bool have_tag;
        Buf in;                         /* read but not yet consumed */
        Buf record;
        Buf report;
        bool record_full;               /* the recording hit opts.record_max */
        uint64_t deadline;              /* CLOCK_MONOTONIC, milliseconds */
} FakeChild;

static const char *const step_names[_FAKE_STEP_MAX] = {
        [FAKE_STEP_END] = "END",
        [FAKE_STEP_SEND] = "SEND",
        [FAKE_STEP_SEND_RAW] = "SEND_RAW",
        [FAKE_STEP_EXPECT] = "EXPECT",
        [FAKE_STEP_EXPECT_ANY] = "EXPECT_ANY",
        [FAKE_STEP_EXPECT_EOF] = "EXPECT_EOF",
        [FAKE_STEP_SLEEP] = "SLEEP",
        [FAKE_STEP_CLOSE] = "CLOSE",
        [FAKE_STEP_RESET] = "RESET",
        [FAKE_STEP_STARTTLS] = "STARTTLS",
};

static uint64_t now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

/* Append printf-style text to the report.  Running out of memory only
 * shortens the report; the result code still tells what happened. */
_printf_(2, 3) static void report_add(FakeChild *c, const char *fmt, ...) {
        char tmp[512];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n > 0)
                (void) buf_append(&c->report, tmp, MIN((size_t) n, sizeof(tmp) - 1), 0);
}

/* Append bytes to the report in C-string notation, quoted. */
static void report_add_escaped(FakeChild *c, const void *p, size_t n) {
        const unsigned char *s = p;

        report_add(c, "\"");
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\r')
                        report_add(c, "\\r");
                else if (s[i] == '\n')
                        report_add(c, "\\n");
                else if (s[i] == '\t')
                        report_add(c, "\\t");
                else if (s[i] == '"' || s[i] == '\\')
                        report_add(c, "\\%c", s[i]);
                else if (s[i] < 0x20 || s[i] >= 0x7f)
                        report_add(c, "\\x%02x", s[i]);
                else
                        report_add(c, "%c", s[i]);
        }
        report_add(c, "\"");
}

/* Start the report for a failed step. */
static void report_step(FakeChild *c, size_t i, const FakeStep *st, const char *what) {
        report_add(c, "step %zu (%s): %s", i, step_names[st->type], what);
}

static void report_expected(FakeChild *c, const FakeStep *st) {
        if (st->type != FAKE_STEP_EXPECT)
                return;
        report_add(c, "; expected ");
        report_add_escaped(c, st->data, strlen(st->data));
        report_add(c, " + \"\\r\\n\"");
}

/* RFC 3501 §9: tag = 1*<any ASTRING-CHAR except "+">, that is, any CHAR but
 * CTL, SP, "(", ")", "{", "%", "*", DQUOTE, "\" and "+". */
static bool is_tag_char(unsigned char ch) {
        return ch > 0x20 && ch < 0x7f && !strchr("(){%*\"\\+", ch);
}

/* Wait until fd is ready for events or the step's deadline passes. */
static int wait_fd(FakeChild *c, int fd, short events) {
        for (;;) {
                uint64_t now = now_ms();
                struct pollfd p = { .fd = fd, .events = events };
                int r;

                /* Poll at least once even past the deadline, so a child that
                 * was not scheduled for a while does not fail a ready fd. */
                r = poll(&p, 1, now >= c->deadline ? 0 : (int) MIN(c->deadline - now, (uint64_t) INT32_MAX));
                if (r > 0)
                        return 0;
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r == 0 && now >= c->deadline)
                        return -ETIMEDOUT;
        }
}

/* After an SSL_* call on c->ssl returned k <= 0 (errno was cleared before
 * it): wait for what OpenSSL wants and return 0 to call it again, 1 for the
 * end of the stream (close_notify, or a bare TCP EOF: the context has
 * SSL_OP_IGNORE_UNEXPECTED_EOF), -ECONNRESET for a reset or a broken pipe,
 * -EPROTO with c->tls_err set for a TLS failure, -ETIMEDOUT, or -errno. */
static int tls_retry(FakeChild *c, int k) {
        int saved_errno = errno;
        unsigned long e;

        switch (SSL_get_error(c->ssl, k)) {
        case SSL_ERROR_WANT_READ:
                return wait_fd(c, c->fd, POLLIN);
        case SSL_ERROR_WANT_WRITE:
                return wait_fd(c, c->fd, POLLOUT);
        case SSL_ERROR_ZERO_RETURN:
                return 1;
        case SSL_ERROR_SYSCALL:
                if (saved_errno == EINTR)
                        return 0;
                /* errno 0: the peer closed in a way OpenSSL calls a syscall error. */
                return saved_errno == 0 || IN_SET(saved_errno, ECONNRESET, EPIPE) ? -ECONNRESET : -saved_errno;
        default:
                e = ERR_peek_last_error();
                if (e != 0 && ERR_reason_error_string(e))
                        (void) snprintf(c->tls_err, sizeof(c->tls_err), "%s", ERR_reason_error_string(e));
                else
                        (void) snprintf(c->tls_err, sizeof(c->tls_err), "SSL_get_error() %d",
                                        SSL_get_error(c->ssl, k));
                ERR_clear_error();
                return -EPROTO;
        }
}

/* SSL_read up to n bytes: > 0 bytes read, 0 on EOF, or -errno. */
static ssize_t tls_read(FakeChild *c, void *p, size_t n) {
        for (;;) {
                int k, r;

                ERR_clear_error();
                errno = 0;
                k = SSL_read(c->ssl, p, (int) MIN(n, (size_t) INT_MAX));
                if (k > 0)
                        return k;
                r = tls_retry(c, k);
                if (r != 0)
                        return r > 0 ? 0 : r;
        }
}

/* Read more input into c->in: > 0 bytes read, 0 on EOF, or -errno. */
static int read_more(FakeChild *c) {
        ssize_t n;
        int r;

        r = buf_reserve(&c->in, 4096, 0);
        if (r < 0)
                return r;
        if (c->ssl) {
                n = tls_read(c, c->in.data + c->in.len, 4096);
                if (n < 0)
                        return (int) n;
        } else {
                r = wait_fd(c, c->fd, POLLIN);
                if (r < 0)
                        return r;
                n = read(c->fd, c->in.data + c->in.len, 4096);
                if (n < 0)
                        return errno == EINTR || errno == EAGAIN ? read_more(c) : -errno;
        }
        if (c->opts.record && n > 0) {
                r = buf_append(&c->record, c->in.data + c->in.len, (size_t) n, c->opts.record_max);
                if (r == -EMSGSIZE)
                        c->record_full = true;
                if (r < 0)
                        return r;
        }
        c->in.len += (size_t) n;
        return (int) n;
}

/* Get the next line (up to and including LF) at c->in.data; *ret_len is its
 * length.  The caller consumes it with consume(). */
static int read_line(FakeChild *c, size_t *ret_len) {
        for (;;) {
                size_t scan = MIN(c->in.len, c->opts.line_max);
                const char *lf = c->in.len > 0 ? memchr(c->in.data, '\n', scan) : NULL;
                int r;

                if (lf) {
                        *ret_len = (size_t) (lf - c->in.data) + 1;
                        return 0;
                }
                if (c->in.len >= c->opts.line_max)
                        return -EMSGSIZE;
                r = read_more(c);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -ECONNRESET;
        }
}

static void consume(FakeChild *c, size_t n) {
        memmove(c->in.data, c->in.data + n, c->in.len - n);
        c->in.len -= n;
}

/* Match one line (without CRLF) against a pattern in which "<tag>" matches a
 * tag: the first occurrence captures it, later ones must repeat it. */
static bool match_line(const char *pattern, const char *line, size_t n, char *tag, bool *have_tag) {
        char cap[FAKE_TAG_MAX];
        bool captured = false;
        size_t i = 0;

        for (const char *p = pattern; *p;) {
                if (strncmp(p, "<tag>", 5) == 0) {
                        if (!captured) {
                                size_t j = i;

                                while (j < n && is_tag_char((unsigned char) line[j]))
                                        j++;
                                if (j == i || j - i >= sizeof(cap))
                                        return false;
                                memcpy(cap, line + i, j - i);
                                cap[j - i] = '\0';
                                captured = true;
                                i = j;
                        } else {
                                size_t l = strlen(cap);

                                if (n - i < l || memcmp(line + i, cap, l) != 0)
                                        return false;
                                i += l;
                        }
                        p += 5;
                        continue;
                }
                if (i >= n || line[i] != *p)
                        return false;
                i++;
                p++;
        }
        if (i != n)
                return false;
        if (captured) {
                memcpy(tag, cap, sizeof(cap));
                *have_tag = true;
        }
        return true;
}

/* One SSL_write of the whole buffer (OpenSSL, without partial writes,
 * finishes it across WANT_WRITE retries), within the step's deadline. */
static int tls_send_all(FakeChild *c, const char *p, size_t n) {
        while (n > 0) {
                int k, r;

                ERR_clear_error();
                errno = 0;
                k = SSL_write(c->ssl, p, (int) MIN(n, (size_t) INT_MAX));
                if (k > 0) {
                        p += k;
                        n -= (size_t) k;
                        continue;
                }
                r = tls_retry(c, k);
                if (r > 0)
                        return -ECONNRESET;
                if (r < 0)
                        return r;
        }
        return 0;
}

/* One write of the whole buffer (continued only if the kernel takes it in
 * parts), within the step's deadline. */
static int send_all(FakeChild *c, const char *p, size_t n) {
        if (c->ssl)
                return tls_send_all(c, p, n);
        while (n > 0) {
                ssize_t k;
                int r;

                r = wait_fd(c, c->fd, POLLOUT);
                if (r < 0)
                        return r;
                k = send(c->fd, p, n, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return IN_SET(errno, EPIPE, ECONNRESET) ? -ECONNRESET : -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* What went wrong, for the report: OpenSSL's reason for a TLS failure. */
static const char *error_text(const FakeChild *c, int r) {
        return r == -EPROTO && c->tls_err[0] ? c->tls_err : strerror(-r);
}

/* Describe a read failure and return it. */
static int fail_read(FakeChild *c, size_t i, const FakeStep *st, int r) {
        if (r == -ETIMEDOUT) {
                report_step(c, i, st, "");
                report_add(c, "timed out after %u ms", c->opts.timeout_ms);
        } else if (r == -ECONNRESET)
                report_step(c, i, st, "EOF or connection reset");
        else if (r == -EMSGSIZE)
                report_step(c, i, st, c->record_full ? "recording limit exceeded" : "line too long");
        else {
                report_step(c, i, st, "");
                report_add(c, "%s: %s", c->ssl ? "TLS read error" : "read error", error_text(c, r));
        }
        report_expected(c, st);
        report_add(c, "; received so far ");
        report_add_escaped(c, c->in.data, MIN(c->in.len, (size_t) 4096));
        return r;
}

static int step_send(FakeChild *c, size_t i, const FakeStep *st) {
        Buf out = BUF_INIT;
        int r = 0;

        for (const char *p = st->data; *p && r >= 0;) {
                if (strncmp(p, "<tag>", 5) == 0) {
                        if (!c->have_tag) {
                                report_step(c, i, st, "\"<tag>\" used before any tag was captured");
                                buf_done(&out);
                                return -EINVAL;
                        }
                        r = buf_append(&out, c->tag, strlen(c->tag), 0);
                        p += 5;
                } else {
                        const char *q = strstr(p + 1, "<tag>");
                        size_t l = q ? (size_t) (q - p) : strlen(p);

                        r = buf_append(&out, p, l, 0);
                        p += l;
                }
        }
        if (r >= 0)
                r = send_all(c, out.data, out.len);
        if (r < 0) {
                report_step(c, i, st, "");
                report_add(c, "sending failed: %s; sending ", error_text(c, r));
                report_add_escaped(c, out.data, out.len);
        }
        buf_done(&out);
        return r;
}

static int step_expect(FakeChild *c, size_t i, const FakeStep *st) {
        size_t len;
        int r;

        r = read_line(c, &len);
        if (r < 0)
                return fail_read(c, i, st, r);
        if (st->type == FAKE_STEP_EXPECT_ANY) {
                size_t j = 0;

                while (j < len && j + 1 < sizeof(c->tag) && is_tag_char((unsigned char) c->in.data[j]))
                        j++;
                if (j > 0) {
                        memcpy(c->tag, c->in.data, j);
                        c->tag[j] = '\0';
                        c->have_tag = true;
                }
        } else if (len < 2 || c->in.data[len - 2] != '\r' ||
                   !match_line(st->data, c->in.data, len - 2, c->tag, &c->have_tag)) {
                report_step(c, i, st, "line differs");
                report_expected(c, st);
                report_add(c, "; received ");
                report_add_escaped(c, c->in.data, len);
                return -EBADMSG;
        }
        consume(c, len);
        return 0;
}

static int step_expect_eof(FakeChild *c, size_t i, const FakeStep *st) {
        while (c->in.len == 0) {
                int r = read_more(c);

                /* A reset also means the client is gone. */
                if (r == 0 || r == -ECONNRESET)
                        return 0;
                if (r < 0)
                        return fail_read(c, i, st, r);
        }
        report_step(c, i, st, "data instead of EOF; received ");
        report_add_escaped(c, c->in.data, MIN(c->in.len, (size_t) 4096));
        return -EBADMSG;
}

/* Send close_notify: SSL_shutdown() once, repeated only while the socket
 * buffer is full.  Its second half (waiting for the client's close_notify)
 * is never done: reading goes on through SSL_read() as the script says. */
static int tls_close_notify(FakeChild *c) {
        for (;;) {
                int k, e, r, saved_errno;

                ERR_clear_error();
                errno = 0;
                k = SSL_shutdown(c->ssl);
                if (k >= 0)
                        return 0;
                saved_errno = errno;
                e = SSL_get_error(c->ssl, k);
                if (e == SSL_ERROR_WANT_READ)
                        return 0;       /* sent; OpenSSL would now wait for the client's */
                if (e != SSL_ERROR_WANT_WRITE) {
                        errno = saved_errno;
                        r = tls_retry(c, k);
                        return r > 0 ? 0 : r;
                }
                r = wait_fd(c, c->fd, POLLOUT);
                if (r < 0)
                        return r;
        }
}

static int step_close(FakeChild *c, size_t i, const FakeStep *st) {
        int r = 0;

        if (c->ssl)
                r = tls_close_notify(c);
        /* FIN, but keep reading: the script may still expect lines or EOF. */
        if (r >= 0 && shutdown(c->fd, SHUT_WR) < 0)
                r = -errno;
        /* A client that has already gone needs no FIN (with TLS that happens
         * when close_notify reaches a closed socket and the RST comes back). */
        if (IN_SET(r, -ECONNRESET, -EPIPE, -ENOTCONN))
                return 0;
        if (r < 0) {
                report_step(c, i, st, "");
                report_add(c, "%s failed: %s", c->ssl ? "close_notify or shutdown" : "shutdown", error_text(c, r));
        }
        return r;
}

static int step_starttls(FakeChild *c, size_t i, const FakeStep *st);

static int run_step(FakeChild *c, size_t i, const FakeStep *st) {
        if (IN_SET(st->type, FAKE_STEP_SEND, FAKE_STEP_SEND_RAW, FAKE_STEP_EXPECT, FAKE_STEP_EXPECT_ANY,
                   FAKE_STEP_EXPECT_EOF, FAKE_STEP_CLOSE, FAKE_STEP_RESET, FAKE_STEP_STARTTLS) &&
            c->fd < 0) {
                report_step(c, i, st, "the connection was already reset by an earlier step");
                return -EINVAL;
        }

        c->deadline = now_ms() + c->opts.timeout_ms;
        switch (st->type) {
        case FAKE_STEP_SEND:
                return step_send(c, i, st);
        case FAKE_STEP_SEND_RAW: {
                int r = send_all(c, st->data, st->len);
                if (r < 0) {
                        report_step(c, i, st, "");
                        report_add(c, "sending failed: %s", error_text(c, r));
                }
                return r;
        }
        case FAKE_STEP_EXPECT:
        case FAKE_STEP_EXPECT_ANY:
                return step_expect(c, i, st);
        case FAKE_STEP_EXPECT_EOF:
                return step_expect_eof(c, i, st);
        case FAKE_STEP_SLEEP: {
                struct timespec ts = { .tv_sec = st->ms / 1000, .tv_nsec = (long) (st->ms % 1000) * 1000000L };
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
                return 0;
        }
        case FAKE_STEP_CLOSE:
                return step_close(c, i, st);
        case FAKE_STEP_STARTTLS:
                return step_starttls(c, i, st);
        case FAKE_STEP_RESET: {
                /* A zero linger time makes close() send RST instead of FIN (TCP).
                 * TLS: no close_notify (SSL_free() sends nothing). */
                struct linger l = { .l_onoff = 1, .l_linger = 0 };

                SSL_free(c->ssl);
                c->ssl = NULL;
                (void) setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
                (void) close(c->fd);
                c->fd = -EBADF;
                return 0;
        }
        default:
                report_step(c, i, st, "unknown step type");
                return -EINVAL;
        }
}

static int write_all(int fd, const void *p, size_t n) {
        const char *s = p;

        while (n > 0) {
                ssize_t k = write(fd, s, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                s += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Close every fd but stdio and the two given, so the child holds no copy of
 * the client's sockets (which would hide the client's EOF from the script,
 * or from other fake servers of the same test). */
static void close_other_fds(int a, int b) {
        int lo = MIN(a, b), hi = MAX(a, b);

        if (lo > 3)
                (void) close_range(3, (unsigned) lo - 1, 0);
        if (hi > lo + 1)
                (void) close_range((unsigned) lo + 1, (unsigned) hi - 1, 0);
        (void) close_range((unsigned) hi + 1, ~0U, 0);
}

/* The server side of the TLS handshake on c->fd, within opts.accept_timeout_ms. */
static int tls_accept(FakeChild *c, SSL_CTX *ctx) {
        int flags;

        flags = fcntl(c->fd, F_GETFL);
        if (flags < 0 || fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        c->ssl = SSL_new(ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
                return -ENOMEM;
        /* The handshake is part of connecting: it gets the accept timeout. */
        c->deadline = now_ms() + c->opts.accept_timeout_ms;
        for (;;) {
                int k, r;

                ERR_clear_error();
                errno = 0;
                k = SSL_accept(c->ssl);
                if (k == 1)
                        return 0;
                r = tls_retry(c, k);
                if (r > 0)
                        return -ECONNRESET;
                if (r < 0)
                        return r;
        }
}

static void report_tls_accept(FakeChild *c, int r) {
        if (r == -ETIMEDOUT)
                report_add(c, "TLS handshake: timed out after %u ms", c->opts.accept_timeout_ms);
        else if (r == -ECONNRESET)
                report_add(c, "TLS handshake: EOF or connection reset");
        else
                report_add(c, "TLS handshake failed: %s", error_text(c, r));
}

/* FAKE_STARTTLS(): the handshake in the middle of the script.  Whatever the client sent
 * that the script has not read came before its ClientHello: not allowed (the client would
 * be sending plaintext after STARTTLS). */
static int step_starttls(FakeChild *c, size_t i, const FakeStep *st) {
        int r;

        if (!c->tls_ctx || !c->opts.starttls || c->ssl) {
                report_step(c, i, st, c->ssl ? "TLS is on already" : "needs opts.starttls and opts.tls_cert_file");
                return -EINVAL;
        }
        if (c->in.len > 0) {
                report_step(c, i, st, "plaintext from the client before the handshake: ");
                report_add_escaped(c, c->in.data, MIN(c->in.len, (size_t) 4096));
                return -EBADMSG;
        }
        r = tls_accept(c, c->tls_ctx);
        if (r < 0) {
                report_step(c, i, st, "");
                report_tls_accept(c, r);
        }
        return r;
}

/* One connection of the child: accept it (TCP), shake hands (TLS), run the script, close.
 * The listening socket is closed after the last accept, so that a client connecting
 * again is refused at once instead of waiting in the backlog. */
static int child_serve(FakeChild *c, const FakeStep *script, SSL_CTX *tls_ctx, int *listen_fd, bool last) {
        int r = 0;

        if (*listen_fd >= 0) {
                c->deadline = now_ms() + c->opts.accept_timeout_ms;
                r = wait_fd(c, *listen_fd, POLLIN);
                if (r >= 0) {
                        c->fd = accept4(*listen_fd, NULL, NULL, SOCK_CLOEXEC);
                        if (c->fd < 0)
                                r = -errno;
                }
                if (last || r < 0) {
                        (void) close(*listen_fd);
                        *listen_fd = -EBADF;
                }
                if (r < 0)
                        report_add(c, "no client connected: %s", strerror(-r));
                else {
                        int one = 1;
                        /* One segment per SEND, so the client sees the script's segmentation. */
                        (void) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                }
        }

        c->tls_ctx = tls_ctx;
        if (r >= 0 && tls_ctx && !c->opts.starttls) {
                r = tls_accept(c, tls_ctx);
                if (r < 0)
                        report_tls_accept(c, r);
        }

        for (size_t i = 0; r >= 0 && script[i].type != FAKE_STEP_END; i++)
                r = run_step(c, i, &script[i]);

        /* END: a TLS server says close_notify before closing (one try; the
         * client may be gone). */
        if (c->ssl && r >= 0) {
                ERR_clear_error();
                (void) SSL_shutdown(c->ssl);
        }
        SSL_free(c->ssl);
        c->ssl = NULL;
        if (c->fd >= 0)
                (void) close(c->fd);
        c->fd = -EBADF;
        return r;
}

/* The child: get the connection(s), run the script on each, send the report. */
_noreturn_ static void child_run(const FakeStep *script, const FakeImapdOptions *opts, SSL_CTX *tls_ctx,
                                 int listen_fd, int conn_fd, int report_fd) {
        struct sigaction sa = { .sa_handler = SIG_IGN };
        FakeChild c = {
                .opts = *opts,
                .fd = conn_fd,
                .in = BUF_INIT,
                .record = BUF_INIT,
                .report = BUF_INIT,
        };
        unsigned n = listen_fd >= 0 ? MAX(opts->connections, 1U) : 1U;
        size_t more = 0;
        FakeReportHeader h = {};
        int r = 0;

        (void) sigaction(SIGPIPE, &sa, NULL);
        close_other_fds(listen_fd >= 0 ? listen_fd : conn_fd, report_fd);
        if (listen_fd >= 0 && opts->next_scripts) {
                while (opts->next_scripts[more])
                        more++;
                n = 1U + (unsigned) more;
        }

        for (unsigned k = 0; r >= 0 && k < n; k++) {
                size_t mark = c.report.len;

                /* Each connection starts afresh: nothing read, no tag captured. */
                c.in.len = 0;
                c.have_tag = false;
                /* Only a failure writes a report: say which connection it was. */
                if (n > 1)
                        report_add(&c, "connection %u of %u: ", k + 1, n);
                r = child_serve(&c, k > 0 && more > 0 ? opts->next_scripts[k - 1] : script, tls_ctx, &listen_fd,
                                k + 1 == n);
                if (r >= 0)
                        c.report.len = mark;
        }
        SSL_CTX_free(tls_ctx);

        h.r = r;
        h.report_len = (uint32_t) c.report.len;
        h.record_len = (uint32_t) c.record.len;
        if (write_all(report_fd, &h, sizeof(h)) < 0 || write_all(report_fd, c.report.data, c.report.len) < 0 ||
            write_all(report_fd, c.record.data, c.record.len) < 0)
                _exit(EXIT_FAILURE);
        /* _exit: no atexit handlers or stdio flushes inherited from the test. */
        _exit(EXIT_SUCCESS);
}

static void ssl_ctx_freep(SSL_CTX **p) {
        SSL_CTX_free(*p);
}

/* The child's TLS context: the certificate and key loaded and checked. */
static int tls_ctx_new(const FakeImapdOptions *o, SSL_CTX **ret) {
        _cleanup_(ssl_ctx_freep) SSL_CTX *ctx = NULL;

        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx)
                return -ENOMEM;
        /* A bare TCP EOF reads as end of stream, like close_notify (EXPECT_EOF
         * accepts either; the client under test has its own policy). */
        (void) SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
        /* No TLS 1.3 session tickets: after the handshake the client gets
         * nothing but the script's own records. */
        (void) SSL_CTX_set_num_tickets(ctx, 0);
        if (SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, o->tls_key_file ? o->tls_key_file : o->tls_cert_file,
                                        SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
                ERR_clear_error();
                return -EINVAL;
        }
        *ret = TAKE_PTR(ctx);
        return 0;
}

int fake_imapd_start_full(const FakeStep *script, const FakeImapdOptions *opts, int *ret_client_fd,
                          FakeImapd **ret) {
        _cleanup_close_ int listen_fd = -EBADF, child_fd = -EBADF, client_fd = -EBADF;
        _cleanup_(ssl_ctx_freep) SSL_CTX *tls_ctx = NULL;
        FakeImapdOptions o = opts ? *opts : (FakeImapdOptions) {};
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        int pipe_fds[2];
        pid_t pid;

        assert_return(script, -EINVAL);
        assert_return(ret, -EINVAL);
        assert_return(!o.socketpair || ret_client_fd, -EINVAL);

        if (o.timeout_ms == 0)
                o.timeout_ms = FAKE_IMAPD_TIMEOUT_MS;
        if (o.accept_timeout_ms == 0)
                o.accept_timeout_ms = FAKE_IMAPD_TIMEOUT_MS;
        if (o.line_max == 0)
                o.line_max = FAKE_IMAPD_LINE_MAX;
        if (o.record_max == 0)
                o.record_max = FAKE_IMAPD_RECORD_MAX;
        if (o.tls_cert_file) {
                int r = tls_ctx_new(&o, &tls_ctx);
                if (r < 0)
                        return r;
        }

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->pid = -1;
        f->report_fd = -EBADF;
        f->received = BUF_INIT;

        if (o.socketpair) {
                int sv[2];

                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                        return -errno;
                client_fd = sv[0];
                child_fd = sv[1];
        } else {
                struct sockaddr_in sa = {
                        .sin_family = AF_INET,
                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                };
                socklen_t sl = sizeof(sa);

                if (o.listen_address && inet_pton(AF_INET, o.listen_address, &sa.sin_addr) != 1)
                        return -EINVAL;
                listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (listen_fd < 0)
                        return -errno;
                if (bind(listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(listen_fd, 1) < 0 ||
                    getsockname(listen_fd, (struct sockaddr *) &sa, &sl) < 0)
                        return -errno;
                f->port = ntohs(sa.sin_port);
        }

        if (pipe2(pipe_fds, O_CLOEXEC) < 0)
                return -errno;
        f->report_fd = pipe_fds[0];

        pid = fork();
        if (pid < 0) {
                int r = -errno;
                (void) close(pipe_fds[1]);
                return r;
        }
        if (pid == 0)
                child_run(script, &o, TAKE_PTR(tls_ctx), listen_fd, child_fd, pipe_fds[1]);

        (void) close(pipe_fds[1]);
        f->pid = pid;
        if (ret_client_fd)
                *ret_client_fd = o.socketpair ? TAKE_FD(client_fd) : -EBADF;
        *ret = TAKE_PTR(f);
        return 0;
}

int fake_imapd_start(const FakeStep *script, FakeImapd **ret) {
        return fake_imapd_start_full(script, NULL, NULL, ret);
}

uint16_t fake_imapd_port(const FakeImapd *f) {
        return f ? f->port : 0;
}

pid_t fake_imapd_pid(const FakeImapd *f) {
        return f ? f->pid : -1;
}

static char *strdup_report(const char *prefix, int status) {
        char tmp[128];

        if (WIFSIGNALED(status))
                (void) snprintf(tmp, sizeof(tmp), "%s: child killed by signal %d", prefix, WTERMSIG(status));
        else
                (void) snprintf(tmp, sizeof(tmp), "%s: child exited with status %d", prefix,
                                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return strdup(tmp);
}

int fake_imapd_wait(FakeImapd *f, char **ret_report) {
        Buf msg = BUF_INIT;
        FakeReportHeader h;
        char *report = NULL;
        int status = 0, r = 0;

        assert_return(f, -EINVAL);
        assert_return(!f->waited, -EINVAL);

        /* Read until the child closes the pipe by exiting. */
        for (;;) {
                ssize_t n;

                r = buf_reserve(&msg, 65536, 0);
                if (r < 0)
                        break;
                n = read(f->report_fd, msg.data + msg.len, 65536);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        r = -errno;
                if (n <= 0)
                        break;
                msg.len += (size_t) n;
        }
        while (waitpid(f->pid, &status, 0) < 0)
                if (errno != EINTR) {
                        status = 0;
                        break;
                }
        f->pid = -1;
        f->waited = true;

        if (r < 0) {
                buf_done(&msg);
                return r;
        }

        if (msg.len < sizeof(h) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                report = strdup_report("no report", status);
                r = -EIO;
        } else {
                memcpy(&h, msg.data, sizeof(h));
                if (msg.len != sizeof(h) + (size_t) h.report_len + h.record_len) {
                        report = strdup_report("truncated report", status);
                        r = -EIO;
                } else {
                        r = h.r;
                        if (r < 0)
                                report = strndup(msg.data + sizeof(h), h.report_len);
                        if (h.record_len > 0)
                                r = MIN(r, buf_append(&f->received, msg.data + sizeof(h) + h.report_len,
                                                      h.record_len, 0));
                }
        }
        buf_done(&msg);
        if (ret_report)
                *ret_report = report;
        else
                free(report);
        return r;
}

const void *fake_imapd_received(const FakeImapd *f, size_t *ret_len) {
        if (ret_len)
                *ret_len = f ? f->received.len : 0;
        return f && f->received.len > 0 ? f->received.data : NULL;
}

FakeImapd *fake_imapd_free(FakeImapd *f) {
        if (!f)
                return NULL;
        if (f->pid > 0) {
                (void) kill(f->pid, SIGKILL);
                while (waitpid(f->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        if (f->report_fd >= 0)
                (void) close(f->report_fd);
        buf_done(&f->received);
        return mfree(f);
}
