/* SPDX-License-Identifier: MIT */
/*
 * test-hostile-idle.c: the imapidled binary against scripted hostile servers
 * (tests/fake-imapd.h) while it idles, one test per case of the security catalogue
 * (docs/SECURITY.md), named by its id.  Hooks are tests/hook-helper, which appends one line
 * per run (its IMAPIDLED_* variables) to a file: the tests count runs and read what each was
 * told.  Every wait is for a positive marker: a log line, a hook's line, a step of a script.
 *
 *   E11  several responses in one TLS record (and across records) while idling: all handled
 *        without the server sending more;
 *   F05  a stall inside a literal: the response deadline (K01) closes the connection;
 *   F06  EOF or RST inside a literal in IDLE: no hook, a reconnect follows;
 *   J06  the same inside the ENVELOPE of a details = true fetch: no hook with partial details,
 *        the reconnect's whole answer makes the one run;
 *   H05  a server that ends IDLE by itself, again and again: IDLE again at once, then after a
 *        doubling pause;
 *   H06  IDLE refused with NO or BAD: NOOP polling, which reports what it learns;
 *   H07  a UID FETCH answer with UIDs below the floor, a VANISHED naming more UIDs than EXISTS;
 *   K04  a server that stops reading while the daemon writes LOGIN (zero window);
 *   K06  several hostile servers at once beside a healthy account;
 *   J09  a DNS lookup that hangs (root: a mount namespace with a resolv.conf of our own);
 *   J01  packets that vanish in IDLE (root: network namespaces and a veth pair whose far end
 *        goes down): TCP keepalive notices, the daemon reconnects.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "fake-imapd.h"
#include "th-certs.h"
#include "th-daemon.h"
#include "th.h"

/* ---- scripts ------------------------------------------------------------------------------ */

#define HI_LOGIN(caps)                                                                                  \
        FAKE_SEND("* OK [CAPABILITY " caps "] hostile ready\r\n"),                                      \
        FAKE_EXPECT("<tag> LOGIN u \"p\""),                                                             \
        FAKE_SEND("<tag> OK [CAPABILITY " caps "] in\r\n")
#define HI_EXAMINE(exists, uidnext)                                                                     \
        FAKE_EXPECT("<tag> EXAMINE INBOX"),                                                             \
        FAKE_SEND("* " exists " EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT " uidnext "] n\r\n"    \
                  "<tag> OK [READ-ONLY] ok\r\n")
#define HI_IDLE FAKE_EXPECT("<tag> IDLE"), FAKE_SEND("+ idling\r\n")
/* daemon_stop() while idling. */
#define HI_STOP                                                                                         \
        FAKE_EXPECT("DONE"),                                                                            \
        FAKE_SEND("<tag> OK done\r\n"),                                                                 \
        FAKE_EXPECT("<tag> LOGOUT"),                                                                    \
        FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),                                                     \
        FAKE_EXPECT_EOF()

/* ---- configuration and hooks -------------------------------------------------------------- */

/* One account block: plaintext on 127.0.0.1:port unless 'settings' say otherwise (they come
 * last, so they may set tls, host, hooks); every hook of 'hooks' ("new", "expunge", "flags")
 * appends its line to <dir>/<event>-<name>.  The caller frees the text. */
static char *account(const Daemon *d, const char *name, const char *host, uint16_t port, const char *hooks,
                     const char *settings) {
        Buf b = BUF_INIT;
        char tmp[1024];
        int k;

        k = snprintf(tmp, sizeof(tmp), "{ name = \"%s\"; host = \"%s\"; port = %u; username = \"u\";%s\n", name,
                     host, (unsigned) port, strstr(settings, "password =") ? "" : " password = \"p\";");
        ck_assert_int_eq(buf_append(&b, tmp, (size_t) k, 0), 0);
        for (const char *ev = hooks; ev && *ev;) {
                size_t n = strcspn(ev, " ");

                k = snprintf(tmp, sizeof(tmp), "  on_%.*s = [\"%s\", \"env\", \"%s/%.*s-%s\"];\n", (int) n, ev,
                             HOOK_HELPER, d->dir, (int) n, ev, name);
                ck_assert_int_eq(buf_append(&b, tmp, (size_t) k, 0), 0);
                ev += n;
                ev += strspn(ev, " ");
        }
        ck_assert_int_eq(buf_append(&b, settings, strlen(settings), 0), 0);
        ck_assert_int_eq(buf_append(&b, " }", 3, 0), 0);
        return b.data;
}

/* The usual plaintext account of a scripted server. */
static char *plain_account(const Daemon *d, const char *name, const FakeImapd *f, const char *hooks,
                           const char *extra) {
        char settings[512];

        (void) snprintf(settings, sizeof(settings), "  tls = \"none\"; allow_plaintext = true; %s", extra);
        return account(d, name, "127.0.0.1", fake_imapd_port(f), hooks, settings);
}

/* The lines the hook of 'event' for account 'name' wrote so far (a malloc'ed text, "" when it
 * never ran); *ret_n their number. */
static char *hook_lines(const Daemon *d, const char *event, const char *name, unsigned *ret_n) {
        char path[256];
        char *s;
        unsigned n = 0;

        (void) snprintf(path, sizeof(path), "%s/%s-%s", d->dir, event, name);
        s = read_file(path);
        for (const char *p = s; *p; p++)
                n += *p == '\n';
        if (ret_n)
                *ret_n = n;
        return s;
}

static unsigned hook_runs(const Daemon *d, const char *event, const char *name) {
        unsigned n;

        free(hook_lines(d, event, name, &n));
        return n;
}

/* Until that hook has run 'count' times (each run appends its line in one write when it ends). */
static bool wait_hook(Daemon *d, const char *event, const char *name, unsigned count, unsigned timeout_ms) {
        uint64_t end = mono_ms() + timeout_ms;

        while (mono_ms() < end) {
                read_notify(d, &d->notes);
                if (hook_runs(d, event, name) >= count)
                        return true;
                sleep_ms(20);
        }
        return false;
}

/* The sum of KEY=<number> over the runs' lines (hook-helper sorts the variables: KEY follows a
 * tab, ACCOUNT always comes first). */
static unsigned long hook_sum(const Daemon *d, const char *event, const char *name, const char *key) {
        _cleanup_free_ char *s = hook_lines(d, event, name, NULL);
        char needle[64];
        unsigned long sum = 0;

        (void) snprintf(needle, sizeof(needle), "\t%s=", key);
        for (const char *p = s; (p = strstr(p, needle)); p++)
                sum += strtoul(p + strlen(needle), NULL, 10);
        return sum;
}

/* Whether some run's line has "\tKEY=value\t". */
static bool hook_has(const Daemon *d, const char *event, const char *name, const char *key_value) {
        _cleanup_free_ char *s = hook_lines(d, event, name, NULL);
        char needle[512];

        (void) snprintf(needle, sizeof(needle), "\t%s\t", key_value);
        return strstr(s, needle) != NULL;
}

/* The script's one FAKE_SEND(NULL) gets its text, made at run time. */
static void fill_send(FakeStep *script, size_t n, const char *text) {
        for (size_t i = 0; i < n; i++)
                if (script[i].type == FAKE_STEP_SEND && !script[i].data) {
                        script[i].data = text;
                        return;
                }
        ck_abort_msg("no FAKE_SEND(NULL) in the script");
}

static void start_fake(const FakeStep *script, const FakeImapdOptions *o, FakeImapd **ret) {
        ck_assert_int_eq(fake_imapd_start_full(script, o, NULL, ret), 0);
}

static void wait_fake(Daemon *d, FakeImapd *f, const char *what) {
        _cleanup_free_ char *report = NULL;

        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s: %s\nlog:\n%s", what, report ? report : "",
                      tail_of(d->log));
}

/* ---- E11: several responses in one TLS record --------------------------------------------- */

typedef struct RecordCase {
        const char *what;
        unsigned flag_lines;    /* "* 1 FETCH (FLAGS (\Seen))" lines before the expunges */
} RecordCase;

static const RecordCase record_cases[] = {
        /* Everything in one record, one SSL_read(). */
        { "one record", 3 },
        /* About 42 KiB in one SEND: three records (16 KiB each at most), lines cut at their
         * boundaries, more than one read of the daemon's 16 KiB buffer, and the two expunges
         * in the last record. */
        { "three records", 1500 },
};

START_TEST(test_E11_responses_in_one_record) {
        /* While idling over TLS the server sends flag changes and two expunges at once, then
         * nothing: the daemon must take every response from what it decrypted (OpenSSL may
         * hold bytes poll() does not see, net/conn-tls.c tls_has_pending()), not wait for more
         * bytes.  The hooks are the proof: on_expunge is told both expunges, on_flags ran.
         * No probe (liveness_interval = 60) may rescue a daemon that stopped reading. */
        const RecordCase *rc = &record_cases[_i];
        FakeStep script[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("5", "6"),
                HI_IDLE,
                FAKE_SEND(NULL),        /* the record(s), below */
                HI_STOP,
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *acc = NULL;
        Buf burst = BUF_INIT;
        ThCerts certs;
        Daemon d;
        char settings[PATH_MAX + 64];

        for (unsigned i = 0; i < rc->flag_lines; i++)
                ck_assert_int_eq(buf_append(&burst, "* 1 FETCH (FLAGS (\\Seen))\r\n", 27, 0), 0);
        ck_assert_int_eq(buf_append(&burst, "* 5 EXPUNGE\r\n* 4 EXPUNGE\r\n", 27, 0), 0);
        fill_send(script, ELEMENTSOF(script), burst.data);

        daemon_init(&d);
        ck_assert_int_eq(th_certs_make(d.dir, NULL, (const char *const[]) { "127.0.0.1", NULL }, &certs), 0);
        start_fake(script, &(FakeImapdOptions) { .tls_cert_file = certs.cert_file, .tls_key_file = certs.key_file },
                   &f);
        buf_done(&burst);
        (void) snprintf(settings, sizeof(settings), "  tls = \"implicit\"; ca_file = \"%s\";", certs.ca_file);
        acc = account(&d, "e11", "127.0.0.1", fake_imapd_port(f), "expunge flags", settings);
        write_config(&d, "debounce = 0; liveness_interval = 60;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "expunge", "e11", 1, 15000), "%s: log:\n%s", rc->what, tail_of(d.log));
        /* Single flight: the first run may have started at the first expunge and the second
         * come behind it; together they were told of both. */
        ck_assert_msg(hook_sum(&d, "expunge", "e11", "COUNT") == 2 || wait_hook(&d, "expunge", "e11", 2, 5000),
                      "%s: log:\n%s", rc->what, tail_of(d.log));
        ck_assert_uint_eq(hook_sum(&d, "expunge", "e11", "COUNT"), 2);
        ck_assert_msg(wait_hook(&d, "flags", "e11", 1, 5000), "%s: log:\n%s", rc->what, tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "DONE ("), 0);
        daemon_stop(&d);
        wait_fake(&d, f, rc->what);
        daemon_done(&d);
}
END_TEST

/* ---- F05: a stall inside a literal -------------------------------------------------------- */

START_TEST(test_F05_stall_in_literal) {
        /* A FETCH whose literal stops 90 bytes short, then silence.  IDLE has no phase deadline
         * and the silence is far shorter than the liveness probe; the response deadline of
         * K01 (command_timeout from its first byte) closes it.  The flag change inside the
         * unfinished response runs no hook. */
        static const FakeStep script[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("1", "2"),
                HI_IDLE,
                FAKE_SEND("* 1 FETCH (FLAGS (\\Seen) BODY[TEXT] {100}\r\n0123456789"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *acc = NULL;
        Daemon d;

        daemon_init(&d);
        start_fake(script, NULL, &f);
        acc = plain_account(&d, "f05", f, "flags", "");
        write_config(&d, "debounce = 0; command_timeout = 1; liveness_interval = 60;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "response not finished within 1.0 s of its first byte (command_timeout, state "
                               "idling)", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "retrying in", 1, 5000), "log:\n%s", tail_of(d.log));
        wait_fake(&d, f, "F05");
        daemon_stop(&d);
        ck_assert_uint_eq(hook_runs(&d, "flags", "f05"), 0);
        daemon_done(&d);
}
END_TEST

/* ---- F06, J06: the connection ends inside a literal --------------------------------------- */

static const char *const cut_names[] = { "FIN", "RST" };

START_TEST(test_F06_eof_in_literal) {
        /* A flag change whose literal is cut by a FIN (then the server waits for our close) or
         * an RST.  The unfinished response is no flag change: no on_flags.  The daemon
         * reconnects (the reconnect script: the second connection reaches IDLE). */
        const bool rst = _i == 1;
        const FakeStep script[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("1", "2"),
                HI_IDLE,
                FAKE_SEND("* 1 FETCH (FLAGS (\\Seen) BODY[TEXT] {50}\r\n0123456789"),
                rst ? (FakeStep) FAKE_RESET() : (FakeStep) FAKE_CLOSE(),
                rst ? (FakeStep) FAKE_END : (FakeStep) FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        static const FakeStep again[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("1", "2"),
                HI_IDLE,
                HI_STOP,
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *acc = NULL;
        Daemon d;

        daemon_init(&d);
        start_fake(script, &(FakeImapdOptions) { .next_scripts = (const FakeStep *const[]) { again, NULL } }, &f);
        acc = plain_account(&d, "f06", f, "flags", "");
        write_config(&d, "debounce = 0; liveness_interval = 60;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 15000), "%s: log:\n%s", cut_names[_i], tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 2, 15000), "%s: log:\n%s", cut_names[_i], tail_of(d.log));
        daemon_stop(&d);
        wait_fake(&d, f, cut_names[_i]);
        ck_assert_uint_eq(hook_runs(&d, "flags", "f06"), 0);
        daemon_done(&d);
}
END_TEST

#define J06_ENVELOPE_HEAD "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 99 ENVELOPE (\"Mon, 1 Jan 2024 00:00:00 +0000\" "

START_TEST(test_J06_eof_in_details_literal) {
        /* details = true: new mail, the scan, then the details fetch, whose Subject is a
         * literal the server cuts after 12 of its 40 bytes (FIN or RST).  No hook may run with
         * what came (no "Partial"), nor without details.  The reconnect counts the mailbox
         * again and its whole answer makes the one run. */
        const bool rst = _i == 1;
        const FakeStep script[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("0", "1"),
                HI_IDLE,
                FAKE_SEND("* 1 EXISTS\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 1:* (UID)"),
                FAKE_SEND("* 1 FETCH (UID 1)\r\n<tag> OK fetched\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 1 (UID FLAGS RFC822.SIZE ENVELOPE)"),
                FAKE_SEND(J06_ENVELOPE_HEAD "{40}\r\nPartial subj"),
                rst ? (FakeStep) FAKE_RESET() : (FakeStep) FAKE_CLOSE(),
                rst ? (FakeStep) FAKE_END : (FakeStep) FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        static const FakeStep again[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("1", "2"),
                /* The catch-up's scan, then the run's own scan and its details. */
                FAKE_EXPECT("<tag> UID FETCH 1:* (UID)"),
                FAKE_SEND("* 1 FETCH (UID 1)\r\n<tag> OK fetched\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 1:* (UID)"),
                FAKE_SEND("* 1 FETCH (UID 1)\r\n<tag> OK fetched\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 1 (UID FLAGS RFC822.SIZE ENVELOPE)"),
                FAKE_SEND(J06_ENVELOPE_HEAD "\"Whole subject\" ((\"A\" NIL \"a\" \"example.org\")) NIL NIL NIL NIL "
                          "NIL NIL \"<1@example.org>\"))\r\n<tag> OK fetched\r\n"),
                HI_IDLE,
                HI_STOP,
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *acc = NULL, *lines = NULL;
        Daemon d;
        char settings[512];

        daemon_init(&d);
        start_fake(script, &(FakeImapdOptions) { .next_scripts = (const FakeStep *const[]) { again, NULL } }, &f);
        (void) snprintf(settings, sizeof(settings),
                        "  tls = \"none\"; allow_plaintext = true;\n"
                        "  on_new = { command = [\"%s\", \"env\", \"%s/new-j06\"]; details = true; };", HOOK_HELPER,
                        d.dir);
        acc = account(&d, "j06", "127.0.0.1", fake_imapd_port(f), "", settings);
        write_config(&d, "debounce = 0; liveness_interval = 60;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 15000), "%s: log:\n%s", cut_names[_i], tail_of(d.log));
        if (!wait_hook(&d, "new", "j06", 1, 15000))
                wait_fake(&d, f, cut_names[_i]);
        ck_assert_msg(hook_runs(&d, "new", "j06") >= 1, "%s: log:\n%s", cut_names[_i], tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 2, 10000), "%s: log:\n%s", cut_names[_i], tail_of(d.log));
        daemon_stop(&d);
        wait_fake(&d, f, cut_names[_i]);
        lines = hook_lines(&d, "new", "j06", NULL);
        ck_assert_msg(hook_runs(&d, "new", "j06") == 1, "%s", lines);
        ck_assert_msg(hook_has(&d, "new", "j06", "SUBJECT=Whole subject"), "%s", lines);
        ck_assert_msg(hook_has(&d, "new", "j06", "UID=1"), "%s", lines);
        ck_assert_ptr_null(strstr(lines, "Partial"));
        daemon_done(&d);
}
END_TEST

/* ---- H05: the server ends IDLE by itself -------------------------------------------------- */

#define H05_ENDS 4
#define H05_ROUND FAKE_EXPECT("<tag> IDLE"), FAKE_SEND("+ idling\r\n<tag> OK IDLE ended by the server\r\n")

START_TEST(test_H05_server_ends_idle) {
        /* Four IDLEs ended by the server at once.  The daemon must not spin: each is followed
         * by exactly one IDLE (the script fails on anything else), the first at once, the
         * next after 1, 2, 4 s (connection.c on_idle_end()).  The pauses are what the daemon
         * logs it chose; the wire shows one IDLE per server-ended IDLE, plus the one that
         * stays; the time they took can only be longer than the pauses (never decided by a
         * measurement the other way). */
        static const FakeStep script[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("0", "1"),
                H05_ROUND, H05_ROUND, H05_ROUND, H05_ROUND,
                HI_IDLE,
                HI_STOP,
                FAKE_END,
        };
        static const char *const pauses[H05_ENDS] = {
                "IDLE again in 0 s", "IDLE again in 1 s", "IDLE again in 2 s", "IDLE again in 4 s",
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *acc = NULL, *log = NULL;
        const char *p;
        uint64_t t0;
        Daemon d;

        daemon_init(&d);
        start_fake(script, &(FakeImapdOptions) { .timeout_ms = 20000 }, &f);
        acc = plain_account(&d, "h05", f, "", "");
        write_config(&d, "liveness_interval = 60;\naccounts = ( %s );\n", acc);
        t0 = mono_ms();
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", H05_ENDS + 1, 30000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_ge(mono_ms() - t0, 7000);
        daemon_stop(&d);
        wait_fake(&d, f, "H05");
        ck_assert_uint_eq(log_count(&d, "the server ended IDLE after"), H05_ENDS);
        log = read_file(d.log);
        p = log;
        for (unsigned i = 0; i < H05_ENDS; i++) {
                p = strstr(p, pauses[i]);
                ck_assert_msg(p, "no \"%s\" in order; log:\n%s", pauses[i], tail_of(d.log));
        }
        ck_assert_uint_eq(log_count(&d, "retrying in"), 0);
        daemon_done(&d);
}
END_TEST

/* ---- H06: IDLE refused -------------------------------------------------------------------- */

static const char *const refusals[] = { "<tag> NO not now\r\n", "<tag> BAD unknown command\r\n" };

START_TEST(test_H06_idle_refused_polls) {
        /* IDLE refused with NO, or with BAD (a server that announced IDLE and does not know
         * it, RFC 2177 §3).  The daemon polls with NOOP (every 60 s: one round is waited for)
         * on the same connection, and what a poll learns reaches the hook: the NOOP's
         * EXPUNGE runs on_expunge.  No reconnect loop. */
        const FakeStep script[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("2", "3"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND(refusals[_i]),
                FAKE_EXPECT("<tag> NOOP"),
                FAKE_SEND("* 2 EXPUNGE\r\n<tag> OK noop\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *acc = NULL;
        Daemon d;

        daemon_init(&d);
        start_fake(script, &(FakeImapdOptions) { .timeout_ms = 90000 }, &f);
        acc = plain_account(&d, "h06", f, "expunge", "");
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "IDLE refused (", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "polling every 60s", 1, 1000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 5000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_hook(&d, "expunge", "h06", 1, 75000), "log:\n%s", tail_of(d.log));
        ck_assert(hook_has(&d, "expunge", "h06", "EXISTS=1"));
        daemon_stop(&d);
        wait_fake(&d, f, "H06");
        ck_assert_uint_eq(log_count(&d, "retrying in"), 0);
        ck_assert_uint_eq(log_count(&d, "-> idling"), 0);
        daemon_done(&d);
}
END_TEST

/* ---- H07: impossible answers -------------------------------------------------------------- */

START_TEST(test_H07_uids_below_floor) {
        /* UIDNEXT 10 on EXAMINE: every new message has a UID of 10 or more (RFC 3501
         * §2.3.1.1).  The scan for one new message answers UIDs 3 and 4 besides 12: they are
         * ignored, the hook is told one message, UID 12, and the floor moves to 13, not back. */
        static const FakeStep script[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("5", "10"),
                HI_IDLE,
                FAKE_SEND("* 6 EXISTS\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 10:* (UID)"),
                FAKE_SEND("* 1 FETCH (UID 3)\r\n* 2 FETCH (UID 4)\r\n* 6 FETCH (UID 12)\r\n<tag> OK fetched\r\n"),
                HI_IDLE,
                FAKE_SEND("* 7 EXISTS\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 13:* (UID)"),
                FAKE_SEND("* 1 FETCH (UID 3)\r\n* 7 FETCH (UID 13)\r\n<tag> OK fetched\r\n"),
                HI_IDLE,
                HI_STOP,
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *acc = NULL, *lines = NULL;
        char settings[512];
        Daemon d;

        daemon_init(&d);
        start_fake(script, NULL, &f);
        (void) snprintf(settings, sizeof(settings),
                        "  tls = \"none\"; allow_plaintext = true;\n"
                        "  on_new = { command = [\"%s\", \"env\", \"%s/new-h07\"]; uids = true; };", HOOK_HELPER,
                        d.dir);
        acc = account(&d, "h07", "127.0.0.1", fake_imapd_port(f), "", settings);
        write_config(&d, "debounce = 0; liveness_interval = 60;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "new", "h07", 2, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 3, 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        wait_fake(&d, f, "H07");
        lines = hook_lines(&d, "new", "h07", NULL);
        ck_assert_msg(hook_has(&d, "new", "h07", "UIDS=12") && hook_has(&d, "new", "h07", "UIDS=13"), "%s", lines);
        ck_assert_msg(hook_sum(&d, "new", "h07", "COUNT") == 2, "%s", lines);
        daemon_done(&d);
}
END_TEST

START_TEST(test_H07_vanished_beyond_exists) {
        /* QRESYNC enabled, three messages.  A VANISHED naming five UIDs cannot be true of
         * them (RFC 7162 §3.2.10: it reports messages that were there): out of sync, no
         * on_expunge, the mailbox is counted again (DONE, EXAMINE).  Then a VANISHED of two
         * of the three is an ordinary expunge (the control: the hook can run here). */
        static const FakeStep script[] = {
                HI_LOGIN("IMAP4rev1 IDLE ENABLE QRESYNC"),
                FAKE_EXPECT("<tag> ENABLE QRESYNC"),
                FAKE_SEND("* ENABLED QRESYNC\r\n<tag> OK enabled\r\n"),
                HI_EXAMINE("3", "4"),
                HI_IDLE,
                FAKE_SEND("* VANISHED 1:5\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                HI_EXAMINE("3", "4"),
                HI_IDLE,
                FAKE_SEND("* VANISHED 2:3\r\n"),
                HI_STOP,
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *acc = NULL, *lines = NULL;
        Daemon d;

        daemon_init(&d);
        start_fake(script, NULL, &f);
        acc = plain_account(&d, "h07v", f, "expunge", "");
        write_config(&d, "debounce = 0; liveness_interval = 60;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "expunge", "h07v", 1, 15000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        wait_fake(&d, f, "H07 VANISHED");
        lines = hook_lines(&d, "expunge", "h07v", NULL);
        ck_assert_msg(hook_runs(&d, "expunge", "h07v") == 1, "%s", lines);
        ck_assert_msg(hook_has(&d, "expunge", "h07v", "UIDS=2:3") && hook_has(&d, "expunge", "h07v", "COUNT=2"),
                      "%s", lines);
        ck_assert_msg(log_count(&d, "out of sync: VANISHED") == 1, "log:\n%s", tail_of(d.log));
        daemon_done(&d);
}
END_TEST

/* ---- K04: the server stops reading -------------------------------------------------------- */

#define K04_PASSWORD_BYTES (16u * 1024u * 1024u)

START_TEST(test_K04_login_not_read) {
        /* The stuck server greets and never reads.  The daemon's LOGIN carries a 16 MiB
         * password: far more than both sockets' buffers hold, so its write stops at a zero
         * window.  Writes never block the loop (non-blocking sockets): auth_timeout closes the
         * connection, and the healthy account beside it reaches IDLE and gets its hook
         * meanwhile. */
        static const FakeStep stuck[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] I will not read\r\n"),
                FAKE_SLEEP(8000),
                FAKE_END,
        };
        static const FakeStep healthy[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("2", "3"),
                HI_IDLE,
                FAKE_SLEEP(500),
                FAKE_SEND("* 2 EXPUNGE\r\n"),
                HI_STOP,
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *fs = NULL, *fh = NULL;
        _cleanup_free_ char *a1 = NULL, *a2 = NULL, *password = NULL, *settings = NULL;
        Daemon d;

        daemon_init(&d);
        start_fake(stuck, NULL, &fs);
        start_fake(healthy, NULL, &fh);
        password = malloc(K04_PASSWORD_BYTES + 1);
        ck_assert_ptr_nonnull(password);
        memset(password, 'x', K04_PASSWORD_BYTES);
        password[K04_PASSWORD_BYTES] = '\0';
        settings = malloc(K04_PASSWORD_BYTES + 256);
        ck_assert_ptr_nonnull(settings);
        (void) snprintf(settings, K04_PASSWORD_BYTES + 256,
                        "  tls = \"none\"; allow_plaintext = true; auth_timeout = 2; password = \"%s\";", password);
        a1 = account(&d, "k04stuck", "127.0.0.1", fake_imapd_port(fs), "", settings);
        a2 = plain_account(&d, "k04ok", fh, "expunge", "");
        write_config(&d, "debounce = 0; liveness_interval = 60;\naccounts = ( %s, %s );\n", a1, a2);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "expunge", "k04ok", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "no progress in state authenticating within 2.0 s", 1, 10000), "log:\n%s",
                      tail_of(d.log));
        ck_assert_msg(wait_log(&d, "retrying in", 1, 5000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        wait_fake(&d, fh, "healthy");
        ck_assert(hook_has(&d, "expunge", "k04ok", "EXISTS=1"));
        /* The password never reached the log. */
        ck_assert_uint_eq(log_count(&d, "xxxxxxxx"), 0);
        daemon_done(&d);
}
END_TEST

/* ---- K06: many hostile servers beside a healthy account ----------------------------------- */

START_TEST(test_K06_hostile_neighbours) {
        /* Four hostile servers at once: one drips its response, one stalls in a literal, one
         * never greets, one floods 4 MiB of flag changes.  The healthy account beside them gets
         * its expunge reported while they misbehave, and each hostile one is dealt with by its
         * own deadline or its own caps. */
        static const FakeStep drip[] = {
                HI_LOGIN("IMAP4rev1 IDLE"), HI_EXAMINE("1", "2"), HI_IDLE,
                FAKE_SEND("*"), FAKE_SLEEP(400), FAKE_SEND(" "), FAKE_SLEEP(400), FAKE_SEND("1"),
                FAKE_SLEEP(400), FAKE_SEND(" "),
                FAKE_EXPECT_EOF(), FAKE_END,
        };
        static const FakeStep stall[] = {
                HI_LOGIN("IMAP4rev1 IDLE"), HI_EXAMINE("1", "2"), HI_IDLE,
                FAKE_SEND("* 1 FETCH (FLAGS (\\Seen) BODY[TEXT] {1000}\r\n0123"),
                FAKE_EXPECT_EOF(), FAKE_END,
        };
        static const FakeStep mute[] = {
                FAKE_EXPECT_EOF(), FAKE_END,
        };
        FakeStep flood[] = {
                HI_LOGIN("IMAP4rev1 IDLE"), HI_EXAMINE("1", "2"), HI_IDLE,
                FAKE_SEND(NULL),
                FAKE_SLEEP(3000),
                FAKE_END,
        };
        static const FakeStep healthy[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("2", "3"),
                HI_IDLE,
                FAKE_SLEEP(500),
                FAKE_SEND("* 2 EXPUNGE\r\n"),
                HI_STOP,
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f1 = NULL, *f2 = NULL, *f3 = NULL, *f4 = NULL, *fh = NULL;
        _cleanup_free_ char *a1 = NULL, *a2 = NULL, *a3 = NULL, *a4 = NULL, *ah = NULL;
        Buf lines = BUF_INIT;
        Daemon d;

        while (lines.len < 4u * 1024u * 1024u)
                ck_assert_int_eq(buf_append(&lines, "* 1 FETCH (FLAGS (\\Seen))\r\n", 27, 0), 0);
        ck_assert_int_eq(buf_append(&lines, "", 1, 0), 0);
        fill_send(flood, ELEMENTSOF(flood), lines.data);

        daemon_init(&d);
        start_fake(drip, NULL, &f1);
        start_fake(stall, NULL, &f2);
        start_fake(mute, NULL, &f3);
        start_fake(flood, &(FakeImapdOptions) { .timeout_ms = 30000 }, &f4);
        buf_done(&lines);
        start_fake(healthy, NULL, &fh);
        a1 = plain_account(&d, "drip", f1, "flags", "");
        a2 = plain_account(&d, "stall", f2, "flags", "");
        a3 = plain_account(&d, "mute", f3, "flags", "");
        a4 = plain_account(&d, "flood", f4, "flags", "");
        ah = plain_account(&d, "ok", fh, "expunge", "");
        write_config(&d,
                     "debounce = 0; liveness_interval = 60; command_timeout = 1; greeting_timeout = 2;\n"
                     "accounts = ( %s, %s, %s, %s, %s );\n", a1, a2, a3, a4, ah);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "expunge", "ok", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert(hook_has(&d, "expunge", "ok", "EXISTS=1"));
        ck_assert_msg(wait_log(&d, "drip/INBOX: response not finished", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "stall/INBOX: response not finished", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "no progress in state greeting", 1, 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        wait_fake(&d, fh, "healthy");
        wait_fake(&d, f1, "drip");
        wait_fake(&d, f2, "stall");
        wait_fake(&d, f3, "mute");
        ck_assert_uint_eq(hook_runs(&d, "flags", "drip"), 0);
        ck_assert_uint_eq(hook_runs(&d, "flags", "stall"), 0);
        daemon_done(&d);
}
END_TEST

/* ---- namespaces (root only) ---------------------------------------------------------------- */

/* Run argv (no shell); its exit status, or -1. */
static int run(const char *const argv[]) {
        int status;
        pid_t pid = fork();

        if (pid < 0)
                return -1;
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

                char *args[16] = {};
                size_t n = 0;

                while (argv[n] && n + 1 < ELEMENTSOF(args))
                        n++;
                /* execvp() takes char *const[]: copy the pointers, the strings are not changed. */
                memcpy(args, argv, n * sizeof(argv[0]));
                if (null >= 0)
                        (void) dup2(null, STDOUT_FILENO);
                execvp(args[0], args);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0)
                return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Why a namespace case cannot run here, or NULL.  The namespaces are the test's own (Check
 * runs each test in a child process): nothing of them outlives it, and nothing of the
 * machine's network or files changes.  Without that child (CK_FORK=no) they would stay. */
static const char *namespaces_unavailable(void) {
        const char *fork_env = getenv("CK_FORK");

        if (geteuid() != 0)
                return "not root";
        if (fork_env && strcmp(fork_env, "no") == 0)
                return "CK_FORK=no: the namespaces would outlive the test";
        if (run((const char *const[]) { "ip", "-V", NULL }) != 0)
                return "no ip(8)";
        return NULL;
}

/* A network namespace of our own with lo up, and (mount) a mount namespace whose changes stay
 * in it.  false (errno set) if the kernel refuses. */
static bool enter_namespaces(bool mount_ns) {
        if (unshare(CLONE_NEWNET | (mount_ns ? CLONE_NEWNS : 0)) < 0)
                return false;
        if (mount_ns && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return false;
        return run((const char *const[]) { "ip", "link", "set", "lo", "up", NULL }) == 0 || (errno = EIO, false);
}

/* ---- J09: a DNS lookup that hangs --------------------------------------------------------- */

START_TEST(test_J09_dns_hangs) {
        /* In a mount and network namespace of the test's own: /etc/resolv.conf names a
         * nameserver on 127.0.0.1 whose UDP socket reads the query and never answers (30 s
         * timeout, one attempt), and /etc/nsswitch.conf says "files dns".  One account's host
         * name is looked up there and hangs; the other (an IP address, no lookup) reaches IDLE
         * and gets its hook while the lookup still hangs: lookups run on a thread
         * (net/resolve.c).  SIGTERM is not held up by the hanging lookup either. */
        static const FakeStep healthy[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("2", "3"),
                HI_IDLE,
                FAKE_SEND("* 2 EXPUNGE\r\n"),
                HI_STOP,
                FAKE_END,
        };
        struct sockaddr_in dns = { .sin_family = AF_INET, .sin_port = htons(53) };
        _cleanup_(fake_imapd_freep) FakeImapd *fh = NULL;
        _cleanup_free_ char *a1 = NULL, *a2 = NULL;
        _cleanup_close_ int udp = -EBADF;
        char resolv[256], nss[256], query[512];
        const char *why = namespaces_unavailable();
        struct timeval tv = { .tv_sec = 10 };
        FILE *f;
        Daemon d;

        if (why) {
                printf("SKIP: test_J09_dns_hangs: %s\n", why);
                return;
        }
        ck_assert_msg(enter_namespaces(true), "namespaces: %s", strerror(errno));
        daemon_init(&d);
        (void) snprintf(resolv, sizeof(resolv), "%s/resolv.conf", d.dir);
        (void) snprintf(nss, sizeof(nss), "%s/nsswitch.conf", d.dir);
        ck_assert_ptr_nonnull(f = fopen(resolv, "we"));
        fputs("nameserver 127.0.0.1\noptions timeout:30 attempts:1\n", f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_ptr_nonnull(f = fopen(nss, "we"));
        fputs("hosts: files dns\n", f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(mount(resolv, "/etc/resolv.conf", NULL, MS_BIND, NULL), 0);
        ck_assert_int_eq(mount(nss, "/etc/nsswitch.conf", NULL, MS_BIND, NULL), 0);
        dns.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(udp, 0);
        ck_assert_int_eq(bind(udp, (struct sockaddr *) &dns, sizeof(dns)), 0);
        ck_assert_int_eq(setsockopt(udp, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);

        start_fake(healthy, &(FakeImapdOptions) { .timeout_ms = 20000 }, &fh);
        a1 = account(&d, "hang", "mail.j09-hang.example", 143, "expunge", "  tls = \"none\"; allow_plaintext = true;");
        a2 = plain_account(&d, "ok", fh, "expunge", "");
        write_config(&d, "debounce = 0; liveness_interval = 60; connect_timeout = 25;\naccounts = ( %s, %s );\n", a1,
                     a2);
        daemon_start(&d);
        /* The lookup reached our nameserver, which keeps quiet. */
        ck_assert_msg(recv(udp, query, sizeof(query), 0) > 12, "no DNS query; log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_hook(&d, "expunge", "ok", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert(hook_has(&d, "expunge", "ok", "EXISTS=1"));
        /* The lookup still hangs: no failure of its account yet. */
        ck_assert_msg(log_count(&d, "hang/INBOX: connecting -> ") == 0 && log_count(&d, "retrying in") == 0,
                      "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        wait_fake(&d, fh, "healthy");
        ck_assert_uint_eq(hook_runs(&d, "expunge", "hang"), 0);
        daemon_done(&d);
}
END_TEST

/* ---- J01: half-open TCP in IDLE ------------------------------------------------------------ */

START_TEST(test_J01_packets_vanish) {
        /* The daemon in a network namespace A, the server in B, joined by a veth pair
         * (10.77.0.1 - 10.77.0.2).  In IDLE, B routes everything for A into a blackhole: what
         * the daemon sends still arrives, nothing comes back (no FIN, no RST: half-open), and
         * A itself sees no change (no link or route event for its network monitor).
         * liveness_interval = 60 keeps the probe out of it; TCP keepalive (1 s idle, 1 s
         * interval, 2 probes: net/conn-tcp.c conn_set_tcp_options()) must notice within
         * seconds, the daemon closes and retries, and once the link is back it idles again on
         * a new connection. */
        static const FakeStep script[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("0", "1"),
                HI_IDLE,
                FAKE_SLEEP(1000),
                FAKE_END,
        };
        static const FakeStep again[] = {
                HI_LOGIN("IMAP4rev1 IDLE"),
                HI_EXAMINE("0", "1"),
                HI_IDLE,
                HI_STOP,
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *acc = NULL;
        _cleanup_close_ int ns_a = -EBADF, ns_b = -EBADF;
        const char *why = namespaces_unavailable();
        int sync_pipe[2];
        char pid_s[16], path[64], x;
        pid_t holder;
        Daemon d;

        if (why) {
                printf("SKIP: test_J01_packets_vanish: %s\n", why);
                return;
        }
        ck_assert_msg(enter_namespaces(false), "namespace: %s", strerror(errno));
        /* No IPv6 on the new links: an address that becomes usable after DAD, seconds later,
         * would be a network change the daemon answers with a probe of its own. */
        {
                int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC);

                if (fd >= 0) {
                        ck_assert_int_eq(write(fd, "1", 1), 1);
                        (void) close(fd);
                }
        }
        ns_a = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(ns_a, 0);
        /* B lives as long as a child that holds it (killed at the end, with the test). */
        ck_assert_int_eq(pipe2(sync_pipe, O_CLOEXEC), 0);
        holder = fork();
        ck_assert_int_ge(holder, 0);
        if (holder == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (unshare(CLONE_NEWNET) < 0)
                        _exit(1);
                if (write(sync_pipe[1], "x", 1) != 1)
                        _exit(1);
                for (;;)
                        pause();
        }
        (void) close(sync_pipe[1]);
        ck_assert_int_eq(read(sync_pipe[0], &x, 1), 1);
        (void) close(sync_pipe[0]);
        (void) snprintf(pid_s, sizeof(pid_s), "%d", (int) holder);
        ck_assert_int_eq(run((const char *const[]) { "ip", "link", "add", "hv0", "type", "veth", "peer", "name", "hv1",
                                                     NULL }), 0);
        ck_assert_int_eq(run((const char *const[]) { "ip", "link", "set", "hv1", "netns", pid_s, NULL }), 0);
        ck_assert_int_eq(run((const char *const[]) { "ip", "addr", "add", "10.77.0.1/24", "dev", "hv0", NULL }), 0);
        ck_assert_int_eq(run((const char *const[]) { "ip", "link", "set", "hv0", "up", NULL }), 0);
        ck_assert_int_eq(run((const char *const[]) { "nsenter", "-t", pid_s, "-n", "ip", "addr", "add", "10.77.0.2/24",
                                                     "dev", "hv1", NULL }), 0);
        ck_assert_int_eq(run((const char *const[]) { "nsenter", "-t", pid_s, "-n", "ip", "link", "set", "hv1", "up",
                                                     NULL }), 0);
        /* The server listens in B. */
        (void) snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) holder);
        ns_b = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(ns_b, 0);
        ck_assert_int_eq(setns(ns_b, CLONE_NEWNET), 0);
        start_fake(script,
                   &(FakeImapdOptions) { .next_scripts = (const FakeStep *const[]) { again, NULL }, .listen_address = "10.77.0.2",
                                         .accept_timeout_ms = 60000, .timeout_ms = 30000 },
                   &f);
        ck_assert_int_eq(setns(ns_a, CLONE_NEWNET), 0);

        daemon_init(&d);
        acc = account(&d, "j01", "10.77.0.2", fake_imapd_port(f), "",
                      "  tls = \"none\"; allow_plaintext = true; keepalive_idle = 1; keepalive_interval = 1;\n"
                      "  keepalive_count = 2; connect_timeout = 3;");
        write_config(&d, "liveness_interval = 60;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_int_eq(run((const char *const[]) { "nsenter", "-t", pid_s, "-n", "ip", "route", "add", "blackhole",
                                                     "10.77.0.1/32", NULL }), 0);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 20000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "timed out") >= 1 && log_count(&d, "DONE (") == 0, "log:\n%s", tail_of(d.log));
        ck_assert_int_eq(run((const char *const[]) { "nsenter", "-t", pid_s, "-n", "ip", "route", "del", "blackhole",
                                                     "10.77.0.1/32", NULL }), 0);
        ck_assert_msg(wait_log(&d, "-> idling", 2, 30000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        wait_fake(&d, f, "J01");
        (void) kill(holder, SIGKILL);
        (void) waitpid(holder, NULL, 0);
        daemon_done(&d);
}
END_TEST

static Suite *hostile_idle_suite(void) {
        Suite *s = suite_create("hostile-idle");
        TCase *tc = tcase_create("hostile-idle");
        TCase *slow = tcase_create("slow");
        TCase *ns = tcase_create("namespaces");

        tcase_set_timeout(tc, 120);
        tcase_add_loop_test(tc, test_E11_responses_in_one_record, 0, (int) ELEMENTSOF(record_cases));
        tcase_add_test(tc, test_F05_stall_in_literal);
        tcase_add_loop_test(tc, test_F06_eof_in_literal, 0, (int) ELEMENTSOF(cut_names));
        tcase_add_loop_test(tc, test_J06_eof_in_details_literal, 0, (int) ELEMENTSOF(cut_names));
        tcase_add_test(tc, test_H05_server_ends_idle);
        tcase_add_test(tc, test_H07_uids_below_floor);
        tcase_add_test(tc, test_H07_vanished_beyond_exists);
        tcase_add_test(tc, test_K04_login_not_read);
        tcase_add_test(tc, test_K06_hostile_neighbours);
        suite_add_tcase(s, tc);
        /* One NOOP round of 60 s per case. */
        tcase_set_timeout(slow, 150);
        tcase_add_loop_test(slow, test_H06_idle_refused_polls, 0, (int) ELEMENTSOF(refusals));
        suite_add_tcase(s, slow);
        /* Root only (namespaces); they say SKIP elsewhere. */
        tcase_set_timeout(ns, 120);
        tcase_add_test(ns, test_J09_dns_hangs);
        tcase_add_test(ns, test_J01_packets_vanish);
        suite_add_tcase(s, ns);
        return s;
}

int main(void) {
        return th_run_suite(hostile_idle_suite());
}
