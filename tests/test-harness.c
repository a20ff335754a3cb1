/* SPDX-License-Identifier: MIT */
/*
 * test-harness.c: tests of the test harness itself.  fake-imapd scripts that
 * must pass and scripts that must fail (wrong line, missing line, data where
 * EOF was expected, every limit and timeout), driven by a raw socket client
 * written here, and the same over implicit TLS with a raw OpenSSL client
 * (close_notify versus RST, one record per SEND, handshake failures); and the
 * private Dovecot: plain LOGIN/SELECT/NOOP after a
 * doveadm delivery, IDLE, capabilities, the PREAUTH tunnel, TLS and STARTTLS
 * verified against the throwaway CA, and that stopping leaves no process and
 * no directory behind, also after the starting process exits or crashes.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "fake-imapd.h"
#include "macro.h"
#include "th-certs.h"
#include "th-dovecot.h"
#include "th.h"


/* Safety net for every blocking read in these tests; never reached when the
 * harness works. */
#define IO_TIMEOUT_SEC 20

static void set_timeouts(int fd) {
        struct timeval tv = { .tv_sec = IO_TIMEOUT_SEC };

        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
}

static int tcp_connect(uint16_t port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        int fd;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        set_timeouts(fd);
        ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

static void send_str(int fd, const char *s) {
        ck_assert_int_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t) strlen(s));
}

/* Read one line byte by byte (so nothing after it is consumed) into buf,
 * NUL-terminated, LF included.  Returns its length, 0 on EOF, -errno. */
static ssize_t recv_line(int fd, char *buf, size_t n) {
        size_t len = 0;

        while (len + 1 < n) {
                ssize_t k = read(fd, buf + len, 1);

                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                if (buf[len++] == '\n')
                        break;
        }
        buf[len] = '\0';
        return (ssize_t) len;
}

static void expect_line(int fd, const char *want) {
        char buf[1024];

        ck_assert_int_eq(recv_line(fd, buf, sizeof(buf)), (ssize_t) strlen(want));
        ck_assert_str_eq(buf, want);
}

/* Read lines until one starts with "<tag> "; return it (static buffer). */
static const char *read_until_tagged(int fd, const char *tag, Buf *untagged) {
        static char line[16384];
        size_t tl = strlen(tag);

        for (;;) {
                ssize_t n = recv_line(fd, line, sizeof(line));

                ck_assert_int_gt(n, 0);
                if ((size_t) n > tl && strncmp(line, tag, tl) == 0 && line[tl] == ' ')
                        return line;
                if (untagged)
                        ck_assert_int_eq(buf_append(untagged, line, (size_t) n, 0), 0);
        }
}

/* ---- fake-imapd ------------------------------------------------------------------------------ */

static const FakeStep login_script[] = {
        FAKE_SEND("* OK fake ready\r\n"),
        FAKE_EXPECT("<tag> LOGIN user \"pass\""),
        FAKE_SEND("<tag> OK LOGIN done\r\n"),
        FAKE_EXPECT("<tag> LOGOUT"),
        FAKE_SEND("* BYE bye\r\n<tag> OK LOGOUT done\r\n"),
        FAKE_CLOSE(),
        FAKE_EXPECT_EOF(),
        FAKE_END,
};

START_TEST(test_fake_pass) {
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        char buf[64];
        int fd;

        ck_assert_int_eq(fake_imapd_start(login_script, &f), 0);
        ck_assert_uint_ne(fake_imapd_port(f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        expect_line(fd, "* OK fake ready\r\n");
        send_str(fd, "A001 LOGIN user \"pass\"\r\n");
        expect_line(fd, "A001 OK LOGIN done\r\n");
        send_str(fd, "A002 LOGOUT\r\n");
        expect_line(fd, "* BYE bye\r\n");
        expect_line(fd, "A002 OK LOGOUT done\r\n");
        /* FAKE_CLOSE: the client sees EOF. */
        ck_assert_int_eq(recv_line(fd, buf, sizeof(buf)), 0);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(fake_imapd_wait(f, &report), 0);
        ck_assert_ptr_null(report);
}
END_TEST

/* Run login_script (or another) against a client that sends 'lines' after
 * reading the greeting, then closes; return the wait result and report. */
static int run_client(const FakeStep *script, const FakeImapdOptions *opts, const char *lines, char **ret_report,
                      FakeImapd **ret_f) {
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        char buf[256];
        int fd = -EBADF, r;

        if (opts && opts->socketpair)
                ck_assert_int_eq(fake_imapd_start_full(script, opts, &fd, &f), 0);
        else {
                ck_assert_int_eq(fake_imapd_start_full(script, opts, NULL, &f), 0);
                fd = tcp_connect(fake_imapd_port(f));
        }
        set_timeouts(fd);
        if (script[0].type == FAKE_STEP_SEND && strncmp(script[0].data, "* ", 2) == 0)
                ck_assert_int_gt(recv_line(fd, buf, sizeof(buf)), 0);
        if (lines)
                (void) send(fd, lines, strlen(lines), MSG_NOSIGNAL);
        ck_assert_int_eq(close(fd), 0);
        r = fake_imapd_wait(f, ret_report);
        if (ret_f)
                *ret_f = TAKE_PTR(f);
        return r;
}

START_TEST(test_fake_wrong_line) {
        _cleanup_free_ char *report = NULL;

        /* Unquoted password: the line differs from the script. */
        ck_assert_int_eq(run_client(login_script, NULL, "a1 LOGIN user pass\r\n", &report, NULL), -EBADMSG);
        ck_assert_ptr_nonnull(report);
        ck_assert_ptr_nonnull(strstr(report, "step 1 (EXPECT): line differs"));
        ck_assert_ptr_nonnull(strstr(report, "expected \"<tag> LOGIN user \\\"pass\\\"\" + \"\\r\\n\""));
        ck_assert_ptr_nonnull(strstr(report, "received \"a1 LOGIN user pass\\r\\n\""));
}
END_TEST

START_TEST(test_fake_bare_lf_and_escapes) {
        _cleanup_free_ char *report = NULL;

        /* The same text ended by LF alone is not a CRLF line; control bytes are escaped. */
        ck_assert_int_eq(run_client(login_script, NULL, "a1 LOGIN user \"pass\"\x01\n", &report, NULL), -EBADMSG);
        ck_assert_ptr_nonnull(strstr(report, "received \"a1 LOGIN user \\\"pass\\\"\\x01\\n\""));
}
END_TEST

START_TEST(test_fake_missing_line) {
        _cleanup_free_ char *report = NULL;

        /* LOGIN arrives, LOGOUT never does: EOF at step 3. */
        ck_assert_int_eq(run_client(login_script, NULL, "a1 LOGIN user \"pass\"\r\n", &report, NULL), -ECONNRESET);
        ck_assert_ptr_nonnull(strstr(report, "step 3 (EXPECT): EOF"));
        ck_assert_ptr_nonnull(strstr(report, "expected \"<tag> LOGOUT\""));
}
END_TEST

START_TEST(test_fake_partial_line_at_eof) {
        _cleanup_free_ char *report = NULL;

        ck_assert_int_eq(run_client(login_script, NULL, "a1 LOG", &report, NULL), -ECONNRESET);
        ck_assert_ptr_nonnull(strstr(report, "received so far \"a1 LOG\""));
}
END_TEST

static const FakeStep greet_then_eof[] = {
        FAKE_SEND("* OK hi\r\n"),
        FAKE_EXPECT_EOF(),
        FAKE_END,
};

START_TEST(test_fake_data_instead_of_eof) {
        _cleanup_free_ char *report = NULL;

        ck_assert_int_eq(run_client(greet_then_eof, NULL, "x LOGIN a b\r\n", &report, NULL), -EBADMSG);
        ck_assert_ptr_nonnull(strstr(report, "step 1 (EXPECT_EOF): data instead of EOF"));
        ck_assert_ptr_nonnull(strstr(report, "\"x LOGIN a b\\r\\n\""));
}
END_TEST

START_TEST(test_fake_record_nothing_sent) {
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        FakeImapdOptions o = { .record = true };
        size_t len = 1;

        ck_assert_int_eq(run_client(greet_then_eof, &o, NULL, NULL, &f), 0);
        ck_assert_ptr_null(fake_imapd_received(f, &len));
        ck_assert_uint_eq(len, 0);
}
END_TEST

static const FakeStep any_script[] = {
        FAKE_SEND("* OK hi\r\n"),
        FAKE_EXPECT_ANY(),
        FAKE_SEND("<tag> OK any\r\n"),
        FAKE_EXPECT("<tag> NOOP"),
        FAKE_SEND_RAW("+ \0\r\n", 5),
        FAKE_SEND("<tag> OK <tag>\r\n"),
        FAKE_EXPECT_EOF(),
        FAKE_END,
};

START_TEST(test_fake_any_raw_record) {
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        FakeImapdOptions o = { .record = true };
        const char *sent = "T1 WHATEVER (x)\r\nT2 NOOP\r\n";
        _cleanup_free_ char *report = NULL;
        const void *rec;
        char buf[64];
        size_t len;
        int fd;

        ck_assert_int_eq(fake_imapd_start_full(any_script, &o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        expect_line(fd, "* OK hi\r\n");
        send_str(fd, "T1 WHATEVER (x)\r\n");
        expect_line(fd, "T1 OK any\r\n");
        send_str(fd, "T2 NOOP\r\n");
        /* SEND_RAW: the NUL byte arrives as is. */
        ck_assert_int_eq(recv(fd, buf, 5, MSG_WAITALL), 5);
        ck_assert_int_eq(memcmp(buf, "+ \0\r\n", 5), 0);
        expect_line(fd, "T2 OK T2\r\n");
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(fake_imapd_wait(f, &report), 0);
        rec = fake_imapd_received(f, &len);
        ck_assert_uint_eq(len, strlen(sent));
        ck_assert_int_eq(memcmp(rec, sent, len), 0);
}
END_TEST

START_TEST(test_fake_tag_must_repeat) {
        static const FakeStep script[] = {
                FAKE_EXPECT("<tag> UID <tag>"),
                FAKE_END,
        };
        _cleanup_free_ char *report = NULL;

        ck_assert_int_eq(run_client(script, NULL, "a UID b\r\n", &report, NULL), -EBADMSG);
        report = mfree(report);
        ck_assert_int_eq(run_client(script, NULL, "a UID a\r\n", &report, NULL), 0);
        /* A tag needs at least one tag character ("+" is not one). */
        ck_assert_int_eq(run_client(script, NULL, "+ UID +\r\n", &report, NULL), -EBADMSG);
}
END_TEST

START_TEST(test_fake_tag_before_capture) {
        static const FakeStep script[] = {
                FAKE_SEND("<tag> OK\r\n"),
                FAKE_END,
        };
        _cleanup_free_ char *report = NULL;

        ck_assert_int_eq(run_client(script, NULL, NULL, &report, NULL), -EINVAL);
        ck_assert_ptr_nonnull(strstr(report, "before any tag was captured"));
}
END_TEST

START_TEST(test_fake_close_and_reset) {
        static const FakeStep reset[] = {
                FAKE_SEND("* OK hi\r\n"),
                FAKE_EXPECT("a NOOP"),
                FAKE_RESET(),
                FAKE_END,
        };
        static const FakeStep after_reset[] = {
                FAKE_RESET(),
                FAKE_SEND("* OK late\r\n"),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        char buf[64];
        int fd;

        ck_assert_int_eq(fake_imapd_start(reset, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        expect_line(fd, "* OK hi\r\n");
        send_str(fd, "a NOOP\r\n");
        /* RST, not FIN: the read fails instead of returning EOF. */
        ck_assert_int_eq(recv_line(fd, buf, sizeof(buf)), -ECONNRESET);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(fake_imapd_wait(f, NULL), 0);

        ck_assert_int_eq(run_client(after_reset, NULL, NULL, &report, NULL), -EINVAL);
        ck_assert_ptr_nonnull(strstr(report, "step 1 (SEND): the connection was already reset"));
}
END_TEST

START_TEST(test_fake_line_limit) {
        FakeImapdOptions o = { .line_max = 16 };
        _cleanup_free_ char *report = NULL;

        /* 16 bytes including CRLF is the most a line may have. */
        ck_assert_int_eq(run_client(login_script, &o, "a LOGIN user \"\r\n", &report, NULL), -EBADMSG);
        report = mfree(report);
        ck_assert_int_eq(run_client(login_script, &o, "a LOGIN user \"p\"\r\n", &report, NULL), -EMSGSIZE);
        ck_assert_ptr_nonnull(strstr(report, "line too long"));
}
END_TEST

START_TEST(test_fake_record_limit) {
        FakeImapdOptions o = { .record = true, .record_max = 8 };
        _cleanup_free_ char *report = NULL;

        ck_assert_int_eq(run_client(greet_then_eof, &o, "123456789", &report, NULL), -EMSGSIZE);
        ck_assert_ptr_nonnull(strstr(report, "recording limit exceeded"));
}
END_TEST

START_TEST(test_fake_read_timeout) {
        static const FakeStep script[] = {
                FAKE_SEND("* OK hi\r\n"),
                FAKE_EXPECT("a NOOP"),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        FakeImapdOptions o = { .timeout_ms = 50 };
        _cleanup_free_ char *report = NULL;
        int fd;

        /* The client stays connected and silent until the server gives up
         * (accepting keeps the default timeout, so a slow start cannot fail it). */
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        expect_line(fd, "* OK hi\r\n");
        ck_assert_int_eq(fake_imapd_wait(f, &report), -ETIMEDOUT);
        ck_assert_ptr_nonnull(strstr(report, "step 1 (EXPECT): timed out after 50 ms"));
        ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_fake_no_client) {
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        FakeImapdOptions o = { .accept_timeout_ms = 50 };
        _cleanup_free_ char *report = NULL;

        ck_assert_int_eq(fake_imapd_start_full(login_script, &o, NULL, &f), 0);
        ck_assert_int_eq(fake_imapd_wait(f, &report), -ETIMEDOUT);
        ck_assert_ptr_nonnull(strstr(report, "no client connected"));
}
END_TEST

START_TEST(test_fake_connections) {
        /* .connections: the script again on each new connection, tags captured afresh; a
         * failure names the connection; after the last accept, connecting is refused. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK fake ready\r\n"),
                FAKE_EXPECT("<tag> NOOP"),
                FAKE_SEND("<tag> OK n\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        FakeImapdOptions o = { .connections = 3, .accept_timeout_ms = 2000 };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        char buf[64];
        int fd;

        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        for (unsigned k = 0; k < 3; k++) {
                char cmd[32], ok[32];

                fd = tcp_connect(fake_imapd_port(f));
                set_timeouts(fd);
                expect_line(fd, "* OK fake ready\r\n");
                snprintf(cmd, sizeof(cmd), "c%u NOOP\r\n", k);
                snprintf(ok, sizeof(ok), "c%u OK n\r\n", k);
                send_str(fd, k < 2 ? cmd : "c9 LOGOUT\r\n");
                if (k < 2)
                        expect_line(fd, ok);
                else
                        ck_assert_int_eq(recv_line(fd, buf, sizeof(buf)), 0);
                ck_assert_int_eq(close(fd), 0);
        }
        ck_assert_int_eq(fake_imapd_wait(f, &report), -EBADMSG);
        ck_assert_msg(strstr(report, "connection 3 of 3: step 1 (EXPECT): line differs") == report, "%s", report);
        {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(fake_imapd_port(f)),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                ck_assert_int_ge(fd, 0);
                ck_assert_int_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), -1);
                ck_assert_int_eq(errno, ECONNREFUSED);
                ck_assert_int_eq(close(fd), 0);
        }
}
END_TEST

START_TEST(test_fake_next_scripts) {
        /* .next_scripts: each connection its own script, in order; .connections is ignored;
         * a failure names the connection. */
        static const FakeStep first[] = {
                FAKE_SEND("* OK first\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        static const FakeStep second[] = {
                FAKE_SEND("* OK second\r\n"),
                FAKE_EXPECT("<tag> NOOP"),
                FAKE_END,
        };
        static const FakeStep *const next[] = { second, second, NULL };
        FakeImapdOptions o = { .next_scripts = next, .connections = 9, .accept_timeout_ms = 2000 };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        int fd;

        ck_assert_int_eq(fake_imapd_start_full(first, &o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        set_timeouts(fd);
        expect_line(fd, "* OK first\r\n");
        ck_assert_int_eq(close(fd), 0);
        for (unsigned k = 0; k < 2; k++) {
                fd = tcp_connect(fake_imapd_port(f));
                set_timeouts(fd);
                expect_line(fd, "* OK second\r\n");
                send_str(fd, k == 0 ? "n1 NOOP\r\n" : "n2 LOGOUT\r\n");
                ck_assert_int_eq(close(fd), 0);
        }
        ck_assert_int_eq(fake_imapd_wait(f, &report), -EBADMSG);
        ck_assert_msg(strstr(report, "connection 3 of 3: step 1 (EXPECT): line differs") == report, "%s", report);
}
END_TEST

START_TEST(test_fake_socketpair) {
        FakeImapdOptions o = { .socketpair = true, .record = true };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        char buf[64];
        int fd;

        ck_assert_int_eq(fake_imapd_start_full(login_script, &o, &fd, &f), 0);
        ck_assert_uint_eq(fake_imapd_port(f), 0);
        set_timeouts(fd);
        expect_line(fd, "* OK fake ready\r\n");
        send_str(fd, "s1 LOGIN user \"pass\"\r\ns2 LOGOUT\r\n");
        /* Pipelined: the second line was already buffered when the first matched. */
        expect_line(fd, "s1 OK LOGIN done\r\n");
        expect_line(fd, "* BYE bye\r\n");
        expect_line(fd, "s2 OK LOGOUT done\r\n");
        ck_assert_int_eq(recv_line(fd, buf, sizeof(buf)), 0);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(fake_imapd_wait(f, &report), 0);
}
END_TEST

START_TEST(test_fake_child_killed) {
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;

        ck_assert_int_eq(fake_imapd_start(login_script, &f), 0);
        ck_assert_int_eq(kill(fake_imapd_pid(f), SIGKILL), 0);
        ck_assert_int_eq(fake_imapd_wait(f, &report), -EIO);
        ck_assert_ptr_nonnull(strstr(report, "killed by signal 9"));
        /* wait is once only */
        ck_assert_int_eq(fake_imapd_wait(f, NULL), -EINVAL);
}
END_TEST

START_TEST(test_fake_free_running) {
        FakeImapd *f = NULL;

        /* Freeing without waiting kills and reaps the child. */
        ck_assert_int_eq(fake_imapd_start(login_script, &f), 0);
        ck_assert_ptr_null(fake_imapd_free(f));
        ck_assert_ptr_null(fake_imapd_free(NULL));
}
END_TEST

/* ---- fake-imapd over TLS ---------------------------------------------------------------------- */

/* One CA and a leaf for localhost/127.0.0.1, made once in the parent by an
 * unchecked fixture (the forked tests inherit them), removed after. */
static char tls_dir[] = "/tmp/th-fake-tls-XXXXXX";
static ThCerts tls_certs;
static int tls_certs_r = -ENODATA;

static void tls_setup(void) {
        /* No ck_assert here (unchecked fixture): each test checks tls_certs_r. */
        if (!mkdtemp(tls_dir)) {
                tls_certs_r = -errno;
                return;
        }
        tls_certs_r = th_certs_make(tls_dir, (const char *const[]) { "localhost", NULL },
                                    (const char *const[]) { "127.0.0.1", NULL }, &tls_certs);
}

static void tls_teardown(void) {
        if (tls_certs_r == 0) {
                (void) unlink(tls_certs.ca_file);
                (void) unlink(tls_certs.ca_key_file);
                (void) unlink(tls_certs.cert_file);
                (void) unlink(tls_certs.key_file);
        }
        (void) rmdir(tls_dir);
}

static FakeImapdOptions tls_opts(void) {
        ck_assert_int_eq(tls_certs_r, 0);
        return (FakeImapdOptions) { .tls_cert_file = tls_certs.cert_file, .tls_key_file = tls_certs.key_file };
}

/* A verifying TLS client on the blocking fd (its socket timeouts are the
 * safety net): trusts the test CA, checks the name "localhost". */
static SSL *tls_connect_fd(int fd) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        SSL *ssl;

        ck_assert_ptr_nonnull(ctx);
        ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, tls_certs.ca_file, NULL), 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        ssl = SSL_new(ctx);
        SSL_CTX_free(ctx); /* the SSL keeps its own reference */
        ck_assert_ptr_nonnull(ssl);
        ck_assert_int_eq(SSL_set1_host(ssl, "localhost"), 1);
        ck_assert_int_eq(SSL_set_fd(ssl, fd), 1);
        ck_assert_msg(SSL_connect(ssl) == 1, "TLS handshake with the fake failed");
        ck_assert_int_eq(SSL_get_verify_result(ssl), X509_V_OK);
        return ssl;
}

/* One SSL_read returns at most one TLS record, so this checks that a SEND
 * step arrived as exactly one record with exactly these bytes. */
static void tls_expect_record(SSL *ssl, const void *want, size_t n) {
        char buf[1024];
        int k = SSL_read(ssl, buf, sizeof(buf));

        ck_assert_int_eq(k, (int) n);
        ck_assert_int_eq(memcmp(buf, want, n), 0);
}
#define TLS_EXPECT(ssl, s) tls_expect_record(ssl, s, strlen(s))

static void tls_send_str(SSL *ssl, const char *s) {
        ck_assert_int_eq(SSL_write(ssl, s, (int) strlen(s)), (int) strlen(s));
}

/* The fake's close_notify: a clean end of the TLS stream. */
static void tls_expect_close_notify(SSL *ssl) {
        char buf[16];
        int k = SSL_read(ssl, buf, sizeof(buf));

        ck_assert_int_eq(k, 0);
        ck_assert_int_eq(SSL_get_error(ssl, k), SSL_ERROR_ZERO_RETURN);
}

START_TEST(test_fake_tls_pass) {
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        FakeImapdOptions o = tls_opts();
        const char *sent = "A001 LOGIN user \"pass\"\r\nA002 LOGOUT\r\n";
        _cleanup_free_ char *report = NULL;
        const void *rec;
        char c;
        size_t len;
        SSL *ssl;
        int fd;

        o.record = true;
        ck_assert_int_eq(fake_imapd_start_full(login_script, &o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        ssl = tls_connect_fd(fd);
        TLS_EXPECT(ssl, "* OK fake ready\r\n");
        /* No session ticket came before the greeting (TLS 1.3 sends them as records of their own). */
        ck_assert_int_eq(SSL_SESSION_has_ticket(SSL_get_session(ssl)), 0);
        tls_send_str(ssl, "A001 LOGIN user \"pass\"\r\n");
        TLS_EXPECT(ssl, "A001 OK LOGIN done\r\n");
        tls_send_str(ssl, "A002 LOGOUT\r\n");
        /* Two lines, one SEND: one record. */
        TLS_EXPECT(ssl, "* BYE bye\r\nA002 OK LOGOUT done\r\n");
        /* CLOSE: close_notify, then FIN. */
        tls_expect_close_notify(ssl);
        ck_assert_int_eq(recv(fd, &c, 1, 0), 0);
        /* Our close_notify and FIN satisfy EXPECT_EOF. */
        ck_assert_int_eq(SSL_shutdown(ssl), 1);
        SSL_free(ssl);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(fake_imapd_wait(f, &report), 0);
        ck_assert_ptr_null(report);
        /* The recording is the decrypted stream. */
        rec = fake_imapd_received(f, &len);
        ck_assert_uint_eq(len, strlen(sent));
        ck_assert_int_eq(memcmp(rec, sent, len), 0);
}
END_TEST

/* Like run_client() over TLS: handshake, read the greeting (one record),
 * send 'lines', then close with or without close_notify. */
static int run_tls_client(const FakeStep *script, FakeImapdOptions *o, const char *lines, bool close_notify,
                          char **ret_report) {
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        char buf[256];
        SSL *ssl;
        int fd;

        ck_assert_int_eq(fake_imapd_start_full(script, o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        ssl = tls_connect_fd(fd);
        if (script[0].type == FAKE_STEP_SEND && strncmp(script[0].data, "* ", 2) == 0)
                ck_assert_int_gt(SSL_read(ssl, buf, sizeof(buf)), 0);
        if (lines)
                tls_send_str(ssl, lines);
        if (close_notify)
                ck_assert_int_ge(SSL_shutdown(ssl), 0);
        SSL_free(ssl);
        ck_assert_int_eq(close(fd), 0);
        return fake_imapd_wait(f, ret_report);
}

START_TEST(test_fake_tls_wrong_line) {
        FakeImapdOptions o = tls_opts();
        _cleanup_free_ char *report = NULL;

        /* The same report as over plain TCP. */
        ck_assert_int_eq(run_tls_client(login_script, &o, "a1 LOGIN user pass\r\n", true, &report), -EBADMSG);
        ck_assert_ptr_nonnull(report);
        ck_assert_ptr_nonnull(strstr(report, "step 1 (EXPECT): line differs"));
        ck_assert_ptr_nonnull(strstr(report, "expected \"<tag> LOGIN user \\\"pass\\\"\" + \"\\r\\n\""));
        ck_assert_ptr_nonnull(strstr(report, "received \"a1 LOGIN user pass\\r\\n\""));
        report = mfree(report);
        ck_assert_int_eq(run_tls_client(greet_then_eof, &o, "x\r\n", true, &report), -EBADMSG);
        ck_assert_ptr_nonnull(strstr(report, "step 1 (EXPECT_EOF): data instead of EOF; received \"x\\r\\n\""));
        report = mfree(report);
        /* EOF (here close_notify) where a line was expected. */
        ck_assert_int_eq(run_tls_client(login_script, &o, "a1 LOGIN user \"pass\"\r\n", true, &report),
                         -ECONNRESET);
        ck_assert_ptr_nonnull(strstr(report, "step 3 (EXPECT): EOF"));
}
END_TEST

START_TEST(test_fake_tls_eof_either_way) {
        FakeImapdOptions o = tls_opts();

        /* EXPECT_EOF takes close_notify and a bare TCP FIN alike. */
        ck_assert_int_eq(run_tls_client(greet_then_eof, &o, NULL, true, NULL), 0);
        ck_assert_int_eq(run_tls_client(greet_then_eof, &o, NULL, false, NULL), 0);
}
END_TEST

START_TEST(test_fake_tls_reset) {
        static const FakeStep reset[] = {
                FAKE_SEND("* OK hi\r\n"),
                FAKE_EXPECT("a NOOP"),
                FAKE_RESET(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        FakeImapdOptions o = tls_opts();
        char buf[64];
        SSL *ssl;
        int fd, k;

        ck_assert_int_eq(fake_imapd_start_full(reset, &o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        ssl = tls_connect_fd(fd);
        TLS_EXPECT(ssl, "* OK hi\r\n");
        tls_send_str(ssl, "a NOOP\r\n");
        /* RST and no close_notify: a system call error, not a clean end. */
        errno = 0;
        k = SSL_read(ssl, buf, sizeof(buf));
        ck_assert_int_lt(k, 0);
        ck_assert_int_eq(SSL_get_error(ssl, k), SSL_ERROR_SYSCALL);
        ck_assert_int_eq(errno, ECONNRESET);
        SSL_free(ssl);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(fake_imapd_wait(f, NULL), 0);
}
END_TEST

START_TEST(test_fake_tls_read_after_close) {
        static const FakeStep script[] = {
                FAKE_SEND("* BYE going\r\n"),
                FAKE_CLOSE(),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        FakeImapdOptions o = tls_opts();
        _cleanup_free_ char *report = NULL;
        SSL *ssl;
        int fd;

        /* After its close_notify the fake still reads (TLS half-close). */
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        ssl = tls_connect_fd(fd);
        TLS_EXPECT(ssl, "* BYE going\r\n");
        tls_expect_close_notify(ssl);
        tls_send_str(ssl, "z LOGOUT\r\n");
        ck_assert_int_eq(SSL_shutdown(ssl), 1);
        SSL_free(ssl);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(fake_imapd_wait(f, &report), 0);
}
END_TEST

START_TEST(test_fake_tls_raw_and_socketpair) {
        FakeImapdOptions o = tls_opts();
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        SSL *ssl;
        int fd;

        o.socketpair = true;
        ck_assert_int_eq(fake_imapd_start_full(any_script, &o, &fd, &f), 0);
        set_timeouts(fd);
        ssl = tls_connect_fd(fd);
        TLS_EXPECT(ssl, "* OK hi\r\n");
        tls_send_str(ssl, "T1 WHATEVER (x)\r\n");
        TLS_EXPECT(ssl, "T1 OK any\r\n");
        tls_send_str(ssl, "T2 NOOP\r\n");
        tls_expect_record(ssl, "+ \0\r\n", 5);
        TLS_EXPECT(ssl, "T2 OK T2\r\n");
        /* END: close_notify before closing. */
        ck_assert_int_ge(SSL_shutdown(ssl), 0);
        tls_expect_close_notify(ssl);
        SSL_free(ssl);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(fake_imapd_wait(f, &report), 0);
}
END_TEST

START_TEST(test_fake_tls_timeouts) {
        static const FakeStep script[] = {
                FAKE_SEND("* OK hi\r\n"),
                FAKE_EXPECT("a NOOP"),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        FakeImapdOptions o = tls_opts();
        _cleanup_free_ char *report = NULL;
        SSL *ssl;
        int fd;

        /* A step's timeout over TLS (the handshake keeps the default). */
        o.timeout_ms = 50;
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        ssl = tls_connect_fd(fd);
        TLS_EXPECT(ssl, "* OK hi\r\n");
        ck_assert_int_eq(fake_imapd_wait(f, &report), -ETIMEDOUT);
        ck_assert_ptr_nonnull(strstr(report, "step 1 (EXPECT): timed out after 50 ms"));
        SSL_free(ssl);
        ck_assert_int_eq(close(fd), 0);
        f = fake_imapd_free(f);
        report = mfree(report);

        /* A client that connects and never starts the handshake. */
        o = tls_opts();
        o.accept_timeout_ms = 50;
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        ck_assert_int_eq(fake_imapd_wait(f, &report), -ETIMEDOUT);
        ck_assert_str_eq(report, "TLS handshake: timed out after 50 ms");
        ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_fake_tls_handshake_failures) {
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        FakeImapdOptions o = tls_opts();
        _cleanup_free_ char *report = NULL;
        int fd;

        /* A plaintext client. */
        ck_assert_int_eq(fake_imapd_start_full(login_script, &o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        send_str(fd, "a1 LOGIN user \"pass\"\r\n");
        ck_assert_int_eq(fake_imapd_wait(f, &report), -EPROTO);
        ck_assert_msg(strncmp(report, "TLS handshake failed: ", 22) == 0 && strlen(report) > 22, "%s", report);
        ck_assert_int_eq(close(fd), 0);
        f = fake_imapd_free(f);
        report = mfree(report);

        /* A client that connects and closes at once. */
        ck_assert_int_eq(fake_imapd_start_full(login_script, &o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(fake_imapd_wait(f, &report), -ECONNRESET);
        ck_assert_str_eq(report, "TLS handshake: EOF or connection reset");
}
END_TEST

START_TEST(test_fake_tls_protocol_error) {
        /* A well-formed record header, then bytes that do not decrypt. */
        static const char junk[] = "\x17\x03\x03\x00\x20" "0123456789abcdef0123456789abcdef";
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        FakeImapdOptions o = tls_opts();
        _cleanup_free_ char *report = NULL;
        SSL *ssl;
        int fd;

        ck_assert_int_eq(fake_imapd_start_full(login_script, &o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        ssl = tls_connect_fd(fd);
        TLS_EXPECT(ssl, "* OK fake ready\r\n");
        ck_assert_int_eq(send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL), (ssize_t) sizeof(junk) - 1);
        ck_assert_int_eq(fake_imapd_wait(f, &report), -EPROTO);
        ck_assert_msg(strstr(report, "step 1 (EXPECT): TLS read error: "), "%s", report);
        SSL_free(ssl);
        ck_assert_int_eq(close(fd), 0);
}
END_TEST

/* STARTTLS: plaintext first, the handshake at FAKE_STARTTLS(), then the same script over TLS. */
static const FakeStep starttls_script[] = {
        FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS] plain\r\n"),
        FAKE_EXPECT("<tag> STARTTLS"),
        FAKE_SEND("<tag> OK go\r\n"),
        FAKE_STARTTLS(),
        FAKE_EXPECT("<tag> NOOP"),
        FAKE_SEND("<tag> OK over TLS\r\n"),
        FAKE_EXPECT_EOF(),
        FAKE_END,
};

START_TEST(test_fake_starttls) {
        FakeImapdOptions o = tls_opts();
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        const char *sent = "s1 STARTTLS\r\ns2 NOOP\r\n";
        const void *rec;
        size_t len;
        SSL *ssl;
        int fd;

        o.starttls = true;
        o.record = true;
        ck_assert_int_eq(fake_imapd_start_full(starttls_script, &o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        set_timeouts(fd);
        expect_line(fd, "* OK [CAPABILITY IMAP4rev1 STARTTLS] plain\r\n");
        send_str(fd, "s1 STARTTLS\r\n");
        expect_line(fd, "s1 OK go\r\n");
        ssl = tls_connect_fd(fd);
        tls_send_str(ssl, "s2 NOOP\r\n");
        TLS_EXPECT(ssl, "s2 OK over TLS\r\n");
        ck_assert_int_ge(SSL_shutdown(ssl), 0);
        SSL_free(ssl);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_int_eq(fake_imapd_wait(f, &report), 0);
        /* The recording: the plaintext, then the decrypted stream. */
        rec = fake_imapd_received(f, &len);
        ck_assert_uint_eq(len, strlen(sent));
        ck_assert_int_eq(memcmp(rec, sent, len), 0);
}
END_TEST

START_TEST(test_fake_starttls_refusals) {
        /* Plaintext sent with STARTTLS (before the ClientHello) fails the step; so does
         * FAKE_STARTTLS() without .starttls, or without a certificate. */
        static const FakeStep no_cert_script[] = {
                FAKE_SEND("* OK plain\r\n"),
                FAKE_STARTTLS(),
                FAKE_END,
        };
        FakeImapdOptions o = tls_opts();
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *report2 = NULL, *report3 = NULL;
        int fd;

        o.starttls = true;
        ck_assert_int_eq(fake_imapd_start_full(starttls_script, &o, NULL, &f), 0);
        fd = tcp_connect(fake_imapd_port(f));
        set_timeouts(fd);
        expect_line(fd, "* OK [CAPABILITY IMAP4rev1 STARTTLS] plain\r\n");
        send_str(fd, "s1 STARTTLS\r\ns2 NOOP\r\n");
        expect_line(fd, "s1 OK go\r\n");
        ck_assert_int_eq(fake_imapd_wait(f, &report), -EBADMSG);
        ck_assert_msg(strstr(report, "step 3 (STARTTLS): plaintext from the client before the handshake: "
                             "\"s2 NOOP\\r\\n\"") == report, "%s", report);
        ck_assert_int_eq(close(fd), 0);

        ck_assert_int_eq(run_client(no_cert_script, NULL, NULL, &report2, NULL), -EINVAL);
        ck_assert_msg(strstr(report2, "step 1 (STARTTLS): needs opts.starttls"), "%s", report2);
        o = tls_opts();
        ck_assert_int_eq(run_tls_client(no_cert_script, &o, NULL, false, &report3), -EINVAL);
        ck_assert_msg(strstr(report3, "step 1 (STARTTLS): TLS is on already"), "%s", report3);
}
END_TEST

START_TEST(test_fake_tls_bad_files) {
        FakeImapdOptions o = tls_opts();
        FakeImapd *f = NULL;

        /* Bad files fail the start, before any fork. */
        o.tls_cert_file = "/nonexistent/cert.pem";
        ck_assert_int_eq(fake_imapd_start_full(login_script, &o, NULL, &f), -EINVAL);
        ck_assert_ptr_null(f);
        /* A key that is not the certificate's. */
        o = tls_opts();
        o.tls_key_file = tls_certs.ca_key_file;
        ck_assert_int_eq(fake_imapd_start_full(login_script, &o, NULL, &f), -EINVAL);
        /* No key file: the key must then be in the certificate file, and it is not. */
        o.tls_key_file = NULL;
        ck_assert_int_eq(fake_imapd_start_full(login_script, &o, NULL, &f), -EINVAL);
        ck_assert_ptr_null(f);
}
END_TEST

/* ---- private Dovecot --------------------------------------------------------------------------- */

static ThDovecot dovecot;
static int dovecot_r = -ENODATA;

static void dovecot_setup(void) {
        /* No ck_assert here (unchecked fixture): each test checks dovecot_r. */
        dovecot_r = th_dovecot_start(&dovecot);
}

static void dovecot_teardown(void) {
        th_dovecot_stop(&dovecot);
}

/* Connect to the plain port, read the greeting, log in as user i. */
static int dovecot_login(unsigned i) {
        char line[1024], cmd[128];
        const char *r;
        int fd;

        ck_assert_int_eq(dovecot_r, 0);
        fd = tcp_connect(dovecot.plain_port_num);
        ck_assert_int_gt(recv_line(fd, line, sizeof(line)), 0);
        ck_assert_msg(strncmp(line, "* OK ", 5) == 0, "greeting: %s", line);
        (void) snprintf(cmd, sizeof(cmd), "a LOGIN %s %s\r\n", th_dovecot_user(&dovecot, i),
                        th_dovecot_pass(&dovecot, i));
        send_str(fd, cmd);
        r = read_until_tagged(fd, "a", NULL);
        ck_assert_msg(strncmp(r, "a OK ", 5) == 0, "LOGIN: %s", r);
        return fd;
}

static const char test_message[] = "From: a@example.org\r\nTo: b@example.org\r\nSubject: test\r\n\r\nbody\r\n";

START_TEST(test_dovecot_noop_sees_delivery) {
        _cleanup_(buf_done) Buf u = BUF_INIT;
        const char *r;
        int fd;

        fd = dovecot_login(1);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, "INBOX"), 0);
        send_str(fd, "b SELECT INBOX\r\n");
        r = read_until_tagged(fd, "b", &u);
        ck_assert_msg(strncmp(r, "b OK ", 5) == 0, "SELECT: %s", r);
        ck_assert_ptr_nonnull(strstr(u.data, "* 0 EXISTS\r\n"));

        ck_assert_int_eq(th_dovecot_deliver(&dovecot, 1, "INBOX", test_message), 0);
        buf_clear(&u);
        send_str(fd, "c NOOP\r\n");
        r = read_until_tagged(fd, "c", &u);
        ck_assert_msg(strncmp(r, "c OK ", 5) == 0, "NOOP: %s", r);
        ck_assert_ptr_nonnull(u.data);
        ck_assert_msg(strstr(u.data, "* 1 EXISTS\r\n"), "NOOP untagged: %s", u.data);

        /* And an expunge through doveadm shows up as EXPUNGE. */
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, "INBOX"), 0);
        buf_clear(&u);
        send_str(fd, "d NOOP\r\n");
        (void) read_until_tagged(fd, "d", &u);
        ck_assert_msg(u.data && strstr(u.data, "* 1 EXPUNGE\r\n"), "NOOP untagged: %s", u.data);
        ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_dovecot_idle_sees_delivery) {
        _cleanup_(buf_done) Buf u = BUF_INIT;
        char line[1024];
        int fd;

        fd = dovecot_login(2);
        send_str(fd, "b SELECT INBOX\r\n");
        (void) read_until_tagged(fd, "b", NULL);
        send_str(fd, "c IDLE\r\n");
        ck_assert_int_gt(recv_line(fd, line, sizeof(line)), 0);
        ck_assert_msg(line[0] == '+', "IDLE: %s", line);
        ck_assert_int_eq(th_dovecot_deliver(&dovecot, 2, "INBOX", test_message), 0);
        /* Dovecot notices within about half a second (inotify); the socket
         * timeout is only a safety net. */
        ck_assert_int_gt(recv_line(fd, line, sizeof(line)), 0);
        ck_assert_str_eq(line, "* 1 EXISTS\r\n");
        send_str(fd, "DONE\r\n");
        ck_assert_msg(strncmp(read_until_tagged(fd, "c", &u), "c OK", 4) == 0, "after DONE");
        ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_dovecot_capabilities) {
        static const char *const want[] = {
                " IDLE", " ACL", " QUOTA", " METADATA", " SORT", " THREAD=REFERENCES", " MOVE", " ID",
                " NAMESPACE", " ENABLE", " CONDSTORE", " QRESYNC", " LITERAL+", " UIDPLUS", " UNSELECT",
        };
        _cleanup_(buf_done) Buf u = BUF_INIT;
        const char *r;
        int fd;

        fd = dovecot_login(4);
        send_str(fd, "b CAPABILITY\r\n");
        (void) read_until_tagged(fd, "b", &u);
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                ck_assert_msg(strstr(u.data, want[i]), "missing%s in %s", want[i], u.data);

        /* The ACL and QUOTA plugins answer, not just advertise. */
        send_str(fd, "c MYRIGHTS INBOX\r\n");
        buf_clear(&u);
        r = read_until_tagged(fd, "c", &u);
        ck_assert_msg(strncmp(r, "c OK", 4) == 0 && strstr(u.data, "* MYRIGHTS INBOX "), "%s", r);
        send_str(fd, "d GETQUOTAROOT INBOX\r\n");
        buf_clear(&u);
        r = read_until_tagged(fd, "d", &u);
        ck_assert_msg(strncmp(r, "d OK", 4) == 0 && strstr(u.data, "* QUOTA \"User quota\" (STORAGE "), "%s", r);
        ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_dovecot_plain_auth_refused_for_bad_password) {
        const char *r;
        int fd;
        char line[512];

        ck_assert_int_eq(dovecot_r, 0);
        fd = tcp_connect(dovecot.plain_port_num);
        ck_assert_int_gt(recv_line(fd, line, sizeof(line)), 0);
        send_str(fd, "a LOGIN user1 wrong\r\n");
        r = read_until_tagged(fd, "a", NULL);
        ck_assert_msg(strncmp(r, "a NO ", 5) == 0, "%s", r);
        ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_dovecot_helpers) {
        ck_assert_int_eq(dovecot_r, 0);
        ck_assert_str_eq(dovecot.host, "127.0.0.1");
        ck_assert_uint_eq(dovecot.n_users, 4);
        ck_assert_str_eq(th_dovecot_user(&dovecot, 4), "user4");
        ck_assert_str_eq(th_dovecot_pass(&dovecot, 1), "pass1");
        ck_assert_ptr_null(th_dovecot_user(&dovecot, 0));
        ck_assert_ptr_null(th_dovecot_user(&dovecot, 5));
        ck_assert_ptr_null(th_dovecot_pass(&dovecot, 5));
        ck_assert_int_eq(th_dovecot_deliver(&dovecot, 9, "INBOX", test_message), -EINVAL);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 0, "INBOX"), -EINVAL);
        /* A doveadm failure comes back as its exit status. */
        ck_assert_int_gt(th_dovecot_doveadm(&dovecot, (const char *const[]) { "mailbox", "status", "-u", "user1",
                                                                             "messages", "NoSuchBox", NULL }),
                         0);
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, (const char *const[]) { "mailbox", "create", "-u", "user3",
                                                                             "Created", NULL }),
                         0);
        ck_assert_int_eq(th_dovecot_deliver(&dovecot, 3, "Created", test_message), 0);
}
END_TEST

/* Spawn argv with stdin from in_fd, stdout to out_fd and stderr to err_fd
 * (each only if >= 0). */
static pid_t spawn(const char *const argv[], int in_fd, int out_fd, int err_fd) {
        posix_spawn_file_actions_t fa;
        char *args[32];
        pid_t pid;
        size_t i;

        for (i = 0; argv[i]; i++)
                args[i] = (char *) (uintptr_t) argv[i];
        args[i] = NULL;
        ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
        if (in_fd >= 0)
                ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO), 0);
        if (out_fd >= 0)
                ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO), 0);
        if (err_fd >= 0)
                ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO), 0);
        ck_assert_int_eq(posix_spawnp(&pid, args[0], &fa, NULL, args, environ), 0);
        ck_assert_int_eq(posix_spawn_file_actions_destroy(&fa), 0);
        return pid;
}

static int wait_exit(pid_t pid) {
        int status;

        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        return WEXITSTATUS(status);
}

START_TEST(test_dovecot_tunnel) {
        const char *argv[] = { dovecot.tunnel, NULL };
        char line[4096];
        int sv[2];
        pid_t pid;

        ck_assert_int_eq(dovecot_r, 0);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        pid = spawn(argv, sv[1], sv[1], -EBADF);
        ck_assert_int_eq(close(sv[1]), 0);
        set_timeouts(sv[0]);
        ck_assert_int_gt(recv_line(sv[0], line, sizeof(line)), 0);
        ck_assert_msg(strncmp(line, "* PREAUTH ", 10) == 0, "tunnel: %s", line);
        ck_assert_ptr_nonnull(strstr(line, "Logged in as user1"));
        send_str(sv[0], "a NOOP\r\nb LOGOUT\r\n");
        ck_assert_int_eq(strncmp(read_until_tagged(sv[0], "a", NULL), "a OK", 4), 0);
        ck_assert_int_eq(strncmp(read_until_tagged(sv[0], "b", NULL), "b OK", 4), 0);
        ck_assert_int_eq(close(sv[0]), 0);
        ck_assert_int_eq(wait_exit(pid), 0);
}
END_TEST

/* Run openssl s_client with the given extra arguments against port; return
 * its exit status and output. */
static int s_client(const char *port, bool trust_ca, const char *starttls, Buf *out) {
        char target[32];
        const char *argv[20];
        size_t n = 0;
        int in, p[2];
        pid_t pid;

        (void) snprintf(target, sizeof(target), "127.0.0.1:%s", port);
        argv[n++] = "openssl";
        argv[n++] = "s_client";
        argv[n++] = "-connect";
        argv[n++] = target;
        argv[n++] = "-verify_return_error";
        argv[n++] = "-verify_hostname";
        argv[n++] = "localhost";
        argv[n++] = "-verify_ip";
        argv[n++] = "127.0.0.1";
        if (trust_ca) {
                argv[n++] = "-CAfile";
                argv[n++] = dovecot.ca_file;
        }
        if (starttls) {
                argv[n++] = "-starttls";
                argv[n++] = starttls;
        }
        argv[n] = NULL;

        in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(in, 0);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = spawn(argv, in, p[1], p[1]);
        ck_assert_int_eq(close(p[1]), 0);
        ck_assert_int_eq(close(in), 0);
        for (;;) {
                ssize_t k;

                ck_assert_int_eq(buf_reserve(out, 4096, 0), 0);
                k = read(p[0], out->data + out->len, 4096);
                ck_assert_int_ge(k, 0);
                if (k == 0)
                        break;
                out->len += (size_t) k;
                out->data[out->len] = '\0';
        }
        ck_assert_int_eq(close(p[0]), 0);
        return wait_exit(pid);
}

START_TEST(test_dovecot_tls) {
        _cleanup_(buf_done) Buf out = BUF_INIT;

        ck_assert_int_eq(dovecot_r, 0);
        /* Implicit TLS: the chain verifies against ca.pem for both names. */
        ck_assert_int_eq(s_client(dovecot.tls_port, true, NULL, &out), 0);
        ck_assert_msg(strstr(out.data, "Verify return code: 0 (ok)"), "%s", out.data);
        buf_clear(&out);
        /* STARTTLS on the plain port. */
        ck_assert_int_eq(s_client(dovecot.plain_port, true, "imap", &out), 0);
        ck_assert_msg(strstr(out.data, "Verify return code: 0 (ok)"), "%s", out.data);
        buf_clear(&out);
        /* Without the throwaway CA the same handshake must fail. */
        ck_assert_int_ne(s_client(dovecot.tls_port, false, NULL, &out), 0);
        ck_assert_ptr_null(strstr(out.data, "Verify return code: 0 (ok)"));
}
END_TEST

/* ---- lifecycle ---------------------------------------------------------------------------------- */

/* These tests start their own instances inside the test body, where a failed
 * assertion ends the forked test with _exit() and no cleanup.  So the
 * fixture points TMPDIR at a directory of its own and, in the parent,
 * stops and removes whatever is left in it. */
static char lifecycle_tmp[] = "/tmp/th-lifecycle-XXXXXX";
static char *saved_tmpdir;

static const char *dovecot_script(char *buf, size_t n) {
        const char *top = getenv("top_srcdir");

        (void) snprintf(buf, n, "%s/tests/dovecot.sh", top && *top ? top : TH_SRCDIR);
        return buf;
}

static void lifecycle_setup(void) {
        const char *t = getenv("TMPDIR");

        saved_tmpdir = t ? strdup(t) : NULL;
        if (!mkdtemp(lifecycle_tmp) || chmod(lifecycle_tmp, 0755) < 0 || setenv("TMPDIR", lifecycle_tmp, 1) < 0)
                perror("lifecycle_setup"); /* the tests then fail on their own */
}

static void lifecycle_teardown(void) {
        char script[512], path[512];
        struct dirent *de;
        DIR *d;

        if (saved_tmpdir)
                (void) setenv("TMPDIR", saved_tmpdir, 1);
        else
                (void) unsetenv("TMPDIR");
        saved_tmpdir = mfree(saved_tmpdir);

        d = opendir(lifecycle_tmp);
        if (!d)
                return;
        (void) dovecot_script(script, sizeof(script));
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "th-dovecot-", 11) == 0) {
                        const char *argv[] = { "sh", script, "stop", path, NULL };
                        char *args[5];
                        pid_t pid;

                        (void) snprintf(path, sizeof(path), "%s/%s", lifecycle_tmp, de->d_name);
                        for (size_t i = 0; i < ELEMENTSOF(argv); i++)
                                args[i] = (char *) (uintptr_t) argv[i];
                        if (posix_spawnp(&pid, "sh", NULL, NULL, args, environ) == 0)
                                (void) waitpid(pid, NULL, 0);
                }
        (void) closedir(d);
        {
                const char *argv[] = { "rm", "-rf", lifecycle_tmp, NULL };
                char *args[4];
                pid_t pid;

                for (size_t i = 0; i < ELEMENTSOF(argv); i++)
                        args[i] = (char *) (uintptr_t) argv[i];
                if (posix_spawnp(&pid, "rm", NULL, NULL, args, environ) == 0)
                        (void) waitpid(pid, NULL, 0);
        }
}

/* Whether pid is a live process (a zombie counts as dead: the master is
 * reparented to init, which may reap it late). */
static bool proc_alive(pid_t pid) {
        char path[64], buf[512];
        const char *rp;
        ssize_t n;
        int fd;

        (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        (void) close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        rp = strrchr(buf, ')');
        return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static pid_t proc_ppid(const char *pid) {
        char path[300], buf[512];
        const char *rp;
        ssize_t n;
        int fd;

        (void) snprintf(path, sizeof(path), "/proc/%s/stat", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        (void) close(fd);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        rp = strrchr(buf, ')');
        if (!rp || strlen(rp) < 5)
                return -1;
        return (pid_t) strtol(rp + 4, NULL, 10);
}

/* The children of pid, from /proc. */
static size_t proc_children(pid_t pid, pid_t *ret, size_t max) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        size_t n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)) && n < max)
                if (de->d_name[0] >= '1' && de->d_name[0] <= '9' && proc_ppid(de->d_name) == pid)
                        ret[n++] = (pid_t) strtol(de->d_name, NULL, 10);
        (void) closedir(d);
        return n;
}

static void assert_gone(const char *dir, pid_t master, const pid_t *children, size_t n) {
        struct stat st;

        ck_assert_int_eq(stat(dir, &st), -1);
        ck_assert_int_eq(errno, ENOENT);
        ck_assert(!proc_alive(master));
        for (size_t i = 0; i < n; i++)
                ck_assert_msg(!proc_alive(children[i]), "child %d of the master survived", (int) children[i]);
}

START_TEST(test_lifecycle_stop) {
        ThDovecot d;
        pid_t children[64];
        char dir[256];
        size_t n;
        int fd;

        ck_assert_int_eq(th_dovecot_start(&d), 0);
        ck_assert(proc_alive(d.master_pid));
        /* A logged-in session makes sure imap and auth processes exist. */
        fd = tcp_connect(d.plain_port_num);
        send_str(fd, "a LOGIN user1 pass1\r\n");
        (void) read_until_tagged(fd, "a", NULL);
        n = proc_children(d.master_pid, children, ELEMENTSOF(children));
        ck_assert_uint_ge(n, 3);
        (void) snprintf(dir, sizeof(dir), "%s", d.dir);

        th_dovecot_stop(&d);
        ck_assert_ptr_null(d.dir);
        assert_gone(dir, d.master_pid, children, n);
        /* Idempotent. */
        th_dovecot_stop(&d);
        th_dovecot_stop(NULL);
        ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_lifecycle_users_env) {
        char line[256];
        ThDovecot d;
        int fd;

        ck_assert_int_eq(setenv("DOVECOT_USERS", "0", 1), 0);
        ck_assert_int_eq(th_dovecot_start(&d), -ERANGE);
        ck_assert_ptr_null(d.dir);
        ck_assert_int_eq(setenv("DOVECOT_USERS", "2", 1), 0);
        ck_assert_int_eq(th_dovecot_start(&d), 0);
        ck_assert_uint_eq(d.n_users, 2);
        ck_assert_ptr_null(th_dovecot_user(&d, 3));
        fd = tcp_connect(d.plain_port_num);
        ck_assert_int_gt(recv_line(fd, line, sizeof(line)), 0);
        send_str(fd, "a LOGIN user3 pass3\r\nb LOGIN user2 pass2\r\n");
        ck_assert_int_eq(strncmp(read_until_tagged(fd, "a", NULL), "a NO", 4), 0);
        ck_assert_int_eq(strncmp(read_until_tagged(fd, "b", NULL), "b OK", 4), 0);
        ck_assert_int_eq(close(fd), 0);
        th_dovecot_stop(&d);
}
END_TEST

/* Start a Dovecot in a forked child that then exits (crash = false: the
 * atexit fallback must clean up) or aborts (crash = true: nothing runs, the
 * directory and server stay until "dovecot.sh stop").  Returns the dir and
 * master pid the child reported. */
static void start_in_child(bool crash, char *dir, size_t n, pid_t *ret_master) {
        char msg[512];
        int p[2], status;
        ssize_t k;
        pid_t pid;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                /* static: LeakSanitizer must see the strings as reachable at exit. */
                static ThDovecot d;

                if (th_dovecot_start(&d) < 0)
                        _exit(2);
                (void) snprintf(msg, sizeof(msg), "%d %s", (int) d.master_pid, d.dir);
                if (write(p[1], msg, strlen(msg)) < 0)
                        _exit(3);
                if (crash)
                        abort();
                exit(EXIT_SUCCESS);
        }
        ck_assert_int_eq(close(p[1]), 0);
        k = read(p[0], msg, sizeof(msg) - 1);
        ck_assert_int_gt(k, 0);
        msg[k] = '\0';
        ck_assert_int_eq(close(p[0]), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(crash ? WIFSIGNALED(status) : WIFEXITED(status) && WEXITSTATUS(status) == 0);
        *ret_master = (pid_t) strtol(msg, NULL, 10);
        (void) snprintf(dir, n, "%s", strchr(msg, ' ') + 1);
}

START_TEST(test_lifecycle_atexit) {
        char dir[256];
        pid_t master;

        start_in_child(false, dir, sizeof(dir), &master);
        assert_gone(dir, master, NULL, 0);
}
END_TEST

START_TEST(test_lifecycle_stop_after_crash) {
        char script[512], dir[256];
        pid_t master;
        struct stat st;

        start_in_child(true, dir, sizeof(dir), &master);
        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert(proc_alive(master));
        (void) dovecot_script(script, sizeof(script));
        ck_assert_int_eq(wait_exit(spawn((const char *const[]) { "sh", script, "stop", dir, NULL }, -EBADF, -EBADF, -EBADF)),
                         0);
        ck_assert(!proc_alive(master));
        /* Twice is fine. */
        ck_assert_int_eq(wait_exit(spawn((const char *const[]) { "sh", script, "stop", dir, NULL }, -EBADF, -EBADF, -EBADF)),
                         0);
        ck_assert_int_eq(wait_exit(spawn((const char *const[]) { "rm", "-rf", dir, NULL }, -EBADF, -EBADF, -EBADF)), 0);
}
END_TEST

static Suite *harness_suite(void) {
        Suite *s = suite_create("harness");
        TCase *tc;

        tc = tcase_create("fake");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_fake_pass);
        tcase_add_test(tc, test_fake_wrong_line);
        tcase_add_test(tc, test_fake_bare_lf_and_escapes);
        tcase_add_test(tc, test_fake_missing_line);
        tcase_add_test(tc, test_fake_partial_line_at_eof);
        tcase_add_test(tc, test_fake_data_instead_of_eof);
        tcase_add_test(tc, test_fake_record_nothing_sent);
        tcase_add_test(tc, test_fake_any_raw_record);
        tcase_add_test(tc, test_fake_tag_must_repeat);
        tcase_add_test(tc, test_fake_tag_before_capture);
        tcase_add_test(tc, test_fake_close_and_reset);
        tcase_add_test(tc, test_fake_line_limit);
        tcase_add_test(tc, test_fake_record_limit);
        tcase_add_test(tc, test_fake_read_timeout);
        tcase_add_test(tc, test_fake_no_client);
        tcase_add_test(tc, test_fake_socketpair);
        tcase_add_test(tc, test_fake_connections);
        tcase_add_test(tc, test_fake_next_scripts);
        tcase_add_test(tc, test_fake_child_killed);
        tcase_add_test(tc, test_fake_free_running);
        suite_add_tcase(s, tc);

        tc = tcase_create("fake-tls");
        tcase_set_timeout(tc, 60);
        tcase_add_unchecked_fixture(tc, tls_setup, tls_teardown);
        tcase_add_test(tc, test_fake_tls_pass);
        tcase_add_test(tc, test_fake_tls_wrong_line);
        tcase_add_test(tc, test_fake_tls_eof_either_way);
        tcase_add_test(tc, test_fake_tls_reset);
        tcase_add_test(tc, test_fake_tls_read_after_close);
        tcase_add_test(tc, test_fake_tls_raw_and_socketpair);
        tcase_add_test(tc, test_fake_tls_timeouts);
        tcase_add_test(tc, test_fake_tls_handshake_failures);
        tcase_add_test(tc, test_fake_tls_protocol_error);
        tcase_add_test(tc, test_fake_tls_bad_files);
        tcase_add_test(tc, test_fake_starttls);
        tcase_add_test(tc, test_fake_starttls_refusals);
        suite_add_tcase(s, tc);

        tc = tcase_create("dovecot");
        tcase_set_timeout(tc, 60);
        tcase_add_unchecked_fixture(tc, dovecot_setup, dovecot_teardown);
        tcase_add_test(tc, test_dovecot_noop_sees_delivery);
        tcase_add_test(tc, test_dovecot_idle_sees_delivery);
        tcase_add_test(tc, test_dovecot_capabilities);
        tcase_add_test(tc, test_dovecot_plain_auth_refused_for_bad_password);
        tcase_add_test(tc, test_dovecot_helpers);
        tcase_add_test(tc, test_dovecot_tunnel);
        tcase_add_test(tc, test_dovecot_tls);
        suite_add_tcase(s, tc);

        tc = tcase_create("lifecycle");
        tcase_set_timeout(tc, 60);
        tcase_add_unchecked_fixture(tc, lifecycle_setup, lifecycle_teardown);
        tcase_add_test(tc, test_lifecycle_stop);
        tcase_add_test(tc, test_lifecycle_users_env);
        tcase_add_test(tc, test_lifecycle_atexit);
        tcase_add_test(tc, test_lifecycle_stop_after_crash);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(harness_suite());
}
