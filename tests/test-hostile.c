/* SPDX-License-Identifier: MIT */
/*
 * test-hostile.c: the imapidled binary against scripted hostile servers (tests/fake-imapd.h),
 * one test per case of the security catalogue (issue 12), named by its id.  No Dovecot: each
 * test is a transcript, and asserts what the daemon logs and what it sends, never how long
 * something took.  The test never sleeps: it waits for log lines (tests/th-daemon.h).  The
 * FAKE_SLEEPs in the scripts are the hostile servers' pacing, the input under test (a drip,
 * pieces of a response), not waits.
 *
 *   J10  a server that ends every connection right after "+ idling" (BYE, garbage, a literal
 *        over the cap): the backoff grows from one connection to the next;
 *   K01  a response dripped a byte at a time in IDLE is a dead connection after
 *        command_timeout from its first byte; one arriving in quick pieces is fine;
 *   J04  BYE in IDLE with the socket left open: the daemon closes and retries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake-imapd.h"
#include "th-daemon.h"
#include "th.h"

/* A login, EXAMINE and IDLE as a server with IDLE answers them. */
#define HOSTILE_LOGIN                                                                                   \
        FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hostile ready\r\n"),                                \
        FAKE_EXPECT("<tag> LOGIN u \"p\""),                                                             \
        FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),                                       \
        FAKE_EXPECT("<tag> EXAMINE INBOX"),                                                             \
        FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 1] n\r\n<tag> OK [READ-ONLY] ok\r\n"), \
        FAKE_EXPECT("<tag> IDLE"),                                                                      \
        FAKE_SEND("+ idling\r\n")

/* The account of every test here, on the fake's port; extra: top-level settings. */
static void hostile_config(Daemon *d, const FakeImapd *f, const char *extra) {
        write_config(d,
                     "%s\n"
                     "accounts = ( { name = \"hostile\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; } );\n",
                     extra, fake_imapd_port(f));
}

/* The delays of "retrying in <n>s" in the log, in order; returns how many (at most max). */
static unsigned retry_delays(Daemon *d, unsigned *ret, unsigned max) {
        _cleanup_free_ char *s = read_file(d->log);
        unsigned n = 0;

        for (const char *p = s; n < max && (p = strstr(p, "retrying in ")); p++)
                ret[n++] = (unsigned) strtoul(p + strlen("retrying in "), NULL, 10);
        return n;
}

/* ---- J10: a reconnect storm --------------------------------------------------------------- */

#define J10_CONNECTIONS 4

typedef struct StormCase {
        const char *what;
        const char *after_idling;       /* what the server sends at once after "+ idling" */
        const char *logged;             /* in the log of each failure */
} StormCase;

static const StormCase storm_cases[] = {
        { "BYE", "* BYE shutting down\r\n", "server said BYE (shutting down)" },
        { "garbage", "\x01\x02 garbage\r\n", "retrying in" },
        /* Over the engine's literal cap (imap-limits.h): refused before a byte of it. */
        { "over-cap literal", "* 1 FETCH (BODY[] {99999999999}\r\n", "retrying in" },
};

START_TEST(test_J10_failure_after_idle_backs_off) {
        /* Before: IDLE reached reset the backoff, so every connection was retried after
         * 0.5 to 1 s, forever.  Now a connection that fails within minutes of reaching
         * IDLE is one more failure: the delays grow (1 s, 2 s, 4 s, 8 s at most, drawn
         * from the upper half: docs/LIVENESS.md).  READY=1 still comes with the first
         * IDLE. */
        const StormCase *sc = &storm_cases[_i];
        const FakeStep script[] = {
                HOSTILE_LOGIN,
                FAKE_SEND(sc->after_idling),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        FakeImapdOptions o = { .connections = J10_CONNECTIONS };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        unsigned delay[J10_CONNECTIONS], n;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        hostile_config(&d, f, "");
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 10000), "%s: log:\n%s", sc->what, tail_of(d.log));
        /* 0.5-1 + 1-2 + 2-4 s between the four connections. */
        ck_assert_msg(wait_log(&d, "retrying in", J10_CONNECTIONS, 20000), "%s: log:\n%s", sc->what, tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s: %s\nlog:\n%s", sc->what, report ? report : "",
                      tail_of(d.log));
        ck_assert_msg(log_count(&d, sc->logged) >= J10_CONNECTIONS, "%s: log:\n%s", sc->what, tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "-> idling"), J10_CONNECTIONS);
        n = retry_delays(&d, delay, J10_CONNECTIONS);
        ck_assert_uint_eq(n, J10_CONNECTIONS);
        /* Each delay is drawn from [b/2, b] with b doubling from 1 s: they never shrink,
         * and the fourth is at least 4 s (it was 1 s every time before). */
        for (unsigned i = 1; i < n; i++)
                ck_assert_msg(delay[i] >= delay[i - 1], "%s: delay %u: %u s after %u s; log:\n%s", sc->what, i,
                              delay[i], delay[i - 1], tail_of(d.log));
        ck_assert_msg(delay[0] <= 1 && delay[n - 1] >= 4, "%s: delays %u .. %u s; log:\n%s", sc->what, delay[0],
                      delay[n - 1], tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* ---- K01: a slow drip --------------------------------------------------------------------- */

START_TEST(test_K01_drip_in_idle) {
        /* "* 1 EXISTS" a byte every 200 ms while idling, command_timeout = 1: every byte
         * proves the peer alive and IDLE has no deadline, so before this the drip held
         * the connection until idle_interval (29 min).  Now the response must be whole
         * within command_timeout of its first byte: the connection is closed (the
         * script's EOF) with a log line that says why, and retried. */
        static const FakeStep script[] = {
                HOSTILE_LOGIN,
                FAKE_SEND("*"), FAKE_SLEEP(200),
                FAKE_SEND(" "), FAKE_SLEEP(200),
                FAKE_SEND("1"), FAKE_SLEEP(200),
                FAKE_SEND(" "), FAKE_SLEEP(200),
                FAKE_SEND("E"),
                /* The drip stops short of the deadline: a byte sent after the daemon
                 * closed would fail the script, not the daemon. */
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        hostile_config(&d, f, "command_timeout = 1;");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "response not finished within 1.0 s of its first byte (command_timeout, state "
                               "idling): server dripping or stalled?", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "retrying in", 1, 5000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        /* Nothing of the dripped response was taken for one. */
        ck_assert_uint_eq(log_count(&d, "DONE ("), 0);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_K01_pieces_quickly) {
        /* Two responses in pieces 600 ms apart, command_timeout = 2: each is whole 1.2 s
         * after its first byte, the two together take 2.4 s.  The deadline is each
         * response's own: nothing is closed, the liveness probe comes as usual and the
         * connection idles again. */
        static const FakeStep script[] = {
                HOSTILE_LOGIN,
                FAKE_SEND("* OK Sti"), FAKE_SLEEP(600),
                FAKE_SEND("ll her"), FAKE_SLEEP(600),
                FAKE_SEND("e\r\n* OK a"), FAKE_SLEEP(600),
                FAKE_SEND("gain and"), FAKE_SLEEP(600),
                FAKE_SEND(" again\r\n"),
                /* liveness_interval later. */
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK idle done\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                /* daemon_stop(). */
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK idle done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        hostile_config(&d, f, "command_timeout = 2; liveness_interval = 3; done_timeout = 2;");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "DONE (liveness probe", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 2, 5000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "response not finished") == 0 && log_count(&d, "retrying in") == 0, "log:\n%s",
                      tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "retrying in"), 0);
        daemon_done(&d);
}
END_TEST

/* ---- J04: BYE with the socket left open --------------------------------------------------- */

START_TEST(test_J04_bye_in_idle_socket_open) {
        /* The server says BYE while we idle and does not close.  Before, the daemon went
         * on idling there (DONE, IDLE again); now it closes at once (the script's EOF
         * comes before anything else: no DONE) and retries with backoff. */
        static const FakeStep script[] = {
                HOSTILE_LOGIN,
                FAKE_SEND("* BYE going away\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        /* A probe within the test's wait would end IDLE on its own: not within 60 s. */
        hostile_config(&d, f, "liveness_interval = 60;");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "server said BYE (going away), retrying in", 1, 10000), "log:\n%s",
                      tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "DONE ("), 0);
        /* The server is gone: the next attempt fails and backs off as any other. */
        ck_assert_msg(wait_log(&d, "retrying in", 2, 5000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

static Suite *hostile_suite(void) {
        Suite *s = suite_create("hostile");
        TCase *tc = tcase_create("hostile");

        tcase_set_timeout(tc, 120);
        tcase_add_loop_test(tc, test_J10_failure_after_idle_backs_off, 0, (int) ELEMENTSOF(storm_cases));
        tcase_add_test(tc, test_K01_drip_in_idle);
        tcase_add_test(tc, test_K01_pieces_quickly);
        tcase_add_test(tc, test_J04_bye_in_idle_socket_open);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(hostile_suite());
}
