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

