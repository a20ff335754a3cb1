/* SPDX-License-Identifier: MIT */
/*
 * test-daemon.c: the imapidled binary against a real Dovecot (tests/th-daemon-dovecot.h) and
 * scripted servers (tests/fake-imapd.h): hooks fire on delivery and expunge with the right
 * environment, hooks that share a lock never overlap across accounts, IDLE is re-issued at
 * idle_interval, a restarted server is reconnected to and
 * what came meanwhile caught up, SIGHUP reloads without touching unchanged accounts, SIGTERM
 * stops within 5 s, and systemd hears READY=1, STATUS=, RELOADING=1, STOPPING=1 on
 * NOTIFY_SOCKET.  The other parts of the daemon's tests are their own programs, so that
 * make -j2 check runs them side by side: tests/test-liveness.c (dead connections and
 * deadlines), tests/test-notify.c (NOTIFY and mailbox patterns; those with polling are here),
 * tests/test-security.c (the catalogue's cases, docs/SECURITY.md).
 *
 * Hooks in these configs write their environment into files under the test's directory; the
 * daemon's log (stderr, -v) goes to a file the test reads (tests/th-daemon.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "macro.h"
#include "fake-imapd.h"
#include "faultproxy.h"
#include "th-daemon-dovecot.h"
#include "th.h"

/* ---- tests ---------------------------------------------------------------------------------------- */

/* The marker that a test's earlier events are done with: a message delivered to user's INBOX
 * now, reported by a run of prefix* of its own.  The n_before runs there were already, whose
 * counts add up to sum_before, are joined by exactly one, live, counting 1.  The daemon takes
 * each event as it reads it and runs one at a time (single flight, docs/EVENTS.md): a run or a
 * count left over from before the marker would show here, as one more run before it or folded
 * into it.  This is what a test waits for instead of sleeping before it asserts that something
 * did not happen. */
static void marker_delivery(Daemon *d, unsigned user, const char *prefix, unsigned n_before, uint64_t sum_before) {
        _cleanup_free_ char *all = NULL;
        unsigned n;

        deliver(user, "marker");
        ck_assert_msg(daemon_wait_hook(d, prefix, n_before + 1, 15000, NULL), "no run for the marker; log:\n%s",
                      tail_of(d->log));
        all = daemon_hook_outputs(d, prefix, &n);
        ck_assert_msg(n == n_before + 1 && th_sum_of(all, "IMAPIDLED_COUNT=") == sum_before + 1 &&
                      th_count_of(all, "IMAPIDLED_REASON=live\n") >= 1, "%u runs, want %u + the marker's:\n%s", n,
                      n_before, all);
}

START_TEST(test_new_and_expunge_hooks) {
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL;
        uint64_t t0;

        daemon_dovecot_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, "INBOX"), 0);
        acc = account_block(&d, "work", 1, NULL);
        /* debounce = 0: this measures the path from delivery to hook. */
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 15000), "no READY=1; log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(d.notes.data, "STATUS=1/1 mailboxes idling"), "%s", d.notes.data);

        t0 = mono_ms();
        deliver(1, "one");
        ck_assert_msg(daemon_wait_hook(&d, "new-work-", 1, 10000, &env), "no on_new; log:\n%s", tail_of(d.log));
        /* Dovecot notices in ~0.5 s (inotify); the daemon adds one loop turn.
         * Printed for the record; the bound is generous on purpose. */
        printf("delivery -> on_new hook output: %llu ms\n", (unsigned long long) (mono_ms() - t0));
        ck_assert_uint_lt(mono_ms() - t0, 2000);
        ck_assert_msg(strstr(env, "IMAPIDLED_ACCOUNT=work\n"), "%s", env);
        ck_assert(strstr(env, "IMAPIDLED_MAILBOX=INBOX\n"));
        ck_assert(strstr(env, "IMAPIDLED_EVENT=new\n"));
        ck_assert(strstr(env, "IMAPIDLED_COUNT=1\n"));
        ck_assert(strstr(env, "IMAPIDLED_EXISTS=1\n"));
        ck_assert(strstr(env, "IMAPIDLED_UIDVALIDITY="));
        ck_assert(strstr(env, "IMAPIDLED_UIDNEXT="));
        /* No secret and no systemd plumbing in a hook's environment. */
        ck_assert(!strstr(env, "NOTIFY_SOCKET="));
        ck_assert(!strstr(env, th_dovecot_pass(&dovecot, 1)));
        free(env);
        env = NULL;

        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, "INBOX"), 0);
        ck_assert_msg(daemon_wait_hook(&d, "expunge-work-", 1, 10000, &env), "no on_expunge; log:\n%s", tail_of(d.log));
        ck_assert(strstr(env, "IMAPIDLED_EVENT=expunge\n"));
        ck_assert(strstr(env, "IMAPIDLED_COUNT=1\n"));
        ck_assert(strstr(env, "IMAPIDLED_EXISTS=0\n"));

        daemon_stop(&d);
        read_notify(&d, &d.notes);
        ck_assert_msg(strstr(d.notes.data, "STOPPING=1"), "%s", d.notes.data);
        /* The password never reaches the log. */
        ck_assert_uint_eq(log_count(&d, th_dovecot_pass(&dovecot, 1)), 0);
        daemon_done(&d);
}
END_TEST

START_TEST(test_idle_interval_cycles) {
        Daemon d;
        _cleanup_free_ char *acc = NULL;

        daemon_dovecot_init(&d);
        acc = account_block(&d, "cyc", 2, NULL);
        write_config(&d, "idle_interval = 1;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));
        /* DONE and IDLE again, several times (RFC 2177 re-issue). */
        ck_assert_msg(wait_log(&d, "idling -> idle-ending", 3, 10000), "log:\n%s", tail_of(d.log));
        deliver(2, "during cycles");
        ck_assert_msg(daemon_wait_hook(&d, "new-cyc-", 1, 10000, NULL), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_reconnect_after_server_restart) {
        /* The server goes away; mail arrives while it is down; it comes back
         * on the same port.  The daemon reconnects and reports that mail
         * (UIDNEXT grew, watch.h), then goes on reporting live deliveries. */
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL;
        char ports[64];

        daemon_dovecot_init(&d);
        acc = account_block(&d, "rs", 3, NULL);
        write_config(&d, "accounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));
        ck_assert(wait_log(&d, "-> idling", 1, 10000));
        snprintf(ports, sizeof(ports), "%s", dovecot.plain_port);
        ck_assert_int_eq(th_dovecot_pause(&dovecot), 0);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 10000), "log:\n%s", tail_of(d.log));
        /* doveadm needs the auth server; an MTA writing into the maildir does not. */
        maildir_drop(3, "while down 1");
        maildir_drop(3, "while down 2");
        ck_assert_int_eq(th_dovecot_restart(&dovecot), 0);
        ck_assert_str_eq(dovecot.plain_port, ports);
        ck_assert_msg(wait_log(&d, "-> idling", 2, 30000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(daemon_wait_hook(&d, "new-rs-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=2\n"), "%s", env);
        daemon_stop(&d);
        ck_assert_uint_eq(log_count(&d, "pass3"), 0);
        daemon_done(&d);
}
END_TEST

START_TEST(test_reload_keeps_unchanged) {
        Daemon d;
        _cleanup_free_ char *a = NULL, *b = NULL, *b2 = NULL;

        daemon_dovecot_init(&d);
        a = account_block(&d, "keep", 1, NULL);
        b = account_block(&d, "change", 2, NULL);
        b2 = account_block(&d, "change", 2, "hook_timeout = 30;");
        write_config(&d, "accounts = ( %s, %s );\n", a, b);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));
        ck_assert_msg(wait_log(&d, "-> idling", 2, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "keep/INBOX: connected"), 1);
        ck_assert_uint_eq(log_count(&d, "change/INBOX: connected"), 1);

        /* A broken file first: the running config stays. */
        write_config(&d, "accounts = ( %s, \n", a);
        ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
        ck_assert_msg(wait_log(&d, "Reload failed, keeping the running configuration", 1, 5000), "log:\n%s",
                      tail_of(d.log));
        ck_assert_msg(wait_log(&d, "/imapidled.conf:", 1, 100) && wait_log(&d, ": syntax error", 1, 100),
                      "the error names file:line; log:\n%s", tail_of(d.log));

        write_config(&d, "accounts = ( %s, %s );\n", a, b2);
        ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
        ck_assert_msg(wait_log(&d, "Reloaded: 1 account kept, 1 started, 1 stopped", 1, 5000), "log:\n%s",
                      tail_of(d.log));
        ck_assert_msg(wait_log(&d, "change/INBOX: connected", 2, 10000), "log:\n%s", tail_of(d.log));
        /* The unchanged account kept its connection. */
        ck_assert_uint_eq(log_count(&d, "keep/INBOX: connected"), 1);
        ck_assert(wait_notify(&d, &d.notes, "RELOADING=1", 2000));
        deliver(1, "after reload");
        ck_assert_msg(daemon_wait_hook(&d, "new-keep-", 1, 10000, NULL), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* How many STATUS= lines the notifications hold from 'from' on, "STATUS=Reloading" aside;
 * *ret_with: how many of them begin with prefix. */
static unsigned status_lines(const char *from, const char *prefix, unsigned *ret_with) {
        unsigned n = 0, with = 0;

        for (const char *p = from; p && (p = strstr(p, "STATUS=")); p++) {
                if (p != from && p[-1] != '\n')
                        continue;
                if (strncmp(p, "STATUS=Reloading\n", 17) == 0)
                        continue;
                n++;
                with += strncmp(p + 7, prefix, strlen(prefix)) == 0;
        }
        *ret_with = with;
        return n;
}

/* Issue 13: a broken file on SIGHUP leaves the old configuration running (READY=1 answers
 * RELOADING=1) and STATUS= says "reload failed: FILE:LINE: KEY: ..." on every update after it,
 * here the ones a reconnect brings, until a good reload clears it. */
START_TEST(test_reload_failed_status) {
        Daemon d;
        _cleanup_free_ char *a = NULL, *failed = NULL;
        const char *after;
        unsigned n, with, ready, n_failed;

        daemon_dovecot_init(&d);
        a = account_block(&d, "rfs", 1, NULL);
        write_config(&d, "accounts = ( %s );\n", a);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));
        ck_assert_msg(wait_log(&d, "-> idling", 1, 10000), "log:\n%s", tail_of(d.log));

        /* Valid syntax, a value out of range on line 2. */
        write_config(&d, "# broken below\nhook_timeout = 99999;\naccounts = ( %s );\n", a);
        ck_assert_int_ge(asprintf(&failed, "READY=1\nSTATUS=reload failed: %s:2: hook_timeout: ", d.conf), 0);
        ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
        ck_assert_msg(wait_notify(&d, &d.notes, failed, 5000), "%s\nlog:\n%s", d.notes.data, tail_of(d.log));
        ck_assert(wait_log(&d, "Reload failed, keeping the running configuration", 1, 1000));
        after = strstr(d.notes.data, failed);
        ck_assert_msg(strstr(after, "; 1/1 mailboxes idling\n"), "%s", after);

        /* Other status changes: the connection goes and comes back (SIGUSR2, as after a suspend). */
        ck_assert_int_eq(kill(d.pid, SIGUSR2), 0);
        ck_assert_msg(wait_log(&d, "-> idling", 2, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(daemon_wait_notify_count(&d, "; 1/1 mailboxes idling\n", 2, 5000), "%s", d.notes.data);
        after = strstr(d.notes.data, failed) + strlen("READY=1\n");
        n = status_lines(after, "reload failed: ", &with);
        ck_assert_msg(n >= 3 && with == n, "%u of %u STATUS= after the failed reload say so:\n%s", with, n, after);
        ck_assert_msg(strstr(after, "; 0/1 mailboxes idling"), "%s", after);

        /* A good reload clears it: the account is unchanged and stays connected. */
        read_notify(&d, &d.notes);
        ready = th_count_of(d.notes.data, "READY=1\nSTATUS=1/1 mailboxes idling\n");
        n_failed = th_count_of(d.notes.data, "STATUS=reload failed");
        write_config(&d, "accounts = ( %s );\n", a);
        ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
        ck_assert_msg(wait_log(&d, "Reloaded: 1 account kept, 0 started, 0 stopped", 1, 5000), "log:\n%s",
                      tail_of(d.log));
        ck_assert_msg(daemon_wait_notify_count(&d, "READY=1\nSTATUS=1/1 mailboxes idling\n", ready + 1, 5000), "%s",
                      d.notes.data);
        ck_assert_msg(th_count_of(d.notes.data, "STATUS=reload failed") == n_failed, "%s", d.notes.data);
        ck_assert_uint_eq(log_count(&d, "rfs/INBOX: connected"), 2);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* Issue 13: reload compares each account's effective settings.  A top-level default restarts
 * the account that inherits it and not the one that sets its own; a top-level key that no
 * account holds (max_concurrent_hooks) restarts none.  The kept account does not log in again
 * and still reports mail. */
START_TEST(test_reload_top_level_default) {
        Daemon d;
        _cleanup_free_ char *inh = NULL, *own = NULL;

        daemon_dovecot_init(&d);
        inh = account_block(&d, "inh", 1, NULL);
        own = account_block(&d, "own", 2, "hook_timeout = 30;");
        write_config(&d, "hook_timeout = 60;\naccounts = ( %s, %s );\n", inh, own);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));
        ck_assert_msg(wait_log(&d, "-> idling", 2, 10000), "log:\n%s", tail_of(d.log));

        write_config(&d, "hook_timeout = 45;\naccounts = ( %s, %s );\n", inh, own);
        ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
        ck_assert_msg(wait_log(&d, "Reloaded: 1 account kept, 1 started, 1 stopped", 1, 5000), "log:\n%s",
                      tail_of(d.log));
        ck_assert_msg(daemon_wait_log_after(&d, "inh/INBOX: connected", 2, "inh/INBOX: idle-starting -> idling", 10000),
                      "log:\n%s", tail_of(d.log));

        write_config(&d, "hook_timeout = 45;\nmax_concurrent_hooks = 2;\naccounts = ( %s, %s );\n", inh, own);
        ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
        ck_assert_msg(wait_log(&d, "Reloaded: 2 accounts kept, 0 started, 0 stopped", 1, 5000), "log:\n%s",
                      tail_of(d.log));

        /* The marker: mail for each account is reported after both reloads. */
        deliver(2, "own after reload");
        ck_assert_msg(daemon_wait_hook(&d, "new-own-", 1, 10000, NULL), "log:\n%s", tail_of(d.log));
        deliver(1, "inh after reload");
        ck_assert_msg(daemon_wait_hook(&d, "new-inh-", 1, 10000, NULL), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "own/INBOX: connected"), 1);
        ck_assert_uint_eq(log_count(&d, "inh/INBOX: connected"), 2);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_bad_login_retries) {
        Daemon d;

        daemon_dovecot_init(&d);
        write_config(&d,
                     "accounts = ( { name = \"bad\"; host = \"127.0.0.1\"; port = %s; tls = \"starttls\";\n"
                     "  ca_file = \"%s\"; username = \"user1\"; password = \"wrong-secret\"; } );\n",
                     dovecot.plain_port, dovecot.ca_file);
        daemon_start(&d);
        /* READY=1 even though the only mailbox failed its first attempt. */
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "login refused", 1, 5000), "log:\n%s", tail_of(d.log));
        ck_assert(wait_notify(&d, &d.notes, "retry in", 2000));
        ck_assert_uint_eq(log_count(&d, "wrong-secret"), 0);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_failing_and_hanging_hooks) {
        /* A hook that fails is logged and the daemon goes on; one that hangs
         * is killed at hook_timeout; the next event still runs its hook. */
        Daemon d;

        daemon_dovecot_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 4, "INBOX"), 0);
        write_config(&d,
                     "hook_timeout = 1;\n"
                     "accounts = ( { name = \"hk\"; host = \"127.0.0.1\"; port = %s; tls = \"starttls\";\n"
                     "  ca_file = \"%s\"; username = \"user4\"; password = \"pass4\";\n"
                     "  on_new = [\"/bin/sh\", \"-c\", \"echo failing; exit 3\"];\n"
                     "  on_expunge = [\"/bin/sleep\", \"60\"]; } );\n",
                     dovecot.plain_port, dovecot.ca_file);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));
        deliver(4, "fails");
        ck_assert_msg(wait_log(&d, "exited with status 3", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 4, "INBOX"), 0);
        ck_assert_msg(wait_log(&d, "timed out", 1, 10000), "log:\n%s", tail_of(d.log));
        deliver(4, "again");
        ck_assert_msg(wait_log(&d, "exited with status 3", 2, 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_list_mailboxes) {
        /* imapidled --list-mailboxes: what an account can watch, names decoded from mUTF-7. */
        Daemon d;
        _cleanup_free_ char *acc = NULL, *out = NULL;
        const char *mkbox[] = { "mailbox", "create", "-u", "user2", "Lists/\xc3\xa9t\xc3\xa9", NULL };
        char outpath[128];
        int status;

        daemon_dovecot_init(&d);
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, mkbox), 0);
        acc = account_block(&d, "lm", 2, "mailboxes = [\"INBOX\", \"Lists/*\", \"Missing\"];");
        write_config(&d, "accounts = ( %s );\n", acc);
        snprintf(outpath, sizeof(outpath), "%s/list.out", d.dir);
        status = daemon_run_tool(&d, (const char *const[]) { "--list-mailboxes", "lm", NULL }, outpath);
        out = read_file(outpath);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d; log:\n%s", status, tail_of(d.log));
        ck_assert_msg(strstr(out, "INBOX"), "%s", out);
        ck_assert_msg(strstr(out, "Lists/\xc3\xa9t\xc3\xa9"), "%s", out);
        /* What the daemon would watch, and why; a name the server does not have. */
        ck_assert_msg(strstr(out, "\\HasNoChildren  (watched: \"Lists/*\")\n"), "%s", out);
        ck_assert_msg(strstr(out, "  (watched)\n"), "%s", out);
        ck_assert_msg(strstr(out, "\nMissing  (configured, but the server did not list it)\n"), "%s", out);
        ck_assert_uint_eq(log_count(&d, "pass2"), 0);
        daemon_done(&d);
}
END_TEST

START_TEST(test_catchup_across_restarts) {
        /* Issue 5: stop the daemon, deliver 3, start it: one catch-up event
         * with count 3; start again with nothing delivered: no event; expunge
         * all while stopped: one catch-up expunge event; a corrupt state file:
         * a warning and a fresh start.  Each "no more" is anchored by a marker
         * delivery (marker_delivery()), so the mailbox grows by one each time. */
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL;
        char path[160];
        unsigned idled;
        FILE *f;

        daemon_dovecot_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, "INBOX"), 0);
        acc = account_block(&d, "cu", 1, NULL);
        write_config(&d, "accounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));
        ck_assert(wait_log(&d, "-> idling", 1, 10000));
        daemon_stop(&d);

        deliver(1, "away 1");
        deliver(1, "away 2");
        deliver(1, "away 3");
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "new-cu-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=3\n"), "%s", env);
        ck_assert(strstr(env, "IMAPIDLED_REASON=catchup\n"));
        {
                /* The three new UIDs, as a range usable with UID FETCH. */
                unsigned long a, b;
                char *e;

                a = strtoul(th_env_value(env, "IMAPIDLED_UIDS"), &e, 10);
                ck_assert_msg(*e == ':', "%s", env);
                b = strtoul(e + 1, &e, 10);
                ck_assert_msg(*e == 0 && b - a + 1 == 3, "%s", env);
        }
        ck_assert(strstr(env, "IMAPIDLED_EXISTS=3\n"));
        /* Reported once: the next message is the next run, counting 1. */
        marker_delivery(&d, 1, "new-cu-", 1, 3);
        daemon_stop(&d);

        /* Nothing happened: no event.  The marker is the first run of this start. */
        idled = log_count(&d, "-> idling");
        daemon_start(&d);
        ck_assert(wait_log(&d, "-> idling", idled + 1, 15000));
        marker_delivery(&d, 1, "new-cu-", 2, 4);
        daemon_stop(&d);

        /* Expunged while away: one catch-up expunge event, and no new one. */
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, "INBOX"), 0);
        free(env);
        env = NULL;
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "expunge-cu-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=5\n"), "%s", env);
        ck_assert(strstr(env, "IMAPIDLED_REASON=catchup\n"));
        ck_assert(strstr(env, "IMAPIDLED_EXISTS=0\n"));
        marker_delivery(&d, 1, "new-cu-", 3, 5);
        ck_assert_uint_eq(daemon_hook_files(&d, "expunge-cu-", NULL), 1);
        daemon_stop(&d);

        snprintf(path, sizeof(path), "%s", daemon_state_path(&d, "cu"));
        {
                /* Dovecot has CONDSTORE: HIGHESTMODSEQ is kept (docs/STATE.md: the 4th number). */
                _cleanup_free_ char *st = read_file(path);
                unsigned long long v[5] = {};

                ck_assert_msg(sscanf(strchr(st, '\n') + 1, "%*s %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                                     &v[4]) == 5 && v[3] > 0, "%s", st);
        }
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs("this is not a state file\n\x01\x02", f);
        fclose(f);
        idled = log_count(&d, "-> idling");
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", idled + 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "cu.state") >= 1, "no warning naming the file; log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_rerun_while_running) {
        /* A hook that runs until the test lets it end; two deliveries while it runs: exactly
         * one more run, after it, covering both (docs/EVENTS.md, Scheduling).  The first run
         * waits for the file "go", which the test makes once the daemon has counted both
         * deliveries (its event lines), so they come while it runs by construction. */
        Daemon d;
        _cleanup_free_ char *acc = NULL, *all = NULL;
        char go[128];
        unsigned n;
        FILE *f;

        daemon_dovecot_init(&d);
        snprintf(go, sizeof(go), "%s/go", d.dir);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 4, "INBOX"), 0);
        ck_assert_int_ge(asprintf(&acc,
                "{ name = \"rr\"; host = \"127.0.0.1\"; port = %s; tls = \"starttls\"; ca_file = \"%s\";\n"
                "  username = \"%s\"; password = \"%s\";\n"
                "  on_new = [\"/bin/sh\", \"-c\", \"env > %s/tmp-$$; while [ ! -e %s ]; do sleep 0.05; done; "
                "mv %s/tmp-$$ %s/run-$$\"]; }",
                dovecot.plain_port, dovecot.ca_file, th_dovecot_user(&dovecot, 4), th_dovecot_pass(&dovecot, 4),
                d.dir, go, d.dir, d.dir), 0);
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));
        deliver(4, "first");
        ck_assert_msg(daemon_wait_hook(&d, "tmp-", 1, 10000, NULL), "log:\n%s", tail_of(d.log));
        deliver(4, "second");
        deliver(4, "third");
        /* The event lines ("rr/INBOX: new, <n> messages") count all three. */
        ck_assert_msg(daemon_wait_log_sum(&d, "rr/INBOX: new, ", 3, 10000), "log:\n%s", tail_of(d.log));
        /* Single flight: nothing else started while the first run runs. */
        ck_assert_msg(daemon_log_lines(&d, "rr/INBOX on_new[", "]: started") == 1, "log:\n%s", tail_of(d.log));
        f = fopen(go, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_msg(daemon_wait_hook(&d, "run-", 2, 15000, NULL), "log:\n%s", tail_of(d.log));
        /* No third run for those two: the next message is a run of its own, counting 1. */
        deliver(4, "fourth");
        ck_assert_msg(daemon_wait_hook(&d, "run-", 3, 15000, NULL), "log:\n%s", tail_of(d.log));
        all = daemon_hook_outputs(&d, "run-", &n);
        ck_assert_msg(n == 3 && th_sum_of(all, "IMAPIDLED_COUNT=") == 4 && strstr(all, "IMAPIDLED_COUNT=2\n"),
                      "%u runs:\n%s", n, all);
        daemon_stop(&d);
        ck_assert_uint_eq(daemon_log_lines(&d, "rr/INBOX on_new[", "]: started"), 3);
        daemon_done(&d);
}
END_TEST

/* Two accounts (Dovecot users 1 and 2) whose on_new runs until the file "go" exists; lock: the
 * hooks' lock = "name", or none.  Returns the config's account list. */
static char *lock_accounts(Daemon *d, const char *lock) {
        char *accs = NULL, *a[2] = {}, lockkey[64] = "";
        const char *name[2] = { "la", "lb" };

        if (lock)
                snprintf(lockkey, sizeof(lockkey), " lock = \"%s\";", lock);
        for (unsigned i = 0; i < 2; i++) {
                ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, i + 1, "INBOX"), 0);
                ck_assert_int_ge(asprintf(&a[i],
                        "{ name = \"%s\"; host = \"127.0.0.1\"; port = %s; tls = \"starttls\"; ca_file = \"%s\";\n"
                        "  username = \"%s\"; password = \"%s\";\n"
                        "  on_new = { command = [\"/bin/sh\", \"-c\", \": > %s/start-%%a-$$; "
                        "while [ ! -e %s/go ]; do sleep 0.05; done\"];%s }; }",
                        name[i], dovecot.plain_port, dovecot.ca_file, th_dovecot_user(&dovecot, i + 1),
                        th_dovecot_pass(&dovecot, i + 1), d->dir, d->dir, lockkey), 0);
        }
        ck_assert_int_ge(asprintf(&accs, "%s,\n%s", a[0], a[1]), 0);
        free(a[0]);
        free(a[1]);
        return accs;
}

/* Where in text the first line holding a and, after it, b starts; SIZE_MAX if none. */
static size_t line_offset(const char *text, const char *a, const char *b) {
        for (const char *p = text; (p = strstr(p, a)); p++) {
                const char *eol = strchrnul(p, '\n'), *q = strstr(p, b);

                if (q && q < eol) {
                        while (p > text && p[-1] != '\n')
                                p--;
                        return (size_t) (p - text);
                }
        }
        return SIZE_MAX;
}

START_TEST(test_hook_lock_across_accounts) {
        /* Hooks with the same lock never run together, across accounts (docs/HOOKS.md, "Locks"):
         * la's run holds the lock until the test makes "go"; lb's event comes meanwhile, and
         * lb's run starts only after la's has exited.  Without the lock, lb's would start at
         * once, in the loop turn that logs its event (the hot path, docs/EVENTS.md), so its
         * "started" line would come before la's "exited", which cannot happen before "go". */
        Daemon d;
        _cleanup_free_ char *accs = NULL, *log = NULL;
        char go[128];
        size_t a_exit, b_start;
        FILE *f;

        daemon_dovecot_init(&d);
        snprintf(go, sizeof(go), "%s/go", d.dir);
        accs = lock_accounts(&d, "idx.1");
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", accs);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));
        deliver(1, "a");
        ck_assert_msg(daemon_wait_hook(&d, "start-la-", 1, 10000, NULL), "log:\n%s", tail_of(d.log));
        deliver(2, "b");
        ck_assert_msg(daemon_wait_log_sum(&d, "lb/INBOX: new, ", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(daemon_log_lines(&d, "lb/INBOX on_new[", "]: started") == 0, "log:\n%s", tail_of(d.log));
        f = fopen(go, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_msg(daemon_wait_hook(&d, "start-lb-", 1, 10000, NULL), "log:\n%s", tail_of(d.log));
        ck_assert(wait_log(&d, "lb/INBOX on_new[", 1, 10000));
        ck_assert(daemon_wait_log_after(&d, "lb/INBOX on_new[", 1, "exited with status 0", 10000));
        log = read_file(d.log);
        a_exit = line_offset(log, "la/INBOX on_new[", "]: exited");
        b_start = line_offset(log, "lb/INBOX on_new[", "]: started");
        ck_assert_msg(a_exit != SIZE_MAX && b_start != SIZE_MAX && a_exit < b_start, "log:\n%s", log);
        daemon_stop(&d);
        ck_assert_uint_eq(daemon_log_lines(&d, "la/INBOX on_new[", "]: started"), 1);
        ck_assert_uint_eq(daemon_log_lines(&d, "lb/INBOX on_new[", "]: started"), 1);
        daemon_done(&d);
}
END_TEST

START_TEST(test_hook_without_lock_overlaps) {
        /* The same two accounts without a lock: lb's run starts while la's still waits for "go",
         * which the test makes only once lb's run has started. */
        Daemon d;
        _cleanup_free_ char *accs = NULL;
        char go[128];
        FILE *f;

        daemon_dovecot_init(&d);
        snprintf(go, sizeof(go), "%s/go", d.dir);
        accs = lock_accounts(&d, NULL);
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", accs);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));
        deliver(1, "a");
        ck_assert_msg(daemon_wait_hook(&d, "start-la-", 1, 10000, NULL), "log:\n%s", tail_of(d.log));
        deliver(2, "b");
        ck_assert_msg(daemon_wait_hook(&d, "start-lb-", 1, 10000, NULL), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(daemon_log_lines(&d, "la/INBOX on_new[", "]: exited"), 0);
        f = fopen(go, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_msg(wait_log(&d, "]: exited with status 0", 2, 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_burst_of_100) {
        /* 100 messages in well under a second: a handful of runs whose counts add up to 100.
         * _i = 0, the default hook: it starts at the first EXISTS and is told the lower bound of
         * its UIDs (IMAPIDLED_UIDS=lo:*); the next run's bound is above the UIDs the earlier
         * ones covered, and once all ran the floor (UIDNEXT in the state file) is past all 100.
         * _i = 1, uids = true: each run is told its exact range, and the ranges together cover
         * 100 distinct UIDs. */
        const bool exact = _i == 1;
        Daemon d;
        _cleanup_free_ char *all = NULL, *state = NULL;
        char path[160];
        uint64_t t0, total;
        uint32_t lo = UINT32_MAX, hi = 0, lows[16];
        unsigned n, n_burst = 0, n_lows = 0;

        daemon_dovecot_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 3, "INBOX"), 0);
        write_config(&d,
                     "accounts = ( { name = \"burst\"; host = \"127.0.0.1\"; port = %s;\n"
                     "  tls = \"starttls\"; ca_file = \"%s\"; username = \"%s\"; password = \"%s\";\n"
                     "  on_new = { command = %s; uids = %s; }; } );\n",
                     dovecot.plain_port, dovecot.ca_file, th_dovecot_user(&dovecot, 3), th_dovecot_pass(&dovecot, 3),
                     daemon_hook_cmd(&d, "new-burst"), exact ? "true" : "false");
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 15000), "log:\n%s", tail_of(d.log));
        ck_assert(wait_log(&d, "-> idling", 1, 10000));
        t0 = mono_ms();
        for (unsigned i = 0; i < 100; i++)
                maildir_drop(3, "burst");
        printf("100 messages dropped in %llu ms\n", (unsigned long long) (mono_ms() - t0));
        ck_assert_msg(daemon_wait_hook_sum(&d, "new-burst-", 100, 20000, &n_burst), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 2, 10000), "log:\n%s", tail_of(d.log));
        printf("100 messages -> %u on_new runs (%s)\n", n_burst, exact ? "uids = true" : "default");
        ck_assert_msg(n_burst >= 1 && n_burst <= 5, "%u runs; log:\n%s", n_burst, tail_of(d.log));
        /* No straggler run: one more message is a run of its own, counting 1, and the counts
         * add up to 101.  It takes part in the checks below as the 101st. */
        maildir_drop(3, "marker");
        ck_assert_msg(daemon_wait_hook(&d, "new-burst-", n_burst + 1, 15000, NULL), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        all = daemon_hook_outputs(&d, "new-burst-", &n);
        ck_assert_msg(n == n_burst + 1, "%u runs after the marker's, %u before:\n%s", n, n_burst, all);
        for (const char *p = all; (p = strstr(p, "IMAPIDLED_UIDS=")); p++) {
                char *e;
                unsigned long a = strtoul(p + 15, &e, 10), b = a;

                if (exact) {
                        if (*e == ':')
                                b = strtoul(e + 1, &e, 10);
                        ck_assert_msg(*e == '\n' && a > 0 && b >= a, "%s", all);
                } else {
                        /* Runs are one after the other: each starts above what the ones before covered. */
                        ck_assert_msg(strncmp(e, ":*\n", 3) == 0 && a > 0 && n_lows < ELEMENTSOF(lows), "%s", all);
                        for (unsigned k = 0; k < n_lows; k++)
                                ck_assert_msg(lows[k] != a, "two runs with the same bound:\n%s", all);
                        lows[n_lows++] = (uint32_t) a;
                }
                lo = MIN(lo, (uint32_t) a);
                hi = MAX(hi, (uint32_t) b);
        }
        if (exact)
                ck_assert_msg(hi - lo + 1 == 101, "UIDs %u..%u:\n%s", lo, hi, all);
        total = th_sum_of(all, "IMAPIDLED_COUNT=");
        ck_assert_msg(total == 101, "counts add up to %llu:\n%s", (unsigned long long) total, all);
        /* Every one of the 101 is below the saved floor: none is reported again. */
        snprintf(path, sizeof(path), "%s", daemon_state_path(&d, "burst"));
        state = read_file(path);
        {
                const char *l = strstr(state, "\nINBOX ");
                unsigned long uidnext;

                ck_assert_msg(l, "%s", state);
                l = strchr(l + 7, ' ');
                ck_assert_ptr_nonnull(l);
                uidnext = strtoul(l + 1, NULL, 10);
                ck_assert_msg(uidnext == lo + 101, "UIDNEXT %lu, first UID %u:\n%s", uidnext, lo, state);
        }
        daemon_done(&d);
}
END_TEST

START_TEST(test_uidvalidity_change) {
        /* The mailbox is deleted and created again while the daemon is
         * stopped: a new UIDVALIDITY, so everything is resynced. */
        static const char *const create[] = { "mailbox", "create", "-u", "user2", "Resync", NULL };
        static const char *const delete[] = { "mailbox", "delete", "-u", "user2", "Resync", NULL };
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL, *state = NULL;
        unsigned long uv = 0;
        char msg[128];

        daemon_dovecot_init(&d);
        (void) th_dovecot_doveadm(&dovecot, delete);
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, create), 0);
        acc = account_block(&d, "rv", 2, "mailboxes = [\"Resync\"];");
        write_config(&d, "accounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert(wait_log(&d, "-> idling", 1, 15000));
        daemon_stop(&d);
        state = read_file(daemon_state_path(&d, "rv"));
        ck_assert_msg(strstr(state, "\nResync ") && sscanf(strstr(state, "\nResync ") + 8, "%lu", &uv) == 1, "%s",
                      state);
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, delete), 0);
        /* Dovecot's UIDVALIDITY is the time of the creation: wait until the clock is past the
         * old one, so the new mailbox cannot get the same (50 ms between looks). */
        while ((unsigned long) time(NULL) <= uv)
                sleep_ms(50);
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, create), 0);
        snprintf(msg, sizeof(msg), "From: a@example.org\nSubject: after\n\nhello\n");
        ck_assert_int_eq(th_dovecot_deliver(&dovecot, 2, "Resync", msg), 0);
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "new-rv-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_EVENT=resync\n"), "%s", env);
        ck_assert(strstr(env, "IMAPIDLED_MAILBOX=Resync\n"));
        ck_assert(strstr(env, "IMAPIDLED_EXISTS=1\n"));
        ck_assert_uint_eq(log_count(&d, "UIDVALIDITY changed"), 1);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_details) {
        /* details = true: From/Subject decoded (RFC 2047) and sanitized, in
         * the environment and as JSON lines on stdin; a subject made of shell
         * metacharacters and control bytes is only ever data. */
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL, *json = NULL, *pwned = NULL;
        char path[160];
        struct stat st;

        daemon_dovecot_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 2, "INBOX"), 0);
        ck_assert_int_ge(asprintf(&pwned, "%s/pwned", d.dir), 0);
        ck_assert_int_ge(asprintf(&acc,
                "{ name = \"det\"; host = \"127.0.0.1\"; port = %s; tls = \"starttls\"; ca_file = \"%s\";\n"
                "  username = \"%s\"; password = \"%s\";\n"
                "  on_new = { command = [\"/bin/sh\", \"-c\", \"env > %s/tmpenv-$$; cat > %s/json-$$; "
                "mv %s/tmpenv-$$ %s/env-$$\"]; details = true; }; }",
                dovecot.plain_port, dovecot.ca_file, th_dovecot_user(&dovecot, 2), th_dovecot_pass(&dovecot, 2),
                d.dir, d.dir, d.dir, d.dir), 0);
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));

        ck_assert_int_eq(th_dovecot_deliver(&dovecot, 2, "INBOX",
                "From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.org>\n"
                "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?= =?UTF-8?Q?_=E2=9C=93?=\n"
                "Message-ID: <m1@example.org>\n\nhello\n"), 0);
        ck_assert_msg(daemon_wait_hook(&d, "env-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_FROM=J\xc3\xb6rg M\xc3\xbcller <joerg@example.org>\n"), "%s", env);
        ck_assert_msg(strstr(env, "IMAPIDLED_SUBJECT=Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln \xe2\x9c\x93\n"), "%s", env);
        ck_assert(strstr(env, "IMAPIDLED_MESSAGE_ID=<m1@example.org>\n"));
        ck_assert(strstr(env, "IMAPIDLED_DETAILS=1\n"));
        ck_assert_str_eq(th_env_value(env, "IMAPIDLED_UID"), th_env_value(env, "IMAPIDLED_UIDS"));
        daemon_hook_files(&d, "json-", &json);
        ck_assert_msg(strstr(json, "\"subject\":\"Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln \xe2\x9c\x93\""), "%s", json);
        ck_assert(strstr(json, "\"from\":\"J\xc3\xb6rg M\xc3\xbcller <joerg@example.org>\""));
        ck_assert_uint_eq(strchr(json, '\n') - json + 1, strlen(json));        /* one line */
        free(env);
        free(json);
        env = json = NULL;
        snprintf(path, sizeof(path), "%s", d.dir);
        for (unsigned i = 0; i < 2; i++) {
                /* Remove the first run's files. */
                DIR *dir = opendir(path);
                struct dirent *de;

                while (dir && (de = readdir(dir)))
                        if (strncmp(de->d_name, "env-", 4) == 0 || strncmp(de->d_name, "json-", 5) == 0) {
                                char f[512];

                                snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
                                unlink(f);
                        }
                if (dir)
                        closedir(dir);
        }

        {
                _cleanup_free_ char *m = NULL;

                /* Shell metacharacters, an escape sequence, a bell, a bidi override. */
                ck_assert_int_ge(asprintf(&m, "From: \"$(touch %s)\" <x@example.org>\n"
                                          "Subject: `touch %s`; $(id) | rm -rf ~ && \"' \x1b[31mred\x07 \xe2\x80\xae" "evil\n"
                                          "\nhello\n", pwned, pwned), 0);
                ck_assert_int_eq(th_dovecot_deliver(&dovecot, 2, "INBOX", m), 0);
        }
        ck_assert_msg(daemon_wait_hook(&d, "env-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        daemon_hook_files(&d, "json-", &json);
        ck_assert_msg(strstr(env, "IMAPIDLED_SUBJECT=`touch "), "%s", env);
        ck_assert_msg(strstr(env, "`; $(id) | rm -rf ~ && \"' [31mred evil\n"), "%s", env);
        ck_assert_msg(strstr(json, "`; $(id) | rm -rf ~ && \\\"' [31mred evil\""), "%s", json);
        ck_assert(!strchr(th_env_value(env, "IMAPIDLED_SUBJECT"), '\x1b'));
        ck_assert(!strchr(th_env_value(env, "IMAPIDLED_SUBJECT"), '\x07'));
        ck_assert_int_eq(stat(pwned, &st), -1);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_flags_and_startup_sync) {
        /* startup_sync: one on_new at start although nothing changed;
         * a flag set elsewhere: on_flags with IMAPIDLED_EVENT=flags. */
        static const char *const seen[] = { "flags", "add", "-u", "user4", "\\Seen", "mailbox", "INBOX", "ALL", NULL };
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL;
        char extra[512];

        daemon_dovecot_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 4, "INBOX"), 0);
        deliver(4, "to be flagged");
        snprintf(extra, sizeof(extra), "startup_sync = true;\n  on_flags = %s;",
                 daemon_hook_cmd(&d, "flags-$IMAPIDLED_ACCOUNT"));
        acc = account_block(&d, "fl", 4, extra);
        write_config(&d, "accounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "new-fl-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_REASON=startup\n"), "%s", env);
        ck_assert(strstr(env, "IMAPIDLED_COUNT=0\n"));
        free(env);
        env = NULL;
        /* The startup run covers nothing new: no command for it, IDLE goes on. */
        ck_assert(wait_log(&d, "-> idling", 1, 10000));
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, seen), 0);
        ck_assert_msg(daemon_wait_hook(&d, "flags-fl-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_EVENT=flags\n"), "%s", env);
        ck_assert(strstr(env, "IMAPIDLED_COUNT=1\n"));
        /* The flag change made no on_new run (the startup run counted 0) and no on_expunge:
         * the next message is the next on_new run, counting 1. */
        marker_delivery(&d, 4, "new-fl-", 1, 0);
        ck_assert_uint_eq(daemon_hook_files(&d, "expunge-fl-", NULL), 0);
        daemon_stop(&d);
        /* startup_sync is per start of the daemon, not per connect. */
        daemon_done(&d);
}
END_TEST

START_TEST(test_counts_interleaved) {
        /* A scripted server (exact transcript): EXPUNGE and EXISTS interleave
         * in IDLE, and more come while we end IDLE.  Arrivals are counted from
         * EXISTS against the known count (never RECENT).  The first arrival
         * starts its hook at once, before any command (the hot path); then the
         * connection asks which UID that run covered (the message at sequence
         * number 5, which the EXPUNGE of 3 moves to 4), so the floor moves past
         * UID 6 only.  The two that came meanwhile make exactly one more run,
         * which starts when the first ends (the hook waits until the daemon
         * idles again, so the transcript is fixed) and covers UIDs 7 and 8. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] fake ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 5 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 6] n\r\n"
                          "<tag> OK [READ-ONLY] examined\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_SEND("* 2 EXPUNGE\r\n* 5 EXISTS\r\n* 3 RECENT\r\n* 6 EXISTS\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("* 3 EXPUNGE\r\n* 6 EXISTS\r\n<tag> OK idle done\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 6:* (UID)"),
                FAKE_SEND("* 4 FETCH (UID 6)\r\n* 5 FETCH (UID 7)\r\n* 6 FETCH (UID 8)\r\n<tag> OK fetched\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                /* The second run. */
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK idle done\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 7:* (UID)"),
                FAKE_SEND("* 5 FETCH (UID 7)\r\n* 6 FETCH (UID 8)\r\n<tag> OK fetched\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK idle done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *news = NULL, *expunges = NULL, *state = NULL;
        unsigned n_new, n_exp;
        uint64_t total;
        char path[160];
        Daemon d;

        daemon_dovecot_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"il\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  on_new = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/new-$$; \"\n"
                     "            \"while [ $(grep -c -- '-> idling' %s) -lt 2 ]; do sleep 0.05; done\"];\n"
                     "  on_expunge = %s; } );\n",
                     fake_imapd_port(f), d.dir, d.log, daemon_hook_cmd(&d, "expunge"));
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "new-", 2, 10000, NULL), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "expunge, 1 message", 2, 10000), "log:\n%s", tail_of(d.log));
        /* The two expunges' runs (one, or one and one more after it): a run still waiting for
         * the first to end would not start once the stop began. */
        ck_assert_msg(daemon_wait_hook_sum(&d, "expunge-", 2, 10000, NULL), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 3, 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        news = daemon_hook_outputs(&d, "new-", &n_new);
        expunges = daemon_hook_outputs(&d, "expunge-", &n_exp);
        ck_assert_msg(n_new == 2, "%u on_new runs:\n%s", n_new, news);
        ck_assert_msg(strstr(news, "IMAPIDLED_COUNT=1\n") && strstr(news, "IMAPIDLED_UIDS=6:*\n") &&
                      strstr(news, "IMAPIDLED_UIDNEXT=6\n"), "%s", news);
        ck_assert_msg(strstr(news, "IMAPIDLED_COUNT=2\n") && strstr(news, "IMAPIDLED_UIDS=7:*\n") &&
                      strstr(news, "IMAPIDLED_UIDNEXT=7\n"), "%s", news);
        total = th_sum_of(expunges, "IMAPIDLED_COUNT=");
        ck_assert_msg(n_exp >= 1 && n_exp <= 2 && total == 2, "%u runs:\n%s", n_exp, expunges);
        /* The floor went past every covered UID: a restart reports nothing again. */
        snprintf(path, sizeof(path), "%s", daemon_state_path(&d, "il"));
        state = read_file(path);
        ck_assert_msg(strstr(state, "\nINBOX 7 9 6 "), "%s", state);
        daemon_done(&d);
}
END_TEST

/* ---- QRESYNC (RFC 7162): expunges while away by UID ------------------------------------------- */

/* The scripted server offers QRESYNC; the saved state has UIDVALIDITY 7, UIDNEXT 9, 5 messages
 * and HIGHESTMODSEQ 12.  The daemon must ENABLE QRESYNC once after login and EXAMINE with the
 * QRESYNC parameter (the known UIDs 1:8); 'vanished' is the server's VANISHED (EARLIER) line,
 * then, in IDLE, 'live' (a VANISHED without EARLIER, RFC 7162 §3.2.10).  Returns the on_expunge
 * runs' environments (daemon_hook_outputs()) and the state file after the stop. */
/* resync: the live VANISHED is impossible (docs/SECURITY.md H07), so the daemon ends IDLE and
 * examines the mailbox again (any EXAMINE line), which finds it with 5 messages and nothing
 * vanished, then idles again. */
static void qresync_transcript(const char *exists, const char *vanished, const char *live, bool resync,
                               unsigned want_runs, char **ret_runs, char **ret_state) {
        char examined[256];
        const FakeStep plain[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE ENABLE CONDSTORE QRESYNC] fake ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE ENABLE CONDSTORE QRESYNC] in\r\n"),
                FAKE_EXPECT("<tag> ENABLE QRESYNC"),
                FAKE_SEND("* ENABLED QRESYNC\r\n<tag> OK enabled\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX (QRESYNC (7 12 1:8))"),
                FAKE_SEND(examined),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_SEND(live),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK idle done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        const FakeStep again[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE ENABLE CONDSTORE QRESYNC] fake ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE ENABLE CONDSTORE QRESYNC] in\r\n"),
                FAKE_EXPECT("<tag> ENABLE QRESYNC"),
                FAKE_SEND("* ENABLED QRESYNC\r\n<tag> OK enabled\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX (QRESYNC (7 12 1:8))"),
                FAKE_SEND(examined),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_SEND(live),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK idle done\r\n"),
                FAKE_EXPECT_ANY(),
                FAKE_SEND("* 5 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 9] n\r\n"
                          "* OK [HIGHESTMODSEQ 20] m\r\n<tag> OK [READ-ONLY] examined\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK idle done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        const FakeStep *script = resync ? again : plain;
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        unsigned n = 0;
        Daemon d;

        snprintf(examined, sizeof(examined),
                 "* %s EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 9] n\r\n* OK [HIGHESTMODSEQ 20] m\r\n"
                 "%s<tag> OK [READ-ONLY] examined\r\n", exists, vanished);
        daemon_dovecot_init(&d);
        daemon_write_state(&d, "qr", "imapidled-state 1\nINBOX 7 9 5 12 0\n");
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"qr\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  on_expunge = %s; } );\n",
                     fake_imapd_port(f), daemon_hook_cmd(&d, "expunge"));
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "expunge-", want_runs, 10000, NULL), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", resync ? 2 : 1, 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        /* The script's end (the stop's DONE, LOGOUT) proves the daemon read all the server
         * sent; each expunge event it took is an event line, logged when taken: there are
         * exactly as many as the runs waited for, so no other run can follow. */
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_msg(log_count(&d, "qr/INBOX: expunge") == want_runs, "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "out of sync: VANISHED") == (resync ? 1u : 0u), "log:\n%s", tail_of(d.log));
        ck_assert_msg(daemon_log_lines(&d, "qr/INBOX on_expunge[", "]: started") == want_runs, "log:\n%s",
                      tail_of(d.log));
        *ret_runs = daemon_hook_outputs(&d, "expunge-", &n);
        ck_assert_msg(n == want_runs, "%u on_expunge runs:\n%s", n, *ret_runs);
        *ret_state = read_file(daemon_state_path(&d, "qr"));
        daemon_done(&d);
}

START_TEST(test_qresync_transcript) {
        /* VANISHED (EARLIER) 3,5: the catch-up run names them; the live VANISHED 1 in IDLE is
         * one more expunge, counted once, with its UID, and makes the saved HIGHESTMODSEQ 0
         * (stale). */
        _cleanup_free_ char *runs = NULL, *state = NULL;

        qresync_transcript("3", "* VANISHED (EARLIER) 3,5\r\n", "* VANISHED 1\r\n", false, 2, &runs, &state);
        ck_assert_msg(strstr(runs, "IMAPIDLED_REASON=catchup\n") && strstr(runs, "IMAPIDLED_COUNT=2\n") &&
                      strstr(runs, "IMAPIDLED_UIDS=3,5\n") && strstr(runs, "IMAPIDLED_EXISTS=3\n"), "%s", runs);
        ck_assert_msg(strstr(runs, "IMAPIDLED_REASON=live\n") && strstr(runs, "IMAPIDLED_COUNT=1\n") &&
                      strstr(runs, "IMAPIDLED_UIDS=1\n") && strstr(runs, "IMAPIDLED_EXISTS=2\n"), "%s", runs);
        ck_assert_msg(strstr(state, "\nINBOX 7 9 2 0 "), "%s", state);
}
END_TEST

START_TEST(test_qresync_hostile) {
        /* A hostile VANISHED (EARLIER) 1:4294967295: nothing per UID (the daemon goes on at
         * once), the catch-up counts the 5 messages known and lists the known UIDs 1:8.  The
         * live VANISHED 1:4294967295 names more UIDs than EXISTS holds: out of sync
         * (docs/SECURITY.md H07), no live run, the mailbox is examined again. */
        _cleanup_free_ char *runs = NULL, *state = NULL;

        qresync_transcript("5", "* VANISHED (EARLIER) 1:4294967295\r\n", "* VANISHED 1:4294967295\r\n", true, 1,
                           &runs, &state);
        ck_assert_msg(strstr(runs, "IMAPIDLED_REASON=catchup\n") && strstr(runs, "IMAPIDLED_COUNT=5\n") &&
                      strstr(runs, "IMAPIDLED_UIDS=1:8\n"), "%s", runs);
        ck_assert_msg(!strstr(runs, "IMAPIDLED_REASON=live\n"), "%s", runs);
        ck_assert_msg(!strstr(runs, "IMAPIDLED_COUNT=4294967295"), "%s", runs);
        ck_assert_msg(strstr(state, "\nINBOX 7 9 5 "), "%s", state);
}
END_TEST

START_TEST(test_qresync_dovecot) {
        /* Dovecot offers QRESYNC: stop the daemon, expunge two of four messages, start it:
         * one catch-up on_expunge run with exactly their UIDs. */
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL, *st = NULL;
        char path[160], uids[64], want[96];
        unsigned long uv = 0, next = 0;

        daemon_dovecot_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, "INBOX"), 0);
        deliver(1, "q1");
        deliver(1, "q2");
        deliver(1, "q3");
        deliver(1, "q4");
        acc = account_block(&d, "qd", 1, NULL);
        write_config(&d, "accounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));
        ck_assert_msg(wait_log(&d, "-> idling", 1, 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(log_count(&d, "-> enabling") >= 1, "no ENABLE QRESYNC; log:\n%s", tail_of(d.log));
        snprintf(path, sizeof(path), "%s", daemon_state_path(&d, "qd"));
        st = read_file(path);
        ck_assert_msg(sscanf(strstr(st, "\nINBOX ") + 7, "%lu %lu", &uv, &next) == 2 && next >= 5, "%s", st);
        /* The four messages are UIDs next-4 .. next-1: expunge the first and the third. */
        snprintf(uids, sizeof(uids), "%lu,%lu", next - 4, next - 2);
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, (const char *const[]) { "expunge", "-u",
                                                th_dovecot_user(&dovecot, 1), "mailbox", "INBOX", "uid", uids,
                                                NULL }),
                         0);
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "expunge-qd-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_REASON=catchup\n") && strstr(env, "IMAPIDLED_COUNT=2\n") &&
                      strstr(env, "IMAPIDLED_EXISTS=2\n"), "%s", env);
        snprintf(want, sizeof(want), "IMAPIDLED_UIDS=%s\n", uids);
        ck_assert_msg(strstr(env, want), "want %s in\n%s", want, env);
        /* One run, and no on_new: the next message is the first on_new run, counting 1. */
        marker_delivery(&d, 1, "new-qd-", 0, 0);
        ck_assert_uint_eq(daemon_hook_files(&d, "expunge-qd-", NULL), 1);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_fresh_secret) {
        /* A token command that returns a new token each time, and a server
         * that accepts only the newest: the reconnect within secret_cache
         * uses the kept token, which is refused; that fetches a fresh token
         * at once (no long backoff), and tokens never reach the log. */
        _cleanup_free_ char *acc = NULL;
        char script[160], tokens[160], calls[160];
        FILE *f;
        Daemon d;

        daemon_dovecot_init(&d);
        snprintf(script, sizeof(script), "%s/token.sh", d.dir);
        snprintf(tokens, sizeof(tokens), "%s/tokens", d.dir);
        snprintf(calls, sizeof(calls), "%s/calls", d.dir);
        f = fopen(tokens, "we");
        ck_assert_ptr_nonnull(f);
        fputs("tok-one-7f3a\ntok-three-c0de\n", f);
        fclose(f);
        f = fopen(script, "we");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "echo x >> '%s'\nhead -n1 '%s'\nsed -i 1d '%s'\n", calls, tokens, tokens);
        fclose(f);
        set_password(4, "tok-one-7f3a");
        ck_assert_int_ge(asprintf(&acc,
                "{ name = \"tok\"; host = \"127.0.0.1\"; port = %s; tls = \"starttls\"; ca_file = \"%s\";\n"
                "  username = \"user4\"; password_command = [\"/bin/sh\", \"%s\"]; }",
                dovecot.plain_port, dovecot.ca_file, script), 0);
        write_config(&d, "accounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 1, 15000), "log:\n%s", tail_of(d.log));
        /* The server moves on to the next token; the connection is replaced, with the kept
         * token first (issue 13: no run for a reconnect within secret_cache). */
        set_password(4, "tok-three-c0de");
        ck_assert_int_eq(kill(d.pid, SIGUSR2), 0);
        ck_assert_msg(wait_log(&d, "-> idling", 2, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "authentication failed"), 1);
        ck_assert_uint_eq(log_count(&d, "fetching the secret again"), 1);
        {
                _cleanup_free_ char *c = read_file(calls);

                ck_assert_str_eq(c, "x\nx\n");
        }
        ck_assert_uint_eq(log_count(&d, "tok-"), 0);
        daemon_stop(&d);
        set_password(4, th_dovecot_pass(&dovecot, 4));
        daemon_done(&d);
}
END_TEST

/* Issue 13: user4 with three mailboxes, one IDLE connection each, and a password_command that
 * counts its runs in d->dir/calls; extra: more account settings; arg: more of the command's
 * argv (a libconfig list's tail, e.g. ", \"x\"").  The mailboxes are made afresh unless the
 * daemon runs (then only the configuration is written).  Returns the calls file's path. */
static void secret_account_full(Daemon *d, const char *extra, const char *arg, bool running, char calls[static 160]) {
        static const char *const del1[] = { "mailbox", "delete", "-u", "user4", "Sc1", NULL };
        static const char *const del2[] = { "mailbox", "delete", "-u", "user4", "Sc2", NULL };
        static const char *const create[] = { "mailbox", "create", "-u", "user4", "Sc1", "Sc2", NULL };
        _cleanup_free_ char *acc = NULL;
        char script[160];
        FILE *f;

        if (!running) {
                (void) th_dovecot_doveadm(&dovecot, del1);
                (void) th_dovecot_doveadm(&dovecot, del2);
                ck_assert_int_eq(th_dovecot_doveadm(&dovecot, create), 0);
        }
        snprintf(script, sizeof(script), "%s/pw.sh", d->dir);
        snprintf(calls, 160, "%s/calls", d->dir);
        f = fopen(script, "we");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "echo x >> '%s'\necho '%s'\n", calls, th_dovecot_pass(&dovecot, 4));
        fclose(f);
        ck_assert_int_ge(asprintf(&acc,
                "{ name = \"sc\"; host = \"127.0.0.1\"; port = %s; tls = \"starttls\"; ca_file = \"%s\";\n"
                "  username = \"user4\"; password_command = [\"/bin/sh\", \"%s\"%s];\n"
                "  mailboxes = [\"INBOX\", \"Sc1\", \"Sc2\"]; imap_notify = \"off\"; %s }",
                dovecot.plain_port, dovecot.ca_file, script, arg, extra), 0);
        write_config(d, "accounts = ( %s );\n", acc);
}

static void secret_account(Daemon *d, const char *extra, char calls[static 160]) {
        secret_account_full(d, extra, "", false, calls);
}

static unsigned calls_of(const char *calls) {
        _cleanup_free_ char *c = read_file(calls);

        return c ? (unsigned) th_count_of(c, "x\n") : 0;
}

START_TEST(test_secret_shared) {
        /* Three connections of one account start together: password_command runs once (issue 13).
         * All reconnect together (SIGUSR2, as after a resume) within secret_cache: no run. */
        char calls[160];
        Daemon d;

        daemon_dovecot_init(&d);
        secret_account(&d, "", calls);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 3, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(calls_of(calls), 1);
        ck_assert_int_eq(kill(d.pid, SIGUSR2), 0);
        ck_assert_msg(wait_log(&d, "-> idling", 6, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(calls_of(calls), 1);
        ck_assert_uint_eq(log_count(&d, th_dovecot_pass(&dovecot, 4)), 0);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_secret_reload) {
        /* A reload that leaves the account alone keeps its secret; one that changes its
         * password_command drops it: the new account's connections run the command (once). */
        char calls[160];
        Daemon d;

        daemon_dovecot_init(&d);
        secret_account(&d, "", calls);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 3, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
        ck_assert_msg(wait_log(&d, "Reloaded: 1 account kept, 0 started, 0 stopped", 1, 5000), "log:\n%s",
                      tail_of(d.log));
        ck_assert_int_eq(kill(d.pid, SIGUSR2), 0);
        ck_assert_msg(wait_log(&d, "-> idling", 6, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(calls_of(calls), 1);
        secret_account_full(&d, "", ", \"changed\"", true, calls);
        ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
        ck_assert_msg(wait_log(&d, "Reloaded: 0 accounts kept, 1 started, 1 stopped", 1, 5000), "log:\n%s",
                      tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 9, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(calls_of(calls), 2);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_secret_cache_zero) {
        /* secret_cache = 0: a run for every connect, at the start and at the reconnect. */
        char calls[160];
        Daemon d;

        daemon_dovecot_init(&d);
        secret_account(&d, "secret_cache = 0;", calls);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 3, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(calls_of(calls), 3);
        ck_assert_int_eq(kill(d.pid, SIGUSR2), 0);
        ck_assert_msg(wait_log(&d, "-> idling", 6, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(calls_of(calls), 6);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_max_connecting) {
        /* max_connecting = 1: four accounts start together, but at most one is between its
         * connect and its login at any moment; the others say "queued" and follow.  Read off
         * the order of the state changes in the log (-v). */
        _cleanup_free_ char *log = NULL;
        char *blocks[4] = {};
        const char *names[4] = { "r1", "r2", "r3", "r4" };
        bool busy[4] = {};
        unsigned in_setup = 0, peak = 0, queued = 0;
        Daemon d;

        daemon_dovecot_init(&d);
        for (unsigned i = 0; i < 4; i++)
                blocks[i] = account_block(&d, names[i], i + 1, NULL);
        write_config(&d, "max_connecting = 1;\naccounts = ( %s, %s, %s, %s );\n", blocks[0], blocks[1], blocks[2],
                     blocks[3]);
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 20000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=4/4 mailboxes idling", 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        log = read_file(d.log);
        for (const char *p = log; p && *p;) {
                const char *eol = strchr(p, '\n');
                size_t n = eol ? (size_t) (eol - p) : strlen(p);

                for (unsigned i = 0; i < 4; i++) {
                        char prefix[32];
                        const char *arrow;

                        snprintf(prefix, sizeof(prefix), "<7>%s/INBOX: ", names[i]);
                        if (strncmp(p, prefix, strlen(prefix)) != 0 || !(arrow = strstr(p, " -> ")) || arrow > p + n)
                                continue;
                        /* Setting up: from connecting until the login ends (enabling where the
                         * server has QRESYNC, else selecting) or fails. */
                        if (strncmp(arrow, " -> connecting", 14) == 0 && !busy[i]) {
                                busy[i] = true;
                                peak = MAX(peak, ++in_setup);
                        } else if ((strncmp(arrow, " -> enabling", 12) == 0 ||
                                    strncmp(arrow, " -> selecting", 13) == 0 || strncmp(arrow, " -> waiting", 11) == 0 ||
                                    strncmp(arrow, " -> stopped", 11) == 0) && busy[i]) {
                                busy[i] = false;
                                in_setup--;
                        }
                        queued += strncmp(arrow, " -> queued", 10) == 0;
                }
                p = eol ? eol + 1 : NULL;
        }
        ck_assert_msg(peak == 1, "%u connections set up at once; log:\n%s", peak, tail_of(d.log));
        ck_assert_msg(queued >= 3, "%u queued; log:\n%s", queued, tail_of(d.log));
        for (unsigned i = 0; i < 4; i++)
                free(blocks[i]);
        daemon_done(&d);
}
END_TEST

START_TEST(test_connection_budget) {
        /* Four mailboxes, max_connections = 2: one IDLE connection, one that
         * polls the other three with STATUS; every delivery is reported,
         * and the server never sees more than two connections. */
        static const char *const boxes[] = { "INBOX", "Budget1", "Budget2", "Budget3" };
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        _cleanup_free_ char *acc = NULL, *all = NULL;
        char port[8], msg[128];
        unsigned n, accepted, rounds;
        Daemon d;

        daemon_dovecot_init(&d);
        for (size_t i = 0; i < ELEMENTSOF(boxes); i++) {
                const char *create[] = { "mailbox", "create", "-u", "user3", boxes[i], NULL };

                if (i > 0)
                        (void) th_dovecot_doveadm(&dovecot, create);
                ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 3, boxes[i]), 0);
        }
        ck_assert_int_eq(th_proxy_start(dovecot.plain_port_num, &p), 0);
        snprintf(port, sizeof(port), "%u", (unsigned) th_proxy_port(p));
        acc = account_block_full(&d, "bud", 3,
                                 "mailboxes = [\"INBOX\", \"Budget1\", \"Budget2\", \"Budget3\"];\n"
                                 "  max_connections = 2; status_interval = 1; imap_notify = \"off\";", port, true, false);
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=1/4 mailboxes idling, 3 polled", 10000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "max_connections = 2: 1 idle, 3 polled"), 1);
        for (size_t i = 0; i < ELEMENTSOF(boxes); i++) {
                snprintf(msg, sizeof(msg), "From: a@example.org\nSubject: to %s\n\nhello\n", boxes[i]);
                ck_assert_int_eq(th_dovecot_deliver(&dovecot, 3, boxes[i], msg), 0);
        }
        ck_assert_msg(daemon_wait_hook(&d, "new-bud-", 4, 15000, NULL), "log:\n%s", tail_of(d.log));
        /* Polls go on: no run twice.  Two more ends of a STATUS round ("-> resting"), so one
         * whole round after the runs; any run started by then is in the log before it. */
        rounds = log_count(&d, "-> resting");
        ck_assert_msg(wait_log(&d, "-> resting", rounds + 2, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(daemon_log_lines(&d, " on_new[", "]: started") == 4, "log:\n%s", tail_of(d.log));
        all = daemon_hook_outputs(&d, "new-bud-", &n);
        ck_assert_msg(n == 4, "%u runs:\n%s", n, all);
        for (size_t i = 0; i < ELEMENTSOF(boxes); i++) {
                char want[64];

                snprintf(want, sizeof(want), "IMAPIDLED_MAILBOX=%s\n", boxes[i]);
                ck_assert_msg(strstr(all, want), "%s missing:\n%s", boxes[i], all);
        }
        ck_assert(!strstr(all, "IMAPIDLED_COUNT=0\n") && !strstr(all, "IMAPIDLED_COUNT=2\n"));
        ck_assert_int_eq(th_proxy_count(p, &accepted), 0);
        ck_assert_uint_eq(accepted, 2);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_credentials_directory) {
        /* systemd's LoadCredential=: password_file relative to
         * $CREDENTIALS_DIRECTORY; the hook does not see that variable. */
        _cleanup_free_ char *env = NULL;
        char creds[160], pw[200];
        FILE *f;
        Daemon d;

        daemon_dovecot_init(&d);
        snprintf(creds, sizeof(creds), "%s/creds", d.dir);
        ck_assert_int_eq(mkdir(creds, 0700), 0);
        snprintf(pw, sizeof(pw), "%s/imap-password", creds);
        f = fopen(pw, "we");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "%s\n", th_dovecot_pass(&dovecot, 2));
        ck_assert_int_eq(fchmod(fileno(f), 0600), 0);
        fclose(f);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"cred\"; host = \"127.0.0.1\"; port = %s; tls = \"starttls\";\n"
                     "  ca_file = \"%s\"; username = \"user2\"; password_file = \"imap-password\";\n"
                     "  startup_sync = true; on_new = %s; } );\n",
                     dovecot.plain_port, dovecot.ca_file, daemon_hook_cmd(&d, "new-cred"));
        ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);
        daemon_start(&d);
        ck_assert_int_eq(unsetenv("CREDENTIALS_DIRECTORY"), 0);
        ck_assert_msg(wait_log(&d, "-> idling", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(daemon_wait_hook(&d, "new-cred-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert(!strstr(env, "CREDENTIALS_DIRECTORY="));
        ck_assert(!strstr(env, th_dovecot_pass(&dovecot, 2)));
        daemon_stop(&d);
        unlink(pw);
        rmdir(creds);
        daemon_done(&d);
}
END_TEST

START_TEST(test_details_cap) {
        /* Three messages in one run, details_max = 2: details of the newest
         * two only (the UIDs of the run's range minus its first), all three
         * counted and in IMAPIDLED_UIDS. */
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL, *json = NULL;
        unsigned long lo, hi;
        char *e, want[64];

        daemon_dovecot_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 3, "INBOX"), 0);
        ck_assert_int_ge(asprintf(&acc,
                "{ name = \"cap\"; host = \"127.0.0.1\"; port = %s; tls = \"starttls\"; ca_file = \"%s\";\n"
                "  username = \"%s\"; password = \"%s\"; details_max = 2; debounce = 1.5;\n"
                "  on_new = { command = [\"/bin/sh\", \"-c\", \"env > %s/tmpenv-$$; cat > %s/json-$$; "
                "mv %s/tmpenv-$$ %s/env-$$\"]; details = true; }; }",
                dovecot.plain_port, dovecot.ca_file, th_dovecot_user(&dovecot, 3), th_dovecot_pass(&dovecot, 3),
                d.dir, d.dir, d.dir, d.dir), 0);
        write_config(&d, "accounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert(wait_log(&d, "-> idling", 1, 15000));
        for (unsigned i = 0; i < 3; i++)
                maildir_drop(3, "capped");
        ck_assert_msg(daemon_wait_hook(&d, "env-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        daemon_hook_files(&d, "json-", &json);
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=3\n") && strstr(env, "IMAPIDLED_DETAILS=2\n"), "%s", env);
        lo = strtoul(th_env_value(env, "IMAPIDLED_UIDS"), &e, 10);
        ck_assert_msg(*e == ':', "%s", env);
        hi = strtoul(e + 1, &e, 10);
        ck_assert_msg(*e == 0 && hi - lo == 2, "%s", env);
        /* Two JSON lines, oldest first: lo + 1, then hi; the newest in the environment. */
        ck_assert_uint_eq(strchr(strchr(json, '\n') + 1, '\n') - json + 1, strlen(json));
        snprintf(want, sizeof(want), "{\"uid\":%lu,", lo + 1);
        ck_assert_msg(strncmp(json, want, strlen(want)) == 0, "%s", json);
        snprintf(want, sizeof(want), "\n{\"uid\":%lu,", hi);
        ck_assert_msg(strstr(json, want), "%s", json);
        snprintf(want, sizeof(want), "%lu", hi);
        ck_assert_str_eq(th_env_value(env, "IMAPIDLED_UID"), want);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_poller_transcript) {
        /* The poller against an exact transcript: a mailbox that STATUS
         * refuses is logged and skipped, the others are still polled; a
         * change seen by STATUS is fetched with EXAMINE, UID FETCH, CLOSE,
         * once: the run it makes needs no second look. */
#define ITEMS " (MESSAGES UIDNEXT UIDVALIDITY)"
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] fake ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> STATUS INBOX" ITEMS),
                FAKE_SEND("* STATUS INBOX (MESSAGES 1 UIDNEXT 8 UIDVALIDITY 4)\r\n<tag> OK s\r\n"),
                FAKE_EXPECT("<tag> STATUS Gone" ITEMS),
                FAKE_SEND("<tag> NO [NONEXISTENT] no such mailbox\r\n"),
                /* The scan for what came since the saved UIDNEXT 7. */
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 1 EXISTS\r\n<tag> OK [READ-ONLY] e\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 7:* (UID)"),
                FAKE_SEND("* 1 FETCH (UID 7)\r\n<tag> OK f\r\n"),
                FAKE_EXPECT("<tag> CLOSE"),
                FAKE_SEND("<tag> OK c\r\n"),
                /* The on_new run knows its UIDs from the scan: nothing more is asked. */
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
#undef ITEMS
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *env = NULL;
        Daemon d;

        daemon_dovecot_init(&d);
        /* What a previous run knew: INBOX had UIDs below 7, one message. */
        daemon_write_state(&d, "poll", "imapidled-state 1\nINBOX 4 7 1 0 0\n");
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"poll\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; max_connections = 1;\n"
                     "  status_interval = 60; imap_notify = \"off\"; mailboxes = [\"INBOX\", \"Gone\"];\n"
                     "  on_new = %s; } );\n",
                     fake_imapd_port(f), daemon_hook_cmd(&d, "new"));
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "new-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=1\n") && strstr(env, "IMAPIDLED_UIDS=7\n") &&
                      strstr(env, "IMAPIDLED_REASON=catchup\n"), "%s", env);
        ck_assert_msg(log_count(&d, "STATUS poll/Gone refused") == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 5000), "log:\n%s", tail_of(d.log));
        /* The run knows its UIDs: whatever the connection would ask about it, it asks when the
         * run starts.  Once the run has ended, the stop's LOGOUT must be the next command the
         * script sees. */
        ck_assert_msg(wait_log(&d, "]: exited with status 0", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(daemon_log_lines(&d, "poll/INBOX on_new[", "]: exited with status 0") == 1, "log:\n%s",
                      tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        daemon_done(&d);
}
END_TEST

START_TEST(test_patterns_poll_dovecot) {
        /* Mailbox patterns without NOTIFY (patterns_dovecot() in th-daemon-dovecot.h): the
         * poller lists the patterns every status_interval. */
        patterns_dovecot("[\"INBOX\", \"Pt*\"]", "imap_notify = \"off\"; status_interval = 1;", false);
}
END_TEST


static Suite *daemon_suite(void) {
        Suite *s = suite_create("daemon");
        TCase *tc = tcase_create("daemon");

        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, daemon_dovecot_setup, daemon_dovecot_teardown);
        tcase_add_test(tc, test_new_and_expunge_hooks);
        tcase_add_test(tc, test_idle_interval_cycles);
        tcase_add_test(tc, test_rerun_while_running);
        tcase_add_test(tc, test_hook_lock_across_accounts);
        tcase_add_test(tc, test_hook_without_lock_overlaps);
        tcase_add_loop_test(tc, test_burst_of_100, 0, 2);
        tcase_add_test(tc, test_uidvalidity_change);
        tcase_add_test(tc, test_details);
        tcase_add_test(tc, test_details_cap);
        tcase_add_test(tc, test_flags_and_startup_sync);
        tcase_add_test(tc, test_counts_interleaved);
        tcase_add_test(tc, test_fresh_secret);
        tcase_add_test(tc, test_secret_shared);
        tcase_add_test(tc, test_secret_cache_zero);
        tcase_add_test(tc, test_secret_reload);
        tcase_add_test(tc, test_connection_budget);
        tcase_add_test(tc, test_max_connecting);
        tcase_add_test(tc, test_poller_transcript);
        tcase_add_test(tc, test_patterns_poll_dovecot);
        tcase_add_test(tc, test_credentials_directory);
        tcase_add_test(tc, test_bad_login_retries);
        tcase_add_test(tc, test_failing_and_hanging_hooks);
        tcase_add_test(tc, test_list_mailboxes);
        tcase_add_test(tc, test_catchup_across_restarts);
        tcase_add_test(tc, test_reconnect_after_server_restart);
        suite_add_tcase(s, tc);

        /* Its own case, to run alone (CK_RUN_CASE=reload). */
        tc = tcase_create("reload");
        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, daemon_dovecot_setup, daemon_dovecot_teardown);
        tcase_add_test(tc, test_reload_keeps_unchanged);
        tcase_add_test(tc, test_reload_failed_status);
        tcase_add_test(tc, test_reload_top_level_default);
        suite_add_tcase(s, tc);

        /* Its own case, to run alone (CK_RUN_CASE=qresync). */
        tc = tcase_create("qresync");
        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, daemon_dovecot_setup, daemon_dovecot_teardown);
        tcase_add_test(tc, test_qresync_transcript);
        tcase_add_test(tc, test_qresync_hostile);
        tcase_add_test(tc, test_qresync_dovecot);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(daemon_suite());
}
