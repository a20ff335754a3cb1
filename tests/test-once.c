/* SPDX-License-Identifier: MIT */
/*
 * test-once.c: imapidled --once against a real Dovecot (tests/th-daemon-dovecot.h): the first
 * run records the state and runs no hook; mail delivered between two runs makes the second
 * run fire on_new once, as a catch-up, and exit 0 only after the hook ended; a run with nothing
 * new runs nothing; an unreachable account makes the run exit 1 naming it while the other
 * account still runs its hook; a failing hook, or one whose exec fails, makes it exit 1 naming
 * the hook; a NOTIFY connection and a STATUS poller catch up and log out as an IDLE one does,
 * and so do the mailboxes that patterns match (docs/imapidled.8, --once).
 *
 * Each run is the binary run to its end (daemon_run_tool()): the test waits for the process,
 * never for time.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "th-daemon-dovecot.h"
#include "th.h"

/* An account on Dovecot user N whose on_new is 'hook' (a libconfig list) and on_expunge the
 * usual file writer (th-daemon.h). */
static char *once_account(Daemon *d, const char *name, unsigned user, const char *hook) {
        char *s = NULL;

        ck_assert_int_ge(asprintf(&s,
                "{ name = \"%s\"; host = \"127.0.0.1\"; port = %s; tls = \"starttls\"; ca_file = \"%s\";\n"
                "  username = \"%s\"; password = \"%s\";\n"
                "  on_new = %s;\n"
                "  on_expunge = %s;\n"
                "}",
                name, dovecot.plain_port, dovecot.ca_file, th_dovecot_user(&dovecot, user),
                th_dovecot_pass(&dovecot, user), hook, daemon_hook_cmd(d, "expunge-$IMAPIDLED_ACCOUNT")), 0);
        return s;
}

/* A hook that takes a while before it writes its file "<prefix>-<pid>": a daemon that exited
 * without waiting for it would leave no file behind when the test looks. */
static const char *slow_hook(Daemon *d, const char *prefix) {
        static char out[512];

        snprintf(out, sizeof(out), "[\"/bin/sh\", \"-c\", \"sleep 1; d=%s; env > $d/.t$$ && mv $d/.t$$ $d/%s-$$\"]",
                 d->dir, prefix);
        return out;
}

/* imapidled -c <conf> --once -v to its end, as systemd's timer would run it (no NOTIFY_SOCKET);
 * its exit status, or -1 if it did not exit. */
static int run_once(Daemon *d) {
        char state[128], out[128];
        int status;

        snprintf(state, sizeof(state), "%s/state", d->dir);
        snprintf(out, sizeof(out), "%s/once.out", d->dir);
        ck_assert_int_eq(setenv("STATE_DIRECTORY", state, 1), 0);
        ck_assert_int_eq(unsetenv("NOTIFY_SOCKET"), 0);
        status = daemon_run_tool(d, (const char *const[]) { "--once", "-v", NULL }, out);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A port where a connection is refused: bound, never listening, and held until the test ends,
 * so no other program takes it meanwhile. */
static int closed_port(unsigned *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

START_TEST(test_once_catchup) {
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL;
        struct stat st;
        unsigned caught;

        daemon_dovecot_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, "INBOX"), 0);
        acc = once_account(&d, "one", 1, slow_hook(&d, "new-$IMAPIDLED_ACCOUNT"));
        write_config(&d, "accounts = ( %s );\n", acc);

        /* The first run ever: the state is recorded, nothing is reported (the daemon's first start). */
        ck_assert_msg(run_once(&d) == 0, "log:\n%s", tail_of(d.log));
        ck_assert_msg(stat(daemon_state_path(&d, "one"), &st) == 0, "no state file; log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(daemon_hook_files(&d, "new-one-", NULL), 0);
        ck_assert_msg(log_count(&d, "one/INBOX: caught up, logging out") == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "-> idling") == 0 && log_count(&d, "IDLE") == 0, "log:\n%s", tail_of(d.log));

        /* Mail between two runs: one catch-up run of on_new, over when the process is. */
        deliver(1, "between runs");
        ck_assert_msg(run_once(&d) == 0, "log:\n%s", tail_of(d.log));
        ck_assert_msg(daemon_hook_files(&d, "new-one-", &env) == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=1\n") && strstr(env, "IMAPIDLED_EXISTS=1\n") &&
                      strstr(env, "IMAPIDLED_REASON=catchup\n") && strstr(env, "IMAPIDLED_EVENT=new\n"), "%s", env);
        ck_assert_uint_eq(daemon_hook_files(&d, "expunge-one-", NULL), 0);

        /* Nothing new: no run; the state moved past the message. */
        caught = log_count(&d, "caught up, logging out");
        ck_assert_msg(run_once(&d) == 0, "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "caught up, logging out"), caught + 1);
        ck_assert_msg(daemon_hook_files(&d, "new-one-", NULL) == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "Failed:") == 0, "log:\n%s", tail_of(d.log));
        daemon_done(&d);
}
END_TEST

START_TEST(test_once_unreachable_account) {
        Daemon d;
        _cleanup_free_ char *good = NULL;
        char down[512];
        unsigned port;
        int fd;

        daemon_dovecot_init(&d);
        fd = closed_port(&port);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 2, "INBOX"), 0);
        good = once_account(&d, "good", 2, daemon_hook_cmd(&d, "new-$IMAPIDLED_ACCOUNT"));
        snprintf(down, sizeof(down),
                 "{ name = \"down\"; host = \"127.0.0.1\"; port = %u; tls = \"none\"; allow_plaintext = true;\n"
                 "  username = \"x\"; password = \"y\"; on_new = %s; }", port,
                 daemon_hook_cmd(&d, "new-$IMAPIDLED_ACCOUNT"));
        write_config(&d, "accounts = ( %s, %s );\n", good, down);

        ck_assert_msg(run_once(&d) == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "Failed: accounts 'down'\n") == 1, "log:\n%s", tail_of(d.log));
        deliver(2, "while down is down");
        ck_assert_msg(run_once(&d) == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "Failed: accounts 'down'\n") == 2, "log:\n%s", tail_of(d.log));
        /* One attempt each run, no retry. */
        ck_assert_msg(log_count(&d, "retrying in") == 0, "log:\n%s", tail_of(d.log));
        ck_assert_msg(daemon_hook_files(&d, "new-good-", NULL) == 1, "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(daemon_hook_files(&d, "new-down-", NULL), 0);
        close(fd);
        daemon_done(&d);
}
END_TEST

/* _i 0: a hook that exits 3; _i 1: one that never starts, an executable file whose interpreter
 * does not exist (the configuration check finds the program; its exec fails). */
START_TEST(test_once_failing_hook) {
        Daemon d;
        _cleanup_free_ char *acc = NULL;
        char prog[512], hook[600];

        daemon_dovecot_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 3, "INBOX"), 0);
        if (_i == 0)
                snprintf(hook, sizeof(hook), "[\"/bin/sh\", \"-c\", \"exit 3\"]");
        else {
                FILE *f;

                snprintf(prog, sizeof(prog), "%s/no-interpreter", d.dir);
                ck_assert_ptr_nonnull(f = fopen(prog, "we"));
                fputs("#!/nonexistent/interpreter\n", f);
                ck_assert_int_eq(fclose(f), 0);
                ck_assert_int_eq(chmod(prog, 0755), 0);
                snprintf(hook, sizeof(hook), "[\"%s\"]", prog);
        }
        acc = once_account(&d, "fh", 3, hook);
        write_config(&d, "accounts = ( %s );\n", acc);
        ck_assert_msg(run_once(&d) == 0, "log:\n%s", tail_of(d.log));
        deliver(3, "for a failing hook");
        ck_assert_msg(run_once(&d) == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "Failed: hooks fh/INBOX on_new\n") == 1, "log:\n%s", tail_of(d.log));
        /* The exec failure is logged with the program it could not run. */
        ck_assert_msg(_i == 0 || log_count(&d, "no-interpreter': No such file or directory") == 1,
                      "log:\n%s", tail_of(d.log));
        daemon_done(&d);
}
END_TEST

/* One connection for both mailboxes: the NOTIFY connection (_i 0: its STATUS answers are the
 * catch-up) or the STATUS poller (_i 1: imap_notify off, max_connections 1): it logs out after
 * its catch-up as the idle one does, and the mail in the second mailbox is reported. */
START_TEST(test_once_shared_connection) {
        static const char *const extra[] = {
                "mailboxes = [\"INBOX\", \"Once0\"];",
                "mailboxes = [\"INBOX\", \"Once1\"]; imap_notify = \"off\"; max_connections = 1;",
        };
        char box[16];
        const char *create[] = { "mailbox", "create", "-u", th_dovecot_user(&dovecot, 4), box, NULL };
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL;

        daemon_dovecot_init(&d);
        snprintf(box, sizeof(box), "Once%d", _i);
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, create), 0);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 4, "INBOX"), 0);
        acc = account_block(&d, "sh", 4, extra[_i]);
        write_config(&d, "accounts = ( %s );\n", acc);
        ck_assert_msg(run_once(&d) == 0, "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(daemon_hook_files(&d, "new-sh-", NULL), 0);
        deliver_to(4, box, "into the second mailbox");
        ck_assert_msg(run_once(&d) == 0, "log:\n%s", tail_of(d.log));
        ck_assert_msg(daemon_hook_files(&d, "new-sh-", &env) == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(!strcmp(th_env_value(env, "IMAPIDLED_MAILBOX"), box) && strstr(env, "IMAPIDLED_COUNT=1\n") &&
                      strstr(env, "IMAPIDLED_REASON=catchup\n"), "%s", env);
        /* The connection the variant is about: NOTIFY SET, or a STATUS round; once a run. */
        ck_assert_msg(log_count(&d, _i == 0 ? "-> notify-setting" : "-> polling") >= 2, "log:\n%s", tail_of(d.log));
        /* One connection each run, never idling. */
        ck_assert_msg(log_count(&d, "caught up, logging out") == 2 && log_count(&d, "-> idling") == 0,
                      "log:\n%s", tail_of(d.log));
        daemon_done(&d);
}
END_TEST

/* Mailbox patterns: the first run lists them and watches what they match (the connections
 * are set up anew for it, docs/EVENTS.md: Mailbox patterns), recording each; the second finds
 * them in the state file and reports the mail delivered into one of them. */
START_TEST(test_once_patterns) {
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL;

        daemon_dovecot_init(&d);
        pattern_folders();
        acc = account_block(&d, "pt", 3, "mailboxes = [\"Pt%\"];");
        write_config(&d, "accounts = ( %s );\n", acc);
        ck_assert_msg(run_once(&d) == 0, "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(daemon_hook_files(&d, "new-pt-", NULL), 0);
        {
                _cleanup_free_ char *st = read_file(daemon_state_path(&d, "pt"));

                ck_assert_msg(strstr(st, "\nPt2 ") && strstr(st, "\nPtBox "), "%s", st);
        }
        deliver_to(3, "Pt2", "into a matched mailbox");
        ck_assert_msg(run_once(&d) == 0, "log:\n%s", tail_of(d.log));
        ck_assert_msg(daemon_hook_files(&d, "new-pt-", &env) == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(!strcmp(th_env_value(env, "IMAPIDLED_MAILBOX"), "Pt2") && strstr(env, "IMAPIDLED_COUNT=1\n"),
                      "%s", env);
        daemon_done(&d);
}
END_TEST

static Suite *once_suite(void) {
        Suite *s = suite_create("once");
        TCase *tc = tcase_create("once");

        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, daemon_dovecot_setup, daemon_dovecot_teardown);
        tcase_add_test(tc, test_once_catchup);
        tcase_add_test(tc, test_once_unreachable_account);
        tcase_add_loop_test(tc, test_once_failing_hook, 0, 2);
        tcase_add_loop_test(tc, test_once_shared_connection, 0, 2);
        tcase_add_test(tc, test_once_patterns);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return th_run_suite(once_suite());
}
