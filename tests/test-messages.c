/* SPDX-License-Identifier: MIT */
/*
 * test-messages.c: what the daemon says when something is wrong at run time (issue 13), word
 * for word, against scripted servers (tests/fake-imapd.h) and a port nobody listens on:
 *
 *   refused       a refused connect says "Connection refused" once;
 *   tls_plain     tls = "implicit" against a plain IMAP port suggests tls = "starttls";
 *   starttls_tls  tls = "starttls" against a port that speaks TLS at once suggests "implicit";
 *   examine_no    EXAMINE refused: one error naming the mailbox and --list-mailboxes=ACCOUNT,
 *                 the retry at the login backoff's pace (the "retrying in" line says when);
 *   status_no     in poll mode a refused STATUS is an error once, not every round;
 *   password_file the path is named, at start (missing) and at the connect (empty);
 *   secret_quiet  a secret command that succeeds is a debug line, not an info line.
 *
 * The log is the daemon's stderr with -v, each line prefixed with its syslog level ("<3>"
 * error, "<4>" warning, "<6>" info, "<7>" debug).  Nothing here waits a fixed time: each test
 * waits for a log line or for the fake's end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake-imapd.h"
#include "th-certs.h"
#include "th-daemon.h"
#include "th.h"

static ThCerts certs;
static char certs_dir[64];

#define CAPS "IMAP4rev1 IDLE"
#define LOGIN_OK                                                                \
        FAKE_SEND("* OK [CAPABILITY " CAPS "] ready\r\n"),                      \
        FAKE_EXPECT("<tag> LOGIN u \"p\""),                                     \
        FAKE_SEND("<tag> OK [CAPABILITY " CAPS "] in\r\n")

/* The account "msg" on 127.0.0.1:port; 'extra' adds or overrides settings. */
static void msg_config(Daemon *d, unsigned port, const char *tls, const char *extra) {
        write_config(d,
                     "accounts = ( { name = \"msg\"; host = \"127.0.0.1\"; port = %u; tls = \"%s\";\n"
                     "  ca_file = \"%s\"; allow_plaintext = true; username = \"u\";\n"
                     "  %s } );\n",
                     port, tls, certs.ca_file, extra);
}

/* The lines of the log that contain needle (NUL-separated copy in *ret, caller frees); how many. */
static unsigned log_lines(Daemon *d, const char *needle, char **ret) {
        _cleanup_free_ char *s = read_file(d->log);
        Buf b = BUF_INIT;
        unsigned n = 0;

        for (char *line = s, *nl; line && *line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                if (!strstr(line, needle))
                        continue;
                n++;
                ck_assert_int_eq(buf_append(&b, line, strlen(line), 0), 0);
                ck_assert_int_eq(buf_append(&b, "\n", 1, 0), 0);
        }
        ck_assert_int_eq(buf_append(&b, "", 1, 0), 0);
        *ret = strdup((const char *) b.data);
        ck_assert_ptr_nonnull(*ret);
        buf_done(&b);
        return n;
}

/* The delay of the first "retrying in <n>s" after needle on the same line; -1 if none. */
static long retry_after(Daemon *d, const char *needle) {
        _cleanup_free_ char *lines = NULL;
        const char *p;

        if (log_lines(d, needle, &lines) == 0)
                return -1;
        p = strstr(lines, "retrying in ");
        return p ? strtol(p + strlen("retrying in "), NULL, 10) : -1;
}

/* ---- refused: one strerror ---------------------------------------------------------------- */

START_TEST(test_refused) {
        /* A socket bound to a port but not listening: connects to it are refused (RST), and the
         * port stays ours for the whole test. */
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        _cleanup_free_ char *lines = NULL;
        char want[128];
        Daemon d;
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &len), 0);

        daemon_init(&d);
        msg_config(&d, ntohs(sa.sin_port), "none", "password = \"p\";");
        daemon_start(&d);
        snprintf(want, sizeof(want), "<4>msg/INBOX: connect to 127.0.0.1:%u: Connection refused, retrying in ",
                 ntohs(sa.sin_port));
        ck_assert_msg(wait_log(&d, "retrying in", 2, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_lines(&d, "retrying in", &lines) >= 2 && strstr(lines, want), "want '%s' in:\n%s", want,
                      lines);
        ck_assert_uint_eq(log_count(&d, "Connection refused: Connection refused"), 0);
        daemon_stop(&d);
        daemon_done(&d);
        close(fd);
}
END_TEST

/* ---- the tls setting against the wrong kind of port ----------------------------------------- */

START_TEST(test_tls_plain) {
        /* Implicit TLS towards a plain IMAP server: its greeting arrives where the ServerHello
         * should. */
        const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY " CAPS "] plain ready\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *lines = NULL;
        Daemon d;

        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        daemon_init(&d);
        msg_config(&d, fake_imapd_port(f), "implicit", "password = \"p\";");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_lines(&d, "retrying in", &lines), 1);
        ck_assert_msg(strstr(lines, "<4>msg/INBOX: TLS handshake: ") &&
                      strstr(lines, "; the server does not speak TLS at once on this port: for STARTTLS (usually "
                             "port 143) set tls = \"starttls\", retrying in "), "%s", lines);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_starttls_tls) {
        /* STARTTLS towards a port that speaks TLS from the first byte: the server waits for our
         * ClientHello, we wait for its greeting, greeting_timeout ends it. */
        const FakeStep script[] = {
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        FakeImapdOptions o = {
                .tls_cert_file = certs.cert_file,
                .tls_key_file = certs.key_file,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *lines = NULL;
        Daemon d;

        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        daemon_init(&d);
        msg_config(&d, fake_imapd_port(f), "starttls", "password = \"p\"; greeting_timeout = 0.2;");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_lines(&d, "retrying in", &lines), 1);
        ck_assert_str_eq(lines + strcspn(lines, "<"),
                         "<4>msg/INBOX: no progress in state greeting within 0.2 s: Connection timed out; a "
                         "server that speaks TLS from the first byte (usually port 993) sends no greeting before "
                         "it: for that set tls = \"implicit\", retrying in 1s\n");
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* ---- a mailbox the server does not have ------------------------------------------------------ */

START_TEST(test_examine_no) {
        const FakeStep script[] = {
                LOGIN_OK,
                FAKE_EXPECT("<tag> EXAMINE Nope"),
                FAKE_SEND("<tag> NO [NONEXISTENT] Mailbox doesn't exist: Nope\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *lines = NULL;
        long delay;
        Daemon d;

        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        daemon_init(&d);
        msg_config(&d, fake_imapd_port(f), "none", "password = \"p\"; mailboxes = [\"Nope\"];");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ?: "", tail_of(d.log));
        ck_assert_uint_eq(log_lines(&d, "<3>", &lines), 1);
        ck_assert_str_eq(lines, "<3>msg/Nope: the server refused to open mailbox \"Nope\" (Mailbox doesn't exist: "
                         "Nope); 'imapidled --list-mailboxes=msg' lists those it has\n");
        /* The login backoff's pace: 60 s, drawn from [30, 60]; not the 1 s of a network error. */
        delay = retry_after(&d, "EXAMINE refused");
        ck_assert_msg(delay >= 30 && delay <= 60, "delay %ld; log:\n%s", delay, tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "<4>msg/Nope: EXAMINE refused: No such file or directory, retrying in "), 1);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* ---- poll mode: a refused STATUS once --------------------------------------------------------- */

#define STATUS_ROUND                                                                                    \
        FAKE_EXPECT_ANY(),                                                                              \
        FAKE_SEND("* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 7)\r\n<tag> OK done\r\n"),          \
        FAKE_EXPECT_ANY(),                                                                              \
        FAKE_SEND("<tag> NO [NONEXISTENT] no such mailbox\r\n")

START_TEST(test_status_no) {
        /* max_connections = 1 with two mailboxes: one poller for both (manager.c), a STATUS
         * round each status_interval.  Three rounds: one error, then debug lines. */
        const FakeStep script[] = {
                LOGIN_OK,
                STATUS_ROUND,
                STATUS_ROUND,
                STATUS_ROUND,
                FAKE_EXPECT_ANY(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *lines = NULL, *report = NULL;
        Daemon d;

        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        daemon_init(&d);
        msg_config(&d, fake_imapd_port(f), "none",
                   "password = \"p\"; mailboxes = [\"INBOX\", \"Nope\"]; max_connections = 1; status_interval = 1;"
                   " imap_notify = \"off\";");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "STATUS msg/Nope refused again", 2, 20000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ?: "", tail_of(d.log));
        ck_assert_uint_eq(log_lines(&d, "STATUS msg/Nope refused", &lines), 3);
        lines = mfree(lines);
        ck_assert_uint_eq(log_lines(&d, "<3>", &lines), 1);
        ck_assert_str_eq(lines, "<3>msg (2 mailboxes polled): STATUS msg/Nope refused (no such mailbox); "
                         "'imapidled --list-mailboxes=msg' lists the mailboxes the server has\n");
        ck_assert_msg(log_count(&d, "<4>msg (2 mailboxes polled): STATUS") == 0, "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* ---- password_file ---------------------------------------------------------------------------- */

START_TEST(test_password_file) {
        const FakeStep script[] = {
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        const char *const no_args[] = { NULL };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *lines = NULL;
        char pw[128], want[256], out[128];
        Daemon d;
        int st;

        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        daemon_init(&d);
        snprintf(pw, sizeof(pw), "%s/pw", d.dir);
        snprintf(out, sizeof(out), "%s/out", d.dir);
        snprintf(want, sizeof(want), "password_file = \"%s\";", pw);
        msg_config(&d, fake_imapd_port(f), "none", want);

        /* Not there: the daemon does not start, and says which file. */
        st = daemon_run_tool(&d, no_args, out);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
        snprintf(want, sizeof(want), "account \"msg\": password_file: cannot read %s: No such file or directory", pw);
        ck_assert_msg(log_count(&d, want) == 1, "log:\n%s", tail_of(d.log));

        /* There but empty (it is not read before the connect): the connect names it. */
        {
                FILE *pf = fopen(pw, "we");

                ck_assert_ptr_nonnull(pf);
                ck_assert_int_eq(fclose(pf), 0);
        }
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_lines(&d, "retrying in", &lines), 1);
        snprintf(want, sizeof(want), "<4>msg/INBOX: cannot read password_file %s: No data available, retrying in ",
                 pw);
        ck_assert_msg(strstr(lines, want), "want '%s' in:\n%s", want, lines);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* ---- a secret command that succeeds --------------------------------------------------------- */

START_TEST(test_secret_quiet) {
        const FakeStep script[] = {
                LOGIN_OK,
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 1] n\r\n<tag> OK [READ-ONLY] ok\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *lines = NULL, *report = NULL;
        Daemon d;

        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        daemon_init(&d);
        msg_config(&d, fake_imapd_port(f), "none", "password_command = [\"/bin/sh\", \"-c\", \"echo p\"];");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 1, 15000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ?: "", tail_of(d.log));
        /* -v logs it, as a debug line; the default level (info) does not. */
        ck_assert_uint_eq(log_lines(&d, "]: exited with status 0", &lines), 1);
        ck_assert_msg(strncmp(lines, "<7>msg password_command[", strlen("<7>msg password_command[")) == 0, "%s", lines);
        daemon_done(&d);
}
END_TEST

static Suite *messages_suite(void) {
        Suite *s = suite_create("messages");
        TCase *tc = tcase_create("messages");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_refused);
        tcase_add_test(tc, test_tls_plain);
        tcase_add_test(tc, test_starttls_tls);
        tcase_add_test(tc, test_examine_no);
        tcase_add_test(tc, test_status_no);
        tcase_add_test(tc, test_password_file);
        tcase_add_test(tc, test_secret_quiet);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        int r;

        snprintf(certs_dir, sizeof(certs_dir), "/tmp/imapidled-tm-XXXXXX");
        if (!mkdtemp(certs_dir)) {
                perror("mkdtemp");
                return EXIT_FAILURE;
        }
        r = th_certs_make(certs_dir, NULL, (const char *const[]) { "127.0.0.1", NULL }, &certs);
        if (r < 0) {
                fprintf(stderr, "cannot make test certificates: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        r = th_run_suite(messages_suite());
        (void) unlink(certs.ca_file);
        (void) unlink(certs.ca_key_file);
        (void) unlink(certs.cert_file);
        (void) unlink(certs.key_file);
        (void) rmdir(certs_dir);
        return r;
}
