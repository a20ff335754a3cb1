/* SPDX-License-Identifier: MIT */
/*
 * test-imap-client.c: the engine's scenarios (docs/ENGINE.md) against the blocking client,
 * each with a scripted fake server (tests/fake-imapd.h) that checks every
 * line the client sends.  Test names carry the scenario id (S-06 is
 * test_S06_...).  S-01..S-04 and X-40 are in test-imap-date.c and
 * test-imap-util.c; S-44/S-45 and the real-server checks are in
 * test-dovecot.c; S-36..S-38 are Python-only (docs/ENGINE.md).
 *
 * Transport matrix (docs/ENGINE.md): every scenario with a fake server is a
 * Check loop test run twice, _i = 0 over plain TCP and _i = 1 over implicit
 * TLS (the client verifies the fake's certificate for "localhost" against a
 * throwaway CA made once per run in main()), with the same expected errno
 * and message.  Plain only: S-05 (nothing listens, so there is no TLS to
 * speak) and X-33 (a tunnel: the fake is reached through this program run as
 * the tunnel command, "--relay PORT").  E01 and E05
 * (docs/SECURITY.md group E, certificate verification) are TLS only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fake-imapd.h"
#include "imap-client.h"
#include "th-certs.h"
#include "th.h"

/* The loop index of every fake-server test. */
enum {
        TRANSPORT_PLAIN,
        TRANSPORT_TLS,
        _TRANSPORT_MAX,
};

/* Made by main() before the tests fork, removed when they are done.
 * server_certs: CA + leaf for localhost and 127.0.0.1; other_certs: another
 * CA + a leaf for other.example only. */
static char cert_dir[] = "/tmp/test-imap-client-XXXXXX";
static char server_dir[PATH_MAX], other_dir[PATH_MAX];
static ThCerts server_certs, other_certs;

/* The transport of the running test, set by serve() (every test runs in a
 * process of its own, or one after the other with CK_FORK=no). */
static int transport = TRANSPORT_PLAIN;

#define GREET_CAPS(caps)                                                                        \
        FAKE_SEND("* OK IMAP4rev1\r\n"), FAKE_EXPECT("<tag> CAPABILITY"),                       \
        FAKE_SEND("* CAPABILITY IMAP4rev1" caps "\r\n<tag> OK CAPABILITY completed\r\n")
#define GREET GREET_CAPS("")
#define LOGIN FAKE_EXPECT("<tag> LOGIN user \"pass\""), FAKE_SEND("<tag> OK LOGIN completed\r\n")
#define LOGOUT                                                                                  \
        FAKE_EXPECT("<tag> LOGOUT"),                                                            \
        FAKE_SEND("* BYE IMAP4ref1 Server logging out\r\n<tag> OK LOGOUT completed\r\n")

/* Start the fake over transport tr; over TLS it presents certs' leaf. */
static FakeImapd *serve_certs(const FakeStep *script, int tr, const ThCerts *certs) {
        FakeImapdOptions o = {};
        FakeImapd *f = NULL;

        ck_assert_int_lt(tr, _TRANSPORT_MAX);
        transport = tr;
        if (tr == TRANSPORT_TLS) {
                o.tls_cert_file = certs->cert_file;
                o.tls_key_file = certs->key_file;
        }
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        return f;
}

static FakeImapd *serve(const FakeStep *script, int tr) {
        return serve_certs(script, tr, &server_certs);
}

/* The client options for the fake f over the current transport: TLS goes to
 * "localhost", a name in the leaf, verified against the test CA. */
static ImapClientOpts client_opts(FakeImapd *f, char port[static 8], int timeout_ms) {
        (void) snprintf(port, 8, "%u", fake_imapd_port(f));
        return (ImapClientOpts) {
                .mode = transport == TRANSPORT_TLS ? IMAP_CLIENT_TLS : IMAP_CLIENT_PLAIN,
                .host = transport == TRANSPORT_TLS ? "localhost" : "127.0.0.1",
                .ca_file = transport == TRANSPORT_TLS ? server_certs.ca_file : NULL,
                .port = port,
                .timeout_ms = timeout_ms,
        };
}

static int try_connect(FakeImapd *f, const ImapLimits *lim, int timeout_ms, ImapClient **ret, char **msg) {
        char port[8];
        ImapClientOpts o = client_opts(f, port, timeout_ms);

        if (lim)
                o.limits = *lim;
        return imap_client_connect(&o, ret, msg);
}

static ImapClient *connect_ok(FakeImapd *f) {
        ImapClient *c = NULL;
        _cleanup_free_ char *msg = NULL;
        int r = try_connect(f, NULL, 10000, &c, &msg);

        ck_assert_msg(r == 0, "connect: %d %s", r, msg ? msg : "");
        return c;
}

/* Close the client and check that the server saw exactly its script. */
static void finish(FakeImapd *f, ImapClient *c) {
        _cleanup_free_ char *report = NULL;
        int r;

        imap_client_free(c);
        r = fake_imapd_wait(f, &report);
        ck_assert_msg(r == 0, "server script: %d\n%s", r, report ? report : "");
        fake_imapd_free(f);
}

static void expect_ok(ImapClient *c, int r) {
        ck_assert_msg(r == 0, "call failed: %d %s", r, imap_client_errmsg(c) ? imap_client_errmsg(c) : "");
}

static void expect_err(ImapClient *c, int r, int want, const char *msg_part) {
        ck_assert_msg(r == want, "got %d (%s), want %d", r, imap_client_errmsg(c) ? imap_client_errmsg(c) : "", want);
        if (msg_part)
                ck_assert_msg(imap_client_errmsg(c) && strstr(imap_client_errmsg(c), msg_part),
                              "message '%s' lacks '%s'", imap_client_errmsg(c), msg_part);
}

/* imaplib's data as text: [('hdr', 'lit'), 'trailer'] per item, None for NULL. */
static char *result_text(const ImapResult *r) {
        Buf b = BUF_INIT;

        for (size_t i = 0; i < r->n; i++) {
                const ImapDatum *d = r->data[i];

                if (i > 0)
                        ck_assert_int_eq(buf_append(&b, " | ", 3, 0), 0);
                if (!d) {
                        ck_assert_int_eq(buf_append(&b, "None", 4, 0), 0);
                        continue;
                }
                for (size_t j = 0; j < d->n_frags; j++) {
                        const ImapFrag *fr = &d->frags[j];
                        if (j > 0)
                                ck_assert_int_eq(buf_append(&b, ", ", 2, 0), 0);
                        if (fr->literal) {
                                ck_assert_int_eq(buf_append(&b, "(", 1, 0), 0);
                                ck_assert_int_eq(buf_append(&b, fr->text, fr->text_len, 0), 0);
                                ck_assert_int_eq(buf_append(&b, " / ", 3, 0), 0);
                                ck_assert_int_eq(buf_append(&b, fr->literal, fr->literal_len, 0), 0);
                                ck_assert_int_eq(buf_append(&b, ")", 1, 0), 0);
                        } else
                                ck_assert_int_eq(buf_append(&b, fr->text, fr->text_len, 0), 0);
                }
        }
        ck_assert_int_eq(buf_append(&b, "", 1, 0), 0);
        return b.data;
}

static void expect_result(const ImapResult *r, const char *typ, const char *data) {
        _cleanup_free_ char *t = result_text(r);

        ck_assert_str_eq(r->typ, typ);
        ck_assert_str_eq(t, data);
}

static void expect_datum(ImapDatum *d, const char *type, const char *text) {
        ImapResult r = { .data = &d, .n = 1 };
        _cleanup_free_ char *t = result_text(&r);

        ck_assert_str_eq(d->type, type);
        ck_assert_str_eq(t, text);
        free(d);
}

static usec_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

/* ---- §3.1 / §3.2 connection, greeting, framing, limits, timeouts -------------------------- */

START_TEST(test_S05_nothing_listening) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        char port[8];
        ImapClient *c = NULL;
        ImapClientOpts o = { .mode = IMAP_CLIENT_PLAIN, .host = "127.0.0.1", .port = port, .timeout_ms = 5000 };
        int fd;

        /* A port nobody listens on: bound, then closed without listen(). */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &sl), 0);
        snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
        close(fd);
        ck_assert_int_eq(imap_client_connect(&o, &c, NULL), -ECONNREFUSED);
        ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_S06_eof_in_greeting) {
        static const FakeStep script[] = { FAKE_SEND("* OK"), FAKE_CLOSE(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        _cleanup_free_ char *msg = NULL;
        ImapClient *c = NULL;
        int r = try_connect(f, NULL, 10000, &c, &msg);

        ck_assert_int_eq(r, -ECONNRESET);
        ck_assert(imap_client_error_is_abort(r));
        ck_assert_str_eq(msg, "socket error: EOF in the middle of a response");
        finish(f, NULL);
}
END_TEST

START_TEST(test_S07_lf_only_line) {
        static const FakeStep script[] = {
                FAKE_SEND("* OK IMAP4rev1\r\n"), FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("* CAPABILITY IMAP4rev1 AUTH\n<tag> OK CAPABILITY completed\r\n"), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        _cleanup_free_ char *msg = NULL;
        ImapClient *c = NULL;
        int r = try_connect(f, NULL, 10000, &c, &msg);

        ck_assert_int_eq(r, -EBADMSG);
        ck_assert(imap_client_error_is_abort(r));
        ck_assert(strstr(msg, "line not terminated by CRLF"));
        finish(f, NULL);
}
END_TEST

START_TEST(test_S08_line_too_long_small_limit) {
        static const FakeStep script[] = { FAKE_SEND("* OK xxxxxxxxxxx\r\n"), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapLimits lim = { .max_line = 10 };
        _cleanup_free_ char *msg = NULL;
        ImapClient *c = NULL;

        ck_assert_int_eq(try_connect(f, &lim, 10000, &c, &msg), -EMSGSIZE);
        ck_assert(strstr(msg, "line longer than the limit"));
        finish(f, NULL);
}
END_TEST

START_TEST(test_S09_line_too_long_default) {
        static char big[5 + 1000000 + 3];
        FakeStep script[] = { FAKE_SEND(big), FAKE_END };
        FakeImapd *f;
        _cleanup_free_ char *msg = NULL;
        ImapClient *c = NULL;

        memcpy(big, "* OK ", 5);
        memset(big + 5, 'x', 1000000);
        memcpy(big + 5 + 1000000, "\r\n", 3);
        f = serve(script, _i);
        ck_assert_int_eq(try_connect(f, NULL, 10000, &c, &msg), -EMSGSIZE);
        fake_imapd_free(f);
}
END_TEST

START_TEST(test_S10_truncated_huge_literal) {
        /* "{2^k}" in a greeting is response text, not a literal; the next
         * line is garbage.  Either way: an abort, at once, no big allocation. */
        for (unsigned k = 15; k <= 63; k += 8) {
                char greet[64];
                FakeStep script[] = { FAKE_SEND(greet), FAKE_SEND("IMAP4rev1\r\n"), FAKE_CLOSE(), FAKE_END };
                FakeImapd *f;
                ImapClient *c = NULL;
                int r;

                snprintf(greet, sizeof(greet), "* OK {%llu}\r\n", 1ULL << k);
                f = serve(script, _i);
                r = try_connect(f, NULL, 10000, &c, NULL);
                ck_assert_msg(imap_client_error_is_abort(r), "k=%u: %d", k, r);
                fake_imapd_free(f);
        }
        /* In a data response it is a literal: over the cap it is refused at
         * the marker, under it the EOF is an abort. */
        {
                static const FakeStep script[] = {
                        FAKE_SEND("* OK IMAP4rev1\r\n* 1 FETCH (BODY[] {9223372036854775807}\r\nIMAP4rev1\r\n"),
                        FAKE_CLOSE(), FAKE_END,
                };
                FakeImapd *f = serve(script, _i);
                ImapClient *c = NULL;

                ck_assert_int_eq(try_connect(f, NULL, 10000, &c, NULL), -EMSGSIZE);
                fake_imapd_free(f);
        }
        {
                static const FakeStep script[] = {
                        FAKE_SEND("* OK IMAP4rev1\r\n* 1 FETCH (BODY[] {32768}\r\nIMAP4rev1\r\n"), FAKE_CLOSE(),
                        FAKE_END,
                };
                FakeImapd *f = serve(script, _i);
                _cleanup_free_ char *msg = NULL;
                ImapClient *c = NULL;

                ck_assert_int_eq(try_connect(f, NULL, 10000, &c, &msg), -ECONNRESET);
                ck_assert_str_eq(msg, "socket error: EOF in the middle of a response");
                fake_imapd_free(f);
        }
}
END_TEST

START_TEST(test_S11_connect_then_logout) {
        /* S-11, imaplib's with-statement that does nothing: connect with imaplib's default
         * timeout (None, here 0), leave: exactly one LOGOUT on the wire, then the client
         * closes (the script checks both), and imaplib's ('BYE', [text]) comes back. */
        static const FakeStep script[] = { GREET, LOGOUT, FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = NULL;
        _cleanup_free_ char *msg = NULL;
        ImapResult res = {};
        int r = try_connect(f, NULL, 0, &c, &msg);

        ck_assert_msg(r == 0, "connect: %d %s", r, msg ? msg : "");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_NONAUTH);
        expect_ok(c, imap_client_logout(c, &res));
        expect_result(&res, "BYE", "IMAP4ref1 Server logging out");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_LOGOUT);
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_A05_random_tag_prefix) {
        /* Catalogue case A05: tags a server cannot predict, different per connection. */
        static const FakeStep script[] = { GREET, LOGOUT, FAKE_EXPECT_EOF(), FAKE_END };
        char seen[2][IMAP_TAG_PREFIX_RANDOM_LEN + 1];

        for (size_t i = 0; i < 2; i++) {
                FakeImapd *f = serve(script, TRANSPORT_PLAIN);
                ImapClient *c = connect_ok(f);
                const char *prefix = imap_session_tag_prefix(imap_client_session(c));
                ImapResult res = {};

                ck_assert_uint_eq(strlen(prefix), IMAP_TAG_PREFIX_RANDOM_LEN);
                for (const char *p = prefix; *p; p++)
                        ck_assert(*p >= 'A' && *p <= 'Z');
                memcpy(seen[i], prefix, sizeof(seen[i]));
                expect_ok(c, imap_client_logout(c, &res));
                imap_result_done(&res);
                finish(f, c);
        }
        /* 26^6 prefixes: two alike would be a one-in-300-million chance. */
        ck_assert_str_ne(seen[0], seen[1]);
}
END_TEST

START_TEST(test_A05_guessed_tag_before_starttls) {
        /* Replies sent with the greeting, with the tags a fixed prefix would give ("A0", "A1"),
         * before the client wrote anything: with tags nobody can predict they are foreign
         * tags, and the connection goes before any TLS or credentials. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\nA0 OK Begin TLS\r\nA1 OK Begin TLS\r\n"),
                FAKE_END,
        };
        FakeImapd *f = serve(script, TRANSPORT_PLAIN);
        ImapClient *c = NULL;
        _cleanup_free_ char *msg = NULL;
        char port[8];
        ImapClientOpts o = client_opts(f, port, 10000);
        int r;

        o.mode = IMAP_CLIENT_STARTTLS;
        o.host = "localhost";
        o.ca_file = server_certs.ca_file;
        r = imap_client_connect(&o, &c, &msg);
        ck_assert_int_eq(r, -EPROTO);
        ck_assert_msg(msg && strstr(msg, "unexpected response: 'A0 OK Begin TLS'"), "%s", msg ? msg : "");
        ck_assert_ptr_null(c);
        finish(f, NULL);
}
END_TEST

START_TEST(test_S12_timeout_parameter) {
        /* S-12: imaplib refuses timeout=0; here 0 means none (imaplib's None) and a negative
         * value is refused before anything is done.  Both directions, per blocking wait:
         * with 0, a greeting and a reply that each come 300 ms late are waited for (0 taken
         * as "no time at all" would fail at once); with 200 ms, a reply that never comes is
         * a timeout, not an abort, however long the server would stay silent.  The late
         * bytes are the marker: nothing here depends on how fast the machine is. */
        static const FakeStep slow[] = {
                FAKE_SLEEP(300), GREET, FAKE_EXPECT("<tag> NOOP"), FAKE_SLEEP(300),
                FAKE_SEND("<tag> OK NOOP completed\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        static const FakeStep silent[] = { GREET, FAKE_EXPECT("<tag> NOOP"), FAKE_SLEEP(10000), FAKE_END };
        ImapClientOpts o = { .mode = IMAP_CLIENT_PLAIN, .host = "127.0.0.1", .port = "1", .timeout_ms = -5 };
        ImapClient *c = NULL;
        _cleanup_free_ char *msg = NULL;
        ImapResult res = {};
        FakeImapd *f;
        int r;

        ck_assert_int_eq(imap_client_connect(&o, &c, &msg), -EINVAL);
        ck_assert_ptr_null(c);

        f = serve(slow, _i);
        r = try_connect(f, NULL, 0, &c, &msg);
        ck_assert_msg(r == 0, "connect: %d %s", r, msg ? msg : "");
        expect_ok(c, imap_client_noop(c, &res));
        expect_result(&res, "OK", "NOOP completed");
        imap_result_done(&res);
        finish(f, c);

        f = serve(silent, _i);
        c = NULL;
        r = try_connect(f, NULL, 200, &c, &msg);
        ck_assert_msg(r == 0, "connect: %d %s", r, msg ? msg : "");
        expect_err(c, imap_client_noop(c, &res), -ETIMEDOUT, "command: NOOP => timed out");
        ck_assert(!imap_client_error_is_abort(-ETIMEDOUT));
        imap_result_done(&res);
        imap_client_free(c);
        fake_imapd_free(f);
}
END_TEST

START_TEST(test_S13_timeout_during_greeting) {
        /* The fake is killed after the test, so its sleep costs nothing. */
        static const FakeStep script[] = { FAKE_SLEEP(10000), FAKE_SEND("* OK IMAP4rev1\r\n"), FAKE_END };
        FakeImapd *f = serve(script, _i);
        _cleanup_free_ char *msg = NULL;
        ImapClient *c = NULL;
        /* The timeout applies to the TLS handshake too (separately): give
         * that a generous margin, so only the greeting can time out. */
        int r = try_connect(f, NULL, transport == TRANSPORT_TLS ? 1000 : 50, &c, &msg);

        ck_assert_int_eq(r, -ETIMEDOUT);
        ck_assert(!imap_client_error_is_abort(r));
        ck_assert_str_eq(msg, "timed out waiting for the greeting");
        fake_imapd_free(f);
}
END_TEST

START_TEST(test_S14_login_logout) {
        static const FakeStep script[] = { GREET, LOGIN, LOGOUT, FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        expect_ok(c, imap_client_logout(c, &res));
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S15_logout_twice) {
        static const FakeStep script[] = { GREET, LOGIN, LOGOUT, FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_logout(c, &res));
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_LOGOUT);
        /* A second LOGOUT is not sent. */
        ck_assert_int_lt(imap_client_logout(c, &res), 0);
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S16_connect_and_close) {
        static const FakeStep script[] = { GREET, FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);

        finish(f, connect_ok(f));
}
END_TEST

/* ---- §3.3 ENABLE and UTF-8 ------------------------------------------------------------------- */

START_TEST(test_S17_enable_before_auth) {
        static const FakeStep script[] = { GREET_CAPS(" AUTH ENABLE UTF8=ACCEPT"), FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_err(c, imap_client_enable(c, "foo", &res), -EPERM, "ENABLE illegal in state NONAUTH");
        ck_assert(!imap_client_utf8(c));
        finish(f, c);
}
END_TEST

START_TEST(test_S18_enable_not_advertised) {
        static const FakeStep script[] = { GREET_CAPS(" AUTH"), FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_err(c, imap_client_enable(c, "foo", &res), -EOPNOTSUPP, "does not support ENABLE");
        finish(f, c);
}
END_TEST

START_TEST(test_S19_enable_utf8_not_advertised) {
        static const FakeStep script[] = { GREET, LOGIN, FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_result(&res, "OK", "LOGIN completed");
        expect_err(c, imap_client_enable(c, "UTF8=ACCEPT", &res), -EOPNOTSUPP, "does not support ENABLE");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

static int step_fake(void *userdata, unsigned step, const void *challenge, size_t len, Buf *out) {
        (void) userdata;
        (void) step;
        (void) challenge;
        (void) len;
        return buf_append(out, "fake", 4, 0);
}

#define FAKEAUTH                                                                        \
        FAKE_EXPECT("<tag> AUTHENTICATE MYAUTH"), FAKE_SEND("+\r\n"), FAKE_EXPECT("ZmFrZQ=="), \
        FAKE_SEND("<tag> OK FAKEAUTH successful\r\n")

START_TEST(test_S20_utf8_append) {
        static const FakeStep script[] = {
                GREET_CAPS(" ENABLE UTF8=ACCEPT"),
                FAKEAUTH,
                FAKE_EXPECT("<tag> ENABLE UTF8=ACCEPT"),
                FAKE_SEND("<tag> OK ENABLE successful\r\n"),
                FAKE_EXPECT("<tag> APPEND INBOX UTF8 (~{25}"),
                FAKE_SEND("+\r\n"),
                FAKE_EXPECT("Subject: \xc3\xbc\xc3\xb1\xc3\xad\xc2\xa9\xc3\xb6\xc3\xb0\xc3\xa9"),
                FAKE_EXPECT(")"),
                FAKE_SEND("<tag> OK okay\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        static const char msg[] = "Subject: \xc3\xbc\xc3\xb1\xc3\xad\xc2\xa9\xc3\xb6\xc3\xb0\xc3\xa9\n";
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_authenticate(c, "MYAUTH", step_fake, NULL, &res));
        ck_assert(!imap_client_utf8(c));
        expect_ok(c, imap_client_enable(c, "UTF8=ACCEPT", &res));
        ck_assert(imap_client_utf8(c));
        expect_ok(c, imap_client_append(c, NULL, NULL, NULL, msg, strlen(msg), &res));
        expect_result(&res, "OK", "okay");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S21_search_charset_in_utf8_mode) {
        static const FakeStep script[] = {
                GREET_CAPS(" AUTH ENABLE UTF8=ACCEPT"), FAKEAUTH, FAKE_EXPECT("<tag> ENABLE UTF8=ACCEPT"),
                FAKE_SEND("<tag> OK ENABLE successful\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_authenticate(c, "MYAUTH", step_fake, NULL, &res));
        expect_ok(c, imap_client_enable(c, "UTF8=ACCEPT", &res));
        expect_err(c, imap_client_search(c, "foo", "bar", &res), -EINVAL, "charset not valid in UTF8 mode");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

/* ---- §3.4 authentication ---------------------------------------------------------------------- */

static unsigned steps_called;

static int step_count(void *userdata, unsigned step, const void *challenge, size_t len, Buf *out) {
        (void) userdata;
        (void) step;
        (void) challenge;
        (void) len;
        steps_called++;
        return buf_append(out, "fake", 4, 0);
}

START_TEST(test_S22_unknown_mechanism) {
        static const FakeStep script[] = {
                GREET, FAKE_EXPECT("<tag> AUTHENTICATE METHOD"),
                FAKE_SEND("<tag> NO unrecognized authentication type METHOD\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        steps_called = 0;
        expect_err(c, imap_client_authenticate(c, "METHOD", step_count, NULL, &res), -EREMOTEIO,
                   "unrecognized authentication type METHOD");
        ck_assert_uint_eq(steps_called, 0);
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S23_rejected_credentials) {
        static const FakeStep script[] = {
                GREET, FAKE_EXPECT("<tag> AUTHENTICATE MYAUTH"), FAKE_SEND("+\r\n"), FAKE_EXPECT("ZmFrZQ=="),
                FAKE_SEND("<tag> NO [AUTHENTICATIONFAILED] invalid\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_err(c, imap_client_authenticate(c, "MYAUTH", step_fake, NULL, &res), -EREMOTEIO,
                   "[AUTHENTICATIONFAILED] invalid");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_NONAUTH);
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S24_S25_accepted) {
        /* S-24 (bytes) and S-25 (text) are the same in C: the step appends bytes. */
        static const FakeStep script[] = { GREET, FAKEAUTH, FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_authenticate(c, "myauth", step_fake, NULL, &res));
        expect_result(&res, "OK", "FAKEAUTH successful");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

#define CRAM_SERVER                                                                                     \
        GREET_CAPS(" LOGINDISABLED AUTH=CRAM-MD5"), FAKE_EXPECT("<tag> AUTHENTICATE CRAM-MD5"),         \
        FAKE_SEND("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ=\r\n")

START_TEST(test_S26_S27_cram_md5) {
        static const FakeStep script[] = {
                CRAM_SERVER, FAKE_EXPECT("dGltIGYxY2E2YmU0NjRiOWVmYTFjY2E2ZmZkNmNmMmQ5ZjMy"),
                FAKE_SEND("<tag> OK CRAM-MD5 successful\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        ck_assert(imap_client_has_capability(c, "AUTH=CRAM-MD5"));
        expect_ok(c, imap_client_login_cram_md5(c, "tim", "tanstaaftanstaaf", &res));
        expect_result(&res, "OK", "CRAM-MD5 successful");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S28_cram_md5_unavailable) {
        /* No HMAC-MD5 in this library context: the exchange is cancelled
         * with "*" (Q8) and the error says why. */
        static const FakeStep script[] = {
                CRAM_SERVER, FAKE_EXPECT("*"), FAKE_SEND("<tag> BAD [AUTHENTICATIONFAILED] cancelled\r\n"),
                FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
        OSSL_PROVIDER *prov;
        ImapSaslCreds creds = { .user = "tim", .secret = "tanstaaftanstaaf", .ossl_libctx = ctx };
        ImapSasl *sasl = NULL;
        ImapResult res = {};
        int r;

        ck_assert_ptr_nonnull(ctx);
        prov = OSSL_PROVIDER_load(ctx, "null");
        ck_assert_ptr_nonnull(prov);
        ck_assert_int_eq(imap_sasl_new("CRAM-MD5", &creds, &sasl), 0);
        r = imap_client_authenticate_sasl(c, sasl, &res);
        ck_assert_int_lt(r, 0);
        ck_assert_msg(strstr(imap_client_errmsg(c), "CRAM-MD5 authentication is not supported"), "%s",
                      imap_client_errmsg(c));
        imap_result_done(&res);
        finish(f, c);
        OSSL_PROVIDER_unload(prov);
        OSSL_LIB_CTX_free(ctx);
}
END_TEST

static int step_cancel(void *userdata, unsigned step, const void *challenge, size_t len, Buf *out) {
        (void) userdata;
        (void) step;
        (void) challenge;
        (void) len;
        (void) out;
        return 1;
}

START_TEST(test_S29_client_cancels) {
        static const FakeStep script[] = {
                GREET, FAKE_EXPECT("<tag> AUTHENTICATE MYAUTH"), FAKE_SEND("+\r\n"), FAKE_EXPECT("*"),
                FAKE_SEND("<tag> NO [AUTHENTICATIONFAILED] aborted\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_err(c, imap_client_authenticate(c, "MYAUTH", step_cancel, NULL, &res), -EREMOTEIO,
                   "[AUTHENTICATIONFAILED] aborted");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

/* ---- §3.5 ordinary commands ---------------------------------------------------------------------- */

START_TEST(test_S30_login) {
        static const FakeStep script[] = { GREET, LOGIN, FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_result(&res, "OK", "LOGIN completed");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S31_logout) {
        static const FakeStep script[] = { GREET, LOGIN, LOGOUT, FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_logout(c, &res));
        expect_result(&res, "BYE", "IMAP4ref1 Server logging out");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_LOGOUT);
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S32_lsub) {
        static const FakeStep script[] = {
                GREET, LOGIN, FAKE_EXPECT("<tag> LSUB \"\" *"),
                FAKE_SEND("* LSUB () \".\" directoryA\r\n<tag> OK LSUB completed\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_lsub(c, NULL, NULL, &res));
        expect_result(&res, "OK", "() \".\" directoryA");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S33_select_unselect) {
        static const FakeStep script[] = {
                GREET, LOGIN, FAKE_EXPECT("<tag> SELECT INBOX"),
                FAKE_SEND("* 2 EXISTS\r\n<tag> OK [READ-WRITE] SELECT completed.\r\n"),
                FAKE_EXPECT("<tag> UNSELECT"),
                FAKE_SEND("<tag> OK Returned to authenticated state. (Success)\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_select(c, NULL, false, &res));
        expect_result(&res, "OK", "2");
        expect_ok(c, imap_client_unselect(c, &res));
        expect_result(&res, "OK", "Returned to authenticated state. (Success)");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S34_bracket_flags) {
        static const FakeStep script[] = {
                GREET, FAKEAUTH, FAKE_EXPECT("<tag> SELECT test"),
                FAKE_SEND("* FLAGS (Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* 2 EXISTS\r\n* 0 RECENT\r\n"
                          "* OK [PERMANENTFLAGS Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n"
                          "<tag> OK [READ-WRITE] SELECT completed.\r\n"),
                FAKE_EXPECT("<tag> STORE 1 +FLAGS ([test])"),
                FAKE_SEND("* 1 FETCH (FLAGS (Answered \\Flagged \\Deleted \\Seen \\Draft \\[test]))\r\n"
                          "<tag> OK STORE completed.\r\n"),
                FAKE_EXPECT("<tag> SELECT test"),
                FAKE_SEND("* FLAGS (Answered \\Flagged \\Deleted \\Seen \\Draft \\[test])\r\n* 2 EXISTS\r\n"
                          "* 0 RECENT\r\n* OK [PERMANENTFLAGS Answered \\Flagged \\Deleted \\Seen \\Draft \\[test] "
                          "\\*)] Flags permitted.\r\n<tag> OK [READ-WRITE] SELECT completed.\r\n"),
                FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        _cleanup_free_ char *t = NULL;

        expect_ok(c, imap_client_authenticate(c, "MYAUTH", step_fake, NULL, &res));
        expect_ok(c, imap_client_select(c, "test", false, &res));
        expect_ok(c, imap_client_store(c, "1", "+FLAGS", "[test]", &res));
        t = result_text(&res);
        ck_assert(strstr(t, "[test]"));
        expect_ok(c, imap_client_select(c, "test", false, &res));
        expect_ok(c, imap_client_response(c, "PERMANENTFLAGS", &res));
        ck_assert_uint_eq(res.n, 1);
        ck_assert(strstr(imap_result_text(&res, 0), "[test]"));
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S35_control_characters) {
        static const FakeStep script[] = {
                GREET, FAKE_EXPECT("<tag> LOGIN \"user\x01\" \"pass\""), FAKE_SEND("<tag> OK ok\r\n"),
                FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        /* gh-143921: NUL, CR and LF are refused, nothing sent... */
        expect_err(c, imap_client_login(c, "user\r\nA1 DELETE INBOX", "pass", &res), -EINVAL,
                   "NUL, CR and LF not allowed");
        expect_err(c, imap_client_login(c, "user\n", "pass", &res), -EINVAL, NULL);
        /* ...other controls go quoted. */
        expect_ok(c, imap_client_login(c, "user\x01", "pass", &res));
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

/* ---- §3.6 IDLE ------------------------------------------------------------------------------------ */

START_TEST(test_S39_idle_not_advertised) {
        static const FakeStep script[] = { GREET, LOGIN, FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_err(c, imap_client_idle_begin(c, -1), -EOPNOTSUPP, "does not support IMAP4 IDLE");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S40_idle_denied) {
        static const FakeStep script[] = {
                GREET_CAPS(" IDLE"), LOGIN, FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("<tag> NO IDLE is not allowed at this time\r\n"), FAKE_EXPECT("<tag> NOOP"),
                FAKE_SEND("<tag> OK NOOP completed\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        int r;

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        r = imap_client_idle_begin(c, -1);
        expect_err(c, r, -EREMOTEIO, "idle denied: IDLE is not allowed at this time");
        ck_assert(!imap_client_error_is_abort(r));
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        expect_ok(c, imap_client_noop(c, &res));
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

#define IDLE_ITER_SERVER                                                                                \
        GREET_CAPS(" IDLE"), LOGIN, FAKE_EXPECT("<tag> IDLE"),                                          \
        FAKE_SEND("* 0 EXISTS\r\n"), FAKE_SEND("+ idling\r\n"), FAKE_SEND("* 2 EXISTS\r\n"),            \
        FAKE_SEND("* 1 FETCH (BODY[HEADER.FIELDS (DATE)] {41}\r\n"),                                    \
        FAKE_SEND("Date: Fri, 06 Dec 2024 06:00:00 +0000\r\n\r\n"), FAKE_SEND(")\r\n"),                 \
        FAKE_SEND("* 3 EXISTS\r\n"), FAKE_SLEEP(1000), FAKE_SEND("* 1 RECENT\r\n"),                     \
        FAKE_EXPECT("DONE"), FAKE_SEND("* 9 RECENT\r\n<tag> OK Idle completed\r\n"), FAKE_EXPECT_EOF(), FAKE_END

START_TEST(test_S41_idle_iteration) {
        static const FakeStep script[] = { IDLE_ITER_SERVER };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        ImapDatum *d = NULL;

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_idle_begin(c, -1));
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_IDLING);
        ck_assert_int_eq(imap_client_idle_next(c, &d), 1);
        expect_datum(d, "EXISTS", "0");
        ck_assert_int_eq(imap_client_idle_next(c, &d), 1);
        expect_datum(d, "EXISTS", "2");
        ck_assert_int_eq(imap_client_idle_next(c, &d), 1);
        expect_datum(d, "FETCH", "(1 (BODY[HEADER.FIELDS (DATE)] {41} / Date: Fri, 06 Dec 2024 06:00:00 +0000\r\n\r\n), )");
        ck_assert_int_eq(imap_client_idle_next(c, &d), 1);
        expect_datum(d, "EXISTS", "3");
        /* Leave while the server still sleeps: DONE goes out at once. */
        expect_ok(c, imap_client_idle_end(c, &res));
        expect_result(&res, "OK", "Idle completed");
        expect_ok(c, imap_client_response(c, "EXISTS", &res));
        expect_result(&res, "EXISTS", "None");
        expect_ok(c, imap_client_response(c, "RECENT", &res));
        expect_result(&res, "RECENT", "1 | 9");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S42_idle_burst) {
        static const FakeStep script[] = { IDLE_ITER_SERVER };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        ImapDatum **v = NULL;
        size_t n = 0;

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_idle_begin(c, -1));
        expect_ok(c, imap_client_idle_burst(c, 100, &v, &n));
        ck_assert_uint_eq(n, 4);
        expect_datum(v[0], "EXISTS", "0");
        expect_datum(v[1], "EXISTS", "2");
        expect_datum(v[2], "FETCH", "(1 (BODY[HEADER.FIELDS (DATE)] {41} / Date: Fri, 06 Dec 2024 06:00:00 +0000\r\n\r\n), )");
        expect_datum(v[3], "EXISTS", "3");
        free(v);
        expect_ok(c, imap_client_idle_end(c, &res));
        expect_ok(c, imap_client_response(c, "RECENT", &res));
        expect_result(&res, "RECENT", "1 | 9");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_S43_idle_delayed_packet) {
        static const FakeStep script[] = {
                GREET_CAPS(" IDLE"), LOGIN, FAKE_EXPECT("<tag> IDLE"), FAKE_SEND("+ idling\r\n"),
                FAKE_SEND("* 1 EX"), FAKE_SLEEP(200), FAKE_SEND("IS"), FAKE_SLEEP(1000), FAKE_SEND("TS\r\n"),
                FAKE_EXPECT("DONE"), FAKE_SEND("<tag> OK Idle completed\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        ImapDatum *d = NULL;

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_idle_begin(c, 500));
        /* The deadline passes with "* 1 EXIS" buffered: iteration ends... */
        ck_assert_int_eq(imap_client_idle_next(c, &d), 0);
        /* ...and nothing is lost or corrupted. */
        expect_ok(c, imap_client_idle_end(c, &res));
        expect_ok(c, imap_client_response(c, "EXISTS", &res));
        expect_result(&res, "EXISTS", "1");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

/* ---- §3.8 supplementary --------------------------------------------------------------------- */

START_TEST(test_X01_preauth) {
        static const FakeStep script[] = {
                FAKE_SEND("* PREAUTH ready\r\n"), FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("* CAPABILITY IMAP4rev1\r\n<tag> OK done\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        expect_err(c, imap_client_login(c, "user", "pass", &res), -EPERM, "LOGIN illegal in state AUTH");
        finish(f, c);
}
END_TEST

START_TEST(test_X02_bye_greeting) {
        static const FakeStep script[] = { FAKE_SEND("* BYE go away\r\n"), FAKE_CLOSE(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        _cleanup_free_ char *msg = NULL;
        ImapClient *c = NULL;

        ck_assert_int_eq(try_connect(f, NULL, 10000, &c, &msg), -EPROTO);
        ck_assert_str_eq(msg, "invalid greeting: * BYE go away");
        finish(f, NULL);
}
END_TEST

START_TEST(test_X03_no_capability_response) {
        static const FakeStep script[] = {
                FAKE_SEND("* OK hi\r\n"), FAKE_EXPECT("<tag> CAPABILITY"), FAKE_SEND("<tag> OK nothing\r\n"), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        _cleanup_free_ char *msg = NULL;
        ImapClient *c = NULL;

        ck_assert_int_eq(try_connect(f, NULL, 10000, &c, &msg), -EPROTO);
        ck_assert_str_eq(msg, "no CAPABILITY response from server");
        finish(f, NULL);
}
END_TEST

START_TEST(test_X04_protocol_versions) {
        static const FakeStep bad[] = {
                FAKE_SEND("* OK hi\r\n"), FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("* CAPABILITY IMAP2\r\n<tag> OK done\r\n"), FAKE_END,
        };
        static const FakeStep rev2[] = {
                FAKE_SEND("* OK hi\r\n"), FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("* CAPABILITY IMAP4rev2\r\n<tag> OK done\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(bad, _i);
        _cleanup_free_ char *msg = NULL;
        ImapClient *c = NULL;

        ck_assert_int_eq(try_connect(f, NULL, 10000, &c, &msg), -EPROTO);
        ck_assert_str_eq(msg, "server not IMAP4 compliant");
        finish(f, NULL);
        /* imapidled also accepts IMAP4rev2 (RFC 9051). */
        f = serve(rev2, _i);
        finish(f, connect_ok(f));
}
END_TEST

START_TEST(test_X05_greeting_capability_code) {
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n"), FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("* CAPABILITY IMAP4rev1\r\n<tag> OK done\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        ck_assert(!imap_client_has_capability(c, "IDLE"));
        ck_assert(imap_client_has_capability(c, "IMAP4REV1"));
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_NONAUTH);
        /* The greeting's OK was cleared by the CAPABILITY command. */
        expect_ok(c, imap_client_response(c, "OK", &res));
        expect_result(&res, "OK", "None");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X06_select_in_nonauth) {
        static const FakeStep script[] = { GREET, FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_err(c, imap_client_select(c, NULL, false, &res), -EPERM,
                   "command SELECT illegal in state NONAUTH, only allowed in states AUTH, SELECTED");
        finish(f, c);
}
END_TEST

#define NOOP_REPLY(reply) GREET, FAKE_EXPECT("<tag> NOOP"), FAKE_SEND(reply)

START_TEST(test_X07_bye_during_command) {
        static const FakeStep script[] = { NOOP_REPLY("* BYE shutting down\r\n<tag> OK NOOP done\r\n"), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        int r = imap_client_noop(c, &res);

        expect_err(c, r, -ECONNABORTED, "command: NOOP => server said BYE");
        ck_assert(imap_client_error_is_abort(r));
        finish(f, c);
}
END_TEST

START_TEST(test_X08_foreign_tag) {
        static const FakeStep script[] = { NOOP_REPLY("ZZZZ1 OK what\r\n"), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_err(c, imap_client_noop(c, &res), -EPROTO, "unexpected response: 'ZZZZ1 OK what'");
        finish(f, c);
}
END_TEST

START_TEST(test_X09_unknown_tag_number) {
        FakeImapd *f;
        ImapClient *c;
        ImapResult res = {};
        /* Our prefix, a number never sent: the prefix is known only after
         * connecting, so this script answers NOOP with tag + "9". */
        static const FakeStep script[] = { NOOP_REPLY("<tag>9 OK what\r\n"), FAKE_END };

        f = serve(script, _i);
        c = connect_ok(f);
        expect_err(c, imap_client_noop(c, &res), -EPROTO, "unexpected tagged response");
        finish(f, c);
}
END_TEST

START_TEST(test_X10_tagged_bad) {
        static const FakeStep script[] = { NOOP_REPLY("<tag> BAD nope\r\n"), FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        int r = imap_client_noop(c, &res);

        expect_err(c, r, -EREMOTEIO, "NOOP command error: BAD [nope]");
        ck_assert(!imap_client_error_is_abort(r));
        finish(f, c);
}
END_TEST

START_TEST(test_X11_tagged_no_with_alert) {
        static const FakeStep script[] = { NOOP_REPLY("<tag> NO [ALERT] nope\r\n"), FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_noop(c, &res));
        expect_result(&res, "NO", "[ALERT] nope");
        expect_ok(c, imap_client_response(c, "ALERT", &res));
        expect_result(&res, "ALERT", "");
        expect_ok(c, imap_client_response(c, "NO", &res));
        expect_result(&res, "NO", "None");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

#define SELECT_RO GREET, LOGIN, FAKE_EXPECT_ANY(), FAKE_SEND("* 5 EXISTS\r\n<tag> OK [READ-ONLY] done\r\n")

START_TEST(test_X12_read_only) {
        static const FakeStep script[] = {
                SELECT_RO, FAKE_EXPECT("<tag> NOOP"), FAKE_SEND("<tag> OK fine\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_err(c, imap_client_select(c, "INBOX", false, &res), -EROFS, "INBOX is not writable");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_SELECTED);
        expect_err(c, imap_client_noop(c, &res), -EROFS, "mailbox status changed to READ-ONLY");
        expect_ok(c, imap_client_response(c, "READ-ONLY", &res));
        expect_result(&res, "READ-ONLY", "");
        expect_ok(c, imap_client_noop(c, &res));
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X13_examine) {
        /* select(readonly) is EXAMINE, word for word on the wire. */
        static const FakeStep script[] = {
                GREET, LOGIN, FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 5 EXISTS\r\n<tag> OK [READ-ONLY] done\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_select(c, "INBOX", true, &res));
        expect_result(&res, "OK", "5");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_SELECTED);
        /* Asked for read-only and got it: no readonly error (X-12 is the other case). */
        ck_assert(imap_client_readonly(c));
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X14_select_refused) {
        static const FakeStep script[] = {
                GREET, LOGIN, FAKE_EXPECT("<tag> SELECT X"), FAKE_SEND("<tag> NO no such mailbox\r\n"),
                FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_select(c, "X", false, &res));
        expect_result(&res, "NO", "no such mailbox");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

#define SELECTED GREET, LOGIN, FAKE_EXPECT("<tag> SELECT INBOX"), FAKE_SEND("* 2 EXISTS\r\n<tag> OK done\r\n")

START_TEST(test_X15_fetch_literals) {
        static const FakeStep script[] = {
                SELECTED, FAKE_EXPECT("<tag> FETCH 1:2 (BODY[1] BODY[2])"),
                FAKE_SEND("* 1 FETCH (BODY[1] {3}\r\nabc BODY[2] {2}\r\nde)\r\n* 2 FETCH (FLAGS (\\Seen))\r\n"
                          "<tag> OK done\r\n"),
                FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_select(c, NULL, false, &res));
        expect_ok(c, imap_client_fetch(c, "1:2", "(BODY[1] BODY[2])", &res));
        expect_result(&res, "OK", "(1 (BODY[1] {3} / abc), ( BODY[2] {2} / de), ) | 2 (FLAGS (\\Seen))");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X16_login_refused) {
        static const FakeStep script[] = {
                GREET, FAKE_EXPECT("<tag> LOGIN user \"pass\""), FAKE_SEND("<tag> NO [AUTHENTICATIONFAILED] bad\r\n"),
                FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_err(c, imap_client_login(c, "user", "pass", &res), -EREMOTEIO, "[AUTHENTICATIONFAILED] bad");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X17_recent_without_stored) {
        static const FakeStep script[] = {
                GREET, FAKE_EXPECT("<tag> NOOP"), FAKE_SEND("<tag> OK NOOP completed\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_recent(c, &res));
        expect_result(&res, "OK", "None");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X18_append_refused_before_literal) {
        static const FakeStep script[] = {
                GREET, LOGIN, FAKE_EXPECT("<tag> APPEND X (\\Seen) \"01-Jan-2020 00:00:00 +0000\" {4}"),
                FAKE_SEND("<tag> NO [TRYCREATE] no mailbox\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_append(c, "X", "\\Seen", "\"01-Jan-2020 00:00:00 +0000\"", "a\nb", 3, &res));
        expect_result(&res, "NO", "[TRYCREATE] no mailbox");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X19_append) {
        static const FakeStep script[] = {
                GREET, LOGIN, FAKE_EXPECT("<tag> APPEND INBOX (\\Seen \\Flagged) {7}"), FAKE_SEND("+ go\r\n"),
                FAKE_EXPECT("a"), FAKE_EXPECT("b"), FAKE_EXPECT("c"), FAKE_SEND("<tag> OK [APPENDUID 1 2] done\r\n"),
                FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_append(c, NULL, "(\\Seen \\Flagged)", NULL, "a\nb\r\nc", 6, &res));
        expect_result(&res, "OK", "[APPENDUID 1 2] done");
        expect_ok(c, imap_client_response(c, "APPENDUID", &res));
        expect_result(&res, "APPENDUID", "1 2");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

static unsigned x20_calls;
static char x20_seen[2][16];

static int step_prefix_r(void *userdata, unsigned step, const void *challenge, size_t len, Buf *out) {
        (void) userdata;
        (void) step;
        if (x20_calls < 2)
                snprintf(x20_seen[x20_calls], sizeof(x20_seen[0]), "%.*s", (int) len, (const char *) challenge);
        x20_calls++;
        if (buf_append(out, "r", 1, 0) < 0)
                return -ENOMEM;
        return buf_append(out, challenge, len, 0);
}

START_TEST(test_X20_two_step_authenticate) {
        static const FakeStep script[] = {
                GREET, FAKE_EXPECT("<tag> AUTHENTICATE X-TWO"), FAKE_SEND("+ Zmlyc3Q=\r\n"), FAKE_EXPECT("cmZpcnN0"),
                FAKE_SEND("+ c2Vjb25k\r\n"), FAKE_EXPECT("cnNlY29uZA=="),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] ok\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        x20_calls = 0;
        expect_ok(c, imap_client_authenticate(c, "x-two", step_prefix_r, NULL, &res));
        ck_assert_uint_eq(x20_calls, 2);
        ck_assert_str_eq(x20_seen[0], "first");
        ck_assert_str_eq(x20_seen[1], "second");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        /* G2: capabilities come from the tagged OK's code. */
        ck_assert(imap_client_has_capability(c, "IDLE"));
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X21_uid) {
        static const FakeStep script[] = { GREET, FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_err(c, imap_client_uid(c, "frob", "1", &res), -EINVAL, "Unknown IMAP4 UID command: FROB");
        expect_err(c, imap_client_uid(c, "fetch", "1 (UID)", &res), -EPERM,
                   "command FETCH illegal in state NONAUTH, only allowed in states SELECTED");
        finish(f, c);
}
END_TEST

START_TEST(test_X22_xatom) {
        static const FakeStep script[] = {
                GREET, FAKE_EXPECT("<tag> XFOO a b"), FAKE_SEND("<tag> BAD XFOO unknown\r\n"), FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_err(c, imap_client_xatom(c, "XFOO", "a b", &res), -EREMOTEIO, "XFOO command error: BAD [XFOO unknown]");
        finish(f, c);
}
END_TEST

START_TEST(test_X23_reset_is_eof) {
        static const FakeStep script[] = { GREET, FAKE_EXPECT("<tag> NOOP"), FAKE_RESET(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        int r = imap_client_noop(c, &res);

        ck_assert_int_eq(r, -ECONNRESET);
        ck_assert(imap_client_error_is_abort(r));
        ck_assert_str_eq(imap_client_errmsg(c), "socket error: EOF");
        finish(f, c);
}
END_TEST

START_TEST(test_X24_X25_idle_unexpected_status) {
        static const char *const replies[] = { "<tag> BAD syntax\r\n", "<tag> OK what\r\n" };

        for (size_t i = 0; i < ELEMENTSOF(replies); i++) {
                FakeStep script[] = { GREET_CAPS(" IDLE"), LOGIN, FAKE_EXPECT("<tag> IDLE"), FAKE_SEND(replies[i]),
                                      FAKE_END };
                FakeImapd *f = serve(script, _i);
                ImapClient *c = connect_ok(f);
                ImapResult res = {};
                int r;

                expect_ok(c, imap_client_login(c, "user", "pass", &res));
                r = imap_client_idle_begin(c, -1);
                expect_err(c, r, -EPROTO, "unexpected status response");
                ck_assert(imap_client_error_is_abort(r));
                imap_result_done(&res);
                finish(f, c);
        }
}
END_TEST

#define IDLE_THEN(reply)                                                                                \
        GREET_CAPS(" IDLE"), LOGIN, FAKE_EXPECT("<tag> IDLE"), FAKE_SEND("+ idling\r\n"),              \
        FAKE_EXPECT("DONE"), FAKE_SEND(reply)

START_TEST(test_X26_idle_bad_after_done) {
        static const FakeStep script[] = { IDLE_THEN("<tag> BAD whatever\r\n"), FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        ImapDatum *d;

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_idle_begin(c, 100));
        ck_assert_int_eq(imap_client_idle_next(c, &d), 0);
        expect_err(c, imap_client_idle_end(c, &res), -EREMOTEIO, "IDLE command error: BAD [whatever]");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X27_idle_no_after_done) {
        static const FakeStep script[] = { IDLE_THEN("<tag> NO whatever\r\n"), FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        ImapDatum *d;

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_idle_begin(c, 100));
        ck_assert_int_eq(imap_client_idle_next(c, &d), 0);
        expect_ok(c, imap_client_idle_end(c, &res));
        expect_result(&res, "NO", "whatever");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X28_body_fails) {
        /* the caller's code fails inside IDLE, as imaplib's body raising in the block:
         * here it takes one response, then tries a command IDLE does not allow, gets an
         * error, and leaves through its error path with a response still unread.  That path
         * must still end IDLE (the script expects "DONE" on the wire), the error stays the
         * caller's to report, and the connection stays usable: state AUTH, the unread
         * response in the store, the next command answered. */
        static const FakeStep script[] = {
                GREET_CAPS(" IDLE"), LOGIN, FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n* 3 EXISTS\r\n* 4 EXISTS\r\n"), FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"), FAKE_EXPECT("<tag> NOOP"),
                FAKE_SEND("<tag> OK NOOP completed\r\n"),
                FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        ImapDatum *d = NULL;
        int body_r;

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_idle_begin(c, -1));
        ck_assert_int_eq(imap_client_idle_next(c, &d), 1);
        expect_datum(d, "EXISTS", "3");
        /* The body fails... */
        body_r = imap_client_noop(c, &res);
        ck_assert_int_eq(body_r, -EPERM);
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_IDLING);
        /* ...and its error path ends IDLE. */
        expect_ok(c, imap_client_idle_end(c, &res));
        expect_result(&res, "OK", "done");
        ck_assert_int_eq(body_r, -EPERM);
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        expect_ok(c, imap_client_response(c, "EXISTS", &res));
        expect_result(&res, "EXISTS", "4");
        expect_ok(c, imap_client_noop(c, &res));
        expect_result(&res, "OK", "NOOP completed");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X29_silent_server_duration) {
        static const FakeStep script[] = { IDLE_THEN("<tag> OK done\r\n"), FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        ImapDatum *d, **v;
        size_t n;
        usec_t t0;

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_idle_begin(c, 300));
        t0 = mono_usec();
        ck_assert_int_eq(imap_client_idle_next(c, &d), 0);
        expect_ok(c, imap_client_idle_burst(c, 100, &v, &n));
        ck_assert_uint_eq(n, 0);
        /* The deadline is an absolute time: it passed, it stays passed.
         * (Only a lower bound is asserted: timing never decides beyond that.) */
        ck_assert_uint_ge(mono_usec() - t0, 250 * USEC_PER_MSEC);
        expect_ok(c, imap_client_idle_end(c, &res));
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X30_X31_nothing_else_while_idling) {
        static const FakeStep script[] = { IDLE_THEN("<tag> OK done\r\n"), FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_idle_begin(c, -1));
        expect_err(c, imap_client_idle_begin(c, -1), -EBUSY, NULL);
        expect_err(c, imap_client_noop(c, &res), -EPERM,
                   "command NOOP illegal in state IDLING, only allowed in states NONAUTH, AUTH, SELECTED, LOGOUT");
        expect_ok(c, imap_client_idle_end(c, &res));
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X32_bye_while_idling) {
        /* BYE while idling ends the iteration, and nothing goes on the wire after the
         * IDLE line: no DONE at idle_end, and none later either, when the caller still tries
         * imaplib's way out, a LOGOUT (refused: the server that said BYE never answers the
         * IDLE, and nothing may follow IDLE before its answer, RFC 2177).  The scripts end by
         * expecting EOF, which any byte from the client fails.  Twice: the server closes
         * after BYE, or says BYE and leaves the socket open (catalogue case J04's server). */
        static const FakeStep closes[] = {
                GREET_CAPS(" IDLE"), LOGIN, FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n* BYE autologout\r\n"), FAKE_CLOSE(), FAKE_EXPECT_EOF(), FAKE_END,
        };
        static const FakeStep stays[] = {
                GREET_CAPS(" IDLE"), LOGIN, FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n* BYE autologout\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };

        for (unsigned open = 0; open < 2; open++) {
                FakeImapd *f = serve(open ? stays : closes, _i);
                ImapClient *c = connect_ok(f);
                ImapResult res = {};
                ImapDatum *d;

                expect_ok(c, imap_client_login(c, "user", "pass", &res));
                expect_ok(c, imap_client_idle_begin(c, 2000));
                ck_assert_int_eq(imap_client_idle_next(c, &d), 1);
                expect_datum(d, "BYE", "autologout");
                /* After BYE: iteration ends, and no DONE handshake is attempted. */
                ck_assert_int_eq(imap_client_idle_next(c, &d), 0);
                expect_err(c, imap_client_idle_end(c, &res), -ECONNABORTED, "server said BYE");
                ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
                expect_err(c, imap_client_noop(c, &res), -ECONNABORTED, "server said BYE");
                ck_assert_int_lt(imap_client_logout(c, &res), 0);
                imap_result_done(&res);
                finish(f, c);
        }
}
END_TEST

/* This program's own path, for X-33's tunnel command (set by main()). */
static char self_exe[PATH_MAX];

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -1;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* The tunnel command of X-33, "<self> --relay PORT": stdin (the client's end of the tunnel,
 * also stdout) to a TCP connection to 127.0.0.1:PORT where the fake listens, and back; an
 * EOF on either side is passed on with shutdown(), and it exits when both have ended. */
static int relay(const char *port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        bool up = true, down = true;
        char buf[4096];
        unsigned long v;
        char *end;
        int fd;

        errno = 0;
        v = strtoul(port, &end, 10);
        if (errno != 0 || *end || v == 0 || v > 65535)
                return EXIT_FAILURE;
        sa.sin_port = htons((uint16_t) v);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return EXIT_FAILURE;
        while (up || down) {
                struct pollfd pfd[2] = {
                        { .fd = up ? STDIN_FILENO : -1, .events = POLLIN },
                        { .fd = down ? fd : -1, .events = POLLIN },
                };
                ssize_t n;

                if (poll(pfd, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return EXIT_FAILURE;
                }
                if (pfd[0].revents) {
                        n = read(STDIN_FILENO, buf, sizeof(buf));
                        if (n <= 0) {
                                (void) shutdown(fd, SHUT_WR);
                                up = false;
                        } else if (write_all(fd, buf, (size_t) n) < 0)
                                return EXIT_FAILURE;
                }
                if (pfd[1].revents) {
                        n = read(fd, buf, sizeof(buf));
                        if (n <= 0) {
                                (void) shutdown(STDOUT_FILENO, SHUT_WR);
                                down = false;
                        } else if (write_all(STDOUT_FILENO, buf, (size_t) n) < 0)
                                return EXIT_FAILURE;
                }
        }
        return EXIT_SUCCESS;
}

START_TEST(test_X33_tunnel_duration_burst) {
        /* IDLE over a tunnel (a command on stdin/stdout, imaplib's IMAP4_stream), where
         * imaplib refuses a duration and burst() because it cannot time out a pipe.  Here
         * both work, and what the server sent is all accounted for: a first IDLE with a
         * 200 ms duration and a silent server ends empty; the second yields "* 4 EXISTS",
         * then a burst of exactly the two responses sent with it; after DONE the "* 1 RECENT"
         * that came with the tagged OK is in the store, and the iterated responses are not.
         * The fake is scripted as everywhere else; the tunnel command is this program as a
         * relay to it, so the script still checks every line, DONE included. */
        static const FakeStep script[] = {
                FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),
                FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("* CAPABILITY IMAP4rev1 IDLE\r\n<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> IDLE"), FAKE_SEND("+ idling\r\n"), FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK Idle completed\r\n"),
                FAKE_EXPECT("<tag> IDLE"), FAKE_SEND("+ idling\r\n* 4 EXISTS\r\n"),
                FAKE_SEND("* 5 EXISTS\r\n* 2 FETCH (FLAGS (\\Seen))\r\n"), FAKE_EXPECT("DONE"),
                FAKE_SEND("* 1 RECENT\r\n<tag> OK Idle completed\r\n"),
                LOGOUT, FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, TRANSPORT_PLAIN);
        char port[8], relay_opt[] = "--relay";
        char *argv[] = { self_exe, relay_opt, port, NULL };
        ImapClientOpts o = { .mode = IMAP_CLIENT_TUNNEL, .tunnel_argv = argv, .timeout_ms = 10000 };
        ImapClient *c = NULL;
        _cleanup_free_ char *msg = NULL;
        ImapResult res = {};
        ImapDatum *d = NULL, **v = NULL;
        size_t n = 0;
        int r;

        ck_assert_int_gt(snprintf(port, sizeof(port), "%u", fake_imapd_port(f)), 0);
        r = imap_client_connect(&o, &c, &msg);
        ck_assert_msg(r == 0, "tunnel: %d %s", r, msg ? msg : "");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);

        /* A duration on a tunnel: it passes with nothing said, the iteration and the burst
         * end empty. */
        expect_ok(c, imap_client_idle_begin(c, 200));
        ck_assert_int_eq(imap_client_idle_next(c, &d), 0);
        expect_ok(c, imap_client_idle_burst(c, 100, &v, &n));
        ck_assert_uint_eq(n, 0);
        free(v);
        expect_ok(c, imap_client_idle_end(c, &res));
        expect_result(&res, "OK", "Idle completed");

        expect_ok(c, imap_client_idle_begin(c, 10000));
        ck_assert_int_eq(imap_client_idle_next(c, &d), 1);
        expect_datum(d, "EXISTS", "4");
        /* The two that followed, and nothing else: the server then waits for DONE. */
        expect_ok(c, imap_client_idle_burst(c, 500, &v, &n));
        ck_assert_uint_eq(n, 2);
        expect_datum(v[0], "EXISTS", "5");
        expect_datum(v[1], "FETCH", "2 (FLAGS (\\Seen))");
        free(v);
        expect_ok(c, imap_client_idle_end(c, &res));
        expect_result(&res, "OK", "Idle completed");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        expect_ok(c, imap_client_response(c, "RECENT", &res));
        expect_result(&res, "RECENT", "1");
        expect_ok(c, imap_client_response(c, "EXISTS", &res));
        expect_result(&res, "EXISTS", "None");
        expect_ok(c, imap_client_response(c, "FETCH", &res));
        expect_result(&res, "FETCH", "None");
        expect_ok(c, imap_client_logout(c, &res));
        expect_result(&res, "BYE", "IMAP4ref1 Server logging out");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X34_next_without_idle) {
        static const FakeStep script[] = { GREET, FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapDatum *d;
        ImapDatum **v;
        size_t n;

        expect_err(c, imap_client_idle_next(c, &d), -EINVAL, "not idling");
        expect_err(c, imap_client_idle_burst(c, 10, &v, &n), -EINVAL, "not idling");
        finish(f, c);
}
END_TEST

START_TEST(test_X35_denied_keeps_responses) {
        static const FakeStep script[] = {
                GREET_CAPS(" IDLE"), LOGIN, FAKE_EXPECT("<tag> IDLE"), FAKE_SEND("* 7 EXISTS\r\n<tag> NO not now\r\n"),
                FAKE_EXPECT("<tag> IDLE"), FAKE_SEND("<tag> NO not now\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_err(c, imap_client_idle_begin(c, -1), -EREMOTEIO, "idle denied: not now");
        expect_ok(c, imap_client_response(c, "EXISTS", &res));
        expect_result(&res, "EXISTS", "7");
        expect_err(c, imap_client_idle_begin(c, -1), -EREMOTEIO, "idle denied: not now");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X36_server_ends_idle) {
        static const FakeStep script[] = {
                GREET_CAPS(" IDLE"), LOGIN, FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n+ still here\r\n<tag> OK IDLE terminated by server\r\n"),
                FAKE_EXPECT("<tag> NOOP"), FAKE_SEND("<tag> OK NOOP completed\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        ImapDatum *d;

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_idle_begin(c, 2000));
        ck_assert_int_eq(imap_client_idle_next(c, &d), 0);
        /* No DONE: the command is already complete; its status is reported. */
        expect_ok(c, imap_client_idle_end(c, &res));
        expect_result(&res, "OK", "IDLE terminated by server");
        expect_ok(c, imap_client_noop(c, &res));
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

#define X37_SERVER                                                                                      \
        GREET_CAPS(" IDLE"), LOGIN, FAKE_EXPECT("<tag> IDLE"), FAKE_SEND("* 2 FETCH (BODY[1] {3}\r\n"),  \
        FAKE_SEND("abc)\r\n"), FAKE_SEND("+ idling\r\n"), FAKE_EXPECT("DONE"), FAKE_SEND("<tag> OK done\r\n"), \
        FAKE_EXPECT_EOF(), FAKE_END

START_TEST(test_X37_leftovers) {
        static const FakeStep script[] = { X37_SERVER };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_idle_begin(c, -1));
        expect_ok(c, imap_client_idle_end(c, &res));
        expect_ok(c, imap_client_response(c, "FETCH", &res));
        expect_result(&res, "FETCH", "(2 (BODY[1] {3} / abc), )");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X38_queued_survive_deadline) {
        static const FakeStep script[] = { X37_SERVER };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        ImapDatum *d;

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_idle_begin(c, 200));
        nanosleep(&(struct timespec) { .tv_nsec = 400 * 1000 * 1000 }, NULL);
        ck_assert_int_eq(imap_client_idle_next(c, &d), 1);
        expect_datum(d, "FETCH", "(2 (BODY[1] {3} / abc), )");
        ck_assert_int_eq(imap_client_idle_next(c, &d), 0);
        expect_ok(c, imap_client_idle_end(c, &res));
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X39_codes_in_idle) {
        static const FakeStep script[] = {
                GREET_CAPS(" IDLE"), LOGIN, FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n* OK [ALERT] disk full\r\n* 2 FETCH (BODY[1] {3}\r\n"),
                FAKE_SEND("abc BODY[2] {2}\r\n"), FAKE_SEND("de)\r\n"), FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"), FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};
        ImapDatum *d;

        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_idle_begin(c, 500));
        ck_assert_int_eq(imap_client_idle_next(c, &d), 1);
        expect_datum(d, "OK", "[ALERT] disk full");
        ck_assert_int_eq(imap_client_idle_next(c, &d), 1);
        expect_datum(d, "ALERT", "");
        ck_assert_int_eq(imap_client_idle_next(c, &d), 1);
        expect_datum(d, "FETCH", "(2 (BODY[1] {3} / abc), ( BODY[2] {2} / de), )");
        ck_assert_int_eq(imap_client_idle_next(c, &d), 0);
        expect_ok(c, imap_client_idle_end(c, &res));
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

START_TEST(test_X41_tagged_without_text) {
        static const FakeStep script[] = { NOOP_REPLY("<tag> OK\r\n"), FAKE_EXPECT_EOF(), FAKE_END };
        FakeImapd *f = serve(script, _i);
        ImapClient *c = connect_ok(f);
        ImapResult res = {};

        expect_ok(c, imap_client_noop(c, &res));
        expect_result(&res, "OK", "");
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

/* ---- TLS only: certificate verification (docs/SECURITY.md group E) ------------------------------------ */

static const FakeStep greet_only[] = { FAKE_SEND("* OK IMAP4rev1\r\n"), FAKE_END };

/* Connect over TLS to "localhost", trusting ca_file only; the client must
 * refuse in the handshake.  Returns the fake's report. */
static char *refused(FakeImapd *f, const char *ca_file, int want_r, const char *want_msg) {
        char port[8], *report = NULL;
        ImapClientOpts o = client_opts(f, port, 10000);
        _cleanup_free_ char *msg = NULL;
        ImapClient *c = NULL;
        int r;

        o.ca_file = ca_file;
        r = imap_client_connect(&o, &c, &msg);
        ck_assert_msg(r == want_r, "got %d (%s), want %d", r, msg ? msg : "", want_r);
        ck_assert(imap_client_error_is_abort(r));
        ck_assert_ptr_null(c);
        ck_assert_msg(msg && strstr(msg, want_msg), "message '%s' lacks '%s'", msg, want_msg);
        /* The fake's handshake failed on the client's alert: no greeting went out. */
        ck_assert_int_eq(fake_imapd_wait(f, &report), -EPROTO);
        ck_assert_msg(report && strstr(report, "TLS handshake failed: ") && strstr(report, "alert"), "%s",
                      report);
        fake_imapd_free(f);
        return report;
}

START_TEST(test_E01_wrong_name) {
        /* A chain the client trusts, but for other.example, reached as localhost. */
        FakeImapd *f = serve_certs(greet_only, TRANSPORT_TLS, &other_certs);

        free(refused(f, other_certs.ca_file, -EPROTO, "hostname mismatch"));
}
END_TEST

START_TEST(test_E05_unknown_ca) {
        /* The right name, signed by a CA the client does not trust. */
        FakeImapd *f = serve_certs(greet_only, TRANSPORT_TLS, &server_certs);

        free(refused(f, other_certs.ca_file, -EPROTO, "certificate verify failed"));
}
END_TEST

START_TEST(test_E01_E05_control) {
        /* The same fake and client, with the right CA and name: accepted. */
        FakeImapd *f = serve_certs((const FakeStep[]) { GREET, FAKE_EXPECT_EOF(), FAKE_END }, TRANSPORT_TLS,
                                   &server_certs);

        finish(f, connect_ok(f));
}
END_TEST

/* imap_client_list_each(): every entry handed on as it comes and none kept in the store; with
 * soft_list a malformed entry is handed on untyped and the rest still come (SECURITY.md I08);
 * an error from the callback ends nothing early: the tagged reply is read, then it is returned. */
typedef struct ListSeen {
        unsigned n, bad, stop_at;
        char names[4][16];
} ListSeen;

static int on_list(const ImapResponse *r, void *userdata) {
        ListSeen *seen = userdata;

        if (r->data_type == IMAP_DATA_LIST) {
                if (seen->n < ELEMENTSOF(seen->names))
                        (void) snprintf(seen->names[seen->n], sizeof(seen->names[0]), "%.*s",
                                        (int) r->list.mailbox->len, r->list.mailbox->str);
                seen->n++;
        } else {
                ck_assert_int_eq(r->data_type, IMAP_DATA_OTHER);
                ck_assert_ptr_nonnull(r->invalid);
                seen->bad++;
        }
        return seen->stop_at > 0 && seen->n + seen->bad >= seen->stop_at ? -ECANCELED : 0;
}

START_TEST(test_list_each) {
        static const FakeStep script[] = {
                GREET, LOGIN,
                FAKE_EXPECT("<tag> LIST \"\" *"),
                FAKE_SEND("* LIST () \"/\" A\r\n* LIST (\"x\") \"/\" Bad\r\n* LIST () \"/\" B\r\n"
                          "<tag> OK LIST completed\r\n"),
                FAKE_EXPECT("<tag> LIST \"\" %"),
                FAKE_SEND("* LIST () \"/\" C\r\n* LIST () \"/\" D\r\n<tag> OK LIST completed\r\n"),
                FAKE_EXPECT("<tag> LIST \"\" Nope"),
                FAKE_SEND("<tag> NO no such pattern\r\n"),
                LOGOUT, FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeImapd *f = serve(script, _i);
        _cleanup_free_ char *msg = NULL;
        ImapClient *c = NULL;
        ImapResult res = {};
        ListSeen seen = {};
        char port[8];
        ImapClientOpts o = client_opts(f, port, 10000);

        o.soft_list = true;
        ck_assert_msg(imap_client_connect(&o, &c, &msg) == 0, "%s", msg ? msg : "");
        expect_ok(c, imap_client_login(c, "user", "pass", &res));
        expect_ok(c, imap_client_list_each(c, "", "*", on_list, &seen, &res));
        ck_assert_str_eq(res.typ, "OK");
        ck_assert_uint_eq(seen.n, 2);
        ck_assert_uint_eq(seen.bad, 1);
        ck_assert_str_eq(seen.names[0], "A");
        ck_assert_str_eq(seen.names[1], "B");
        /* Nothing was stored. */
        expect_ok(c, imap_client_response(c, "LIST", &res));
        ck_assert(res.n == 1 && !res.data[0]);
        /* The callback's error, after the tagged reply: the connection is still in step. */
        seen = (ListSeen) { .stop_at = 1 };
        ck_assert_int_eq(imap_client_list_each(c, "", "%", on_list, &seen, &res), -ECANCELED);
        ck_assert_uint_eq(seen.n, 1);
        /* A refusal is the tagged NO, as data. */
        seen = (ListSeen) {};
        expect_ok(c, imap_client_list_each(c, "", "Nope", on_list, &seen, &res));
        ck_assert_str_eq(res.typ, "NO");
        ck_assert_uint_eq(seen.n, 0);
        expect_ok(c, imap_client_logout(c, &res));
        imap_result_done(&res);
        finish(f, c);
}
END_TEST

static Suite *imap_client_suite(void) {
        Suite *s = suite_create("imap-client");
        TCase *tc;

        tc = tcase_create("connection");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_S05_nothing_listening);
        tcase_add_loop_test(tc, test_S06_eof_in_greeting, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S07_lf_only_line, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S08_line_too_long_small_limit, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S09_line_too_long_default, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S10_truncated_huge_literal, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S11_connect_then_logout, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_test(tc, test_A05_random_tag_prefix);
        tcase_add_test(tc, test_A05_guessed_tag_before_starttls);
        tcase_add_loop_test(tc, test_S12_timeout_parameter, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S13_timeout_during_greeting, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S14_login_logout, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S15_logout_twice, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S16_connect_and_close, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        suite_add_tcase(s, tc);

        tc = tcase_create("enable");
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_S17_enable_before_auth, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S18_enable_not_advertised, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S19_enable_utf8_not_advertised, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S20_utf8_append, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S21_search_charset_in_utf8_mode, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        suite_add_tcase(s, tc);

        tc = tcase_create("auth");
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_S22_unknown_mechanism, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S23_rejected_credentials, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S24_S25_accepted, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S26_S27_cram_md5, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S28_cram_md5_unavailable, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S29_client_cancels, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        suite_add_tcase(s, tc);

        tc = tcase_create("commands");
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_S30_login, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S31_logout, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S32_lsub, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S33_select_unselect, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S34_bracket_flags, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S35_control_characters, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        suite_add_tcase(s, tc);

        tc = tcase_create("idle");
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_S39_idle_not_advertised, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S40_idle_denied, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S41_idle_iteration, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S42_idle_burst, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_S43_idle_delayed_packet, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        suite_add_tcase(s, tc);

        tc = tcase_create("supplementary");
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_X01_preauth, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X02_bye_greeting, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X03_no_capability_response, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X04_protocol_versions, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X05_greeting_capability_code, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X06_select_in_nonauth, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X07_bye_during_command, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X08_foreign_tag, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X09_unknown_tag_number, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X10_tagged_bad, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X11_tagged_no_with_alert, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X12_read_only, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X13_examine, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X14_select_refused, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X15_fetch_literals, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X16_login_refused, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X17_recent_without_stored, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X18_append_refused_before_literal, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X19_append, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X20_two_step_authenticate, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X21_uid, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X22_xatom, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X23_reset_is_eof, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X24_X25_idle_unexpected_status, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X26_idle_bad_after_done, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X27_idle_no_after_done, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X28_body_fails, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X29_silent_server_duration, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X30_X31_nothing_else_while_idling, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X32_bye_while_idling, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_test(tc, test_X33_tunnel_duration_burst);
        tcase_add_loop_test(tc, test_X34_next_without_idle, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X35_denied_keeps_responses, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X36_server_ends_idle, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X37_leftovers, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X38_queued_survive_deadline, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X39_codes_in_idle, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_X41_tagged_without_text, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        tcase_add_loop_test(tc, test_list_each, TRANSPORT_PLAIN, _TRANSPORT_MAX);
        suite_add_tcase(s, tc);

        tc = tcase_create("tls-verify");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_E01_wrong_name);
        tcase_add_test(tc, test_E05_unknown_ca);
        tcase_add_test(tc, test_E01_E05_control);
        suite_add_tcase(s, tc);

        return s;
}

static void certs_remove(void) {
        const ThCerts *const sets[] = { &server_certs, &other_certs };

        for (size_t i = 0; i < ELEMENTSOF(sets); i++) {
                (void) unlink(sets[i]->ca_file);
                (void) unlink(sets[i]->ca_key_file);
                (void) unlink(sets[i]->cert_file);
                (void) unlink(sets[i]->key_file);
        }
        (void) rmdir(server_dir);
        (void) rmdir(other_dir);
        (void) rmdir(cert_dir);
}

static int certs_make(void) {
        int r;

        if (!mkdtemp(cert_dir))
                return -errno;
        (void) snprintf(server_dir, sizeof(server_dir), "%s/server", cert_dir);
        (void) snprintf(other_dir, sizeof(other_dir), "%s/other", cert_dir);
        if (mkdir(server_dir, 0700) < 0 || mkdir(other_dir, 0700) < 0)
                return -errno;
        r = th_certs_make(server_dir, (const char *const[]) { "localhost", NULL },
                          (const char *const[]) { "127.0.0.1", NULL }, &server_certs);
        if (r < 0)
                return r;
        return th_certs_make(other_dir, (const char *const[]) { "other.example", NULL }, NULL, &other_certs);
}

int main(int argc, char *argv[]) {
        ssize_t k;
        int r;

        /* X-33's tunnel command is this program. */
        if (argc == 3 && strcmp(argv[1], "--relay") == 0)
                return relay(argv[2]);
        k = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
        if (k <= 0 || (size_t) k >= sizeof(self_exe) - 1) {
                fprintf(stderr, "cannot find this program's path for the X-33 tunnel\n");
                return EXIT_FAILURE;
        }
        self_exe[k] = 0;
        r = certs_make();
        if (r < 0) {
                fprintf(stderr, "making the test certificates failed: %s\n", strerror(-r));
                certs_remove();
                return EXIT_FAILURE;
        }
        r = th_run_suite(imap_client_suite());
        certs_remove();
        return r;
}
