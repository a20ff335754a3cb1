/* SPDX-License-Identifier: MIT */
/*
 * test-trace.c: imapidled --trace=ACCOUNT against scripted servers (tests/fake-imapd.h): the
 * traced account's exchange is on stderr line by line, the password, the SASL response and the
 * message data are not (anywhere in the output), another account's exchange is not traced, and
 * an unknown name is refused with the list of accounts; with STARTTLS the trace goes on from
 * the plaintext phase into TLS; --list-mailboxes of a traced account is traced too.  The
 * redaction itself is test-imap-trace's; this is the daemon's wiring.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "fake-imapd.h"
#include "th-certs.h"
#include "th-daemon.h"
#include "th.h"

static ThCerts certs;
static char certs_dir[64];

#define GREETING(caps) FAKE_SEND("* OK [CAPABILITY " caps "] ready\r\n")
#define EXAMINE_STEPS(exists, uidnext)                                                                  \
        FAKE_EXPECT("<tag> EXAMINE INBOX"),                                                             \
        FAKE_SEND("* " exists " EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT " uidnext "] n\r\n"    \
                  "<tag> OK [READ-ONLY] ok\r\n")
#define IDLE_STEPS FAKE_EXPECT("<tag> IDLE"), FAKE_SEND("+ idling\r\n")
#define STOP_STEPS                                                                                      \
        FAKE_EXPECT("DONE"),                                                                            \
        FAKE_SEND("<tag> OK done\r\n"),                                                                 \
        FAKE_EXPECT("<tag> LOGOUT"),                                                                    \
        FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),                                                     \
        FAKE_EXPECT_EOF()

/* What must never be in the output: the passwords, the SASL PLAIN response (base64 of
 * "\0u\0plain-s3cret"), and message data (a subject as a literal, a sender). */
#define TR_PASSWORD "tr-s3cret pw"
#define OTHER_PASSWORD "other-s3cret"
#define SASL_PLAIN_RESPONSE "AHUAcGxhaW4tczNjcmV0"
#define SUBJECT "Secret-subject-text"
#define SENDER "alice-sender"

/* New mail while idling, a details fetch whose ENVELOPE has the subject as a literal (19 bytes)
 * and the sender quoted, IDLE again. */
#define NEW_MAIL_STEPS                                                                                  \
        FAKE_SEND("* 1 EXISTS\r\n"),                                                                    \
        FAKE_EXPECT("DONE"),                                                                            \
        FAKE_SEND("<tag> OK done\r\n"),                                                                 \
        FAKE_EXPECT("<tag> UID FETCH 1:* (UID)"),                                                       \
        FAKE_SEND("* 1 FETCH (UID 1)\r\n<tag> OK fetched\r\n"),                                         \
        FAKE_EXPECT("<tag> UID FETCH 1 (UID FLAGS RFC822.SIZE ENVELOPE)"),                              \
        FAKE_SEND("* 1 FETCH (UID 1 FLAGS (\\Recent) RFC822.SIZE 99 ENVELOPE "                                \
                  "(\"Mon, 1 Jan 2024 00:00:00 +0000\" {19}\r\n" SUBJECT                                         \
                  " ((\"Alice\" NIL \"" SENDER "\" \"example.org\")) NIL NIL NIL NIL NIL NIL "                  \
                  "\"<1@example.org>\"))\r\n<tag> OK fetched\r\n"),                                     \
        IDLE_STEPS

static const FakeStep traced_login[] = {
        GREETING("IMAP4rev1 IDLE"),
        FAKE_EXPECT("<tag> LOGIN u \"" TR_PASSWORD "\""),
        FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
        EXAMINE_STEPS("0", "1"),
        IDLE_STEPS,
        NEW_MAIL_STEPS,
        STOP_STEPS,
        FAKE_END,
};

static const FakeStep traced_sasl[] = {
        GREETING("IMAP4rev1 IDLE AUTH=PLAIN"),
        FAKE_EXPECT("<tag> AUTHENTICATE PLAIN"),
        FAKE_SEND("+ \r\n"),
        FAKE_EXPECT(SASL_PLAIN_RESPONSE),
        FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
        EXAMINE_STEPS("0", "1"),
        IDLE_STEPS,
        NEW_MAIL_STEPS,
        STOP_STEPS,
        FAKE_END,
};

/* Plaintext until STARTTLS, then AUTHENTICATE PLAIN with an initial response (RFC 4959). */
static const FakeStep traced_starttls[] = {
        GREETING("IMAP4rev1 STARTTLS LOGINDISABLED"),
        FAKE_EXPECT("<tag> STARTTLS"),
        FAKE_SEND("<tag> OK begin TLS\r\n"),
        FAKE_STARTTLS(),
        FAKE_EXPECT("<tag> CAPABILITY"),
        FAKE_SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR IDLE\r\n<tag> OK caps\r\n"),
        FAKE_EXPECT("<tag> AUTHENTICATE PLAIN " SASL_PLAIN_RESPONSE),
        FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
        EXAMINE_STEPS("0", "1"),
        IDLE_STEPS,
        NEW_MAIL_STEPS,
        STOP_STEPS,
        FAKE_END,
};

static const FakeStep untraced[] = {
        GREETING("IMAP4rev1 IDLE"),
        FAKE_EXPECT("<tag> LOGIN u \"" OTHER_PASSWORD "\""),
        FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
        EXAMINE_STEPS("0", "1"),
        IDLE_STEPS,
        STOP_STEPS,
        FAKE_END,
};

static const struct {
        const char *name;
        const FakeStep *script;
        const char *password;
        const char *tls;
        const char *lines[4];           /* traced lines of the greeting and the login */
} cases[] = {
        { "login", traced_login, TR_PASSWORD, "none",
          { "trace tr/INBOX S: * OK [CAPABILITY IMAP4rev1 IDLE] ready\n", " LOGIN u <redacted>\n" } },
        { "authenticate", traced_sasl, "plain-s3cret", "none",
          { "trace tr/INBOX S: * OK [CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN] ready\n", " AUTHENTICATE PLAIN\n",
            "trace tr/INBOX C: <redacted>\n" } },
        { "starttls", traced_starttls, "plain-s3cret", "starttls",
          { "trace tr/INBOX S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\n", " OK begin TLS\n",
            "trace tr/INBOX S: * CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR IDLE\n",
            " AUTHENTICATE PLAIN <redacted>\n" } },
};

static void wait_fake(Daemon *d, FakeImapd *f) {
        _cleanup_free_ char *report = NULL;

        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d->log));
}

START_TEST(test_trace_one_account) {
        static const char *const args[] = { "--trace=tr", NULL };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL, *g = NULL;
        _cleanup_free_ char *log = NULL;
        static const char *const hidden[] = {
                TR_PASSWORD, "tr-s3cret", OTHER_PASSWORD, SASL_PLAIN_RESPONSE, SUBJECT, SENDER, "example.org",
        };
        /* Lines of the exchange, in the log's escaping (log_escape(): "\" is \x5c). */
        static const char *const shown[] = {
                " EXAMINE INBOX\n",
                "trace tr/INBOX S: * 0 EXISTS\n",
                " IDLE\n",
                "trace tr/INBOX S: + idling\n",
                "trace tr/INBOX S: * 1 EXISTS\n",
                "trace tr/INBOX C: DONE\n",
                "trace tr/INBOX S: * 1 FETCH (UID 1 FLAGS (\\x5cRecent) RFC822.SIZE 99 ENVELOPE (\"<redacted>\" "
                "{19}<19 bytes redacted> ((\"<redacted>\" NIL \"<redacted>\" \"<redacted>\")) "
                "NIL NIL NIL NIL NIL NIL "
                "\"<redacted>\"))\n",
                " OK fetched\n",
        };
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start_full(cases[_i].script,
                                               &(FakeImapdOptions) { .tls_cert_file = certs.cert_file,
                                                                     .tls_key_file = certs.key_file,
                                                                     .starttls = true },
                                               NULL, &f), 0);
        ck_assert_int_eq(fake_imapd_start(untraced, &g), 0);
        write_config(&d,
                     "debounce = 0; liveness_interval = 60;\n"
                     "accounts = (\n"
                     "  { name = \"tr\"; host = \"127.0.0.1\"; port = %u; tls = \"%s\"; allow_plaintext = true;\n"
                     "    ca_file = \"%s\";\n"
                     "    username = \"u\"; password = \"%s\";\n"
                     "    on_new = { command = [\"/bin/true\"]; details = true; }; },\n"
                     "  { name = \"other\"; host = \"127.0.0.1\"; port = %u; tls = \"none\"; allow_plaintext = true;\n"
                     "    username = \"u\"; password = \"%s\"; on_new = [\"/bin/true\"]; } );\n",
                     (unsigned) fake_imapd_port(f), cases[_i].tls, certs.ca_file, cases[_i].password,
                     (unsigned) fake_imapd_port(g), OTHER_PASSWORD);
        daemon_start_args(&d, args);
        /* The second IDLE of the traced account, and the other one idling: all was said. */
        ck_assert_msg(wait_log(&d, "trace tr/INBOX S: + idling", 2, 20000), "%s: log:\n%s", cases[_i].name,
                      tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 3, 20000), "%s: log:\n%s", cases[_i].name, tail_of(d.log));
        daemon_stop(&d);
        wait_fake(&d, f);
        wait_fake(&d, g);

        log = read_file(d.log);
        for (size_t i = 0; i < ELEMENTSOF(shown); i++)
                ck_assert_msg(strstr(log, shown[i]), "%s: no '%s' in:\n%s", cases[_i].name, shown[i], log);
        for (size_t i = 0; i < ELEMENTSOF(cases[_i].lines) && cases[_i].lines[i]; i++)
                ck_assert_msg(strstr(log, cases[_i].lines[i]), "%s: no '%s' in:\n%s", cases[_i].name,
                              cases[_i].lines[i], log);
        for (size_t i = 0; i < ELEMENTSOF(hidden); i++)
                ck_assert_msg(!strstr(log, hidden[i]), "%s: '%s' shown in:\n%s", cases[_i].name, hidden[i], log);
        /* The untraced account: its connection is in the log, its exchange is not. */
        ck_assert_uint_gt(th_count_of(log, "other/INBOX"), 0);
        ck_assert_uint_eq(th_count_of(log, "trace other"), 0);
        /* Each of the traced lines once: a read is traced once, however it is fed. */
        ck_assert_uint_eq(th_count_of(log, "trace tr/INBOX S: * 1 EXISTS\n"), 1);
        ck_assert_uint_eq(th_count_of(log, "trace tr/INBOX C: DONE\n"), 2);
        daemon_done(&d);
}
END_TEST

/* --list-mailboxes of a traced account: the tool's exchange is traced too, labelled with the
 * account's name, the password hidden; the listing still goes to stdout. */
static const FakeStep traced_list[] = {
        GREETING("IMAP4rev1"),
        FAKE_EXPECT("<tag> CAPABILITY"),
        FAKE_SEND("* CAPABILITY IMAP4rev1\r\n<tag> OK caps\r\n"),
        FAKE_EXPECT("<tag> LOGIN u \"" TR_PASSWORD "\""),
        FAKE_SEND("<tag> OK in\r\n"),
        FAKE_EXPECT("<tag> LIST \"\" *"),
        FAKE_SEND("* LIST (\\HasNoChildren) \"/\" INBOX\r\n* LIST () \"/\" Lists\r\n<tag> OK listed\r\n"),
        FAKE_EXPECT("<tag> LOGOUT"),
        FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
        FAKE_EXPECT_EOF(),
        FAKE_END,
};

START_TEST(test_trace_list_mailboxes) {
        static const char *const args[] = { "--trace=tr", "--list-mailboxes=tr", NULL };
        static const char *const shown[] = {
                "trace tr S: * OK [CAPABILITY IMAP4rev1] ready\n",
                " LOGIN u <redacted>\n",
                " LIST \"\" *\n",
                "trace tr S: * LIST () \"/\" Lists\n",
                " LOGOUT\n",
                "trace tr S: * BYE bye\n",
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *log = NULL, *listing = NULL;
        char out[160];
        Daemon d;
        int status;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(traced_list, &f), 0);
        write_config(&d,
                     "accounts = ( { name = \"tr\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"%s\"; } );\n",
                     (unsigned) fake_imapd_port(f), TR_PASSWORD);
        (void) snprintf(out, sizeof(out), "%s/out", d.dir);
        status = daemon_run_tool(&d, args, out);
        wait_fake(&d, f);
        log = read_file(d.log);
        listing = read_file(out);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "log:\n%s", log);
        ck_assert_msg(strstr(listing, "Lists\n"), "stdout:\n%s", listing);
        for (size_t i = 0; i < ELEMENTSOF(shown); i++)
                ck_assert_msg(strstr(log, shown[i]), "no '%s' in:\n%s", shown[i], log);
        ck_assert_msg(!strstr(log, "tr-s3cret") && !strstr(listing, "tr-s3cret"), "the password shown:\n%s", log);
        ck_assert_msg(!strstr(listing, "trace "), "the trace went to stdout:\n%s", listing);
        daemon_done(&d);
}
END_TEST

START_TEST(test_trace_unknown_account) {
        static const char *const args[] = { "--trace=tr", "--trace", "nosuch", "--check-config", NULL };
        _cleanup_free_ char *log = NULL;
        char out[160];
        Daemon d;
        int status;

        daemon_init(&d);
        write_config(&d, "accounts = (\n"
                         "  { name = \"tr\"; host = \"127.0.0.1\"; username = \"u\"; password = \"p\";\n"
                         "    on_new = [\"/bin/true\"]; },\n"
                         "  { name = \"b-2\"; host = \"127.0.0.1\"; username = \"u\"; password = \"p\";\n"
                         "    on_new = [\"/bin/true\"]; } );\n");
        (void) snprintf(out, sizeof(out), "%s/out", d.dir);
        status = daemon_run_tool(&d, args, out);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        log = read_file(d.log);
        ck_assert_msg(strstr(log, "--trace: no account 'nosuch' in ") && strstr(log, "; the accounts are: tr, b-2\n"),
                      "log:\n%s", log);
        daemon_done(&d);
}
END_TEST

START_TEST(test_trace_unknown_account_many) {
        /* The list of accounts in the error is cut at 511 bytes, with "...": 40 names of 29
         * bytes each with their separator would be 1158. */
        static const char *const args[] = { "--trace=nosuch", "--check-config", NULL };
        _cleanup_free_ char *log = NULL;
        char out[160];
        const char *line;
        Buf conf = BUF_INIT;
        Daemon d;
        int status;

        daemon_init(&d);
        ck_assert_int_eq(buf_append(&conf, "accounts = (", 12, 0), 0);
        for (unsigned i = 0; i < 40; i++) {
                char a[192];
                int k = snprintf(a, sizeof(a), "%s{ name = \"account-with-a-long-name-%02u\"; host = \"h\"; "
                                 "username = \"u\"; password = \"p\"; on_new = [\"/bin/true\"]; }\n",
                                 i > 0 ? "," : "", i);

                ck_assert_int_eq(buf_append(&conf, a, (size_t) k, 0), 0);
        }
        ck_assert_int_eq(buf_append(&conf, ");\n", 4, 0), 0);
        write_config(&d, "%s", conf.data);
        buf_done(&conf);
        (void) snprintf(out, sizeof(out), "%s/out", d.dir);
        status = daemon_run_tool(&d, args, out);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
        log = read_file(d.log);
        line = strstr(log, "the accounts are: account-with-a-long-name-00, account-with-a-long-name-01, ");
        ck_assert_msg(line, "log:\n%s", log);
        ck_assert_msg(strstr(line, "...\n") && !strstr(line, "-39"), "log:\n%s", log);
        ck_assert_uint_eq(strcspn(line, "\n"), strlen("the accounts are: ") + 511);
        daemon_done(&d);
}
END_TEST

static Suite *trace_suite(void) {
        Suite *s = suite_create("trace");
        TCase *tc = tcase_create("daemon");

        tcase_set_timeout(tc, 90);
        tcase_add_loop_test(tc, test_trace_one_account, 0, (int) ELEMENTSOF(cases));
        tcase_add_test(tc, test_trace_list_mailboxes);
        tcase_add_test(tc, test_trace_unknown_account);
        tcase_add_test(tc, test_trace_unknown_account_many);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        int r;

        snprintf(certs_dir, sizeof(certs_dir), "/tmp/imapidled-ttr-XXXXXX");
        if (!mkdtemp(certs_dir)) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }
        /* The accounts connect to 127.0.0.1: the leaf names that address. */
        r = th_certs_make(certs_dir, NULL, (const char *const[]) { "127.0.0.1", NULL }, &certs);
        if (r < 0) {
                fprintf(stderr, "cannot make test certificates: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        r = th_run_suite(trace_suite());
        (void) unlink(certs.ca_file);
        (void) unlink(certs.ca_key_file);
        (void) unlink(certs.cert_file);
        (void) unlink(certs.key_file);
        (void) rmdir(certs_dir);
        return r;
}
