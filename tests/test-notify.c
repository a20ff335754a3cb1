/* SPDX-License-Identifier: MIT */
/*
 * test-notify.c: the imapidled binary with NOTIFY (RFC 5465, docs/NOTIFY.md): one connection
 * per account against a real Dovecot and scripted servers, the fallbacks to IDLE per mailbox
 * (no NOTIFY, refused, overflow, a server that notifies nothing), QRESYNC through NOTIFY, a
 * reload that adds a mailbox, a STATUS flood; and mailbox patterns (docs/EVENTS.md: Mailbox
 * patterns) with NOTIFY and against a scripted lister (with polling: tests/test-daemon.c).  Split from
 * tests/test-daemon.c (whose header says how these tests work) so that make -j2 check runs
 * both at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "macro.h"
#include "fake-imapd.h"
#include "faultproxy.h"
#include "th-daemon-dovecot.h"
#include "th.h"

/* ---- NOTIFY (RFC 5465): one connection per account (tests/test-notify) ---- */

#define NF_FOLDERS 40

START_TEST(test_notify_dovecot) {
        /* 41 mailboxes on one connection: deliveries into folders and INBOX
         * reported with their mailbox, an expunge in a folder, and the
         * catch-up of a folder across a restart. */
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        _cleanup_free_ char *acc = NULL, *all = NULL, *env = NULL;
        const char *create[NF_FOLDERS / 2 + 6] = { "mailbox", "create", "-u", "user4" };
        char names[NF_FOLDERS][8], port[8];
        unsigned n, accepted;
        Buf b = {};
        Daemon d;

        daemon_dovecot_init(&d);
        /* Twenty at a time (th_dovecot_doveadm() takes up to 28 arguments); it
         * fails harmlessly for those that exist from an earlier run. */
        for (unsigned i = 0; i < NF_FOLDERS; i++) {
                snprintf(names[i], sizeof(names[i]), "Nf%02u", i + 1);
                create[4 + i % (NF_FOLDERS / 2)] = names[i];
                if ((i + 1) % (NF_FOLDERS / 2) == 0)
                        (void) th_dovecot_doveadm(&dovecot, create);
        }
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 4, "INBOX"), 0);
        for (unsigned i = 0; i < 3; i++)
                ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 4, names[i]), 0);
        ck_assert_int_eq(buf_append(&b, "mailboxes = [\"INBOX\"", 20, 0), 0);
        for (unsigned i = 0; i < NF_FOLDERS; i++) {
                char t[16];
                int k = snprintf(t, sizeof(t), ", \"%s\"", names[i]);
                ck_assert_int_eq(buf_append(&b, t, (size_t) k, 0), 0);
        }
        ck_assert_int_eq(buf_append(&b, "];", 3, 0), 0);
        ck_assert_int_eq(th_proxy_start(dovecot.plain_port_num, &p), 0);
        snprintf(port, sizeof(port), "%u", (unsigned) th_proxy_port(p));
        acc = account_block_full(&d, "nfy", 4, b.data, port, true, false);
        buf_done(&b);
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=41/41 mailboxes idling, 41 with NOTIFY", 10000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "new-nfy"), 0);

        /* Two folders and INBOX. */
        deliver_to(4, names[0], "to Nf01");
        deliver_to(4, names[1], "to Nf02");
        deliver_to(4, "INBOX", "to INBOX");
        ck_assert_msg(daemon_wait_hook(&d, "new-nfy-", 3, 15000, NULL), "log:\n%s", tail_of(d.log));
        all = daemon_hook_outputs(&d, "new-nfy-", &n);
        ck_assert_msg(n == 3, "%u runs:\n%s", n, all);
        ck_assert_msg(strstr(all, "IMAPIDLED_MAILBOX=Nf01\n") && strstr(all, "IMAPIDLED_MAILBOX=Nf02\n") &&
                      strstr(all, "IMAPIDLED_MAILBOX=INBOX\n"), "%s", all);
        ck_assert_msg(!strstr(all, "IMAPIDLED_COUNT=0\n") && !strstr(all, "IMAPIDLED_COUNT=2\n") &&
                      !strstr(all, "IMAPIDLED_REASON=catchup\n"), "%s", all);

        /* An expunge in a folder that is not selected. */
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 4, names[1]), 0);
        ck_assert_msg(daemon_wait_hook(&d, "expunge-nfy-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_MAILBOX=Nf02\n") && strstr(env, "IMAPIDLED_COUNT=1\n"), "%s", env);
        daemon_stop(&d);

        /* Catch-up of a folder across a restart. */
        deliver_to(4, names[2], "while away");
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "new-nfy-", 4, 15000, NULL), "log:\n%s", tail_of(d.log));
        free(all);
        all = daemon_hook_outputs(&d, "new-nfy-", &n);
        ck_assert_msg(n == 4 && strstr(all, "IMAPIDLED_MAILBOX=Nf03\n") && strstr(all, "IMAPIDLED_REASON=catchup\n"),
                      "%u runs:\n%s", n, all);
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=41/41 mailboxes idling", 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        /* One connection per run of the daemon, whatever the number of mailboxes. */
        ck_assert_int_eq(th_proxy_count(p, &accepted), 0);
        ck_assert_uint_eq(accepted, 2);
        daemon_done(&d);
}
END_TEST

/* A scripted server for the fallback cases: after the login, 'then'. */
static void notify_fallback_conf(const FakeStep *script, const char *top, const char *want_log) {
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        Daemon d;

        daemon_dovecot_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n%s\n"
                     "accounts = ( { name = \"fb\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  mailboxes = [\"INBOX\", \"Other\"];\n"
                     "  on_new = %s; } );\n",
                     top, fake_imapd_port(f), daemon_hook_cmd(&d, "new"));
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, want_log, 1, 10000), "log:\n%s", tail_of(d.log));
        /* The account goes on with IDLE per mailbox: the script's end is the first of them. */
        ck_assert_msg(wait_notify(&d, &d.notes, "account without NOTIFY", 10000), "%s\nlog:\n%s", d.notes.data,
                      tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
}

static void notify_fallback(const FakeStep *script, const char *want_log) {
        notify_fallback_conf(script, "", want_log);
}

#define NF_LOGIN(caps)                                                          \
        FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE" caps "] fake ready\r\n"),   \
        FAKE_EXPECT("<tag> LOGIN u \"p\""),                                     \
        FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE" caps "] in\r\n")
#define NF_SET "<tag> NOTIFY SET STATUS (mailboxes INBOX (MessageNew MessageExpunge)) " \
        "(mailboxes Other (MessageNew MessageExpunge))"

START_TEST(test_notify_absent) {
        /* No NOTIFY: the connection goes, IDLE per mailbox comes (its first
         * connection is the script's next one: the fake serves one). */
        static const FakeStep script[] = {
                NF_LOGIN(""),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        notify_fallback(script, "server has no NOTIFY: falling back to IDLE per mailbox");
}
END_TEST

START_TEST(test_notify_refused) {
        static const FakeStep script[] = {
                NF_LOGIN(" NOTIFY"),
                FAKE_EXPECT(NF_SET),
                FAKE_SEND("<tag> NO [BADEVENT (MessageNew MessageExpunge FlagChange)] no\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        notify_fallback(script, "NOTIFY refused: falling back to IDLE per mailbox");
}
END_TEST

START_TEST(test_notify_overflow) {
        /* NOTIFY set, a STATUS for a mailbox nobody asked for (ignored), then
         * the server gives up notifying: fall back. */
        static const FakeStep script[] = {
                NF_LOGIN(" NOTIFY"),
                FAKE_EXPECT(NF_SET),
                FAKE_SEND("* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 7)\r\n"
                          "* STATUS Other (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 7)\r\n"
                          "<tag> OK set\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"
                          "* STATUS Unasked (MESSAGES 5 UIDNEXT 9 UIDVALIDITY 7)\r\n"
                          "* OK [NOTIFICATIONOVERFLOW] too much\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        notify_fallback(script, "NOTIFICATIONOVERFLOW: falling back to IDLE per mailbox");
}
END_TEST

START_TEST(test_notify_dovecot_verified) {
        /* The STATUS round of every idle_interval against Dovecot, which does
         * notify: rounds go on, and the account keeps its NOTIFY connection. */
        const char *create[] = { "mailbox", "create", "-u", "user1", "Vf1", NULL };
        _cleanup_free_ char *acc = NULL, *env = NULL;
        unsigned rounds;
        Daemon d;

        daemon_dovecot_init(&d);
        (void) th_dovecot_doveadm(&dovecot, create);    /* fails harmlessly when it exists */
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, "Vf1"), 0);
        acc = account_block(&d, "vf", 1, "mailboxes = [\"INBOX\", \"Vf1\"];");
        write_config(&d, "debounce = 0; idle_interval = 2;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=2/2 mailboxes idling, 2 with NOTIFY", 15000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        deliver_to(1, "Vf1", "verified");
        ck_assert_msg(daemon_wait_hook(&d, "new-vf-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_MAILBOX=Vf1\n"), "%s", env);
        /* Three rounds after the delivery: enough for the rule (two) to have fallen back. */
        rounds = log_count(&d, "-> polling");
        ck_assert_msg(wait_log(&d, "-> polling", rounds + 3, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "falling back"), 0);
        ck_assert_uint_eq(log_count(&d, "-> unsuited"), 0);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_notify_silent) {
        /* A server that accepts NOTIFY SET and then never says anything: the
         * STATUS round at idle_interval finds a change no STATUS was pushed
         * for; the change is reported, and the account falls back. */
#define ITEMS " (MESSAGES UIDNEXT UIDVALIDITY)"
        static const FakeStep script[] = {
                NF_LOGIN(" NOTIFY"),
                FAKE_EXPECT(NF_SET),
                FAKE_SEND("* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 7)\r\n"
                          "* STATUS Other (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 7)\r\n"
                          "<tag> OK set\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> STATUS INBOX" ITEMS),
                FAKE_SEND("* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 7)\r\n<tag> OK s\r\n"),
                FAKE_EXPECT("<tag> STATUS Other" ITEMS),
                FAKE_SEND("* STATUS Other (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 7)\r\n<tag> OK s\r\n"),
                /* One round is not enough (a push may be on its way): a second one. */
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> STATUS INBOX" ITEMS),
                FAKE_SEND("* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 7)\r\n<tag> OK s\r\n"),
                FAKE_EXPECT("<tag> STATUS Other" ITEMS),
                FAKE_SEND("* STATUS Other (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 7)\r\n<tag> OK s\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
#undef ITEMS
        notify_fallback_conf(script, "idle_interval = 1;",
                             "NOTIFY reported nothing of changes STATUS rounds found: falling back to IDLE per mailbox");
}
END_TEST

START_TEST(test_notify_qresync_transcript) {
        /* NOTIFY with QRESYNC: the catch-up STATUS shows two of the five known
         * messages of INBOX gone; before reporting, EXAMINE with QRESYNC asks
         * which (RFC 7162 §3.2.5), then CLOSE and IDLE.  Other, unchanged, costs
         * nothing. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE NOTIFY ENABLE CONDSTORE QRESYNC] fake ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE NOTIFY ENABLE CONDSTORE QRESYNC] in\r\n"),
                FAKE_EXPECT("<tag> ENABLE QRESYNC"),
                FAKE_SEND("* ENABLED QRESYNC\r\n<tag> OK enabled\r\n"),
                FAKE_EXPECT(NF_SET),
                FAKE_SEND("* STATUS INBOX (MESSAGES 3 UIDNEXT 9 UIDVALIDITY 7 HIGHESTMODSEQ 20)\r\n"
                          "* STATUS Other (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 8 HIGHESTMODSEQ 1)\r\n"
                          "<tag> OK set\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX (QRESYNC (7 12 1:8))"),
                FAKE_SEND("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 9] n\r\n* OK [HIGHESTMODSEQ 20] m\r\n"
                          "* VANISHED (EARLIER) 3,5\r\n<tag> OK [READ-ONLY] examined\r\n"),
                FAKE_EXPECT("<tag> CLOSE"),
                FAKE_SEND("<tag> OK closed\r\n"),
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
        _cleanup_free_ char *report = NULL, *env = NULL;
        unsigned runs;
        Daemon d;

        daemon_dovecot_init(&d);
        daemon_write_state(&d, "fb", "imapidled-state 1\nINBOX 7 9 5 12 0\nOther 8 1 0 1 0\n");
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"fb\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  mailboxes = [\"INBOX\", \"Other\"];\n"
                     "  on_expunge = %s; } );\n",
                     fake_imapd_port(f), daemon_hook_cmd(&d, "expunge"));
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "expunge-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_MAILBOX=INBOX\n") && strstr(env, "IMAPIDLED_REASON=catchup\n") &&
                      strstr(env, "IMAPIDLED_COUNT=2\n") && strstr(env, "IMAPIDLED_UIDS=3,5\n"), "%s", env);
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=2/2 mailboxes idling, 2 with NOTIFY", 10000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        free(daemon_hook_outputs(&d, "expunge-", &runs));
        ck_assert_uint_eq(runs, 1);
        daemon_done(&d);
}
END_TEST

START_TEST(test_notify_qresync_dovecot) {
        /* NOTIFY against Dovecot, which offers QRESYNC: two of four messages of a
         * folder expunged while the daemon was stopped are reported with their UIDs. */
        const char *create[] = { "mailbox", "create", "-u", "user1", "Qn1", NULL };
        _cleanup_free_ char *acc = NULL, *env = NULL, *st = NULL;
        char path[160], uids[64], want[96];
        unsigned long uv = 0, next = 0;
        const char *p;
        Daemon d;

        daemon_dovecot_init(&d);
        (void) th_dovecot_doveadm(&dovecot, create);    /* fails harmlessly when it exists */
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, "Qn1"), 0);
        for (unsigned i = 0; i < 4; i++)
                deliver_to(1, "Qn1", "qn");
        acc = account_block(&d, "qn", 1, "mailboxes = [\"INBOX\", \"Qn1\"];");
        /* Dovecot's STATUS of NOTIFY SET has no HIGHESTMODSEQ (its pushes do): the
         * STATUS round of every idle_interval brings it (docs/EVENTS.md). */
        write_config(&d, "debounce = 0; idle_interval = 2;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=2/2 mailboxes idling, 2 with NOTIFY", 15000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        ck_assert_msg(wait_log(&d, "polling -> idle-starting", 1, 15000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        snprintf(path, sizeof(path), "%s", daemon_state_path(&d, "qn"));
        st = read_file(path);
        p = st ? strstr(st, "\nQn1 ") : NULL;
        ck_assert_msg(p && sscanf(p + 5, "%lu %lu", &uv, &next) == 2 && next >= 5, "%s", st ? st : "(none)");
        snprintf(uids, sizeof(uids), "%lu,%lu", next - 4, next - 2);
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, (const char *const[]) { "expunge", "-u",
                                                th_dovecot_user(&dovecot, 1), "mailbox", "Qn1", "uid", uids,
                                                NULL }),
                         0);
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "expunge-qn-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        snprintf(want, sizeof(want), "IMAPIDLED_UIDS=%s\n", uids);
        ck_assert_msg(strstr(env, "IMAPIDLED_MAILBOX=Qn1\n") && strstr(env, "IMAPIDLED_REASON=catchup\n") &&
                      strstr(env, "IMAPIDLED_COUNT=2\n") && strstr(env, want), "want %s in\n%s", want, env);
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=2/2 mailboxes idling, 2 with NOTIFY", 15000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_notify_reload_adds_mailbox) {
        /* SIGHUP with one more mailbox: the account's NOTIFY connection is
         * replaced by one that watches it too, and mail there is reported. */
        const char *create[] = { "mailbox", "create", "-u", "user2", "Rl1", "Rl2", NULL };
        _cleanup_free_ char *a = NULL, *b = NULL, *env = NULL;
        Daemon d;

        daemon_dovecot_init(&d);
        (void) th_dovecot_doveadm(&dovecot, create);    /* fails harmlessly when they exist */
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 2, "Rl1"), 0);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 2, "Rl2"), 0);
        a = account_block(&d, "rl", 2, "mailboxes = [\"INBOX\", \"Rl1\"];");
        b = account_block(&d, "rl", 2, "mailboxes = [\"INBOX\", \"Rl1\", \"Rl2\"];");
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", a);
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=2/2 mailboxes idling, 2 with NOTIFY", 15000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", b);
        ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=3/3 mailboxes idling, 3 with NOTIFY", 15000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        deliver_to(2, "Rl2", "after the reload");
        ck_assert_msg(daemon_wait_hook(&d, "new-rl-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_MAILBOX=Rl2\n") && strstr(env, "IMAPIDLED_COUNT=1\n") &&
                      strstr(env, "IMAPIDLED_REASON=live\n"), "%s", env);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_notify_status_flood) {
        /* A hostile server floods STATUS responses in IDLE: for a mailbox
         * nobody asked for, and for one of ours with nothing changed.  Nothing
         * is reported, nothing is logged per response, and the connection
         * stays (the read budget keeps the loop turning: the DONE of the stop
         * is answered). */
        static char flood[64 * 1024];
        static FakeStep script[] = {
                NF_LOGIN(" NOTIFY"),
                FAKE_EXPECT(NF_SET),
                FAKE_SEND("* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 7)\r\n"
                          "* STATUS Other (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 7)\r\n"
                          "<tag> OK set\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_SEND(flood),
                FAKE_SEND(flood),
                FAKE_SEND(flood),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        unsigned runs;
        size_t n = 0;
        Daemon d;

        while (n + 120 < sizeof(flood)) {
                n += (size_t) snprintf(flood + n, sizeof(flood) - n,
                                       "* STATUS Unasked%zu (MESSAGES 5 UIDNEXT 9 UIDVALIDITY 7)\r\n"
                                       "* STATUS Other (MESSAGES 0 UIDNEXT 1)\r\n", n);
        }
        daemon_dovecot_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"fl\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  mailboxes = [\"INBOX\", \"Other\"];\n"
                     "  on_new = %s;\n"
                     "  on_expunge = %s; } );\n",
                     fake_imapd_port(f), daemon_hook_cmd(&d, "new"), daemon_hook_cmd(&d, "expunge"));
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=2/2 mailboxes idling, 2 with NOTIFY", 10000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        /* The stop's DONE is answered only after the whole flood (the script sends it
         * first): the daemon read through all of it. */
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "Unasked"), 0);
        ck_assert_uint_eq(log_count(&d, "STATUS"), 0);
        free(daemon_hook_outputs(&d, "new-", &runs));
        ck_assert_uint_eq(runs, 0);
        free(daemon_hook_outputs(&d, "expunge-", &runs));
        ck_assert_uint_eq(runs, 0);
        daemon_done(&d);
}
END_TEST

/* ---- mailbox patterns (docs/EVENTS.md: Mailbox patterns) ---- */

START_TEST(test_patterns_notify_dovecot) {
        /* Every mailbox of the account (user3 has INBOX and the Pt folders only). */
        patterns_dovecot("[\"*\"]", "", true);
}
END_TEST

START_TEST(test_patterns_list_script) {
        /* The lister against a scripted server: what is not selectable or does
         * not match is skipped; the same mailboxes as the state file named need
         * no new connection; a MailboxName push (a LIST in IDLE) ends IDLE and
         * lists again; a listing of more than 1000 is cut there, once logged. */
#define PT_BOXES "(mailboxes INBOX (MessageNew MessageExpunge MailboxName)) " \
        "(mailboxes PtC (MessageNew MessageExpunge MailboxName)) (personal (MailboxName))"
        static char flood[1500 * 40];
        static FakeStep script[] = {
                NF_LOGIN(" NOTIFY"),
                FAKE_EXPECT("<tag> LIST \"\" Pt*"),
                FAKE_SEND("* LIST (\\Noselect) \"/\" PtA\r\n"
                          "* LIST (\\NonExistent) \"/\" PtB\r\n"
                          "* LIST (\\HasNoChildren) \"/\" PtC\r\n"
                          "* LIST () \"/\" Other\r\n"
                          "* LIST () \"/\" \"Pt&Jjo\"\r\n"    /* not canonical mUTF-7 */
                          "<tag> OK listed\r\n"),
                FAKE_EXPECT("<tag> NOTIFY SET STATUS " PT_BOXES),
                FAKE_SEND("* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 7)\r\n"
                          "* STATUS PtC (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 7)\r\n"
                          "<tag> OK set\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n* LIST () \"/\" PtD\r\n* LIST () \"/\" PtE\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> LIST \"\" Pt*"),
                FAKE_SEND(flood),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        size_t n = 0;
        Daemon d;

        for (unsigned i = 0; i < 1500; i++)
                n += (size_t) snprintf(flood + n, sizeof(flood) - n, "* LIST () \"/\" Pt%04u\r\n", i);
        snprintf(flood + n, sizeof(flood) - n, "<tag> OK listed\r\n");
        daemon_dovecot_init(&d);
        daemon_write_state(&d, "pl", "imapidled-state 1\nINBOX 7 1 0 0 0\nPtC 7 1 0 0 0\n");
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"pl\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  mailboxes = [\"INBOX\", \"Pt*\"];\n"
                     "  on_new = %s; } );\n",
                     fake_imapd_port(f), daemon_hook_cmd(&d, "new"));
        daemon_start(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "the mailbox patterns match 1000 mailboxes (1000 new, 1 gone)", 1, 10000),
                      "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "listed more than 1000 mailboxes"), 1);
        ck_assert_uint_eq(log_count(&d, "the mailbox patterns match"), 1);
        ck_assert_uint_eq(log_count(&d, "PtA"), 0);
        daemon_stop(&d);
        daemon_done(&d);
#undef PT_BOXES
}
END_TEST

static Suite *notify_suite(void) {
        Suite *s = suite_create("notify");
        TCase *tc = tcase_create("notify");

        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, daemon_dovecot_setup, daemon_dovecot_teardown);
        tcase_add_test(tc, test_notify_dovecot);
        tcase_add_test(tc, test_notify_absent);
        tcase_add_test(tc, test_notify_refused);
        tcase_add_test(tc, test_notify_overflow);
        tcase_add_test(tc, test_notify_reload_adds_mailbox);
        tcase_add_test(tc, test_notify_silent);
        tcase_add_test(tc, test_notify_dovecot_verified);
        tcase_add_test(tc, test_notify_status_flood);
        tcase_add_test(tc, test_notify_qresync_transcript);
        tcase_add_test(tc, test_notify_qresync_dovecot);
        tcase_add_test(tc, test_patterns_notify_dovecot);
        tcase_add_test(tc, test_patterns_list_script);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(notify_suite());
}
