/* SPDX-License-Identifier: MIT */
/*
 * test-faultproxy.c: tests of the fault-injecting proxy (faultproxy.h).  The
 * test process is the upstream itself: it listens on a loopback port, starts
 * the proxy towards it, connects a client through the proxy and accepts the
 * proxied connection, so it holds both ends and sees exactly which bytes get
 * through in each mode.  Each test starts its own proxy; if a test fails
 * (Check ends it with _exit()), the proxy dies with it (PR_SET_PDEATHSIG).
 *
 * Timing decides nothing: reads wait up to a generous safety timeout, and
 * QUIET_MS is used only to say "nothing arrived" (a slow proxy can only make
 * such a check pass, never fail).  The drip test checks a lower bound on the
 * elapsed time, which delays can only increase.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultproxy.h"
#include "macro.h"
#include "th.h"

#ifndef FAULTPROXY_PATH
#  error "FAULTPROXY_PATH must be defined (the built tests/faultproxy)"
#endif

#define SAFETY_MS 20000U        /* never reached when the proxy works */
#define QUIET_MS 300            /* the window for "nothing arrived" */

typedef struct Pair {
        int client;             /* our end through the proxy */
        int server;             /* the proxied connection, accepted by our upstream socket */
} Pair;

static uint64_t now_ms(void) {
        struct timespec ts;

        ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

static void set_timeouts(int fd) {
        struct timeval tv = { .tv_sec = SAFETY_MS / 1000U };

        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
}

/* A listening socket on 127.0.0.1; *ret_port gets its port. */
static int upstream_listen(uint16_t *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(fd, 256), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &sl), 0);
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

static int tcp_connect(uint16_t port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        set_timeouts(fd);
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

static int accept_one(int lfd) {
        struct pollfd pfd = { .fd = lfd, .events = POLLIN };
        int fd;

        ck_assert_int_eq(poll(&pfd, 1, (int) SAFETY_MS), 1);
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        set_timeouts(fd);
        return fd;
}

static Pair pair_open(ThProxy *p, int lfd) {
        Pair pr;

        pr.client = tcp_connect(th_proxy_port(p));
        pr.server = accept_one(lfd);
        return pr;
}

static void pair_close(Pair *pr) {
        if (pr->client >= 0)
                (void) close(pr->client);
        if (pr->server >= 0)
                (void) close(pr->server);
        *pr = (Pair) { -EBADF, -EBADF };
}

static void send_bytes(int fd, const void *d, size_t n) {
        const char *s = d;

        while (n > 0) {
                ssize_t k = send(fd, s, n, MSG_NOSIGNAL);

                ck_assert_int_gt(k, 0);
                s += k;
                n -= (size_t) k;
        }
}

static void send_str(int fd, const char *s) {
        send_bytes(fd, s, strlen(s));
}

/* Read exactly n bytes (SO_RCVTIMEO is the safety bound). */
static void recv_n(int fd, char *buf, size_t n) {
        for (size_t got = 0; got < n;) {
                ssize_t k = recv(fd, buf + got, n - got, 0);

                ck_assert_msg(k > 0, "recv after %zu of %zu bytes: %zd (%s)", got, n, k,
                              k < 0 ? strerror(errno) : "EOF");
                got += (size_t) k;
        }
}

static void recv_expect(int fd, const char *expect) {
        size_t n = strlen(expect);
        char buf[256];

        ck_assert_uint_lt(n, sizeof(buf));
        recv_n(fd, buf, n);
        buf[n] = '\0';
        ck_assert_str_eq(buf, expect);
}

/* Nothing arrives (no byte, no EOF, no reset) within QUIET_MS, and the
 * socket is still open. */
static void expect_quiet(int fd) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        char ch;

        ck_assert_int_eq(poll(&pfd, 1, QUIET_MS), 0);
        ck_assert_int_eq(recv(fd, &ch, 1, MSG_DONTWAIT), -1);
        ck_assert_int_eq(errno, EAGAIN);
}

static void expect_eof(int fd) {
        char ch;

        ck_assert_int_eq(recv(fd, &ch, 1, 0), 0);
}

static void expect_reset(int fd) {
        char ch;

        ck_assert_int_eq(recv(fd, &ch, 1, 0), -1);
        ck_assert_int_eq(errno, ECONNRESET);
}

static unsigned count(ThProxy *p) {
        unsigned n = 0;

        ck_assert_int_eq(th_proxy_count(p, &n), 0);
        return n;
}

static unsigned triggered(ThProxy *p) {
        unsigned n = 0;

        ck_assert_int_eq(th_proxy_triggered(p, &n), 0);
        return n;
}

static ThProxy *start(uint16_t upstream) {
        ThProxy *p = NULL;

        ck_assert_int_eq(th_proxy_start(upstream, &p), 0);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_gt(th_proxy_port(p), 0);
        ck_assert_int_gt(th_proxy_pid(p), 0);
        return p;
}

/* ---- pass ---------------------------------------------------------------------------------------- */

static unsigned char pattern_byte(size_t i) {
        return (unsigned char) ((i * 7U + i / 251U) % 256U);
}

/* Move n bytes from "from" to "to" through the proxy, both sockets driven
 * with poll() so that the proxy's buffers fill up and drain (backpressure).
 * Plain ifs in the loop: every ck_assert costs a message to the runner. */
static void transfer(int from, int to, size_t n) {
        static char out[8192], in[8192];
        size_t sent = 0, got = 0;

        while (got < n) {
                struct pollfd pfd[2] = {
                        { .fd = from, .events = sent < n ? POLLOUT : 0 },
                        { .fd = to, .events = POLLIN },
                };

                if (poll(pfd, 2, (int) SAFETY_MS) <= 0)
                        ck_abort_msg("transfer stuck after %zu of %zu bytes", got, n);
                if (pfd[0].revents & POLLOUT) {
                        size_t k = MIN(n - sent, sizeof(out));
                        ssize_t w;

                        for (size_t i = 0; i < k; i++)
                                out[i] = (char) pattern_byte(sent + i);
                        w = send(from, out, k, MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (w <= 0)
                                ck_abort_msg("send: %s", strerror(errno));
                        sent += (size_t) w;
                }
                if (pfd[1].revents & POLLIN) {
                        ssize_t r = recv(to, in, sizeof(in), MSG_DONTWAIT);

                        if (r <= 0)
                                ck_abort_msg("recv after %zu bytes: %zd", got, r);
                        for (ssize_t i = 0; i < r; i++)
                                if ((unsigned char) in[i] != pattern_byte(got + (size_t) i))
                                        ck_abort_msg("byte %zu differs", got + (size_t) i);
                        got += (size_t) r;
                }
        }
        ck_assert_uint_eq(sent, n);
}

START_TEST(test_pass) {
        _cleanup_close_ int lfd = -EBADF;
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        uint16_t port;
        Pair a;

        lfd = upstream_listen(&port);
        p = start(port);
        ck_assert_uint_eq(count(p), 0);
        a = pair_open(p, lfd);
        send_str(a.client, "a1 NOOP\r\n");
        recv_expect(a.server, "a1 NOOP\r\n");
        send_str(a.server, "a1 OK done\r\n");
        recv_expect(a.client, "a1 OK done\r\n");
        ck_assert_uint_eq(count(p), 1);

        /* Much more than the proxy buffers, both ways. */
        transfer(a.server, a.client, 3U * 1024U * 1024U);
        transfer(a.client, a.server, 1024U * 1024U);

        /* FINs are passed on, each way on its own. */
        ck_assert_int_eq(shutdown(a.client, SHUT_WR), 0);
        expect_eof(a.server);
        send_str(a.server, "* BYE\r\n");
        recv_expect(a.client, "* BYE\r\n");
        ck_assert_int_eq(shutdown(a.server, SHUT_WR), 0);
        expect_eof(a.client);
        pair_close(&a);

        /* A second connection is counted. */
        a = pair_open(p, lfd);
        ck_assert_int_eq(th_proxy_wait_count(p, 2, SAFETY_MS), 0);
        ck_assert_uint_eq(count(p), 2);
        pair_close(&a);
}
END_TEST

/* A reset by one peer reaches the other as a reset. */
START_TEST(test_pass_reset_passed_on) {
        _cleanup_close_ int lfd = -EBADF;
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        struct linger l = { .l_onoff = 1, .l_linger = 0 };
        uint16_t port;
        Pair a;

        lfd = upstream_listen(&port);
        p = start(port);
        a = pair_open(p, lfd);
        send_str(a.server, "* OK\r\n");
        recv_expect(a.client, "* OK\r\n");
        ck_assert_int_eq(setsockopt(a.server, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
        (void) close(a.server);
        a.server = -EBADF;
        expect_reset(a.client);
        pair_close(&a);
}
END_TEST

START_TEST(test_unreachable_upstream) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        _cleanup_close_ int c = -EBADF;
        socklen_t sl = sizeof(sa);
        int fd;

        /* A port that nothing listens on: bound, never listened, closed. */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &sl), 0);
        (void) close(fd);

        p = start(ntohs(sa.sin_port));
        c = tcp_connect(th_proxy_port(p));
        expect_eof(c);
        ck_assert_uint_eq(count(p), 1);
}
END_TEST

/* ---- blackhole ----------------------------------------------------------------------------------- */

START_TEST(test_blackhole) {
        _cleanup_close_ int lfd = -EBADF, c2 = -EBADF;
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        struct pollfd pfd;
        uint16_t port;
        Pair a, b;

        lfd = upstream_listen(&port);
        p = start(port);
        a = pair_open(p, lfd);
        send_str(a.server, "* OK hi\r\n");
        recv_expect(a.client, "* OK hi\r\n");

        ck_assert_int_eq(th_proxy_blackhole(p), 0);
        send_str(a.server, "* 1 EXISTS\r\n");
        send_str(a.client, "a2 NOOP\r\n");
        expect_quiet(a.client);
        expect_quiet(a.server);

        /* A new connection is accepted, but gets no upstream connection. */
        c2 = tcp_connect(th_proxy_port(p));
        ck_assert_int_eq(th_proxy_wait_count(p, 2, SAFETY_MS), 0);
        send_str(c2, "b1 CAPABILITY\r\n");
        expect_quiet(c2);
        pfd = (struct pollfd) { .fd = lfd, .events = POLLIN };
        ck_assert_int_eq(poll(&pfd, 1, QUIET_MS), 0);

        /* Back to pass: new connections work, the old ones stay dead. */
        ck_assert_int_eq(th_proxy_pass(p), 0);
        b = pair_open(p, lfd);
        send_str(b.client, "c1 NOOP\r\n");
        recv_expect(b.server, "c1 NOOP\r\n");
        send_str(b.server, "c1 OK\r\n");
        recv_expect(b.client, "c1 OK\r\n");
        send_str(a.server, "* 2 EXISTS\r\n");
        send_str(a.client, "a3 NOOP\r\n");
        expect_quiet(a.client);
        expect_quiet(a.server);
        expect_quiet(c2);
        ck_assert_uint_eq(count(p), 3);
        ck_assert_uint_eq(triggered(p), 0);

        /* When the client of a dead connection closes, the server side is closed too. */
        (void) close(a.client);
        a.client = -EBADF;
        expect_eof(a.server);
        pair_close(&a);
        pair_close(&b);
}
END_TEST

/* At most TH_PROXY_CONN_MAX open connections; the next one waits in the
 * backlog until one closes. */
START_TEST(test_connection_limit) {
        _cleanup_close_ int lfd = -EBADF;
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        int c[TH_PROXY_CONN_MAX + 1];
        uint16_t port;

        lfd = upstream_listen(&port);
        p = start(port);
        ck_assert_int_eq(th_proxy_blackhole(p), 0);     /* no upstream connections needed */
        for (size_t i = 0; i < ELEMENTSOF(c) - 1; i++)
                c[i] = tcp_connect(th_proxy_port(p));
        ck_assert_int_eq(th_proxy_wait_count(p, TH_PROXY_CONN_MAX, SAFETY_MS), 0);
        c[TH_PROXY_CONN_MAX] = tcp_connect(th_proxy_port(p));
        expect_quiet(c[TH_PROXY_CONN_MAX]);
        ck_assert_uint_eq(count(p), TH_PROXY_CONN_MAX);
        (void) close(c[0]);
        ck_assert_int_eq(th_proxy_wait_count(p, TH_PROXY_CONN_MAX + 1, SAFETY_MS), 0);
        for (size_t i = 1; i < ELEMENTSOF(c); i++)
                (void) close(c[i]);
}
END_TEST

/* ---- rst ----------------------------------------------------------------------------------------- */

START_TEST(test_rst) {
        _cleanup_close_ int lfd = -EBADF, c = -EBADF;
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        uint16_t port;
        Pair a, b;

        lfd = upstream_listen(&port);
        p = start(port);
        a = pair_open(p, lfd);
        b = pair_open(p, lfd);
        send_str(a.server, "* OK\r\n");
        recv_expect(a.client, "* OK\r\n");

        ck_assert_int_eq(th_proxy_rst(p, false), 0);
        expect_reset(a.client);
        expect_reset(a.server);
        expect_reset(b.client);
        expect_reset(b.server);
        pair_close(&a);
        pair_close(&b);

        /* Later connections pass. */
        a = pair_open(p, lfd);
        send_str(a.client, "x\r\n");
        recv_expect(a.server, "x\r\n");

        /* rst all: this one and every later one is reset. */
        ck_assert_int_eq(th_proxy_rst(p, true), 0);
        expect_reset(a.client);
        expect_reset(a.server);
        pair_close(&a);
        c = tcp_connect(th_proxy_port(p));
        expect_reset(c);
        ck_assert_uint_eq(count(p), 4);

        /* pass ends it. */
        ck_assert_int_eq(th_proxy_pass(p), 0);
        a = pair_open(p, lfd);
        send_str(a.server, "y\r\n");
        recv_expect(a.client, "y\r\n");
        pair_close(&a);
}
END_TEST

/* ---- stall-after --------------------------------------------------------------------------------- */

START_TEST(test_stall_after) {
        _cleanup_close_ int lfd = -EBADF;
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        uint16_t port;
        Pair a, b, c, d;

        lfd = upstream_listen(&port);
        p = start(port);
        a = pair_open(p, lfd);
        ck_assert_int_eq(th_proxy_stall_after(p, "+ idling", false), 0);

        /* The match spans two reads: the first part went through already. */
        send_str(a.server, "* OK hi\r\n+ idl");
        recv_expect(a.client, "* OK hi\r\n+ idl");
        send_str(a.server, "ing\r\n* 1 EXISTS\r\n");
        recv_expect(a.client, "ing\r\n");
        ck_assert_int_eq(th_proxy_wait_triggered(p, 1, SAFETY_MS), 0);
        expect_quiet(a.client);
        send_str(a.client, "DONE\r\n");
        expect_quiet(a.server);

        /* The end of the matching line comes in a later read. */
        b = pair_open(p, lfd);
        send_str(b.server, "+ idling");
        recv_expect(b.client, "+ idling");
        send_str(b.server, " still\r\nX");
        recv_expect(b.client, " still\r\n");
        expect_quiet(b.client);
        ck_assert_uint_eq(triggered(p), 2);

        /* once: the first trigger puts the proxy back into pass; the pattern
         * ends with LF (and holds a backslash, escaped on the control line). */
        ck_assert_int_eq(th_proxy_stall_after(p, "+ g\\o\r\n", true), 0);
        c = pair_open(p, lfd);
        send_str(c.server, "+ g\\o\r\nZ");
        recv_expect(c.client, "+ g\\o\r\n");
        expect_quiet(c.client);
        d = pair_open(p, lfd);
        send_str(d.server, "+ g\\o\r\nmore\r\n");
        recv_expect(d.client, "+ g\\o\r\nmore\r\n");
        send_str(d.client, "e1 NOOP\r\n");
        recv_expect(d.server, "e1 NOOP\r\n");
        ck_assert_uint_eq(triggered(p), 3);

        /* The stalled connections stay stalled. */
        send_str(a.server, "* 2 EXISTS\r\n");
        expect_quiet(a.client);
        pair_close(&a);
        pair_close(&b);
        pair_close(&c);
        pair_close(&d);
}
END_TEST

/* ---- drop-after-client --------------------------------------------------------------------------- */

START_TEST(test_drop_after_client) {
        _cleanup_close_ int lfd = -EBADF;
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        uint16_t port;
        Pair a;

        lfd = upstream_listen(&port);
        p = start(port);
        a = pair_open(p, lfd);
        ck_assert_int_eq(th_proxy_drop_after_client(p, "DONE\r\n", false), 0);
        send_str(a.client, "a IDLE\r\n");
        recv_expect(a.server, "a IDLE\r\n");
        send_str(a.server, "+ idling\r\n");
        recv_expect(a.client, "+ idling\r\n");
        ck_assert_uint_eq(triggered(p), 0);

        /* The pattern split over two reads still matches, and reaches the server. */
        send_str(a.client, "DON");
        recv_expect(a.server, "DON");
        send_str(a.client, "E\r\n");
        recv_expect(a.server, "E\r\n");
        ck_assert_int_eq(th_proxy_wait_triggered(p, 1, SAFETY_MS), 0);
        send_str(a.server, "a OK Idle completed\r\n");
        expect_quiet(a.client);

        /* Client bytes still go on; the server's FIN does not reach the client. */
        send_str(a.client, "b NOOP\r\n");
        recv_expect(a.server, "b NOOP\r\n");
        (void) close(a.server);
        a.server = -EBADF;
        expect_quiet(a.client);
        pair_close(&a);
}
END_TEST

/* ---- half-line ----------------------------------------------------------------------------------- */

START_TEST(test_half_line) {
        _cleanup_close_ int lfd = -EBADF;
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        uint16_t port;
        Pair a, b;

        lfd = upstream_listen(&port);
        p = start(port);
        a = pair_open(p, lfd);
        b = pair_open(p, lfd);
        send_str(a.server, "* OK x\r\n");
        recv_expect(a.client, "* OK x\r\n");
        /* b is in the middle of a line when half-line is set. */
        send_str(b.server, "abc");
        recv_expect(b.client, "abc");

        ck_assert_int_eq(th_proxy_half_line(p, false), 0);
        /* 12 bytes, CRLF included: 6 go through. */
        send_str(a.server, "0123456789\r\n* 1 EXISTS\r\n");
        recv_expect(a.client, "012345");
        expect_quiet(a.client);
        send_str(a.client, "x NOOP\r\n");
        expect_quiet(a.server);

        /* b: the rest of its line, then half of the next one. */
        send_str(b.server, "def\r\n01234");
        recv_expect(b.client, "def\r\n");
        send_str(b.server, "56789\r\nmore\r\n");
        recv_expect(b.client, "012345");
        expect_quiet(b.client);
        ck_assert_uint_eq(triggered(p), 2);
        pair_close(&a);
        pair_close(&b);
}
END_TEST

/* A line longer than TH_PROXY_HALF_LINE_MAX is cut there. */
START_TEST(test_half_line_cap) {
        _cleanup_close_ int lfd = -EBADF;
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        static char big[TH_PROXY_HALF_LINE_MAX + 100], got[TH_PROXY_HALF_LINE_MAX / 2];
        uint16_t port;
        Pair a;

        lfd = upstream_listen(&port);
        p = start(port);
        ck_assert_int_eq(th_proxy_half_line(p, true), 0);
        a = pair_open(p, lfd);
        memset(big, 'x', sizeof(big));
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (char) ('a' + i % 26);
        send_bytes(a.server, big, sizeof(big));
        recv_n(a.client, got, sizeof(got));
        ck_assert(memcmp(got, big, sizeof(got)) == 0);
        expect_quiet(a.client);
        ck_assert_uint_eq(triggered(p), 1);
        pair_close(&a);

        /* once: the next connection passes whole lines. */
        a = pair_open(p, lfd);
        send_str(a.server, "0123456789\r\n");
        recv_expect(a.client, "0123456789\r\n");
        pair_close(&a);
}
END_TEST

/* ---- drip ---------------------------------------------------------------------------------------- */

START_TEST(test_drip) {
        static const char text[] = "0123456789";
        _cleanup_close_ int lfd = -EBADF;
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        const unsigned interval = 40;
        char buf[sizeof(text)];
        uint64_t t0, t1;
        uint16_t port;
        Pair a;

        lfd = upstream_listen(&port);
        p = start(port);
        a = pair_open(p, lfd);
        ck_assert_int_eq(th_proxy_drip(p, interval), 0);
        t0 = now_ms();
        send_str(a.server, text);
        recv_n(a.client, buf, strlen(text));
        t1 = now_ms();
        buf[strlen(text)] = '\0';
        ck_assert_str_eq(buf, text);
        /* Byte i leaves the proxy at least i intervals after byte 0, which
         * left after t0: a lower bound that delays cannot break. */
        ck_assert_uint_ge(t1 - t0, (uint64_t) (strlen(text) - 1) * interval);
        /* The other direction is not slowed. */
        send_str(a.client, "a NOOP\r\n");
        recv_expect(a.server, "a NOOP\r\n");

        /* pass ends the drip: the rest comes long before the next byte would. */
        ck_assert_int_eq(th_proxy_drip(p, TH_PROXY_DRIP_MAX_MS), 0);
        send_str(a.server, "abcdef");
        recv_expect(a.client, "a");
        ck_assert_int_eq(th_proxy_pass(p), 0);
        recv_expect(a.client, "bcdef");
        pair_close(&a);
}
END_TEST

/* ---- the control protocol ------------------------------------------------------------------------ */

static void expect_error(ThProxy *p, const char *line, const char *want) {
        char reply[TH_PROXY_LINE_MAX];

        ck_assert_int_eq(th_proxy_command(p, line, reply, sizeof(reply)), -EINVAL);
        ck_assert_str_eq(reply, want);
}

START_TEST(test_control_errors) {
        _cleanup_close_ int lfd = -EBADF;
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        char pat[TH_PROXY_PATTERN_MAX + 2], line[2 * TH_PROXY_LINE_MAX], reply[64];
        uint16_t port;
        Pair a;

        lfd = upstream_listen(&port);
        p = start(port);
        expect_error(p, "bogus", "error unknown command");
        expect_error(p, "", "error unknown command");
        expect_error(p, "pass now", "error no argument expected");
        expect_error(p, "count 1", "error no argument expected");
        expect_error(p, "once count", "error unknown command");
        expect_error(p, "once blackhole", "error once works only with stall-after, drop-after-client, half-line");
        expect_error(p, "rst later", "error only \"all\" may follow rst");
        expect_error(p, "drip", "error interval is not a number");
        expect_error(p, "drip -5", "error interval is not a number");
        expect_error(p, "drip 0", "error interval out of range 1..600000");
        expect_error(p, "drip 600001", "error interval out of range 1..600000");
        expect_error(p, "drip 5x", "error interval out of range 1..600000");
        expect_error(p, "stall-after", "error pattern missing");
        expect_error(p, "stall-after a\\tb", "error bad escape (only \\r \\n \\\\)");
        expect_error(p, "stall-after a\\", "error bad escape (only \\r \\n \\\\)");
        memset(pat, 'p', sizeof(pat));
        pat[TH_PROXY_PATTERN_MAX + 1] = '\0';
        (void) snprintf(line, sizeof(line), "drop-after-client %s", pat);
        expect_error(p, line, "error pattern too long");
        ck_assert_int_eq(th_proxy_drop_after_client(p, pat, false), -EINVAL);
        ck_assert_int_eq(th_proxy_stall_after(p, "", false), -EINVAL);
        pat[TH_PROXY_PATTERN_MAX] = '\0';
        ck_assert_int_eq(th_proxy_drop_after_client(p, pat, false), 0);     /* just fits */

        /* An overlong line gets one error, and the channel stays usable. */
        memset(line, 'z', sizeof(line) - 1);
        line[sizeof(line) - 1] = '\0';
        expect_error(p, line, "error line too long");
        ck_assert_int_eq(th_proxy_command(p, "count", reply, sizeof(reply)), 0);
        ck_assert_str_eq(reply, "0");
        ck_assert_int_eq(th_proxy_command(p, "pass", reply, sizeof(reply)), 0);
        ck_assert_str_eq(reply, "ok");

        /* A refused command changes nothing: still pass after "drip 0". */
        expect_error(p, "drip 0", "error interval out of range 1..600000");
        a = pair_open(p, lfd);
        send_str(a.server, "whole\r\n");
        recv_expect(a.client, "whole\r\n");
        pair_close(&a);
}
END_TEST

START_TEST(test_stop_kills_child) {
        _cleanup_close_ int lfd = -EBADF;
        ThProxy *p;
        uint16_t port;
        pid_t pid;

        lfd = upstream_listen(&port);
        p = start(port);
        pid = th_proxy_pid(p);
        ck_assert_ptr_null(th_proxy_stop(p));
        /* Reaped: no such child any more. */
        ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
        ck_assert_int_eq(errno, ECHILD);
        ck_assert_ptr_null(th_proxy_stop(NULL));
        ck_assert_uint_eq(th_proxy_port(NULL), 0);
        ck_assert_int_eq(th_proxy_pid(NULL), -1);
        ck_assert_int_eq(th_proxy_start(0, &p), -EINVAL);
}
END_TEST

/* At most 16 proxies per process (the atexit registry). */
START_TEST(test_registry_limit) {
        ThProxy *p[17] = {};

        for (size_t i = 0; i < 16; i++)
                ck_assert_int_eq(th_proxy_start(1, &p[i]), 0);
        ck_assert_int_eq(th_proxy_start(1, &p[16]), -EMFILE);
        ck_assert_ptr_null(p[16]);
        /* Stopping one makes room again. */
        p[0] = th_proxy_stop(p[0]);
        ck_assert_int_eq(th_proxy_start(1, &p[0]), 0);
        for (size_t i = 0; i < 16; i++)
                p[i] = th_proxy_stop(p[i]);
}
END_TEST

/* A child that does not answer, and one that is gone. */
START_TEST(test_child_stuck_or_gone) {
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        unsigned n;

        p = start(1);
        ck_assert_int_eq(kill(th_proxy_pid(p), SIGSTOP), 0);
        ck_assert_int_eq(th_proxy_count(p, &n), -ETIMEDOUT);
        ck_assert_int_eq(kill(th_proxy_pid(p), SIGCONT), 0);
        /* The late answer to the first question is skipped. */
        ck_assert_int_eq(th_proxy_count(p, &n), 0);
        ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(kill(th_proxy_pid(p), SIGKILL), 0);
        ck_assert_int_eq(th_proxy_pass(p), -EPIPE);
}
END_TEST

/* ---- the shell program --------------------------------------------------------------------------- */

typedef struct Shell {
        pid_t pid;
        FILE *in;       /* its stdin */
        FILE *out;      /* its stdout */
} Shell;

static Shell shell_spawn(const char *arg) {
        char *argv[] = { (char *) (uintptr_t) FAULTPROXY_PATH, (char *) (uintptr_t) arg, NULL };
        posix_spawn_file_actions_t fa;
        int to[2], from[2];
        Shell s;

        ck_assert_int_eq(pipe2(to, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(from, O_CLOEXEC), 0);
        ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
        ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, to[0], STDIN_FILENO), 0);
        ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, from[1], STDOUT_FILENO), 0);
        ck_assert_int_eq(posix_spawn(&s.pid, argv[0], &fa, NULL, argv, environ), 0);
        (void) posix_spawn_file_actions_destroy(&fa);
        (void) close(to[0]);
        (void) close(from[1]);
        s.in = fdopen(to[1], "w");
        s.out = fdopen(from[0], "r");
        ck_assert_ptr_nonnull(s.in);
        ck_assert_ptr_nonnull(s.out);
        return s;
}

/* Send one line, return its answer (static buffer). */
static const char *shell_ask(Shell *s, const char *line) {
        static char buf[TH_PROXY_LINE_MAX];

        ck_assert_int_ge(fprintf(s->in, "%s\n", line), 0);
        ck_assert_int_eq(fflush(s->in), 0);
        ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), s->out));
        ck_assert_ptr_nonnull(strchr(buf, '\n'));
        *strchr(buf, '\n') = '\0';
        return buf;
}

static int shell_wait(Shell *s) {
        int status;

        if (s->in)
                (void) fclose(s->in);
        ck_assert_int_eq(waitpid(s->pid, &status, 0), s->pid);
        (void) fclose(s->out);
        ck_assert(WIFEXITED(status));
        return WEXITSTATUS(status);
}

START_TEST(test_shell_program) {
        _cleanup_close_ int lfd = -EBADF;
        unsigned long proxy_port;
        char first[32], *end;
        uint16_t port;
        Shell s;
        Pair a;

        lfd = upstream_listen(&port);
        (void) snprintf(first, sizeof(first), "%u", (unsigned) port);
        s = shell_spawn(first);
        ck_assert_ptr_nonnull(fgets(first, sizeof(first), s.out));
        proxy_port = strtoul(first, &end, 10);
        ck_assert_str_eq(end, "\n");
        ck_assert(proxy_port > 0 && proxy_port <= 65535);

        ck_assert_str_eq(shell_ask(&s, "count"), "0");
        a.client = tcp_connect((uint16_t) proxy_port);
        a.server = accept_one(lfd);
        send_str(a.server, "* OK\r\n");
        recv_expect(a.client, "* OK\r\n");
        /* A pattern with a space and escapes, the rest of the line. */
        ck_assert_str_eq(shell_ask(&s, "drop-after-client x y\\r\\n"), "ok");
        send_str(a.client, "x y\r\n");
        recv_expect(a.server, "x y\r\n");
        ck_assert_str_eq(shell_ask(&s, "triggered"), "1");
        send_str(a.server, "a OK\r\n");
        expect_quiet(a.client);
        ck_assert_str_eq(shell_ask(&s, "count"), "1");
        ck_assert_str_eq(shell_ask(&s, "drip 5"), "ok");
        ck_assert_str_eq(shell_ask(&s, "once half-line"), "ok");
        ck_assert_str_eq(shell_ask(&s, "rst all"), "ok");
        ck_assert_str_eq(shell_ask(&s, "blackhole"), "ok");
        ck_assert_str_eq(shell_ask(&s, "stall-after + "), "ok");
        ck_assert_str_eq(shell_ask(&s, "pass"), "ok");
        ck_assert_str_eq(shell_ask(&s, "frobnicate"), "error unknown command");
        ck_assert_str_eq(shell_ask(&s, "drip x"), "error interval is not a number");
        ck_assert_int_eq(shell_wait(&s), 0);
        /* The proxy went with it: the proxied connection is gone (FIN, or
         * RST if the killed child had unread bytes). */
        {
                char ch;
                ssize_t k = recv(a.client, &ch, 1, 0);

                ck_assert(k == 0 || (k < 0 && errno == ECONNRESET));
        }
        pair_close(&a);

        s = shell_spawn("0");
        ck_assert_int_eq(shell_wait(&s), 2);
        s = shell_spawn("70000");
        ck_assert_int_eq(shell_wait(&s), 2);
}
END_TEST

static Suite *faultproxy_suite(void) {
        Suite *s = suite_create("faultproxy");
        TCase *tc = tcase_create("modes");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_pass);
        tcase_add_test(tc, test_pass_reset_passed_on);
        tcase_add_test(tc, test_unreachable_upstream);
        tcase_add_test(tc, test_blackhole);
        tcase_add_test(tc, test_connection_limit);
        tcase_add_test(tc, test_rst);
        tcase_add_test(tc, test_stall_after);
        tcase_add_test(tc, test_drop_after_client);
        tcase_add_test(tc, test_half_line);
        tcase_add_test(tc, test_half_line_cap);
        tcase_add_test(tc, test_drip);
        tcase_add_test(tc, test_control_errors);
        tcase_add_test(tc, test_stop_kills_child);
        tcase_add_test(tc, test_registry_limit);
        tcase_add_test(tc, test_child_stuck_or_gone);
        tcase_add_test(tc, test_shell_program);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(faultproxy_suite());
}
