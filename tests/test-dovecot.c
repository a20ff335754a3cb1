/* SPDX-License-Identifier: MIT */
/*
 * test-dovecot.c: the blocking client against a real Dovecot started for this
 * run (tests/th-dovecot.h): every command of imaplib's table at least once;
 * plain, STARTTLS and implicit TLS with verification (S-44, S-45); IDLE that
 * sees EXISTS and EXPUNGE caused by a second connection, a burst collecting a
 * bulk delete, duration expiry; and the tunnel with Dovecot's imap
 * binary on stdin/stdout.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "imap-client.h"
#include "imap-sasl.h"
#include "imap-utf7.h"
#include "th-dovecot.h"
#include "th.h"

static ThDovecot dovecot;
static int dovecot_r = -EAGAIN;

static void setup(void) {
        /* Unchecked fixture: no ck_assert here; each test checks dovecot_r. */
        dovecot_r = th_dovecot_start(&dovecot);
}

static void teardown(void) {
        th_dovecot_stop(&dovecot);
}

static ImapClientOpts opts(ImapClientMode mode, const char *host) {
        return (ImapClientOpts) {
                .mode = mode,
                .host = host,
                .port = mode == IMAP_CLIENT_TLS ? dovecot.tls_port : dovecot.plain_port,
                .ca_file = dovecot.ca_file,
                .timeout_ms = 20000,
        };
}

static ImapClient *connect_mode(ImapClientMode mode, const char *host) {
        ImapClientOpts o = opts(mode, host);
        ImapClient *c = NULL;
        _cleanup_free_ char *msg = NULL;
        int r;

        ck_assert_int_eq(dovecot_r, 0);
        r = imap_client_connect(&o, &c, &msg);
        ck_assert_msg(r == 0, "connect: %d %s", r, msg ? msg : "");
        return c;
}

/* A call that returns no tagged status (IDLE begin and burst, imap_client_response()). */
static void ok_call(ImapClient *c, int r) {
        ck_assert_msg(r == 0, "failed: %d %s", r, imap_client_errmsg(c) ? imap_client_errmsg(c) : "");
}

/* A command that succeeded and whose tagged status is 'typ': a NO is returned as data, not
 * as an error (imaplib; docs/ENGINE.md), so r == 0 alone would let a refused command pass. */
static void ok_typ(ImapClient *c, int r, ImapResult *res, const char *typ) {
        ok_call(c, r);
        ck_assert_msg(strcmp(res->typ, typ) == 0, "tagged %s, expected %s: %s", res->typ, typ,
                      imap_result_text(res, 0) ? imap_result_text(res, 0) : "");
}

static void ok(ImapClient *c, int r, ImapResult *res) {
        ok_typ(c, r, res, "OK");
}

/* Some item of the result contains 'needle'. */
static bool result_has(const ImapResult *res, const char *needle) {
        for (size_t i = 0; i < res->n; i++) {
                const ImapDatum *d = res->data[i];
                for (size_t j = 0; d && j < d->n_frags; j++)
                        if (strstr(d->frags[j].text, needle) ||
                            (d->frags[j].literal && memmem(d->frags[j].literal, d->frags[j].literal_len, needle,
                                                           strlen(needle))))
                                return true;
        }
        return false;
}

static ImapClient *logged_in(unsigned user) {
        ImapClient *c = connect_mode(IMAP_CLIENT_PLAIN, "127.0.0.1");
        ImapResult res = {};

        ok(c, imap_client_login(c, th_dovecot_user(&dovecot, user), th_dovecot_pass(&dovecot, user), &res), &res);
        imap_result_done(&res);
        return c;
}

static void deliver(unsigned user, const char *mailbox, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                char msg[256];

                snprintf(msg, sizeof(msg), "From: a@example.org\nTo: b@example.org\nSubject: test %u\n\nbody %u\n", i, i);
                ck_assert_int_eq(th_dovecot_deliver(&dovecot, user, mailbox, msg), 0);
        }
}

/* ---- transports -------------------------------------------------------------------------------- */

START_TEST(test_plain_login) {
        _cleanup_(imap_client_freep) ImapClient *c = connect_mode(IMAP_CLIENT_PLAIN, "127.0.0.1");
        ImapResult res = {};

        ck_assert(imap_client_has_capability(c, "STARTTLS"));
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_NONAUTH);
        ok(c, imap_client_login(c, "user1", "pass1", &res), &res);
        /* Dovecot announces its full list in the tagged OK's CAPABILITY code. */
        ck_assert(imap_client_has_capability(c, "IDLE"));
        ck_assert_int_eq(imap_client_login(c, "user1", "pass1", &res), -EPERM);
        ok_typ(c, imap_client_logout(c, &res), &res, "BYE");
        imap_result_done(&res);
}
END_TEST

START_TEST(test_login_refused) {
        _cleanup_(imap_client_freep) ImapClient *c = connect_mode(IMAP_CLIENT_PLAIN, "127.0.0.1");
        ImapResult res = {};

        ck_assert_int_eq(imap_client_login(c, "user1", "wrong", &res), -EREMOTEIO);
        ck_assert_msg(strstr(imap_client_errmsg(c), "AUTHENTICATIONFAILED"), "%s", imap_client_errmsg(c));
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_NONAUTH);
        /* The connection is still good. */
        ok(c, imap_client_login(c, "user1", "pass1", &res), &res);
        imap_result_done(&res);
}
END_TEST

START_TEST(test_starttls) {
        _cleanup_(imap_client_freep) ImapClient *c = connect_mode(IMAP_CLIENT_STARTTLS, "localhost");
        ImapResult res = {};

        /* Capabilities were asked again over TLS: STARTTLS is gone from them. */
        ck_assert(!imap_client_has_capability(c, "STARTTLS"));
        ck_assert(imap_client_has_capability(c, "AUTH=PLAIN"));
        ok(c, imap_client_login(c, "user2", "pass2", &res), &res);
        ok(c, imap_client_noop(c, &res), &res);
        ck_assert_int_eq(imap_client_starttls(c, &res), -EPROTO);
        ck_assert_str_eq(imap_client_errmsg(c), "TLS session already established");
        imap_result_done(&res);
}
END_TEST

START_TEST(test_S44_S45_implicit_tls) {
        /* S-45: verified by name and by IP address (both are in the certificate). */
        static const char *const good[] = { "localhost", "127.0.0.1" };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_(imap_client_freep) ImapClient *c = connect_mode(IMAP_CLIENT_TLS, good[i]);
                ImapResult res = {};

                ck_assert(!imap_client_has_capability(c, "STARTTLS"));
                ok(c, imap_client_login(c, "user1", "pass1", &res), &res);
                imap_result_done(&res);
        }
}
END_TEST

START_TEST(test_S44_name_mismatch) {
        /* "127.1" reaches 127.0.0.1 but is a name, not an IP literal, and the
         * certificate carries neither: verification must fail (S-44). */
        static const ImapClientMode modes[] = { IMAP_CLIENT_TLS, IMAP_CLIENT_STARTTLS };

        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                ImapClientOpts o = opts(modes[i], "127.1");
                ImapClient *c = NULL;
                _cleanup_free_ char *msg = NULL;

                ck_assert_int_eq(dovecot_r, 0);
                ck_assert_int_eq(imap_client_connect(&o, &c, &msg), -EPROTO);
                ck_assert_ptr_null(c);
                ck_assert_msg(strstr(msg, "mismatch") || strstr(msg, "verify"), "%s", msg);
        }
}
END_TEST

START_TEST(test_untrusted_ca) {
        ImapClientOpts o = opts(IMAP_CLIENT_TLS, "localhost");
        ImapClient *c = NULL;
        _cleanup_free_ char *msg = NULL;

        ck_assert_int_eq(dovecot_r, 0);
        o.ca_file = NULL; /* the system store does not know the test CA */
        ck_assert_int_eq(imap_client_connect(&o, &c, &msg), -EPROTO);
        ck_assert_msg(strstr(msg, "verify"), "%s", msg);
}
END_TEST

START_TEST(test_X33_tunnel) {
        char user[] = "user3";
        char *argv[] = { dovecot.tunnel, user, NULL };
        ImapClientOpts o = { .mode = IMAP_CLIENT_TUNNEL, .tunnel_argv = argv, .timeout_ms = 20000 };
        _cleanup_(imap_client_freep) ImapClient *c = NULL;
        _cleanup_free_ char *msg = NULL;
        ImapResult res = {};
        ImapDatum *d = NULL, **v = NULL;
        size_t n = 0;
        int r;

        ck_assert_int_eq(dovecot_r, 0);
        r = imap_client_connect(&o, &c, &msg);
        ck_assert_msg(r == 0, "tunnel: %d %s", r, msg ? msg : "");
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        ok(c, imap_client_select(c, "INBOX", false, &res), &res);
        /* imaplib refuses a duration on a stream; here poll() works on the
         * socketpair, so duration and burst work (docs/ENGINE.md). */
        ok_call(c, imap_client_idle_begin(c, 5000));
        deliver(3, "INBOX", 1);
        ck_assert_int_eq(imap_client_idle_next(c, &d), 1);
        ck_assert_str_eq(d->type, "EXISTS");
        free(d);
        ok_call(c, imap_client_idle_burst(c, 300, &v, &n));
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
        ok(c, imap_client_idle_end(c, &res), &res);
        ok_typ(c, imap_client_logout(c, &res), &res, "BYE");
        imap_result_done(&res);
}
END_TEST

/* ---- every command ------------------------------------------------------------------------------ */

static int step_plain(void *userdata, unsigned step, const void *challenge, size_t len, Buf *out) {
        static const char resp[] = "\0user4\0pass4";

        (void) userdata;
        (void) challenge;
        (void) len;
        if (step > 0)
                return 1;
        return buf_append(out, resp, sizeof(resp) - 1, 0);
}

START_TEST(test_authenticate_mechanisms) {
        ImapResult res = {};

        /* PLAIN through a generic step function (no SASL-IR: imaplib's way). */
        {
                _cleanup_(imap_client_freep) ImapClient *c = connect_mode(IMAP_CLIENT_PLAIN, "127.0.0.1");
                ok(c, imap_client_authenticate(c, "PLAIN", step_plain, NULL, &res), &res);
                ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        }
        /* CRAM-MD5 (RFC 2195). */
        {
                _cleanup_(imap_client_freep) ImapClient *c = connect_mode(IMAP_CLIENT_PLAIN, "127.0.0.1");
                ok(c, imap_client_login_cram_md5(c, "user4", "pass4", &res), &res);
                ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        }
        /* Built-in PLAIN and LOGIN mechanisms; PLAIN uses SASL-IR (Dovecot has it). */
        static const char *const mechs[] = { "PLAIN", "LOGIN" };
        for (size_t i = 0; i < ELEMENTSOF(mechs); i++) {
                _cleanup_(imap_client_freep) ImapClient *c = connect_mode(IMAP_CLIENT_STARTTLS, "localhost");
                ImapSaslCreds cr = { .user = "user4", .secret = "pass4" };
                ImapSasl *sasl = NULL;

                ck_assert_int_eq(imap_sasl_new(mechs[i], &cr, &sasl), 0);
                ok(c, imap_client_authenticate_sasl(c, sasl, &res), &res);
                ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        }
        /* A wrong password through SASL is an ordinary error. */
        {
                _cleanup_(imap_client_freep) ImapClient *c = connect_mode(IMAP_CLIENT_PLAIN, "127.0.0.1");
                ck_assert_int_eq(imap_client_login_cram_md5(c, "user4", "nope", &res), -EREMOTEIO);
                ck_assert_int_eq(imap_client_state(c), IMAP_STATE_NONAUTH);
        }
        imap_result_done(&res);
}
END_TEST

START_TEST(test_every_command) {
        _cleanup_(imap_client_freep) ImapClient *c = logged_in(2);
        static const char msg[] = "From: x@example.org\nSubject: hello\n\nworld\n";
        ImapResult res = {}, res2 = {};

        /* Authenticated state. */
        ok(c, imap_client_capability(c, &res), &res);
        ck_assert(result_has(&res, "IMAP4rev1"));
        ok(c, imap_client_namespace(c, &res), &res);
        ck_assert(result_has(&res, "\"/\""));
        ok(c, imap_client_id(c, "(\"name\" \"imapidled-test\")", &res), &res);
        ck_assert(result_has(&res, "Dovecot"));
        ok(c, imap_client_enable(c, "CONDSTORE", &res), &res);
        ok(c, imap_client_create(c, "Work", &res), &res);
        ok(c, imap_client_create(c, "my box", &res), &res);
        ok(c, imap_client_rename(c, "my box", "Archive", &res), &res);
        ok(c, imap_client_subscribe(c, "Work", &res), &res);
        ok(c, imap_client_lsub(c, NULL, NULL, &res), &res);
        ck_assert(result_has(&res, "Work"));
        ok(c, imap_client_unsubscribe(c, "Work", &res), &res);
        ok(c, imap_client_list(c, NULL, "*", &res), &res);
        ck_assert(result_has(&res, "Archive"));
        ck_assert(result_has(&res, "INBOX"));
        ok(c, imap_client_status(c, "INBOX", "(MESSAGES UIDNEXT UNSEEN)", &res), &res);
        ck_assert(result_has(&res, "MESSAGES 0"));
        ok(c, imap_client_append(c, "INBOX", "(\\Flagged)", "\"01-Jan-2024 10:00:00 +0000\"", msg, strlen(msg), &res), &res);
        ok(c, imap_client_append(c, NULL, NULL, NULL, msg, strlen(msg), &res), &res);
        /* Both APPENDs left their APPENDUID (RFC 4315), oldest first. */
        ok_call(c, imap_client_response(c, "APPENDUID", &res));
        ck_assert(res.n == 2 && res.data[0] && res.data[1]);
        ok(c, imap_client_getacl(c, "INBOX", &res), &res);
        ck_assert(result_has(&res, "user2"));
        /* An ACL set is read back (RFC 4314 §3.3), and so is its removal. */
        ok(c, imap_client_setacl(c, "Work", "user3", "lr", &res), &res);
        ok(c, imap_client_getacl(c, "Work", &res), &res);
        ck_assert_msg(result_has(&res, "user3 lr"), "%s", imap_result_text(&res, 0));
        ok(c, imap_client_deleteacl(c, "Work", "user3", &res), &res);
        ok(c, imap_client_getacl(c, "Work", &res), &res);
        ck_assert_msg(!result_has(&res, "user3"), "%s", imap_result_text(&res, 0));
        /* The owner holds every right of RFC 4314 §2.1 on its INBOX, administer among them. */
        ok(c, imap_client_myrights(c, "INBOX", &res), &res);
        ck_assert_msg(result_has(&res, "INBOX lr") && result_has(&res, "a"), "%s", imap_result_text(&res, 0));
        ok(c, imap_client_getquotaroot(c, "INBOX", &res, &res2), &res2);
        ck_assert(result_has(&res, "INBOX"));
        ok(c, imap_client_getquota(c, "User quota", &res), &res);
        ck_assert(result_has(&res, "STORAGE"));
        /* Dovecot answers SETQUOTA with NO (only an admin may), and does not
         * implement ANNOTATE or PROXYAUTH: each is sent and its refusal read. */
        ok_typ(c, imap_client_setquota(c, "User quota", "(STORAGE 1000)", &res), &res, "NO");
        ck_assert_int_eq(imap_client_getannotation(c, "INBOX", "/comment", "value.priv", &res), -EREMOTEIO);
        ck_assert_int_eq(imap_client_setannotation(c, "INBOX /comment (value.priv \"x\")", &res), -EREMOTEIO);
        ck_assert_int_eq(imap_client_proxyauth(c, "user3", &res), -EREMOTEIO);
        ok(c, imap_client_xatom(c, "GETMETADATA", "\"\" /private/comment", &res), &res);

        /* Selected state. */
        ok(c, imap_client_select(c, "INBOX", true, &res), &res);
        ck_assert_str_eq(imap_result_text(&res, 0), "2");
        /* EXAMINE: the server said READ-ONLY (RFC 3501 §6.3.2), and the client knows it. */
        ck_assert(imap_client_readonly(c));
        ok_call(c, imap_client_response(c, "READ-ONLY", &res));
        ck_assert_msg(res.n == 1 && res.data[0], "no READ-ONLY code");
        ok(c, imap_client_close(c, &res), &res);
        ok(c, imap_client_select(c, "INBOX", false, &res), &res);
        ck_assert_str_eq(imap_result_text(&res, 0), "2");
        ck_assert(!imap_client_readonly(c));
        ok_call(c, imap_client_response(c, "READ-WRITE", &res));
        ck_assert_msg(res.n == 1 && res.data[0], "no READ-WRITE code");
        ok(c, imap_client_check(c, &res), &res);
        ok(c, imap_client_noop(c, &res), &res);
        ok_call(c, imap_client_recent(c, &res));
        ok(c, imap_client_fetch(c, "1:2", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])", &res), &res);
        ck_assert_uint_eq(res.n, 2);
        ck_assert(result_has(&res, "Subject: hello"));
        ck_assert(result_has(&res, "\\Flagged"));
        ok(c, imap_client_search(c, NULL, "FLAGGED", &res), &res);
        ck_assert_str_eq(imap_result_text(&res, 0), "1");
        ok(c, imap_client_search(c, "UTF-8", "SUBJECT hello", &res), &res);
        ck_assert_str_eq(imap_result_text(&res, 0), "1 2");
        ok(c, imap_client_sort(c, "(REVERSE ARRIVAL)", "UTF-8", "ALL", &res), &res);
        ck_assert_str_eq(imap_result_text(&res, 0), "2 1");
        ok(c, imap_client_thread(c, "REFERENCES", "UTF-8", "ALL", &res), &res);
        ck_assert(res.data[0]);
        ok(c, imap_client_store(c, "2", "+FLAGS", "(\\Seen)", &res), &res);
        ck_assert(result_has(&res, "\\Seen"));
        ok(c, imap_client_copy(c, "1", "Work", &res), &res);
        ok_call(c, imap_client_response(c, "COPYUID", &res));
        ck_assert(res.data[0]);
        ck_assert_int_eq(imap_client_partial(c, "1", "BODY[]", "0", "5", &res), -EREMOTEIO);
        ok(c, imap_client_uid(c, "FETCH", "1:* (FLAGS)", &res), &res);
        ck_assert_uint_eq(res.n, 2);
        ok(c, imap_client_uid(c, "SEARCH", "ALL", &res), &res);
        ck_assert_str_eq(imap_result_text(&res, 0), "1 2");
        ok(c, imap_client_uid(c, "SORT", "(ARRIVAL) UTF-8 ALL", &res), &res);
        ck_assert_str_eq(imap_result_text(&res, 0), "1 2");
        ok(c, imap_client_uid(c, "THREAD", "ORDEREDSUBJECT UTF-8 ALL", &res), &res);
        ck_assert(res.data[0]);
        ok(c, imap_client_uid(c, "STORE", "1 +FLAGS.SILENT (\\Answered)", &res), &res);
        ok(c, imap_client_uid(c, "COPY", "2 Work", &res), &res);
        ok(c, imap_client_uid(c, "MOVE", "2 Archive", &res), &res);
        ok(c, imap_client_move(c, "1", "Archive", &res), &res);
        ok(c, imap_client_select(c, "Work", false, &res), &res);
        ck_assert_str_eq(imap_result_text(&res, 0), "2");
        ok(c, imap_client_uid(c, "STORE", "1:* +FLAGS.SILENT (\\Deleted)", &res), &res);
        ok(c, imap_client_uid(c, "EXPUNGE", "1", &res), &res);
        ok(c, imap_client_expunge(c, &res), &res);
        ck_assert(res.data[0]);
        ok(c, imap_client_unselect(c, &res), &res);
        ck_assert_int_eq(imap_client_state(c), IMAP_STATE_AUTH);
        ok(c, imap_client_delete(c, "Work", &res), &res);
        ok_typ(c, imap_client_logout(c, &res), &res, "BYE");
        imap_result_done(&res);
        imap_result_done(&res2);
}
END_TEST

START_TEST(test_mutf7_mailbox) {
        /* RFC 3501 §5.1.3: an international name goes out in modified UTF-7. */
        _cleanup_(imap_client_freep) ImapClient *c = logged_in(4);
        _cleanup_free_ char *wire = NULL, *back = NULL;
        static const char name[] = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"; /* 日本語 */
        ImapResult res = {};

        ck_assert_int_eq(imap_utf7_encode(name, strlen(name), &wire), 0);
        ck_assert_str_eq(wire, "&ZeVnLIqe-");
        ok(c, imap_client_create(c, wire, &res), &res);
        ok(c, imap_client_list(c, NULL, "*", &res), &res);
        ck_assert(result_has(&res, "&ZeVnLIqe-"));
        ck_assert_int_eq(imap_utf7_decode(wire, strlen(wire), &back), 0);
        ck_assert_str_eq(back, name);
        ok(c, imap_client_delete(c, wire, &res), &res);
        imap_result_done(&res);
}
END_TEST

/* ---- IDLE ---------------------------------------------------------------------------------------- */

static usec_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

START_TEST(test_idle_exists_and_expunge) {
        /* A second connection APPENDs, then deletes: the idler sees EXISTS, then EXPUNGE. */
        _cleanup_(imap_client_freep) ImapClient *idler = logged_in(1);
        _cleanup_(imap_client_freep) ImapClient *other = logged_in(1);
        static const char msg[] = "Subject: idle\n\nx\n";
        ImapResult res = {};
        ImapDatum *d = NULL;
        bool got_exists = false, got_expunge = false;

        ok(idler, imap_client_select(idler, "INBOX", false, &res), &res);
        ok_call(idler, imap_client_idle_begin(idler, 20000));
        ok(other, imap_client_append(other, "INBOX", NULL, NULL, msg, strlen(msg), &res), &res);
        while (!got_exists && imap_client_idle_next(idler, &d) > 0) {
                got_exists = strcmp(d->type, "EXISTS") == 0;
                free(d);
        }
        ck_assert(got_exists);
        ok(other, imap_client_select(other, "INBOX", false, &res), &res);
        ok(other, imap_client_store(other, "1:*", "+FLAGS.SILENT", "(\\Deleted)", &res), &res);
        ok(other, imap_client_expunge(other, &res), &res);
        while (!got_expunge && imap_client_idle_next(idler, &d) > 0) {
                got_expunge = strcmp(d->type, "EXPUNGE") == 0;
                free(d);
        }
        ck_assert(got_expunge);
        ok(idler, imap_client_idle_end(idler, &res), &res);
        imap_result_done(&res);
}
END_TEST

START_TEST(test_idle_burst_bulk_delete) {
        _cleanup_(imap_client_freep) ImapClient *idler = logged_in(3);
        _cleanup_(imap_client_freep) ImapClient *other = logged_in(3);
        ImapResult res = {};
        ImapDatum **v = NULL;
        size_t n = 0, expunges = 0;

        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 3, "INBOX"), 0);
        deliver(3, "INBOX", 10);
        ok(idler, imap_client_select(idler, "INBOX", false, &res), &res);
        ck_assert_str_eq(imap_result_text(&res, 0), "10");
        ok_call(idler, imap_client_idle_begin(idler, 20000));
        ok(other, imap_client_select(other, "INBOX", false, &res), &res);
        ok(other, imap_client_store(other, "1:*", "+FLAGS.SILENT", "(\\Deleted)", &res), &res);
        ok(other, imap_client_expunge(other, &res), &res);
        /* The bulk delete arrives as one burst of ten EXPUNGEs (possibly with
         * flag updates first). */
        while (expunges < 10) {
                ok_call(idler, imap_client_idle_burst(idler, 2000, &v, &n));
                ck_assert_uint_gt(n, 0);
                for (size_t i = 0; i < n; i++) {
                        if (strcmp(v[i]->type, "EXPUNGE") == 0)
                                expunges++;
                        free(v[i]);
                }
                free(v);
        }
        ck_assert_uint_eq(expunges, 10);
        ok(idler, imap_client_idle_end(idler, &res), &res);
        imap_result_done(&res);
}
END_TEST

START_TEST(test_idle_duration_expires) {
        _cleanup_(imap_client_freep) ImapClient *c = logged_in(2);
        ImapResult res = {};
        ImapDatum *d = NULL;
        usec_t t0;

        ok(c, imap_client_select(c, "INBOX", false, &res), &res);
        ok_call(c, imap_client_idle_begin(c, 700));
        t0 = mono_usec();
        while (imap_client_idle_next(c, &d) > 0)
                free(d);
        /* Lower bound only: the deadline was honoured, not skipped. */
        ck_assert_uint_ge(mono_usec() - t0, 600 * USEC_PER_MSEC);
        ok(c, imap_client_idle_end(c, &res), &res);
        /* IDLE again, as the 29-minute rule wants (RFC 2177). */
        ok_call(c, imap_client_idle_begin(c, 100));
        ck_assert_int_eq(imap_client_idle_next(c, &d), 0);
        ok(c, imap_client_idle_end(c, &res), &res);
        imap_result_done(&res);
}
END_TEST

static Suite *dovecot_suite(void) {
        Suite *s = suite_create("dovecot");
        TCase *tc = tcase_create("dovecot");

        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_plain_login);
        tcase_add_test(tc, test_login_refused);
        tcase_add_test(tc, test_starttls);
        tcase_add_test(tc, test_S44_S45_implicit_tls);
        tcase_add_test(tc, test_S44_name_mismatch);
        tcase_add_test(tc, test_untrusted_ca);
        tcase_add_test(tc, test_X33_tunnel);
        tcase_add_test(tc, test_authenticate_mechanisms);
        tcase_add_test(tc, test_every_command);
        tcase_add_test(tc, test_mutf7_mailbox);
        tcase_add_test(tc, test_idle_exists_and_expunge);
        tcase_add_test(tc, test_idle_burst_bulk_delete);
        tcase_add_test(tc, test_idle_duration_expires);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(dovecot_suite());
}
