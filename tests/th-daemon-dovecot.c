/* SPDX-License-Identifier: MIT */
/*
 * th-daemon-dovecot.c: see th-daemon-dovecot.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "macro.h"
#include "th-daemon-dovecot.h"
#include "th.h"

ThDovecot dovecot;
static int dovecot_r = -EAGAIN;

void daemon_dovecot_setup(void) {
        dovecot_r = th_dovecot_start(&dovecot);
}

void daemon_dovecot_teardown(void) {
        th_dovecot_stop(&dovecot);
}

void daemon_dovecot_init(Daemon *d) {
        ck_assert_msg(dovecot_r == 0, "Dovecot did not start: %s", strerror(-dovecot_r));
        daemon_init(d);
}

char *account_block_full(Daemon *d, const char *name, unsigned user, const char *extra, const char *port,
                         bool plaintext, bool uids) {
        char *s = NULL, tls[256];

        if (plaintext)
                snprintf(tls, sizeof(tls), "tls = \"none\"; allow_plaintext = true;");
        else
                snprintf(tls, sizeof(tls), "tls = \"starttls\"; ca_file = \"%s\";", dovecot.ca_file);
        ck_assert_int_ge(asprintf(&s,
                "{ name = \"%s\"; host = \"127.0.0.1\"; port = %s; %s\n"
                "  username = \"%s\"; password = \"%s\"; %s\n"
                "  on_new = { command = %s; uids = %s; };\n"
                "  on_expunge = %s;\n"
                "}",
                name, port, tls, th_dovecot_user(&dovecot, user), th_dovecot_pass(&dovecot, user),
                extra ? extra : "", daemon_hook_cmd(d, "new-$IMAPIDLED_ACCOUNT"), uids ? "true" : "false",
                daemon_hook_cmd(d, "expunge-$IMAPIDLED_ACCOUNT")), 0);
        return s;
}

char *account_block(Daemon *d, const char *name, unsigned user, const char *extra) {
        return account_block_full(d, name, user, extra, dovecot.plain_port, false, false);
}


void deliver(unsigned user, const char *subject) {
        deliver_to(user, "INBOX", subject);
}

void deliver_to(unsigned user, const char *mailbox, const char *subject) {
        char msg[256];

        snprintf(msg, sizeof(msg), "From: a@example.org\nSubject: %s\n\nhello\n", subject);
        ck_assert_int_eq(th_dovecot_deliver(&dovecot, user, mailbox, msg), 0);
}

/* A unique name in new/ is all a Maildir delivery is. */
void maildir_drop(unsigned user, const char *subject) {
        static unsigned seq;
        char dir[256], path[512], msg[256];
        struct stat st;
        int fd, n;

        snprintf(dir, sizeof(dir), "%s/home/%s/Maildir/new", dovecot.dir, th_dovecot_user(&dovecot, user));
        ck_assert_msg(stat(dir, &st) == 0, "%s: %m", dir);
        snprintf(path, sizeof(path), "%s/%ld.M%uP%d.imapidled-test", dir, (long) time(NULL), ++seq, (int) getpid());
        n = snprintf(msg, sizeof(msg), "From: a@example.org\nSubject: %s\n\nhello\n", subject);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, msg, (size_t) n), n);
        ck_assert_int_eq(fchown(fd, st.st_uid, st.st_gid), 0);
        ck_assert_int_eq(close(fd), 0);
}

/* The passwd-file's lines are "userN:<password>:...". */
void set_password(unsigned user, const char *password) {
        _cleanup_free_ char *old = NULL;
        char path[256], tmp[272], prefix[32];
        Buf out = BUF_INIT;
        FILE *f;

        snprintf(path, sizeof(path), "%s/users", dovecot.dir);
        snprintf(tmp, sizeof(tmp), "%s.new", path);
        snprintf(prefix, sizeof(prefix), "user%u:", user);
        old = read_file(path);
        for (char *line = old, *nl; *line; line = nl + 1) {
                nl = strchr(line, '\n');
                ck_assert_ptr_nonnull(nl);
                if (strncmp(line, prefix, strlen(prefix)) == 0) {
                        const char *rest = strchr(line + strlen(prefix), ':');

                        ck_assert_ptr_nonnull(rest);
                        ck_assert_int_eq(buf_append(&out, prefix, strlen(prefix), 0), 0);
                        ck_assert_int_eq(buf_append(&out, password, strlen(password), 0), 0);
                        ck_assert_int_eq(buf_append(&out, rest, (size_t) (nl + 1 - rest), 0), 0);
                } else
                        ck_assert_int_eq(buf_append(&out, line, (size_t) (nl + 1 - line), 0), 0);
        }
        f = fopen(tmp, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(out.data, 1, out.len, f), out.len);
        ck_assert_int_eq(fchmod(fileno(f), 0644), 0);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(rename(tmp, path), 0);
        buf_done(&out);
        /* Dovecot looks at the file's time stamp at most once a second: wait until the new
         * password works (200 ms between the tries, 10 s at most). */
        for (unsigned i = 0;; i++) {
                const char *test[] = { "auth", "test", th_dovecot_user(&dovecot, user), password, NULL };

                if (th_dovecot_doveadm(&dovecot, test) == 0)
                        break;
                ck_assert_uint_lt(i, 50);
                sleep_ms(200);
        }
}

/* ---- mailbox patterns (docs/EVENTS.md: Mailbox patterns) ---- */

/* user3's folders for the pattern tests: Pt1 and Pt2, and none of those
 * an earlier run created while running. */
void pattern_folders(void) {
        const char *del[] = { "mailbox", "delete", "-u", "user3", "PtNew", "PtRenamed", "PtKick", "PtFast", "Pt1", "Pt2", "PtGone",
                              "PtBox/Child", "PtBox", NULL };
        const char *create[] = { "mailbox", "create", "-u", "user3", "Pt1", "Pt2", "PtGone", "PtBox", NULL };
        const char *noselect[] = { "mailbox", "create", "-u", "user3", "PtBox/Child", NULL };

        /* One by one: doveadm stops at the first that is not there. */
        for (size_t i = 4; del[i]; i++)
                (void) th_dovecot_doveadm(&dovecot, (const char *[]) { "mailbox", "delete", "-u", "user3", del[i], NULL });
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, create), 0);
        (void) th_dovecot_doveadm(&dovecot, noselect);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 3, "INBOX"), 0);
}

void pattern_create(const char *name) {
        const char *create[] = { "mailbox", "create", "-u", "user3", name, NULL };

        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, create), 0);
}

void pattern_rename(const char *from, const char *to) {
        const char *rename[] = { "mailbox", "rename", "-u", "user3", from, to, NULL };

        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, rename), 0);
}

void pattern_delete(const char *name) {
        const char *del[] = { "mailbox", "delete", "-u", "user3", name, NULL };

        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, del), 0);
}

/* ["*"] or ["INBOX", "Pt*"] against Dovecot: what the pattern matches is watched from
 * the start; a folder created while running is watched, and mail delivered
 * into it at once (before the daemon had set up anew) is reported; a deleted
 * one is dropped.  'extra' picks NOTIFY or polling. */
void patterns_dovecot(const char *mailboxes, const char *extra, bool notify) {
        _cleanup_free_ char *acc = NULL, *boxes = NULL, *env = NULL, *all = NULL;
        char want[128];
        unsigned n, seen, runs, lines;
        Daemon d;

        daemon_dovecot_init(&d);
        pattern_folders();
        ck_assert_int_ge(asprintf(&boxes, "mailboxes = %s; %s", mailboxes, extra), 0);
        acc = account_block(&d, "pt", 3, boxes);
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        /* INBOX, Pt1, Pt2, PtGone, PtBox (PtBox/Child too: "*" crosses the hierarchy). */
        snprintf(want, sizeof(want), "STATUS=6/6 mailboxes idling%s", notify ? ", 6 with NOTIFY" : "\n");
        ck_assert_msg(wait_notify(&d, &d.notes, want, 20000), "%s\nlog:\n%s", d.notes.data, tail_of(d.log));

        deliver_to(3, "Pt2", "to Pt2");
        ck_assert_msg(daemon_wait_hook(&d, "new-pt-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_MAILBOX=Pt2\n") && strstr(env, "IMAPIDLED_COUNT=1\n"), "%s", env);

        /* Created while running, then delivered into once it is watched. */
        pattern_create("PtNew");
        snprintf(want, sizeof(want), "STATUS=7/7 mailboxes idling%s", notify ? ", 7 with NOTIFY" : "\n");
        ck_assert_msg(wait_notify(&d, &d.notes, want, 20000), "%s\nlog:\n%s", d.notes.data, tail_of(d.log));
        deliver_to(3, "PtNew", "to PtNew");
        ck_assert_msg(daemon_wait_hook(&d, "new-pt-", 2, 15000, NULL), "log:\n%s", tail_of(d.log));

        /* Created and delivered into at once: the mail is there before the
         * daemon watches the folder, and still reported (all of a folder
         * created while we watched is new). */
        pattern_create("PtFast");
        deliver_to(3, "PtFast", "to PtFast");
        ck_assert_msg(daemon_wait_hook(&d, "new-pt-", 3, 30000, NULL), "log:\n%s", tail_of(d.log));
        all = daemon_hook_outputs(&d, "new-pt-", &n);
        ck_assert_msg(n == 3 && strstr(all, "IMAPIDLED_MAILBOX=PtNew\n") && strstr(all, "IMAPIDLED_MAILBOX=PtFast\n") &&
                      !strstr(all, "IMAPIDLED_COUNT=0\n") && !strstr(all, "IMAPIDLED_COUNT=2\n"), "%u runs:\n%s", n, all);

        /* Deleted while running: no longer watched. */
        snprintf(want, sizeof(want), "STATUS=7/7 mailboxes idling%s", notify ? ", 7 with NOTIFY" : "\n");
        seen = th_count_of(d.notes.data, want);
        pattern_delete("PtGone");
        ck_assert_msg(wait_log(&d, "(0 new, 1 gone)", 1, 30000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(daemon_wait_notify_count(&d, want, seen + 1, 20000), "%s\nlog:\n%s", d.notes.data, tail_of(d.log));

        /* Renamed while running: with NOTIFY the server says from what (OLDNAME),
         * and what was known goes with it: its mail is not new.  Without, it is
         * a delete and a create: its mail is reported once.  Dovecot 2.3 reports
         * a rename with the next change of the mailbox list: one more folder. */
        pattern_rename("PtNew", "PtRenamed");
        if (notify) {
                pattern_create("PtKick");
                snprintf(want, sizeof(want), "STATUS=8/8 mailboxes idling, 8 with NOTIFY");
        }
        seen = th_count_of(d.notes.data, want);
        ck_assert_msg(wait_log(&d, notify ? "pt/PtRenamed: watched, renamed from PtNew" : "pt/PtRenamed: watched, new",
                               1, 30000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(daemon_wait_notify_count(&d, want, seen + 1, 20000), "%s\nlog:\n%s", d.notes.data, tail_of(d.log));
        if (notify)
                ck_assert_uint_eq(log_count(&d, "pt/PtRenamed: new"), 0);
        else
                ck_assert_msg(wait_log(&d, "pt/PtRenamed: new (catch-up), 1 message", 1, 10000), "log:\n%s",
                              tail_of(d.log));
        daemon_stop(&d);
        runs = notify ? 3 : 4;
        lines = log_count(&d, "the mailbox patterns match");

        /* Across a restart: the matched folders come back from the state file,
         * their mail that came meanwhile is caught up, no new set-up needed. */
        deliver_to(3, "PtRenamed", "while away");
        daemon_start(&d);
        ck_assert_msg(daemon_wait_hook(&d, "new-pt-", runs + 1, 20000, NULL), "log:\n%s", tail_of(d.log));
        free(all);
        all = daemon_hook_outputs(&d, "new-pt-", &n);
        ck_assert_msg(n == runs + 1 && strstr(all, "IMAPIDLED_REASON=catchup\n") &&
                      strstr(all, "IMAPIDLED_MAILBOX=PtRenamed\n"), "%u runs:\n%s", n, all);
        ck_assert_msg(wait_notify(&d, &d.notes, want, 20000), "%s\nlog:\n%s", d.notes.data, tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "the mailbox patterns match"), lines);
        daemon_stop(&d);
        daemon_done(&d);
}
