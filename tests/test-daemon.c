/* SPDX-License-Identifier: MIT */
/*
 * test-daemon.c: the imapidled binary against a real Dovecot (tests/th-dovecot.h):
 * hooks fire on delivery and expunge with the right environment, IDLE is
 * re-issued at idle_interval, a restarted server is reconnected to, SIGHUP
 * reloads without touching unchanged accounts, SIGTERM stops within 5 s, and
 * systemd hears READY=1, STATUS=, RELOADING=1, STOPPING=1 on NOTIFY_SOCKET.
 *
 * Hooks in these configs write their environment into files under the test's
 * directory; the daemon's log (stderr, -v) goes to a file the test reads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "macro.h"
#include "fake-imapd.h"
#include "faultproxy.h"
#include "th-dovecot.h"
#include "th.h"



static ThDovecot dovecot;
static int dovecot_r = -EAGAIN;

static void setup(void) {
        dovecot_r = th_dovecot_start(&dovecot);
}

static void teardown(void) {
        th_dovecot_stop(&dovecot);
}

typedef struct Daemon {
        char dir[64];           /* scratch: config, log, hook output, notify socket */
        char conf[96], log[96], notify[96];
        pid_t pid;
        int notify_fd;
        Buf notes;              /* every notification so far: drained on every wait, as systemd would */
} Daemon;

static void read_notify(Daemon *d, Buf *out);

static uint64_t mono_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms) {
        nanosleep(&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000 }, NULL);
}

static void daemon_init(Daemon *d) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        ck_assert_int_eq(dovecot_r, 0);
        memset(d, 0, sizeof(*d));
        snprintf(d->dir, sizeof(d->dir), "/tmp/imapidled-td-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(d->dir));
        snprintf(d->conf, sizeof(d->conf), "%s/imapidled.conf", d->dir);
        snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
        snprintf(d->notify, sizeof(d->notify), "%s/notify", d->dir);
        d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(d->notify_fd, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->notify);
        ck_assert_int_eq(bind(d->notify_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
}

_printf_(2, 3) static void write_config(Daemon *d, const char *fmt, ...) {
        FILE *f = fopen(d->conf, "we");
        va_list ap;

        ck_assert_ptr_nonnull(f);
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(chmod(d->conf, 0600), 0);
}

/* An account block for Dovecot user N watching 'mailboxes', hooks writing
 * "<event>-<account>-<mailbox>-<pid>" files with their environment; on
 * 'port' with STARTTLS, or in plaintext (for the fault proxy, which must see
 * the protocol).  uids: on_new wants its exact UIDs (uids = true). */
static char *account_block_full(Daemon *d, const char *name, unsigned user, const char *extra, const char *port,
                                bool plaintext, bool uids) {
        char *s = NULL, tls[256];

        if (plaintext)
                snprintf(tls, sizeof(tls), "tls = \"none\"; allow_plaintext = true;");
        else
                snprintf(tls, sizeof(tls), "tls = \"starttls\"; ca_file = \"%s\";", dovecot.ca_file);
        ck_assert_int_ge(asprintf(&s,
                "{ name = \"%s\"; host = \"127.0.0.1\"; port = %s; %s\n"
                "  username = \"%s\"; password = \"%s\"; %s\n"
                "  on_new = { command = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/new-$IMAPIDLED_ACCOUNT-$$\"]; uids = %s; };\n"
                "  on_expunge = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/expunge-$IMAPIDLED_ACCOUNT-$$\"];\n"
                "}",
                name, port, tls, th_dovecot_user(&dovecot, user), th_dovecot_pass(&dovecot, user),
                extra ? extra : "", d->dir, uids ? "true" : "false", d->dir), 0);
        return s;
}

static char *account_block(Daemon *d, const char *name, unsigned user, const char *extra) {
        return account_block_full(d, name, user, extra, dovecot.plain_port, false, false);
}

static void daemon_start(Daemon *d) {
        char *argv[] = { (char[]) { DAEMON_PATH }, (char[]) { "-v" }, (char[]) { "-c" }, d->conf, NULL };
        posix_spawn_file_actions_t fa;
        char notify_env[160], state_env[160];
        char **env;
        size_t n = 0;

        for (char **e = environ; *e; e++)
                n++;
        env = calloc(n + 3, sizeof(char *));
        ck_assert_ptr_nonnull(env);
        n = 0;
        for (char **e = environ; *e; e++)
                if (strncmp(*e, "NOTIFY_SOCKET=", 14) != 0 && strncmp(*e, "STATE_DIRECTORY=", 16) != 0)
                        env[n++] = *e;
        snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=%s", d->notify);
        snprintf(state_env, sizeof(state_env), "STATE_DIRECTORY=%s/state", d->dir);
        env[n++] = notify_env;
        env[n++] = state_env;
        env[n] = NULL;
        ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
        ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, d->log, O_WRONLY | O_CREAT | O_APPEND,
                                                          0600), 0);
        ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0), 0);
        ck_assert_int_eq(posix_spawn(&d->pid, DAEMON_PATH, &fa, NULL, argv, env), 0);
        posix_spawn_file_actions_destroy(&fa);
        free(env);
}

static char *read_file(const char *path) {
        Buf b = BUF_INIT;
        char tmp[4096];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return strdup("");
        while ((n = read(fd, tmp, sizeof(tmp))) > 0)
                ck_assert_int_eq(buf_append(&b, tmp, (size_t) n, 0), 0);
        close(fd);
        ck_assert_int_eq(buf_append(&b, "", 1, 0), 0);
        return b.data;
}

/* The end of a file, short enough for a Check message (they are capped). */
static const char *tail_of(const char *path) {
        static char out[2048];
        _cleanup_free_ char *s = read_file(path);
        size_t n = strlen(s);

        snprintf(out, sizeof(out), "%s%s", n > sizeof(out) - 16 ? "...\n" : "",
                 n > sizeof(out) - 16 ? s + n - (sizeof(out) - 16) : s);
        return out;
}

/* Count occurrences of needle in the daemon's log. */
static unsigned log_count(Daemon *d, const char *needle) {
        _cleanup_free_ char *s = read_file(d->log);
        unsigned n = 0;

        for (const char *p = s; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

static bool wait_log(Daemon *d, const char *needle, unsigned count, unsigned timeout_ms) {
        uint64_t end = mono_ms() + timeout_ms;

        while (mono_ms() < end) {
                read_notify(d, &d->notes);
                if (log_count(d, needle) >= count)
                        return true;
                sleep_ms(50);
        }
        return false;
}

/* Hook output files named prefix* in the scratch dir. */
static unsigned hook_files(Daemon *d, const char *prefix, char **ret_first) {
        unsigned n = 0;
        DIR *dir = opendir(d->dir);
        struct dirent *de;

        ck_assert_ptr_nonnull(dir);
        while ((de = readdir(dir)))
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
                        if (n == 0 && ret_first) {
                                char path[512];
                                snprintf(path, sizeof(path), "%s/%s", d->dir, de->d_name);
                                *ret_first = read_file(path);
                        }
                        n++;
                }
        closedir(dir);
        return n;
}

static bool wait_hook(Daemon *d, const char *prefix, unsigned count, unsigned timeout_ms, char **ret_first) {
        uint64_t end = mono_ms() + timeout_ms;

        while (mono_ms() < end) {
                read_notify(d, &d->notes);
                /* Hooks write to a temporary name and rename (atomic, rename(2)): a
                 * file that is there is complete. */
                if (hook_files(d, prefix, NULL) >= count) {
                        if (ret_first)
                                hook_files(d, prefix, ret_first);
                        return true;
                }
                sleep_ms(20);
        }
        return false;
}

/* Every notification received so far, concatenated. */
static void read_notify(Daemon *d, Buf *out) {
        char msg[4096];
        ssize_t n;

        while ((n = recv(d->notify_fd, msg, sizeof(msg), 0)) > 0) {
                ck_assert_int_eq(buf_append(out, msg, (size_t) n, 0), 0);
                ck_assert_int_eq(buf_append(out, "\n", 1, 0), 0);
        }
}

static bool wait_notify(Daemon *d, Buf *all, const char *needle, unsigned timeout_ms) {
        uint64_t end = mono_ms() + timeout_ms;

        while (mono_ms() < end) {
                read_notify(d, all);
                if (all->data && strstr(all->data, needle))
                        return true;
                sleep_ms(20);
        }
        return false;
}

/* SIGTERM: the daemon must exit 0 within 5 s. */
static void daemon_stop(Daemon *d) {
        uint64_t t0 = mono_ms();
        int status = 0;
        pid_t p;

        ck_assert_int_eq(kill(d->pid, SIGTERM), 0);
        while ((p = waitpid(d->pid, &status, WNOHANG)) == 0 && mono_ms() - t0 < 6000) {
                read_notify(d, &d->notes);
                sleep_ms(20);
        }
        if (p == 0) {
                kill(d->pid, SIGKILL);
                waitpid(d->pid, &status, 0);
                ck_abort_msg("daemon did not stop within 6 s after SIGTERM; log:\n%s", tail_of(d->log));
        }
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon exit status %d", status);
        ck_assert_uint_lt(mono_ms() - t0, 5000);
        d->pid = 0;
}

static void daemon_done(Daemon *d) {
        if (d->pid > 0) {
                kill(d->pid, SIGKILL);
                waitpid(d->pid, NULL, 0);
        }
        close(d->notify_fd);
        buf_done(&d->notes);
        {
                char sub[128];
                DIR *dir;
                struct dirent *de;

                /* The state directory the daemon made. */
                snprintf(sub, sizeof(sub), "%s/state", d->dir);
                dir = opendir(sub);
                while (dir && (de = readdir(dir)))
                        if (de->d_name[0] != '.' || strlen(de->d_name) > 2) {
                                char path[512];
                                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                                        continue;
                                snprintf(path, sizeof(path), "%s/%s", sub, de->d_name);
                                unlink(path);
                        }
                if (dir)
                        closedir(dir);
                rmdir(sub);
        }
        {
                DIR *dir = opendir(d->dir);
                struct dirent *de;

                while (dir && (de = readdir(dir)))
                        if (de->d_name[0] != '.') {
                                char path[512];
                                snprintf(path, sizeof(path), "%s/%s", d->dir, de->d_name);
                                unlink(path);
                        }
                if (dir)
                        closedir(dir);
                rmdir(d->dir);
        }
}

static void deliver(unsigned user, const char *subject) {
        char msg[256];

        snprintf(msg, sizeof(msg), "From: a@example.org\nSubject: %s\n\nhello\n", subject);
        ck_assert_int_eq(th_dovecot_deliver(&dovecot, user, "INBOX", msg), 0);
}

/* A state file for account 'name', as a previous run would have left it. */
static void write_state(Daemon *d, const char *name, const char *content) {
        char path[160];
        FILE *sf;

        snprintf(path, sizeof(path), "%s/state", d->dir);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/state/%s.state", d->dir, name);
        sf = fopen(path, "we");
        ck_assert_ptr_nonnull(sf);
        fputs(content, sf);
        ck_assert_int_eq(fclose(sf), 0);
}

static void deliver_to(unsigned user, const char *mailbox, const char *subject) {
        char msg[256];

        snprintf(msg, sizeof(msg), "From: a@example.org\nSubject: %s\n\nhello\n", subject);
        ck_assert_int_eq(th_dovecot_deliver(&dovecot, user, mailbox, msg), 0);
}

/* Put a message straight into user N's Maildir/new, as a local MTA would
 * while the IMAP server is down (Maildir: cr.yp.to/proto/maildir.html). */
static void maildir_drop(unsigned user, const char *subject) {
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

static const char *env_value(const char *env, const char *name);

/* ---- tests ---------------------------------------------------------------------------------------- */

START_TEST(test_new_and_expunge_hooks) {
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL;
        uint64_t t0;

        daemon_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, "INBOX"), 0);
        acc = account_block(&d, "work", 1, NULL);
        /* debounce = 0: this measures the path from delivery to hook. */
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 15000), "no READY=1; log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(d.notes.data, "STATUS=1/1 mailboxes idling"), "%s", d.notes.data);

        t0 = mono_ms();
        deliver(1, "one");
        ck_assert_msg(wait_hook(&d, "new-work-", 1, 10000, &env), "no on_new; log:\n%s", tail_of(d.log));
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
        ck_assert_msg(wait_hook(&d, "expunge-work-", 1, 10000, &env), "no on_expunge; log:\n%s", tail_of(d.log));
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

        daemon_init(&d);
        acc = account_block(&d, "cyc", 2, NULL);
        write_config(&d, "idle_interval = 1;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));
        /* DONE and IDLE again, several times (RFC 2177 re-issue). */
        ck_assert_msg(wait_log(&d, "idling -> idle-ending", 3, 10000), "log:\n%s", tail_of(d.log));
        deliver(2, "during cycles");
        ck_assert_msg(wait_hook(&d, "new-cyc-", 1, 10000, NULL), "log:\n%s", tail_of(d.log));
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

        daemon_init(&d);
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
        ck_assert_msg(wait_hook(&d, "new-rs-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=2\n"), "%s", env);
        daemon_stop(&d);
        ck_assert_uint_eq(log_count(&d, "pass3"), 0);
        daemon_done(&d);
}
END_TEST

START_TEST(test_reload_keeps_unchanged) {
        Daemon d;
        _cleanup_free_ char *a = NULL, *b = NULL, *b2 = NULL;

        daemon_init(&d);
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
        ck_assert_msg(wait_hook(&d, "new-keep-", 1, 10000, NULL), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_bad_login_retries) {
        Daemon d;

        daemon_init(&d);
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

        daemon_init(&d);
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
        char *argv[] = { (char[]) { DAEMON_PATH }, (char[]) { "-c" }, d.conf, (char[]) { "--list-mailboxes" },
                         (char[]) { "lm" }, NULL };
        const char *mkbox[] = { "mailbox", "create", "-u", "user2", "Lists/\xc3\xa9t\xc3\xa9", NULL };
        posix_spawn_file_actions_t fa;
        char outpath[128];
        pid_t pid;
        int status;

        daemon_init(&d);
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, mkbox), 0);
        acc = account_block(&d, "lm", 2, "mailboxes = [\"INBOX\", \"Lists/*\", \"Missing\"];");
        write_config(&d, "accounts = ( %s );\n", acc);
        snprintf(outpath, sizeof(outpath), "%s/list.out", d.dir);
        ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
        ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, outpath, O_WRONLY | O_CREAT, 0600), 0);
        ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, d.log, O_WRONLY | O_CREAT, 0600), 0);
        ck_assert_int_eq(posix_spawn(&pid, DAEMON_PATH, &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
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

START_TEST(test_starttls_injection_refused) {
        /* docs/SECURITY.md B01 at the daemon level: bytes after the STARTTLS OK end
         * the connection before any TLS or credentials; then it retries. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake\r\n"),
                FAKE_EXPECT("<tag> STARTTLS"),
                FAKE_SEND("<tag> OK Begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "accounts = ( { name = \"inj\"; host = \"127.0.0.1\"; port = %u; tls = \"starttls\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"never-sent\"; } );\n",
                     fake_imapd_port(f), dovecot.ca_file);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "possible injection", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s", report ? report : "");
        ck_assert(wait_log(&d, "retrying in", 1, 5000));
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_A05_reply_before_starttls) {
        /* Catalogue case A05 at the daemon level: a STARTTLS reply in the greeting's segment,
         * with the tag a fixed prefix would give ("A0"), and the next one.  The connection
         * reads the whole segment before it writes, so the session sees the reply before its
         * STARTTLS left: not taken for the reply, no TLS, no credentials, not even the
         * STARTTLS line; then it retries. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake\r\n"
                          "A0 OK Begin TLS\r\nA1 OK Begin TLS\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "accounts = ( { name = \"a05\"; host = \"127.0.0.1\"; port = %u; tls = \"starttls\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"never-sent\"; } );\n",
                     fake_imapd_port(f), dovecot.ca_file);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "unexpected response: 'A0 OK Begin TLS'") == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s", report ? report : "");
        ck_assert_uint_eq(log_count(&d, "never-sent"), 0);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_catchup_across_restarts) {
        /* Issue 5: stop the daemon, deliver 3, start it: one catch-up event
         * with count 3; start again with nothing delivered: no event; a
         * corrupt state file: a warning and a fresh start. */
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL;
        char path[160];
        unsigned idled;
        FILE *f;

        daemon_init(&d);
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
        ck_assert_msg(wait_hook(&d, "new-cu-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=3\n"), "%s", env);
        ck_assert(strstr(env, "IMAPIDLED_REASON=catchup\n"));
        {
                /* The three new UIDs, as a range usable with UID FETCH. */
                unsigned long a, b;
                char *e;

                a = strtoul(env_value(env, "IMAPIDLED_UIDS"), &e, 10);
                ck_assert_msg(*e == ':', "%s", env);
                b = strtoul(e + 1, &e, 10);
                ck_assert_msg(*e == 0 && b - a + 1 == 3, "%s", env);
        }
        ck_assert(strstr(env, "IMAPIDLED_EXISTS=3\n"));
        sleep_ms(1500);
        ck_assert_msg(hook_files(&d, "new-cu-", NULL) == 1, "log:\n%s", tail_of(d.log));
        daemon_stop(&d);

        /* Nothing happened: no event. */
        idled = log_count(&d, "-> idling");
        daemon_start(&d);
        ck_assert(wait_log(&d, "-> idling", idled + 1, 15000));
        sleep_ms(1500);
        ck_assert_msg(hook_files(&d, "new-cu-", NULL) == 1, "log:\n%s", tail_of(d.log));
        daemon_stop(&d);

        /* Expunged while away: one catch-up expunge event, and no new one. */
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, "INBOX"), 0);
        free(env);
        env = NULL;
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "expunge-cu-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=3\n"), "%s", env);
        ck_assert(strstr(env, "IMAPIDLED_REASON=catchup\n"));
        ck_assert(strstr(env, "IMAPIDLED_EXISTS=0\n"));
        sleep_ms(1500);
        ck_assert_uint_eq(hook_files(&d, "new-cu-", NULL), 1);
        daemon_stop(&d);

        snprintf(path, sizeof(path), "%s/state/cu.state", d.dir);
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

/* ---- issue 5: events users can trust ------------------------------------------------------------ */

/* Every hook output file named prefix*, concatenated (order unspecified). */
static char *hook_outputs(Daemon *d, const char *prefix, unsigned *ret_n) {
        Buf b = BUF_INIT;
        DIR *dir = opendir(d->dir);
        struct dirent *de;
        unsigned n = 0;

        ck_assert_ptr_nonnull(dir);
        while ((de = readdir(dir)))
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
                        char path[512];
                        _cleanup_free_ char *s = NULL;

                        snprintf(path, sizeof(path), "%s/%s", d->dir, de->d_name);
                        s = read_file(path);
                        ck_assert_int_eq(buf_append(&b, s, strlen(s), 0), 0);
                        ck_assert_int_eq(buf_append(&b, "\x1e\n", 2, 0), 0);
                        n++;
                }
        closedir(dir);
        ck_assert_int_eq(buf_append(&b, "", 1, 0), 0);
        if (ret_n)
                *ret_n = n;
        return b.data;
}

/* The value of NAME= in an env dump, or "" (static buffer). */
static const char *env_value(const char *env, const char *name) {
        static char v[4096];
        char key[64];
        const char *p;
        size_t n;

        snprintf(key, sizeof(key), "\n%s=", name);
        p = strstr(env, key);
        if (!p && strncmp(env, key + 1, strlen(key) - 1) == 0)
                p = env - 1;
        if (!p)
                return "";
        p += strlen(key);
        n = strcspn(p, "\n");
        snprintf(v, sizeof(v), "%.*s", (int) MIN(n, sizeof(v) - 1), p);
        return v;
}

START_TEST(test_rerun_while_running) {
        /* A hook that takes 3 s; two deliveries while it runs: exactly one
         * more run, after it, covering both (docs/EVENTS.md, Scheduling). */
        Daemon d;
        _cleanup_free_ char *acc = NULL, *all = NULL;
        unsigned n;

        daemon_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 4, "INBOX"), 0);
        ck_assert_int_ge(asprintf(&acc,
                "{ name = \"rr\"; host = \"127.0.0.1\"; port = %s; tls = \"starttls\"; ca_file = \"%s\";\n"
                "  username = \"%s\"; password = \"%s\";\n"
                "  on_new = [\"/bin/sh\", \"-c\", \"env > %s/tmp-$$; sleep 3; mv %s/tmp-$$ %s/run-$$\"]; }",
                dovecot.plain_port, dovecot.ca_file, th_dovecot_user(&dovecot, 4), th_dovecot_pass(&dovecot, 4),
                d.dir, d.dir, d.dir), 0);
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert(wait_notify(&d, &d.notes, "READY=1", 15000));
        deliver(4, "first");
        ck_assert_msg(wait_hook(&d, "tmp-", 1, 10000, NULL), "log:\n%s", tail_of(d.log));
        deliver(4, "second");
        deliver(4, "third");
        /* Both delivered while the first run still runs (it sleeps 3 s). */
        ck_assert_uint_eq(hook_files(&d, "run-", NULL), 0);
        ck_assert_msg(wait_hook(&d, "run-", 2, 15000, NULL), "log:\n%s", tail_of(d.log));
        sleep_ms(4000);         /* a third run would have started and ended by now */
        all = hook_outputs(&d, "run-", &n);
        ck_assert_msg(n == 2, "%u runs:\n%s", n, all);
        ck_assert_uint_eq(hook_files(&d, "tmp-", NULL), 0);
        ck_assert_msg(strstr(all, "IMAPIDLED_COUNT=1\n") && strstr(all, "IMAPIDLED_COUNT=2\n"), "%s", all);
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
        uint64_t t0, total = 0;
        uint32_t lo = UINT32_MAX, hi = 0, lows[16];
        unsigned n, n_lows = 0;

        daemon_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 3, "INBOX"), 0);
        write_config(&d,
                     "accounts = ( { name = \"burst\"; host = \"127.0.0.1\"; port = %s;\n"
                     "  tls = \"starttls\"; ca_file = \"%s\"; username = \"%s\"; password = \"%s\";\n"
                     "  on_new = { command = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/new-burst-$$\"]; uids = %s; }; } );\n",
                     dovecot.plain_port, dovecot.ca_file, th_dovecot_user(&dovecot, 3), th_dovecot_pass(&dovecot, 3),
                     d.dir, exact ? "true" : "false");
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 15000), "log:\n%s", tail_of(d.log));
        ck_assert(wait_log(&d, "-> idling", 1, 10000));
        t0 = mono_ms();
        for (unsigned i = 0; i < 100; i++)
                maildir_drop(3, "burst");
        printf("100 messages dropped in %llu ms\n", (unsigned long long) (mono_ms() - t0));
        for (uint64_t end = mono_ms() + 20000; mono_ms() < end && total < 100;) {
                free(all);
                all = hook_outputs(&d, "new-burst-", &n);
                total = 0;
                for (const char *p = all; (p = strstr(p, "IMAPIDLED_COUNT=")); p++)
                        total += strtoull(p + 16, NULL, 10);
                sleep_ms(200);
        }
        ck_assert_msg(wait_log(&d, "-> idling", 2, 10000), "log:\n%s", tail_of(d.log));
        sleep_ms(1500);         /* any straggler run */
        daemon_stop(&d);
        free(all);
        all = hook_outputs(&d, "new-burst-", &n);
        printf("100 messages -> %u on_new runs (%s)\n", n, exact ? "uids = true" : "default");
        ck_assert_msg(n >= 1 && n <= 5, "%u runs; log:\n%s", n, tail_of(d.log));
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
                ck_assert_msg(hi - lo + 1 == 100, "UIDs %u..%u:\n%s", lo, hi, all);
        total = 0;
        for (const char *p = all; (p = strstr(p, "IMAPIDLED_COUNT=")); p++)
                total += strtoull(p + 16, NULL, 10);
        ck_assert_msg(total == 100, "counts add up to %llu:\n%s", (unsigned long long) total, all);
        /* Every one of the 100 is below the saved floor: none is reported again. */
        snprintf(path, sizeof(path), "%s/state/burst.state", d.dir);
        state = read_file(path);
        {
                const char *l = strstr(state, "\nINBOX ");
                unsigned long uidnext;

                ck_assert_msg(l, "%s", state);
                l = strchr(l + 7, ' ');
                ck_assert_ptr_nonnull(l);
                uidnext = strtoul(l + 1, NULL, 10);
                ck_assert_msg(uidnext == lo + 100, "UIDNEXT %lu, first UID %u:\n%s", uidnext, lo, state);
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
        _cleanup_free_ char *acc = NULL, *env = NULL;
        char msg[128];

        daemon_init(&d);
        (void) th_dovecot_doveadm(&dovecot, delete);
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, create), 0);
        acc = account_block(&d, "rv", 2, "mailboxes = [\"Resync\"];");
        write_config(&d, "accounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert(wait_log(&d, "-> idling", 1, 15000));
        daemon_stop(&d);
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, delete), 0);
        sleep_ms(1100);         /* Dovecot's UIDVALIDITY is a time stamp */
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, create), 0);
        snprintf(msg, sizeof(msg), "From: a@example.org\nSubject: after\n\nhello\n");
        ck_assert_int_eq(th_dovecot_deliver(&dovecot, 2, "Resync", msg), 0);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "new-rv-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
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

        daemon_init(&d);
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
        ck_assert_msg(wait_hook(&d, "env-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_FROM=J\xc3\xb6rg M\xc3\xbcller <joerg@example.org>\n"), "%s", env);
        ck_assert_msg(strstr(env, "IMAPIDLED_SUBJECT=Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln \xe2\x9c\x93\n"), "%s", env);
        ck_assert(strstr(env, "IMAPIDLED_MESSAGE_ID=<m1@example.org>\n"));
        ck_assert(strstr(env, "IMAPIDLED_DETAILS=1\n"));
        ck_assert_str_eq(env_value(env, "IMAPIDLED_UID"), env_value(env, "IMAPIDLED_UIDS"));
        hook_files(&d, "json-", &json);
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
        ck_assert_msg(wait_hook(&d, "env-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        hook_files(&d, "json-", &json);
        ck_assert_msg(strstr(env, "IMAPIDLED_SUBJECT=`touch "), "%s", env);
        ck_assert_msg(strstr(env, "`; $(id) | rm -rf ~ && \"' [31mred evil\n"), "%s", env);
        ck_assert_msg(strstr(json, "`; $(id) | rm -rf ~ && \\\"' [31mred evil\""), "%s", json);
        ck_assert(!strchr(env_value(env, "IMAPIDLED_SUBJECT"), '\x1b'));
        ck_assert(!strchr(env_value(env, "IMAPIDLED_SUBJECT"), '\x07'));
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

        daemon_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 4, "INBOX"), 0);
        deliver(4, "to be flagged");
        snprintf(extra, sizeof(extra), "startup_sync = true;\n"
                 "  on_flags = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/flags-$IMAPIDLED_ACCOUNT-$$\"];", d.dir);
        acc = account_block(&d, "fl", 4, extra);
        write_config(&d, "accounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "new-fl-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_REASON=startup\n"), "%s", env);
        ck_assert(strstr(env, "IMAPIDLED_COUNT=0\n"));
        free(env);
        env = NULL;
        /* The startup run covers nothing new: no command for it, IDLE goes on. */
        ck_assert(wait_log(&d, "-> idling", 1, 10000));
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, seen), 0);
        ck_assert_msg(wait_hook(&d, "flags-fl-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_EVENT=flags\n"), "%s", env);
        ck_assert(strstr(env, "IMAPIDLED_COUNT=1\n"));
        sleep_ms(1500);
        ck_assert_uint_eq(hook_files(&d, "new-fl-", NULL), 1);
        ck_assert_uint_eq(hook_files(&d, "expunge-fl-", NULL), 0);
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
        uint64_t total = 0;
        char path[160];
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"il\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  on_new = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/new-$$; \"\n"
                     "            \"while [ $(grep -c -- '-> idling' %s) -lt 2 ]; do sleep 0.05; done\"];\n"
                     "  on_expunge = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/expunge-$$\"]; } );\n",
                     fake_imapd_port(f), d.dir, d.log, d.dir);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "new-", 2, 10000, NULL), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "expunge, 1 message", 2, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 3, 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        news = hook_outputs(&d, "new-", &n_new);
        expunges = hook_outputs(&d, "expunge-", &n_exp);
        ck_assert_msg(n_new == 2, "%u on_new runs:\n%s", n_new, news);
        ck_assert_msg(strstr(news, "IMAPIDLED_COUNT=1\n") && strstr(news, "IMAPIDLED_UIDS=6:*\n") &&
                      strstr(news, "IMAPIDLED_UIDNEXT=6\n"), "%s", news);
        ck_assert_msg(strstr(news, "IMAPIDLED_COUNT=2\n") && strstr(news, "IMAPIDLED_UIDS=7:*\n") &&
                      strstr(news, "IMAPIDLED_UIDNEXT=7\n"), "%s", news);
        for (const char *p = expunges; (p = strstr(p, "IMAPIDLED_COUNT=")); p++)
                total += strtoull(p + 16, NULL, 10);
        ck_assert_msg(n_exp >= 1 && n_exp <= 2 && total == 2, "%u runs:\n%s", n_exp, expunges);
        /* The floor went past every covered UID: a restart reports nothing again. */
        snprintf(path, sizeof(path), "%s/state/il.state", d.dir);
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
 * runs' environments (hook_outputs()) and the state file after the stop. */
static void qresync_transcript(const char *exists, const char *vanished, const char *live, unsigned want_runs,
                               char **ret_runs, char **ret_state) {
        char examined[256];
        const FakeStep script[] = {
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
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        unsigned n = 0;
        char path[160];
        FILE *sf;
        Daemon d;

        snprintf(examined, sizeof(examined),
                 "* %s EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 9] n\r\n* OK [HIGHESTMODSEQ 20] m\r\n"
                 "%s<tag> OK [READ-ONLY] examined\r\n", exists, vanished);
        daemon_init(&d);
        snprintf(path, sizeof(path), "%s/state", d.dir);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/state/qr.state", d.dir);
        sf = fopen(path, "we");
        ck_assert_ptr_nonnull(sf);
        fputs("imapidled-state 1\nINBOX 7 9 5 12 0\n", sf);
        ck_assert_int_eq(fclose(sf), 0);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"qr\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  on_expunge = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/expunge-$$\"]; } );\n",
                     fake_imapd_port(f), d.dir);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "expunge-", want_runs, 10000, NULL), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 1, 10000), "log:\n%s", tail_of(d.log));
        sleep_ms(300);
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        *ret_runs = hook_outputs(&d, "expunge-", &n);
        ck_assert_msg(n == want_runs, "%u on_expunge runs:\n%s", n, *ret_runs);
        *ret_state = read_file(path);
        daemon_done(&d);
}

START_TEST(test_qresync_transcript) {
        /* VANISHED (EARLIER) 3,5: the catch-up run names them; the live VANISHED 1 in IDLE is
         * one more expunge, counted once, with its UID, and makes the saved HIGHESTMODSEQ 0
         * (stale). */
        _cleanup_free_ char *runs = NULL, *state = NULL;

        qresync_transcript("3", "* VANISHED (EARLIER) 3,5\r\n", "* VANISHED 1\r\n", 2, &runs, &state);
        ck_assert_msg(strstr(runs, "IMAPIDLED_REASON=catchup\n") && strstr(runs, "IMAPIDLED_COUNT=2\n") &&
                      strstr(runs, "IMAPIDLED_UIDS=3,5\n") && strstr(runs, "IMAPIDLED_EXISTS=3\n"), "%s", runs);
        ck_assert_msg(strstr(runs, "IMAPIDLED_REASON=live\n") && strstr(runs, "IMAPIDLED_COUNT=1\n") &&
                      strstr(runs, "IMAPIDLED_UIDS=1\n") && strstr(runs, "IMAPIDLED_EXISTS=2\n"), "%s", runs);
        ck_assert_msg(strstr(state, "\nINBOX 7 9 2 0 "), "%s", state);
}
END_TEST

START_TEST(test_qresync_hostile) {
        /* A hostile VANISHED (EARLIER) 1:4294967295 and VANISHED 1:4294967295: nothing per UID
         * (the daemon goes on at once), the catch-up counts the 5 messages known and lists the
         * known UIDs 1:8, the live one counts at most what EXISTS said. */
        _cleanup_free_ char *runs = NULL, *state = NULL;

        qresync_transcript("5", "* VANISHED (EARLIER) 1:4294967295\r\n", "* VANISHED 1:4294967295\r\n", 2, &runs,
                           &state);
        ck_assert_msg(strstr(runs, "IMAPIDLED_REASON=catchup\n") && strstr(runs, "IMAPIDLED_COUNT=5\n") &&
                      strstr(runs, "IMAPIDLED_UIDS=1:8\n"), "%s", runs);
        ck_assert_msg(strstr(runs, "IMAPIDLED_REASON=live\n") && strstr(runs, "IMAPIDLED_EXISTS=0\n") &&
                      strstr(runs, "IMAPIDLED_UIDS=1:4294967295\n"), "%s", runs);
        ck_assert_msg(!strstr(runs, "IMAPIDLED_COUNT=4294967295"), "%s", runs);
        ck_assert_msg(strstr(state, "\nINBOX 7 9 0 0 "), "%s", state);
}
END_TEST

START_TEST(test_qresync_dovecot) {
        /* Dovecot offers QRESYNC: stop the daemon, expunge two of four messages, start it:
         * one catch-up on_expunge run with exactly their UIDs. */
        Daemon d;
        _cleanup_free_ char *acc = NULL, *env = NULL, *st = NULL;
        char path[160], uids[64], want[96];
        unsigned long uv = 0, next = 0;

        daemon_init(&d);
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
        snprintf(path, sizeof(path), "%s/state/qd.state", d.dir);
        st = read_file(path);
        ck_assert_msg(sscanf(strstr(st, "\nINBOX ") + 7, "%lu %lu", &uv, &next) == 2 && next >= 5, "%s", st);
        /* The four messages are UIDs next-4 .. next-1: expunge the first and the third. */
        snprintf(uids, sizeof(uids), "%lu,%lu", next - 4, next - 2);
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, (const char *const[]) { "expunge", "-u",
                                                th_dovecot_user(&dovecot, 1), "mailbox", "INBOX", "uid", uids,
                                                NULL }),
                         0);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "expunge-qd-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_REASON=catchup\n") && strstr(env, "IMAPIDLED_COUNT=2\n") &&
                      strstr(env, "IMAPIDLED_EXISTS=2\n"), "%s", env);
        snprintf(want, sizeof(want), "IMAPIDLED_UIDS=%s\n", uids);
        ck_assert_msg(strstr(env, want), "want %s in\n%s", want, env);
        sleep_ms(1000);
        ck_assert_uint_eq(hook_files(&d, "expunge-qd-", NULL), 1);
        ck_assert_uint_eq(hook_files(&d, "new-qd-", NULL), 0);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* ---- issue 6: never silently dead ------------------------------------------------------------- */

typedef struct Fault {
        const char *name;
        int (*apply)(ThProxy *p);
        bool pass_after_detection;      /* the fault hits new connections too until pass */
} Fault;

static int fault_blackhole(ThProxy *p) {
        int r = th_proxy_blackhole(p);          /* the current connection is gone silent ... */
        return r < 0 ? r : th_proxy_pass(p);    /* ... new ones pass */
}
static int fault_rst(ThProxy *p) {
        return th_proxy_rst(p, false);
}
static int fault_stall_after_idling(ThProxy *p) {
        return th_proxy_stall_after(p, "+ idling", true);
}
static int fault_done_unanswered(ThProxy *p) {
        return th_proxy_drop_after_client(p, "DONE\r\n", true);
}
static int fault_half_line(ThProxy *p) {
        return th_proxy_half_line(p, true);
}
static int fault_drip(ThProxy *p) {
        return th_proxy_drip(p, 300);
}

static const Fault faults[] = {
        { "silent blackhole",           fault_blackhole,          false },
        { "RST",                        fault_rst,                false },
        { "stall after + idling",       fault_stall_after_idling, false },
        { "DONE never answered",        fault_done_unanswered,    false },
        { "half a line then silence",   fault_half_line,          false },
        { "slow drip (300 ms a byte)",  fault_drip,               true  },
};

/* Tight deadlines so that each fault is found in seconds; the defaults are in
 * docs/LIVENESS.md with their measured bounds (bench/). */
#define FAST_LIVENESS \
        "liveness_interval = 2; done_timeout = 1; command_timeout = 3; greeting_timeout = 3;\n" \
        "select_timeout = 3; auth_timeout = 3; connect_timeout = 3; tls_timeout = 3; debounce = 0;\n"

static void run_fault(const Fault *f, int idx, bool uids) {
        /* Each fault between the daemon and Dovecot: the dead connection is
         * noticed, replaced, back in IDLE, and the message delivered during
         * the fault is reported (catch-up: none missed). */
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        _cleanup_free_ char *acc = NULL, *env = NULL;
        char box[32], extra[128], msg[128], port[8];
        const char *create[] = { "mailbox", "create", "-u", "user1", box, NULL };
        unsigned before, n;
        uint64_t t0, ms;
        Daemon d;

        daemon_init(&d);
        snprintf(box, sizeof(box), "Fault%d%s", idx, uids ? "" : "h");
        (void) th_dovecot_doveadm(&dovecot, create);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, box), 0);
        ck_assert_int_eq(th_proxy_start(dovecot.plain_port_num, &p), 0);
        snprintf(extra, sizeof(extra), "mailboxes = [\"%s\"];", box);
        snprintf(port, sizeof(port), "%u", (unsigned) th_proxy_port(p));
        acc = account_block_full(&d, "flt", 1, extra, port, true, uids);
        write_config(&d, FAST_LIVENESS "accounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 1, 15000), "log:\n%s", tail_of(d.log));
        /* A healthy connection survives its probes. */
        ck_assert_msg(wait_log(&d, "DONE (liveness probe", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_int_eq(th_proxy_count(p, &before), 0);
        ck_assert_uint_eq(before, 1);

        t0 = mono_ms();
        ck_assert_int_eq(f->apply(p), 0);
        snprintf(msg, sizeof(msg), "From: a@example.org\nSubject: during %s\n\nhello\n", f->name);
        ck_assert_int_eq(th_dovecot_deliver(&dovecot, 1, box, msg), 0);
        if (f->pass_after_detection) {
                ck_assert_msg(wait_log(&d, "no progress in state", 1, 20000), "log:\n%s", tail_of(d.log));
                ck_assert_int_eq(th_proxy_pass(p), 0);
        }
        ck_assert_msg(th_proxy_wait_count(p, before + 1, 20000) == 0, "%s: no new connection; log:\n%s", f->name,
                      tail_of(d.log));
        ck_assert_msg(wait_hook(&d, "new-flt-", 1, 20000, &env), "%s: delivery not reported; log:\n%s", f->name,
                      tail_of(d.log));
        ms = mono_ms() - t0;
        printf("fault \"%s\": replaced and reported in %llu ms\n", f->name, (unsigned long long) ms);
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=1\n"), "%s", env);
        ck_assert_msg(strstr(env, "IMAPIDLED_MAILBOX=Fault"), "%s", env);
        /* liveness 2 + done 1 + first backoff <= 1 + connect; generous for a loaded machine. */
        ck_assert_uint_lt(ms, 15000);
        sleep_ms(1000);
        /* With uids = true the run knows its UIDs before it starts: exactly once.  A hook
         * started on the hot path may see a fault in the round trip after its start: then the
         * catch-up reports the message again, never zero times (docs/EVENTS.md). */
        n = hook_files(&d, "new-flt-", NULL);
        ck_assert_msg(uids ? n == 1 : n >= 1 && n <= 2, "%u runs; log:\n%s", n, tail_of(d.log));
        /* No phantom: nothing was expunged. */
        ck_assert_msg(hook_files(&d, "expunge-flt-", NULL) == 0, "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
}

START_TEST(test_fault) {
        /* uids = true: the delivery is reported exactly once. */
        run_fault(&faults[_i], _i, true);
}
END_TEST

START_TEST(test_fault_hot_path) {
        /* The default hook (the hot path) through the faults that strike right after the hook
         * started: the message is reported at least once, and no expunge is invented. */
        static const int which[] = { 2, 4 };

        run_fault(&faults[which[_i]], which[_i], false);
}
END_TEST

START_TEST(test_resume_reconnects) {
        /* A suspend (a clock jump, injected with SIGUSR2): every connection
         * is replaced at once and what came meanwhile is reported. */
        _cleanup_(th_proxy_stopp) ThProxy *p = NULL;
        _cleanup_free_ char *acc = NULL, *env = NULL;
        char port[8];
        uint64_t t0;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 2, "INBOX"), 0);
        ck_assert_int_eq(th_proxy_start(dovecot.plain_port_num, &p), 0);
        snprintf(port, sizeof(port), "%u", (unsigned) th_proxy_port(p));
        acc = account_block_full(&d, "sus", 2, NULL, port, true, false);
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 1, 15000), "log:\n%s", tail_of(d.log));
        /* "Asleep": the connection is silently dead, mail comes. */
        ck_assert_int_eq(th_proxy_blackhole(p), 0);
        ck_assert_int_eq(th_proxy_pass(p), 0);
        deliver(2, "while asleep");
        t0 = mono_ms();
        ck_assert_int_eq(kill(d.pid, SIGUSR2), 0);
        ck_assert_msg(th_proxy_wait_count(p, 2, 10000) == 0, "log:\n%s", tail_of(d.log));
        printf("resume -> new connection in %llu ms\n", (unsigned long long) (mono_ms() - t0));
        ck_assert_uint_lt(mono_ms() - t0, 3000);        /* at once: jitter of at most 1 s */
        ck_assert_msg(wait_hook(&d, "new-sus-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_REASON=catchup\n") && strstr(env, "IMAPIDLED_COUNT=1\n"), "%s", env);
        ck_assert_uint_eq(log_count(&d, "Resumed after about 3600 s"), 1);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* Set Dovecot user N's password in its passwd-file (Dovecot re-reads it
 * when it changes): "userN:<password>:..." */
static void set_password(unsigned user, const char *password) {
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
        /* Dovecot looks at the file's time stamp at most once a second: wait
         * until the new password works. */
        for (unsigned i = 0;; i++) {
                const char *test[] = { "auth", "test", th_dovecot_user(&dovecot, user), password, NULL };

                if (th_dovecot_doveadm(&dovecot, test) == 0)
                        break;
                ck_assert_uint_lt(i, 50);
                sleep_ms(200);
        }
}

START_TEST(test_fresh_secret) {
        /* A token command that returns a new token each time, and a server
         * that accepts only the newest: a refused login fetches a fresh
         * token at once (no long backoff), and tokens never reach the log. */
        _cleanup_free_ char *acc = NULL;
        char script[160], tokens[160], calls[160];
        FILE *f;
        Daemon d;

        daemon_init(&d);
        snprintf(script, sizeof(script), "%s/token.sh", d.dir);
        snprintf(tokens, sizeof(tokens), "%s/tokens", d.dir);
        snprintf(calls, sizeof(calls), "%s/calls", d.dir);
        f = fopen(tokens, "we");
        ck_assert_ptr_nonnull(f);
        fputs("tok-one-7f3a\ntok-stale-91c2\ntok-three-c0de\n", f);
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
        /* The server moves on to the next token; the connection is replaced. */
        set_password(4, "tok-three-c0de");
        ck_assert_int_eq(kill(d.pid, SIGUSR2), 0);
        ck_assert_msg(wait_log(&d, "-> idling", 2, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "authentication failed"), 1);
        ck_assert_uint_eq(log_count(&d, "fetching the secret again"), 1);
        {
                _cleanup_free_ char *c = read_file(calls);

                ck_assert_str_eq(c, "x\nx\nx\n");
        }
        ck_assert_uint_eq(log_count(&d, "tok-"), 0);
        daemon_stop(&d);
        set_password(4, th_dovecot_pass(&dovecot, 4));
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

        daemon_init(&d);
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
        unsigned n, accepted;
        Daemon d;

        daemon_init(&d);
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
        ck_assert_msg(wait_hook(&d, "new-bud-", 4, 15000, NULL), "log:\n%s", tail_of(d.log));
        sleep_ms(2500);         /* polls go on: no run twice */
        all = hook_outputs(&d, "new-bud-", &n);
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

START_TEST(test_no_network_at_start) {
        /* Nothing listens (as at boot before the network is up): READY=1
         * anyway, and retries with a growing backoff, never giving up. */
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd;
        Daemon d;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        close(fd);      /* a port nobody listens on */
        daemon_init(&d);
        /* And a name that does not resolve (RFC 6761 .invalid; looked up on a thread). */
        write_config(&d,
                     "accounts = ( { name = \"nonet\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; },\n"
                     "  { name = \"nodns\"; host = \"no-such-host.invalid\"; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; } );\n",
                     (unsigned) ntohs(sa.sin_port));
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "nonet/INBOX: connect", 3, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "nodns/INBOX: resolve no-such-host.invalid", 2, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(d.notes.data, "nonet/INBOX: retry in"), "%s", d.notes.data);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_token_expired_bye) {
        /* "* BYE ... AccessTokenExpired" while idling: a fresh token is
         * fetched and tried at once (retry in 0 s), not after a backoff. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE SASL-IR AUTH=XOAUTH2] fake ready\r\n"),
                FAKE_EXPECT_ANY(),      /* AUTHENTICATE XOAUTH2 <initial response> */
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 3] v\r\n* OK [UIDNEXT 1] n\r\n<tag> OK [READ-ONLY] ok\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_SEND("* BYE Session invalidated - AccessTokenExpired\r\n"),
                FAKE_CLOSE(),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *calls = NULL;
        char script_path[160], calls_path[160];
        FILE *sf;
        Daemon d;

        daemon_init(&d);
        snprintf(script_path, sizeof(script_path), "%s/token.sh", d.dir);
        snprintf(calls_path, sizeof(calls_path), "%s/calls", d.dir);
        sf = fopen(script_path, "we");
        ck_assert_ptr_nonnull(sf);
        fprintf(sf, "echo x >> '%s'\necho tok-secret-$(wc -l < '%s')\n", calls_path, calls_path);
        fclose(sf);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "accounts = ( { name = \"exp\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; oauth2_token_command = [\"/bin/sh\", \"%s\"]; } );\n",
                     fake_imapd_port(f), script_path);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "AccessTokenExpired", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "retrying in 0s", 1, 5000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s", report ? report : "");
        /* The second fetch happened at once; the server is gone, so the next
         * failure backs off normally. */
        ck_assert_msg(wait_log(&d, "retrying in", 2, 5000), "log:\n%s", tail_of(d.log));
        calls = read_file(calls_path);
        ck_assert_str_eq(calls, "x\nx\n");
        ck_assert_uint_eq(log_count(&d, "retrying in 0s"), 1);
        ck_assert_uint_eq(log_count(&d, "tok-secret"), 0);
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

        daemon_init(&d);
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
                     "  startup_sync = true; on_new = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/new-cred-$$\"]; } );\n",
                     dovecot.plain_port, dovecot.ca_file, d.dir);
        ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);
        daemon_start(&d);
        ck_assert_int_eq(unsetenv("CREDENTIALS_DIRECTORY"), 0);
        ck_assert_msg(wait_log(&d, "-> idling", 1, 15000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_hook(&d, "new-cred-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert(!strstr(env, "CREDENTIALS_DIRECTORY="));
        ck_assert(!strstr(env, th_dovecot_pass(&dovecot, 2)));
        daemon_stop(&d);
        unlink(pw);
        rmdir(creds);
        daemon_done(&d);
}
END_TEST

START_TEST(test_server_keepalive_counts) {
        /* A server that says "* OK Still here" (Dovecot's
         * imap_idle_notify_interval) is alive: no probe while it talks; once
         * it falls silent for liveness_interval, DONE comes. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] fake ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 9] v\r\n* OK [UIDNEXT 1] n\r\n<tag> OK [READ-ONLY] ok\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_SLEEP(1200), FAKE_SEND("* OK Still here\r\n"),
                FAKE_SLEEP(1200), FAKE_SEND("* OK Still here\r\n"),
                FAKE_SLEEP(1200), FAKE_SEND("* OK Still here\r\n"),
                FAKE_SLEEP(1200), FAKE_SEND("* OK Still here\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK idle done\r\n"),
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
        _cleanup_free_ char *report = NULL;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "liveness_interval = 2; done_timeout = 2;\n"
                     "accounts = ( { name = \"ka\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; } );\n",
                     fake_imapd_port(f));
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 1, 10000), "log:\n%s", tail_of(d.log));
        sleep_ms(4000);         /* the server spoke every 1.2 s */
        ck_assert_msg(log_count(&d, "DONE (liveness probe") == 0, "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "DONE (liveness probe", 1, 6000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 2, 5000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s", report ? report : "");
        daemon_done(&d);
}
END_TEST

/* Each phase's deadline, against a scripted server that stops answering
 * there: the connection is closed after that phase's timeout, named in the
 * log, and retried. */
typedef struct PhaseCase {
        const char *state;              /* as logged: "no progress in state <state>" */
        const char *key;                /* the setting that is the deadline */
        const char *alt;                /* the same deadline as the engine words it (it keeps the
                                         * command and greeting deadlines too; either may fire first) */
        bool starttls;
        FakeStep script[10];
} PhaseCase;

static const PhaseCase phase_cases[] = {
        { "greeting", "greeting_timeout", "timed out waiting for the greeting", false, {
                FAKE_EXPECT_EOF(), FAKE_END } },
        { "capability", "command_timeout", "timed out waiting for the reply to CAPABILITY", false, {
                FAKE_SEND("* OK no capabilities here\r\n"),
                FAKE_EXPECT("<tag> CAPABILITY"), FAKE_EXPECT_EOF(), FAKE_END } },
        { "starttls", "tls_timeout", "TLS handshake timed out", true, {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS IDLE] hi\r\n"),
                FAKE_EXPECT("<tag> STARTTLS"), FAKE_SEND("<tag> OK go ahead\r\n"),
                FAKE_SLEEP(3000), FAKE_END } },       /* no TLS handshake (the ClientHello is not read) */
        { "authenticating", "auth_timeout", "timed out waiting for the reply to LOGIN", false, {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""), FAKE_EXPECT_EOF(), FAKE_END } },
        { "enabling", "command_timeout", "timed out waiting for the reply to ENABLE", false, {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE ENABLE QRESYNC] hi\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE ENABLE QRESYNC] in\r\n"),
                FAKE_EXPECT("<tag> ENABLE QRESYNC"), FAKE_EXPECT_EOF(), FAKE_END } },
        { "selecting", "select_timeout", "timed out waiting for the reply to EXAMINE", false, {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""), FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"), FAKE_EXPECT_EOF(), FAKE_END } },
        { "idle-starting", "command_timeout", "timed out waiting for the reply to IDLE", false, {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""), FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 5] v\r\n* OK [UIDNEXT 1] n\r\n<tag> OK ok\r\n"),
                FAKE_EXPECT("<tag> IDLE"), FAKE_EXPECT_EOF(), FAKE_END } },     /* no "+" */
};

START_TEST(test_phase_deadline) {
        static const char *const all_keys[] = { "greeting_timeout", "command_timeout", "tls_timeout",
                                                "auth_timeout", "select_timeout" };
        const PhaseCase *pc = &phase_cases[_i];
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        char want[96], keys[512], tls[256];
        Daemon d;

        daemon_init(&d);
        if (pc->starttls)
                snprintf(tls, sizeof(tls), "tls = \"starttls\"; ca_file = \"%s\";", dovecot.ca_file);
        else
                snprintf(tls, sizeof(tls), "tls = \"none\"; allow_plaintext = true;");
        ck_assert_int_eq(fake_imapd_start(pc->script, &f), 0);
        /* Only the phase under test is short; the others are long. */
        keys[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(all_keys); i++) {
                size_t n = strlen(keys);

                snprintf(keys + n, sizeof(keys) - n, "%s = %s;\n", all_keys[i],
                         strcmp(all_keys[i], pc->key) == 0 ? "0.5" : "30");
        }
        write_config(&d,
                     "%saccounts = ( { name = \"ph\"; host = \"127.0.0.1\"; port = %u; %s\n"
                     "  username = \"u\"; password = \"p\"; } );\n",
                     keys, fake_imapd_port(f), tls);
        daemon_start(&d);
        snprintf(want, sizeof(want), "no progress in state %s within 0.5 s", pc->state);
        ck_assert_msg(wait_log(&d, "retrying in", 1, 10000), "%s: log:\n%s", pc->key, tail_of(d.log));
        ck_assert_msg(log_count(&d, want) + log_count(&d, pc->alt) == 1, "%s: log:\n%s", pc->key, tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s", report ? report : "");
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

START_TEST(test_connect_deadline) {
        /* A SYN nobody answers: a listener whose accept queue is full and
         * never accepted (Linux then drops further SYNs). */
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int l, fill[4];
        Daemon d;

        l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(l, 0);
        ck_assert_int_eq(bind(l, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(l, 0), 0);
        ck_assert_int_eq(getsockname(l, (struct sockaddr *) &sa, &len), 0);
        for (size_t i = 0; i < ELEMENTSOF(fill); i++) {
                fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                ck_assert_int_ge(fill[i], 0);
                (void) connect(fill[i], (struct sockaddr *) &sa, sizeof(sa));
        }
        daemon_init(&d);
        write_config(&d,
                     "connect_timeout = 0.5;\n"
                     "accounts = ( { name = \"syn\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; } );\n",
                     (unsigned) ntohs(sa.sin_port));
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "timed out", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 5000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        daemon_done(&d);
        for (size_t i = 0; i < ELEMENTSOF(fill); i++)
                close(fill[i]);
        close(l);
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

        daemon_init(&d);
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
        ck_assert_msg(wait_hook(&d, "env-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        hook_files(&d, "json-", &json);
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=3\n") && strstr(env, "IMAPIDLED_DETAILS=2\n"), "%s", env);
        lo = strtoul(env_value(env, "IMAPIDLED_UIDS"), &e, 10);
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
        ck_assert_str_eq(env_value(env, "IMAPIDLED_UID"), want);
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

        daemon_init(&d);
        /* What a previous run knew: INBOX had UIDs below 7, one message. */
        write_state(&d, "poll", "imapidled-state 1\nINBOX 4 7 1 0 0\n");
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"poll\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\"; max_connections = 1;\n"
                     "  status_interval = 60; imap_notify = \"off\"; mailboxes = [\"INBOX\", \"Gone\"];\n"
                     "  on_new = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/new-$$\"]; } );\n",
                     fake_imapd_port(f), d.dir);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "new-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=1\n") && strstr(env, "IMAPIDLED_UIDS=7\n") &&
                      strstr(env, "IMAPIDLED_REASON=catchup\n"), "%s", env);
        ck_assert_msg(log_count(&d, "STATUS poll/Gone refused") == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_notify(&d, &d.notes, "READY=1", 5000), "log:\n%s", tail_of(d.log));
        sleep_ms(300);
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        daemon_done(&d);
}
END_TEST


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

        daemon_init(&d);
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
        ck_assert_msg(wait_hook(&d, "new-nfy-", 3, 15000, NULL), "log:\n%s", tail_of(d.log));
        all = hook_outputs(&d, "new-nfy-", &n);
        ck_assert_msg(n == 3, "%u runs:\n%s", n, all);
        ck_assert_msg(strstr(all, "IMAPIDLED_MAILBOX=Nf01\n") && strstr(all, "IMAPIDLED_MAILBOX=Nf02\n") &&
                      strstr(all, "IMAPIDLED_MAILBOX=INBOX\n"), "%s", all);
        ck_assert_msg(!strstr(all, "IMAPIDLED_COUNT=0\n") && !strstr(all, "IMAPIDLED_COUNT=2\n") &&
                      !strstr(all, "IMAPIDLED_REASON=catchup\n"), "%s", all);

        /* An expunge in a folder that is not selected. */
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 4, names[1]), 0);
        ck_assert_msg(wait_hook(&d, "expunge-nfy-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_MAILBOX=Nf02\n") && strstr(env, "IMAPIDLED_COUNT=1\n"), "%s", env);
        daemon_stop(&d);

        /* Catch-up of a folder across a restart. */
        deliver_to(4, names[2], "while away");
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "new-nfy-", 4, 15000, NULL), "log:\n%s", tail_of(d.log));
        free(all);
        all = hook_outputs(&d, "new-nfy-", &n);
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

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n%s\n"
                     "accounts = ( { name = \"fb\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  mailboxes = [\"INBOX\", \"Other\"];\n"
                     "  on_new = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/new-$$\"]; } );\n",
                     top, fake_imapd_port(f), d.dir);
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

        daemon_init(&d);
        (void) th_dovecot_doveadm(&dovecot, create);    /* fails harmlessly when it exists */
        ck_assert_int_eq(th_dovecot_expunge_all(&dovecot, 1, "Vf1"), 0);
        acc = account_block(&d, "vf", 1, "mailboxes = [\"INBOX\", \"Vf1\"];");
        write_config(&d, "debounce = 0; idle_interval = 2;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=2/2 mailboxes idling, 2 with NOTIFY", 15000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        deliver_to(1, "Vf1", "verified");
        ck_assert_msg(wait_hook(&d, "new-vf-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
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

        daemon_init(&d);
        write_state(&d, "fb", "imapidled-state 1\nINBOX 7 9 5 12 0\nOther 8 1 0 1 0\n");
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"fb\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  mailboxes = [\"INBOX\", \"Other\"];\n"
                     "  on_expunge = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/expunge-$$\"]; } );\n",
                     fake_imapd_port(f), d.dir);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "expunge-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_MAILBOX=INBOX\n") && strstr(env, "IMAPIDLED_REASON=catchup\n") &&
                      strstr(env, "IMAPIDLED_COUNT=2\n") && strstr(env, "IMAPIDLED_UIDS=3,5\n"), "%s", env);
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=2/2 mailboxes idling, 2 with NOTIFY", 10000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        free(hook_outputs(&d, "expunge-", &runs));
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

        daemon_init(&d);
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
        snprintf(path, sizeof(path), "%s/state/qn.state", d.dir);
        st = read_file(path);
        p = st ? strstr(st, "\nQn1 ") : NULL;
        ck_assert_msg(p && sscanf(p + 5, "%lu %lu", &uv, &next) == 2 && next >= 5, "%s", st ? st : "(none)");
        snprintf(uids, sizeof(uids), "%lu,%lu", next - 4, next - 2);
        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, (const char *const[]) { "expunge", "-u",
                                                th_dovecot_user(&dovecot, 1), "mailbox", "Qn1", "uid", uids,
                                                NULL }),
                         0);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "expunge-qn-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
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

        daemon_init(&d);
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
        ck_assert_msg(wait_hook(&d, "new-rl-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
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
        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"fl\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  mailboxes = [\"INBOX\", \"Other\"];\n"
                     "  on_new = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/new-$$\"];\n"
                     "  on_expunge = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/expunge-$$\"]; } );\n",
                     fake_imapd_port(f), d.dir, d.dir);
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=2/2 mailboxes idling, 2 with NOTIFY", 10000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        /* The stop's DONE is answered only after the whole flood (the script sends it
         * first): the daemon read through all of it. */
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "Unasked"), 0);
        ck_assert_uint_eq(log_count(&d, "STATUS"), 0);
        free(hook_outputs(&d, "new-", &runs));
        ck_assert_uint_eq(runs, 0);
        free(hook_outputs(&d, "expunge-", &runs));
        ck_assert_uint_eq(runs, 0);
        daemon_done(&d);
}
END_TEST


/* ---- mailbox patterns (docs/EVENTS.md: Mailbox patterns) ---- */

/* user3's folders for the pattern tests: Pt1 and Pt2, and none of those
 * an earlier run created while running. */
static void pattern_folders(void) {
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

static void pattern_create(const char *name) {
        const char *create[] = { "mailbox", "create", "-u", "user3", name, NULL };

        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, create), 0);
}

static void pattern_rename(const char *from, const char *to) {
        const char *rename[] = { "mailbox", "rename", "-u", "user3", from, to, NULL };

        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, rename), 0);
}

static unsigned count_of(const char *hay, const char *needle) {
        unsigned n = 0;

        for (const char *p = hay; p && (p = strstr(p, needle)); p++)
                n++;
        return n;
}

/* Until 'needle' was notified 'count' times in all (STATUS= is sent only when it changed). */
static bool wait_notify_count(Daemon *d, const char *needle, unsigned count, unsigned timeout_ms) {
        uint64_t end = mono_ms() + timeout_ms;

        while (mono_ms() < end) {
                read_notify(d, &d->notes);
                if (count_of(d->notes.data, needle) >= count)
                        return true;
                sleep_ms(20);
        }
        return false;
}

static void pattern_delete(const char *name) {
        const char *del[] = { "mailbox", "delete", "-u", "user3", name, NULL };

        ck_assert_int_eq(th_dovecot_doveadm(&dovecot, del), 0);
}

/* ["*"] or ["INBOX", "Pt*"] against Dovecot: what the pattern matches is watched from
 * the start; a folder created while running is watched, and mail delivered
 * into it at once (before the daemon had set up anew) is reported; a deleted
 * one is dropped.  'extra' picks NOTIFY or polling. */
static void patterns_dovecot(const char *mailboxes, const char *extra, bool notify) {
        _cleanup_free_ char *acc = NULL, *boxes = NULL, *env = NULL, *all = NULL;
        char want[128];
        unsigned n, seen, runs, lines;
        Daemon d;

        daemon_init(&d);
        pattern_folders();
        ck_assert_int_ge(asprintf(&boxes, "mailboxes = %s; %s", mailboxes, extra), 0);
        acc = account_block(&d, "pt", 3, boxes);
        write_config(&d, "debounce = 0;\naccounts = ( %s );\n", acc);
        daemon_start(&d);
        /* INBOX, Pt1, Pt2, PtGone, PtBox (PtBox/Child too: "*" crosses the hierarchy). */
        snprintf(want, sizeof(want), "STATUS=6/6 mailboxes idling%s", notify ? ", 6 with NOTIFY" : "\n");
        ck_assert_msg(wait_notify(&d, &d.notes, want, 20000), "%s\nlog:\n%s", d.notes.data, tail_of(d.log));

        deliver_to(3, "Pt2", "to Pt2");
        ck_assert_msg(wait_hook(&d, "new-pt-", 1, 15000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_MAILBOX=Pt2\n") && strstr(env, "IMAPIDLED_COUNT=1\n"), "%s", env);

        /* Created while running, then delivered into once it is watched. */
        pattern_create("PtNew");
        snprintf(want, sizeof(want), "STATUS=7/7 mailboxes idling%s", notify ? ", 7 with NOTIFY" : "\n");
        ck_assert_msg(wait_notify(&d, &d.notes, want, 20000), "%s\nlog:\n%s", d.notes.data, tail_of(d.log));
        deliver_to(3, "PtNew", "to PtNew");
        ck_assert_msg(wait_hook(&d, "new-pt-", 2, 15000, NULL), "log:\n%s", tail_of(d.log));

        /* Created and delivered into at once: the mail is there before the
         * daemon watches the folder, and still reported (all of a folder
         * created while we watched is new). */
        pattern_create("PtFast");
        deliver_to(3, "PtFast", "to PtFast");
        ck_assert_msg(wait_hook(&d, "new-pt-", 3, 30000, NULL), "log:\n%s", tail_of(d.log));
        all = hook_outputs(&d, "new-pt-", &n);
        ck_assert_msg(n == 3 && strstr(all, "IMAPIDLED_MAILBOX=PtNew\n") && strstr(all, "IMAPIDLED_MAILBOX=PtFast\n") &&
                      !strstr(all, "IMAPIDLED_COUNT=0\n") && !strstr(all, "IMAPIDLED_COUNT=2\n"), "%u runs:\n%s", n, all);

        /* Deleted while running: no longer watched. */
        snprintf(want, sizeof(want), "STATUS=7/7 mailboxes idling%s", notify ? ", 7 with NOTIFY" : "\n");
        seen = count_of(d.notes.data, want);
        pattern_delete("PtGone");
        ck_assert_msg(wait_log(&d, "(0 new, 1 gone)", 1, 30000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_notify_count(&d, want, seen + 1, 20000), "%s\nlog:\n%s", d.notes.data, tail_of(d.log));

        /* Renamed while running: with NOTIFY the server says from what (OLDNAME),
         * and what was known goes with it: its mail is not new.  Without, it is
         * a delete and a create: its mail is reported once.  Dovecot 2.3 reports
         * a rename with the next change of the mailbox list: one more folder. */
        pattern_rename("PtNew", "PtRenamed");
        if (notify) {
                pattern_create("PtKick");
                snprintf(want, sizeof(want), "STATUS=8/8 mailboxes idling, 8 with NOTIFY");
        }
        seen = count_of(d.notes.data, want);
        ck_assert_msg(wait_log(&d, notify ? "pt/PtRenamed: watched, renamed from PtNew" : "pt/PtRenamed: watched, new",
                               1, 30000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_notify_count(&d, want, seen + 1, 20000), "%s\nlog:\n%s", d.notes.data, tail_of(d.log));
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
        ck_assert_msg(wait_hook(&d, "new-pt-", runs + 1, 20000, NULL), "log:\n%s", tail_of(d.log));
        free(all);
        all = hook_outputs(&d, "new-pt-", &n);
        ck_assert_msg(n == runs + 1 && strstr(all, "IMAPIDLED_REASON=catchup\n") &&
                      strstr(all, "IMAPIDLED_MAILBOX=PtRenamed\n"), "%u runs:\n%s", n, all);
        ck_assert_msg(wait_notify(&d, &d.notes, want, 20000), "%s\nlog:\n%s", d.notes.data, tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "the mailbox patterns match"), lines);
        daemon_stop(&d);
        daemon_done(&d);
}

START_TEST(test_patterns_notify_dovecot) {
        /* Every mailbox of the account (user3 has INBOX and the Pt folders only). */
        patterns_dovecot("[\"*\"]", "", true);
}
END_TEST

START_TEST(test_patterns_poll_dovecot) {
        /* Without NOTIFY: the poller lists the patterns every status_interval. */
        patterns_dovecot("[\"INBOX\", \"Pt*\"]", "imap_notify = \"off\"; status_interval = 1;", false);
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
        daemon_init(&d);
        write_state(&d, "pl", "imapidled-state 1\nINBOX 7 1 0 0 0\nPtC 7 1 0 0 0\n");
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"pl\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  mailboxes = [\"INBOX\", \"Pt*\"];\n"
                     "  on_new = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/new-$$\"]; } );\n",
                     fake_imapd_port(f), d.dir);
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


/* ---- the security catalogue at the daemon (docs/SECURITY.md): TLS required ---- */

/* An account that requires TLS ('tls' is "starttls" or "implicit") against a
 * scripted server that must see the daemon close without credentials or a
 * mailbox command (the script ends with FAKE_EXPECT_EOF()); the log says why. */
static void tls_required(const FakeStep *script, const char *tls, const char *want_log) {
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *cert = NULL, *key = NULL;
        FakeImapdOptions o = {};
        Daemon d;

        daemon_init(&d);
        if (strcmp(tls, "implicit") == 0) {
                /* tests/dovecot.sh's server certificate: for 127.0.0.1, from the CA the account trusts. */
                ck_assert_int_ge(asprintf(&cert, "%s/cert.pem", dovecot.dir), 0);
                ck_assert_int_ge(asprintf(&key, "%s/key.pem", dovecot.dir), 0);
                o.tls_cert_file = cert;
                o.tls_key_file = key;
        }
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        write_config(&d,
                     "accounts = ( { name = \"sec\"; host = \"127.0.0.1\"; port = %u; tls = \"%s\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"never-sent\";\n"
                     "  on_new = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/new-$$\"]; } );\n",
                     fake_imapd_port(f), tls, dovecot.ca_file, d.dir);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, want_log, 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_uint_eq(log_count(&d, "never-sent"), 0);
        daemon_done(&d);
}

#define MANY_AUTH "AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 AUTH=DIGEST-MD5 AUTH=SCRAM-SHA-1 AUTH=SCRAM-SHA-256 " \
        "AUTH=EXTERNAL AUTH=GSSAPI AUTH=NTLM AUTH=OTP AUTH=XOAUTH2 AUTH=OAUTHBEARER AUTH=ANONYMOUS AUTH=APOP"

/* STARTTLS not offered: in the greeting's code, after a CAPABILITY, with only IMAP4, with many mechanisms. */
static const FakeStep a01_scripts[][5] = {
        { FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN] IMAP server ready.\r\n"), FAKE_EXPECT_EOF(),
          FAKE_END },
        { FAKE_SEND("* OK IMAP server ready.\r\n"), FAKE_EXPECT("<tag> CAPABILITY"),
          FAKE_SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN\r\n<tag> OK done\r\n"), FAKE_EXPECT_EOF(), FAKE_END },
        { FAKE_SEND("* OK [CAPABILITY IMAP4] ready\r\n"), FAKE_EXPECT_EOF(), FAKE_END },
        { FAKE_SEND("* OK [CAPABILITY IMAP4rev1 " MANY_AUTH "] ready\r\n"), FAKE_EXPECT_EOF(), FAKE_END },
};

START_TEST(test_A01_starttls_stripped) {
        tls_required(a01_scripts[_i], "starttls", "server does not offer STARTTLS; refusing to go on in plaintext");
}
END_TEST

START_TEST(test_A03_capability_bad) {
        static const FakeStep script[] = {
                FAKE_SEND("* OK ready\r\n"),
                FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("<tag> BAD Not implemented\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        tls_required(script, "starttls", "CAPABILITY refused");
}
END_TEST

/* PREAUTH on a STARTTLS account: with and without capabilities, offering STARTTLS or not. */
static const FakeStep a04_scripts[][3] = {
        { FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] IMAP server ready.\r\n"),
          FAKE_EXPECT_EOF(), FAKE_END },
        { FAKE_SEND("* PREAUTH IMAP server ready.\r\n"), FAKE_EXPECT_EOF(), FAKE_END },
        { FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN IDLE] hi\r\n"), FAKE_EXPECT_EOF(),
          FAKE_END },
};

START_TEST(test_A04_preauth_on_starttls) {
        tls_required(a04_scripts[_i], "starttls", "PREAUTH greeting where STARTTLS was required");
}
END_TEST

START_TEST(test_A08_referral_not_followed) {
        /* A login referral is a refused login: no other host, the same server later. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"never-sent\""),
                FAKE_SEND("<tag> NO [REFERRAL IMAP://;AUTH=*@attacker.example.org:243/] try another server.\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *cert = NULL, *key = NULL;
        FakeImapdOptions o = {};
        Daemon d;

        daemon_init(&d);
        ck_assert_int_ge(asprintf(&cert, "%s/cert.pem", dovecot.dir), 0);
        ck_assert_int_ge(asprintf(&key, "%s/key.pem", dovecot.dir), 0);
        o.tls_cert_file = cert;
        o.tls_key_file = key;
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        write_config(&d,
                     "accounts = ( { name = \"ref\"; host = \"127.0.0.1\"; port = %u; tls = \"implicit\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"never-sent\"; } );\n",
                     fake_imapd_port(f), dovecot.ca_file);
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "login refused", 1, 10000), "log:\n%s", tail_of(d.log));
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        /* The next attempt is the same server after the long (refused login) backoff. */
        ck_assert_msg(wait_log(&d, "ref/INBOX: retry in", 1, 5000), "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "connected to 127.0.0.1"), 1);
        daemon_stop(&d);
        daemon_done(&d);
}
END_TEST

/* LOGINDISABLED after TLS: no LOGIN; without another mechanism, fail cleanly; with AUTH=PLAIN, use it. */
START_TEST(test_A09_logindisabled) {
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        tls_required(script, "implicit", "no usable authentication mechanism offered by the server");
}
END_TEST

START_TEST(test_A09_logindisabled_auth_plain) {
        /* The positive control: AUTH=PLAIN after TLS is used, LOGIN never. */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED AUTH=PLAIN] ready\r\n"),
                FAKE_EXPECT("<tag> AUTHENTICATE PLAIN"),
                FAKE_SEND("+ \r\n"),
                FAKE_EXPECT("AHUAbmV2ZXItc2VudA=="),       /* "\0u\0never-sent" (RFC 4616) */
                FAKE_SEND("<tag> NO [AUTHENTICATIONFAILED] no\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        tls_required(script, "implicit", "login refused");
}
END_TEST

/* A peer that is not the TLS server it should be: it sends 'greeting' in
 * clear text, keeps everything it receives in 'out' until the client
 * closes, then exits.  Forked; returns its pid and the port. */
static pid_t plain_peer(const char *greeting, size_t greeting_len, const char *out, uint16_t *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        pid_t pid;

        ck_assert_int_ge(l, 0);
        ck_assert_int_eq(bind(l, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(l, 1), 0);
        ck_assert_int_eq(getsockname(l, (struct sockaddr *) &sa, &len), 0);
        *ret_port = ntohs(sa.sin_port);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct timeval tv = { .tv_sec = 10 };
                int c = accept(l, NULL, NULL), o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                char buf[4096];
                ssize_t n;

                if (c < 0 || o < 0)
                        _exit(1);
                (void) setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                if (write(c, greeting, greeting_len) < 0)
                        _exit(1);
                while ((n = read(c, buf, sizeof(buf))) > 0)
                        if (write(o, buf, (size_t) n) != n)
                                _exit(1);
                /* The client closed: EOF, or a reset when it closed with our bytes unread. */
                _exit(n == 0 || errno == ECONNRESET ? 0 : 2);
        }
        close(l);
        return pid;
}

START_TEST(test_A12_plaintext_on_tls_port) {
        /* The implicit-TLS port answers in clear text: the handshake fails, the
         * connection closes, nothing falls back to plaintext or STARTTLS. */
        static const struct {
                const char *bytes;
                size_t len;
        } greetings[] = {
#define G(s) { s, sizeof(s) - 1 }
                G("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] plaintext here\r\n"),
                G("\x15\x03\x03\x00\x02\x02\x28"),     /* a TLS alert record: handshake failure */
                G("garbage garbage garbage\r\n"),
#undef G
        };
        _cleanup_free_ char *sent = NULL;
        char out[160];
        uint16_t port;
        int status;
        pid_t pid;
        Daemon d;

        daemon_init(&d);
        snprintf(out, sizeof(out), "%s/received", d.dir);
        pid = plain_peer(greetings[_i].bytes, greetings[_i].len, out, &port);
        write_config(&d,
                     "accounts = ( { name = \"ptls\"; host = \"127.0.0.1\"; port = %u; tls = \"implicit\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"never-sent\"; } );\n",
                     port, dovecot.ca_file);
        daemon_start(&d);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the daemon did not close: %d", status);
        ck_assert_msg(wait_log(&d, "ptls/INBOX: retry in", 1, 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        sent = read_file(out);
        ck_assert_ptr_nonnull(sent);
        /* Only a ClientHello went out: a TLS handshake record (RFC 8446 §5.1), no IMAP. */
        ck_assert_msg(sent[0] == 0x16, "first byte %#x", (unsigned) (unsigned char) sent[0]);
        ck_assert_ptr_null(strstr(sent, "LOGIN"));
        ck_assert_ptr_null(strstr(sent, "STARTTLS"));
        ck_assert_ptr_null(strstr(sent, "CAPABILITY"));
        ck_assert_ptr_null(strstr(sent, "never-sent"));
        daemon_done(&d);
}
END_TEST

/* Mailbox data before login (C01) and EXISTS before any EXAMINE (H10): none
 * of it is taken; what the daemon knows afterwards is what EXAMINE said. */
START_TEST(test_C01_H10_untrusted_mailbox_data) {
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"
                          "* LIST () \"/\" 7XiYhgS7\r\n"
                          "* STATUS INBOX (MESSAGES 718001 RECENT 718002 UIDNEXT 718003 UNSEEN 718004 UIDVALIDITY 718005)\r\n"
                          "* SEARCH 1 2 3 4 5 6 7 8 9 10\r\n"
                          "* FLAGS (\\Flagged)\r\n"
                          "* 54321 EXISTS\r\n"
                          "* 12345 RECENT\r\n"
                          "* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n"
                          "* 1 FETCH (BODY[] {28}\r\nFrom: Injected\r\n\r\nInjected\r\n)\r\n"
                          "* CAPABILITY IDLE\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"never-sent\""),
                FAKE_SEND("* 3 EXISTS\r\n* 2 EXPUNGE\r\n<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 2 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 5] n\r\n"
                          "<tag> OK [READ-ONLY] done\r\n"),
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
        _cleanup_free_ char *report = NULL, *state = NULL, *cert = NULL, *key = NULL;
        FakeImapdOptions o = {};
        char path[160];
        unsigned runs;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_ge(asprintf(&cert, "%s/cert.pem", dovecot.dir), 0);
        ck_assert_int_ge(asprintf(&key, "%s/key.pem", dovecot.dir), 0);
        o.tls_cert_file = cert;
        o.tls_key_file = key;
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"inj\"; host = \"127.0.0.1\"; port = %u; tls = \"implicit\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"never-sent\"; startup_sync = false;\n"
                     "  on_new = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/new-$$\"];\n"
                     "  on_expunge = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/expunge-$$\"]; } );\n",
                     fake_imapd_port(f), dovecot.ca_file, d.dir, d.dir);
        daemon_start(&d);
        ck_assert_msg(wait_notify(&d, &d.notes, "STATUS=1/1 mailboxes idling", 10000), "%s\nlog:\n%s",
                      d.notes.data, tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        /* What is known is what EXAMINE said: 2 messages, UIDVALIDITY 7, UIDNEXT 5. */
        snprintf(path, sizeof(path), "%s/state/inj.state", d.dir);
        state = read_file(path);
        ck_assert_msg(state && strstr(state, "\nINBOX 7 5 2 0 "), "%s", state ? state : "(no state)");
        free(hook_outputs(&d, "new-", &runs));
        ck_assert_uint_eq(runs, 0);
        free(hook_outputs(&d, "expunge-", &runs));
        ck_assert_uint_eq(runs, 0);
        ck_assert_uint_eq(log_count(&d, "7XiYhgS7"), 0);
        daemon_done(&d);
}
END_TEST

/* --list-mailboxes against a scripted server (implicit TLS): log in, LIST "" *, send
 * 'listing' as one write, then the tagged OK, then LOGOUT.  The tool's stdout goes to
 * *ret_out, its stderr to d->log; returns its wait status. */
static int list_mailboxes_script(Daemon *d, const char *listing, char **ret_out) {
        const FakeStep script[] = {
                FAKE_SEND("* OK ready\r\n"),
                FAKE_EXPECT("<tag> CAPABILITY"),
                FAKE_SEND("* CAPABILITY IMAP4rev1\r\n<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"pw\""),
                FAKE_SEND("<tag> OK in\r\n"),
                FAKE_EXPECT("<tag> LIST \"\" *"),
                FAKE_SEND(listing),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL, *cert = NULL, *key = NULL;
        char *argv[] = { (char[]) { DAEMON_PATH }, (char[]) { "-c" }, d->conf, (char[]) { "--list-mailboxes" },
                         (char[]) { "lm" }, NULL };
        FakeImapdOptions o = { .timeout_ms = 60000 };
        posix_spawn_file_actions_t fa;
        char outpath[160];
        pid_t pid;
        int status;

        ck_assert_int_ge(asprintf(&cert, "%s/cert.pem", dovecot.dir), 0);
        ck_assert_int_ge(asprintf(&key, "%s/key.pem", dovecot.dir), 0);
        o.tls_cert_file = cert;
        o.tls_key_file = key;
        ck_assert_int_eq(fake_imapd_start_full(script, &o, NULL, &f), 0);
        write_config(d,
                     "accounts = ( { name = \"lm\"; host = \"127.0.0.1\"; port = %u; tls = \"implicit\";\n"
                     "  ca_file = \"%s\"; username = \"u\"; password = \"pw\"; mailboxes = [\"INBOX\"]; } );\n",
                     fake_imapd_port(f), dovecot.ca_file);
        snprintf(outpath, sizeof(outpath), "%s/list.out", d->dir);
        ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
        ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, outpath, O_WRONLY | O_CREAT | O_TRUNC,
                                                          0600), 0);
        ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, d->log, O_WRONLY | O_CREAT, 0600), 0);
        ck_assert_int_eq(posix_spawn(&pid, DAEMON_PATH, &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d->log));
        *ret_out = read_file(outpath);
        return status;
}

/* I09: a decoded name (mUTF-7 "&AJs-" is U+009B CSI, "&IC4-" U+202E RIGHT-TO-LEFT
 * OVERRIDE) and a flag carrying a UTF-8 CSI reach the terminal escaped, by log_escape()'s
 * rule; printable UTF-8 stays as it is. */
START_TEST(test_I09_list_mailboxes_escaped) {
        _cleanup_free_ char *out = NULL;
        Daemon d;
        int status;

        daemon_init(&d);
        status = list_mailboxes_script(&d,
                                       "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
                                       "* LIST (\\HasNoChildren) \"/\" \"a&AJs-[31mb\"\r\n"
                                       "* LIST (\\HasNoChildren) \"/\" \"&IC4-evil&AOk-\"\r\n"
                                       "* LIST (\\HasNoChildren \\X\xc2\x9b" "2J) \"/\" flagged\r\n",
                                       &out);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d; log:\n%s", status, tail_of(d.log));
        ck_assert_msg(strstr(out, "\na\\xc2\\x9b[31mb \\HasNoChildren\n"), "%s", out);
        ck_assert_msg(strstr(out, "\n\\xe2\\x80\\xaeevil\xc3\xa9 \\HasNoChildren\n"), "%s", out);
        ck_assert_msg(strstr(out, "\nflagged \\HasNoChildren \\X\\xc2\\x9b2J\n"), "%s", out);
        /* No C1 or bidi control anywhere, in either encoding. */
        ck_assert_ptr_null(strstr(out, "\xc2\x9b"));
        ck_assert_ptr_null(strstr(out, "\xe2\x80\xae"));
        ck_assert_ptr_null(strchr(out, '\x1b'));
        daemon_done(&d);
}
END_TEST

/* I08: 1,000,000 LIST entries are all printed (the client's response store keeps 1 MiB and
 * drops the oldest; the tool takes each entry as it comes), or the tool fails loudly. */
START_TEST(test_I08_list_mailboxes_million) {
        _cleanup_free_ char *out = NULL;
        const unsigned n = 1000000;
        Buf listing = BUF_INIT;
        size_t lines = 0;
        Daemon d;
        int status;

        daemon_init(&d);
        ck_assert_int_eq(buf_reserve(&listing, (size_t) n * 32, 0), 0);
        for (unsigned i = 0; i < n; i++) {
                char line[64];
                int k = snprintf(line, sizeof(line), "* LIST (\\HasNoChildren) \"/\" m%07u\r\n", i);

                ck_assert_int_eq(buf_append(&listing, line, (size_t) k, 0), 0);
        }
        ck_assert_int_eq(buf_append(&listing, "", 1, 0), 0);
        status = list_mailboxes_script(&d, listing.data, &out);
        buf_done(&listing);
        ck_assert_msg(WIFEXITED(status), "status %d", status);
        for (const char *p = out; (p = strchr(p, '\n')); p++)
                lines++;
        if (WEXITSTATUS(status) != 0) {
                /* The other honest outcome: a clear error, not a short list with exit 0. */
                ck_assert_msg(log_count(&d, "LIST") > 0, "log:\n%s", tail_of(d.log));
                ck_abort_msg("exit %d after %zu lines; log:\n%s", WEXITSTATUS(status), lines, tail_of(d.log));
        }
        /* Every entry, plus the configured INBOX the server did not list. */
        ck_assert_uint_eq(lines, (size_t) n + 1);
        ck_assert_msg(strncmp(out, "m0000000 \\HasNoChildren\n", 24) == 0, "%.80s", out);
        ck_assert_ptr_nonnull(strstr(out, "\nm0999999 \\HasNoChildren\n"));
        ck_assert_ptr_nonnull(strstr(out, "\nm0500000 \\HasNoChildren\n"));
        daemon_done(&d);
}
END_TEST

/* I08: an entry the parser rejects (a flag that is not an atom, RFC 3501 §7.2.2) is skipped
 * with a warning that names it, escaped; the entries around it are printed. */
START_TEST(test_I08_list_mailboxes_bad_entry) {
        _cleanup_free_ char *out = NULL, *log = NULL;
        Daemon d;
        int status;

        daemon_init(&d);
        status = list_mailboxes_script(&d,
                                       "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
                                       "* LIST (\"Bad\" \\HasNoChildren) \"/\" \"Evil\xc2\x9b\"\r\n"
                                       "* LIST (\\HasNoChildren) \"//\" Delim\r\n"
                                       "* LIST (\\HasNoChildren) \"/\" After\r\n",
                                       &out);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d; log:\n%s", status, tail_of(d.log));
        ck_assert_msg(strstr(out, "INBOX \\HasNoChildren  (watched)\n"), "%s", out);
        ck_assert_msg(strstr(out, "\nAfter \\HasNoChildren\n"), "%s", out);
        ck_assert_ptr_null(strstr(out, "Evil"));
        ck_assert_ptr_null(strstr(out, "Delim"));
        ck_assert_uint_eq(log_count(&d, "skipping a LIST entry"), 2);
        ck_assert_msg(log_count(&d, "Evil\\xc2\\x9b") == 1, "log:\n%s", tail_of(d.log));
        ck_assert_msg(log_count(&d, "Delim") == 1, "log:\n%s", tail_of(d.log));
        log = read_file(d.log);
        ck_assert_ptr_null(strstr(log, "\xc2\x9b"));
        daemon_done(&d);
}
END_TEST

/* A config for the scripted server on 'port': plaintext, every hook writing its environment to
 * "<event>-<pid>" in the test's directory. */
static void write_config_hooks(Daemon *d, const char *name, uint16_t port) {
        write_config(d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"%s\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  on_new = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/new-$$\"];\n"
                     "  on_expunge = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/expunge-$$\"];\n"
                     "  on_flags = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/flags-$$\"]; } );\n",
                     name, (unsigned) port, d->dir, d->dir, d->dir);
}

/* H07, M08: responses that cannot be true of the mailbox (an EXPUNGE and a FETCH beyond
 * EXISTS, an EXISTS that shrinks without EXPUNGE) run no hook; each makes the daemon end IDLE
 * and EXAMINE the mailbox again, whose numbers (unchanged) are compared as on a reconnect:
 * nothing to report.  The daemon says so once per connection. */
START_TEST(test_H07_M08_impossible_state) {
#define H07_EXAMINED "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 4] n\r\n<tag> OK [READ-ONLY] done\r\n"
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND(H07_EXAMINED),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                /* Three messages, and the fiftieth is expunged. */
                FAKE_SEND("* 50 EXPUNGE\r\n* 1 EXPUNGE\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND(H07_EXAMINED),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_SEND("* 99 FETCH (FLAGS (\\Seen))\r\n* 1 FETCH (FLAGS (\\Seen))\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND(H07_EXAMINED),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                /* Fewer without EXPUNGE, then "growth" back to three. */
                FAKE_SEND("* 1 EXISTS\r\n* 3 EXISTS\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND(H07_EXAMINED),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> LOGOUT"),
                FAKE_SEND("* BYE bye\r\n<tag> OK out\r\n"),
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
#undef H07_EXAMINED
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        unsigned runs;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config_hooks(&d, "h7", fake_imapd_port(f));
        daemon_start(&d);
        ck_assert_msg(wait_log(&d, "-> idling", 4, 15000), "log:\n%s", tail_of(d.log));
        sleep_ms(300);          /* a hook started by mistake would have written its file */
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        free(hook_outputs(&d, "new-", &runs));
        ck_assert_uint_eq(runs, 0);
        free(hook_outputs(&d, "expunge-", &runs));
        ck_assert_uint_eq(runs, 0);
        free(hook_outputs(&d, "flags-", &runs));
        ck_assert_uint_eq(runs, 0);
        /* One notice for the connection; the debug lines of -v say the rest. */
        ck_assert_msg(log_count(&d, "<5>h7/INBOX: out of sync: EXPUNGE of message 50 with 3 messages known") +
                      log_count(&d, "h7/INBOX: out of sync: EXPUNGE of message 50 with 3 messages known") >= 1,
                      "log:\n%s", tail_of(d.log));
        ck_assert_uint_eq(log_count(&d, "out of sync, EXAMINE again"), 3);
        daemon_done(&d);
}
END_TEST

/* H07: a server that contradicts itself again after every EXAMINE does not keep the daemon in a
 * loop: after the third EXAMINE on one session the connection is closed (and tried again after
 * the backoff), still without a hook. */
START_TEST(test_H07_impossible_state_loop) {
#define H07_EXAMINED "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 4] n\r\n<tag> OK [READ-ONLY] done\r\n"
#define H07_ROUND FAKE_EXPECT("<tag> EXAMINE INBOX"), FAKE_SEND(H07_EXAMINED), FAKE_EXPECT("<tag> IDLE"), \
                FAKE_SEND("+ idling\r\n* 9 EXPUNGE\r\n"), FAKE_EXPECT("DONE"), FAKE_SEND("<tag> OK done\r\n")
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                H07_ROUND, H07_ROUND, H07_ROUND, H07_ROUND,
                FAKE_EXPECT_EOF(),
                FAKE_END,
        };
#undef H07_ROUND
#undef H07_EXAMINED
        _cleanup_(fake_imapd_freep) FakeImapd *f = NULL;
        _cleanup_free_ char *report = NULL;
        unsigned runs;
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config_hooks(&d, "h7l", fake_imapd_port(f));
        daemon_start(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "keep contradicting each other", 1, 5000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        free(hook_outputs(&d, "expunge-", &runs));
        ck_assert_uint_eq(runs, 0);
        free(hook_outputs(&d, "new-", &runs));
        ck_assert_uint_eq(runs, 0);
        daemon_done(&d);
}
END_TEST

/* H08: 100,000 flag changes in IDLE (each of a message that is there) make a few on_flags runs
 * (single flight: one, then exactly one more) and a few log lines (docs/EVENTS.md "The log":
 * ten event lines a minute per mailbox), and the daemon stays responsive: the new mail behind
 * the flood starts its hook and the DONE for its fetch comes. */
START_TEST(test_H08_fetch_flood) {
        enum { N = 100000 };
        Buf flood = BUF_INIT;
        FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK [CAPABILITY IMAP4rev1 IDLE] in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 10 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 11] n\r\n"
                          "<tag> OK [READ-ONLY] done\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n"),
                FAKE_SEND_RAW(NULL, 0),         /* the flood, below */
                FAKE_SEND("* 11 EXISTS\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 11:* (UID)"),
                FAKE_SEND("* 11 FETCH (UID 11)\r\n<tag> OK fetched\r\n"),
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
        _cleanup_free_ char *report = NULL, *log = NULL;
        unsigned runs, lines = 0;
        Daemon d;

        for (unsigned i = 0; i < N; i++) {
                char line[64];
                int k = snprintf(line, sizeof(line), "* %u FETCH (FLAGS (\\Seen))\r\n", 1 + i % 10);

                ck_assert_int_eq(buf_append(&flood, line, (size_t) k, 0), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(script); i++)
                if (script[i].type == FAKE_STEP_SEND_RAW) {
                        script[i].data = flood.data;
                        script[i].len = flood.len;
                }
        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start_full(script, &(FakeImapdOptions) { .timeout_ms = 30000 }, NULL, &f), 0);
        buf_done(&flood);
        /* The first on_flags run lasts until the daemon idles again after the flood (the new
         * mail behind it was fetched), so the count of runs does not depend on the machine's
         * speed: every flag change after the first folds into exactly one more run. */
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"h8\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  on_new = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/new-$$\"];\n"
                     "  on_flags = [\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/flags-$$; \"\n"
                     "              \"while [ $(grep -c -- '-> idling' %s) -lt 2 ]; do sleep 0.05; done\"]; } );\n",
                     (unsigned) fake_imapd_port(f), d.dir, d.dir, d.log);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "new-", 1, 30000, NULL), "log:\n%s", tail_of(d.log));
        ck_assert_msg(wait_log(&d, "-> idling", 2, 10000), "log:\n%s", tail_of(d.log));
        sleep_ms(300);          /* the last on_flags run, if any, writes its file */
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        free(hook_outputs(&d, "flags-", &runs));
        ck_assert_msg(runs == 2, "%u on_flags runs", runs);
        /* The lines about the mailbox (not counting -v's debug lines of the connection's states). */
        log = read_file(d.log);
        for (char *p = log, *nl; *p; p = nl + 1) {
                nl = strchrnul(p, '\n');
                if (memmem(p, (size_t) (nl - p), "h8/INBOX", 8) && !memmem(p, (size_t) (nl - p), " -> ", 4))
                        lines++;
                if (!*nl)
                        break;
        }
        ck_assert_msg(lines < 50, "%u lines:\n%s", lines, tail_of(d.log));
        ck_assert_msg(log_count(&d, "h8/INBOX: flags, 1 message") <= 10, "log:\n%s", tail_of(d.log));
        daemon_done(&d);
}
END_TEST

START_TEST(test_H11_no_uidnext) {
        /* EXAMINE without UIDVALIDITY or UIDNEXT: new mail is still reported, the
         * hook is told nothing made up (no IMAPIDLED_UIDVALIDITY=0, no UIDNEXT, no
         * "0:*"), and the UIDs are asked for from 1 (RFC 3501 §2.3.1.1). */
        static const FakeStep script[] = {
                FAKE_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"),
                FAKE_EXPECT("<tag> LOGIN u \"p\""),
                FAKE_SEND("<tag> OK in\r\n"),
                FAKE_EXPECT("<tag> EXAMINE INBOX"),
                FAKE_SEND("* 0 EXISTS\r\n<tag> OK [READ-ONLY] done\r\n"),
                FAKE_EXPECT("<tag> IDLE"),
                FAKE_SEND("+ idling\r\n* 1 EXISTS\r\n"),
                FAKE_EXPECT("DONE"),
                FAKE_SEND("<tag> OK done\r\n"),
                FAKE_EXPECT("<tag> UID FETCH 1:* (UID)"),
                FAKE_SEND("* 1 FETCH (UID 4)\r\n<tag> OK fetched\r\n"),
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
        Daemon d;

        daemon_init(&d);
        ck_assert_int_eq(fake_imapd_start(script, &f), 0);
        write_config(&d,
                     "debounce = 0;\n"
                     "accounts = ( { name = \"h11\"; host = \"127.0.0.1\"; port = %u; tls = \"none\";\n"
                     "  allow_plaintext = true; username = \"u\"; password = \"p\";\n"
                     "  on_new = [\"/bin/sh\", \"-c\", \"env > %s/.new-$$ && mv %s/.new-$$ %s/new-$$\"]; } );\n",
                     fake_imapd_port(f), d.dir, d.dir, d.dir);
        daemon_start(&d);
        ck_assert_msg(wait_hook(&d, "new-", 1, 10000, &env), "log:\n%s", tail_of(d.log));
        ck_assert_msg(strstr(env, "IMAPIDLED_COUNT=1\n") && !strstr(env, "IMAPIDLED_UIDVALIDITY=") &&
                      !strstr(env, "IMAPIDLED_UIDNEXT=") && !strstr(env, "IMAPIDLED_UIDS=0"), "%s", env);
        ck_assert_msg(wait_log(&d, "-> idling", 2, 10000), "log:\n%s", tail_of(d.log));
        daemon_stop(&d);
        ck_assert_msg(fake_imapd_wait(f, &report) == 0, "%s\nlog:\n%s", report ? report : "", tail_of(d.log));
        daemon_done(&d);
}
END_TEST

/* Not static: tests/test-security runs it (main()). */
Suite *security_suite(void);
Suite *security_suite(void) {
        Suite *s = suite_create("security");
        TCase *tc = tcase_create("tls-required");

        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_add_loop_test(tc, test_A01_starttls_stripped, 0, (int) ELEMENTSOF(a01_scripts));
        tcase_add_test(tc, test_A03_capability_bad);
        tcase_add_loop_test(tc, test_A04_preauth_on_starttls, 0, (int) ELEMENTSOF(a04_scripts));
        tcase_add_test(tc, test_A08_referral_not_followed);
        tcase_add_test(tc, test_A09_logindisabled);
        tcase_add_test(tc, test_A09_logindisabled_auth_plain);
        tcase_add_loop_test(tc, test_A12_plaintext_on_tls_port, 0, 3);
        tcase_add_test(tc, test_C01_H10_untrusted_mailbox_data);
        tcase_add_test(tc, test_I09_list_mailboxes_escaped);
        tcase_add_test(tc, test_I08_list_mailboxes_million);
        tcase_add_test(tc, test_I08_list_mailboxes_bad_entry);
        suite_add_tcase(s, tc);

        tc = tcase_create("untrusted-state");
        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_H07_M08_impossible_state);
        tcase_add_test(tc, test_H07_impossible_state_loop);
        tcase_add_test(tc, test_H08_fetch_flood);
        tcase_add_test(tc, test_H11_no_uidnext);
        suite_add_tcase(s, tc);
        return s;
}

/* Not static: each of the programs runs one of the suites (main()). */
Suite *notify_suite(void);
Suite *notify_suite(void) {
        Suite *s = suite_create("notify");
        TCase *tc = tcase_create("notify");

        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, setup, teardown);
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
        tcase_add_test(tc, test_patterns_poll_dovecot);
        tcase_add_test(tc, test_patterns_list_script);
        suite_add_tcase(s, tc);
        return s;
}

Suite *daemon_suite(void);
Suite *daemon_suite(void) {
        Suite *s = suite_create("daemon");
        TCase *tc = tcase_create("daemon");

        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_new_and_expunge_hooks);
        tcase_add_test(tc, test_idle_interval_cycles);
        tcase_add_test(tc, test_rerun_while_running);
        tcase_add_loop_test(tc, test_burst_of_100, 0, 2);
        tcase_add_test(tc, test_uidvalidity_change);
        tcase_add_test(tc, test_details);
        tcase_add_test(tc, test_details_cap);
        tcase_add_test(tc, test_flags_and_startup_sync);
        tcase_add_test(tc, test_counts_interleaved);
        tcase_add_loop_test(tc, test_fault, 0, (int) ELEMENTSOF(faults));
        tcase_add_loop_test(tc, test_fault_hot_path, 0, 2);
        tcase_add_test(tc, test_resume_reconnects);
        tcase_add_test(tc, test_fresh_secret);
        tcase_add_test(tc, test_connection_budget);
        tcase_add_test(tc, test_max_connecting);
        tcase_add_test(tc, test_poller_transcript);
        tcase_add_test(tc, test_no_network_at_start);
        tcase_add_test(tc, test_token_expired_bye);
        tcase_add_test(tc, test_credentials_directory);
        tcase_add_test(tc, test_server_keepalive_counts);
        tcase_add_loop_test(tc, test_phase_deadline, 0, (int) ELEMENTSOF(phase_cases));
        tcase_add_test(tc, test_connect_deadline);
        tcase_add_test(tc, test_reload_keeps_unchanged);
        tcase_add_test(tc, test_bad_login_retries);
        tcase_add_test(tc, test_failing_and_hanging_hooks);
        tcase_add_test(tc, test_list_mailboxes);
        tcase_add_test(tc, test_starttls_injection_refused);
        tcase_add_test(tc, test_A05_reply_before_starttls);
        tcase_add_test(tc, test_catchup_across_restarts);
        tcase_add_test(tc, test_reconnect_after_server_restart);
        suite_add_tcase(s, tc);

        /* Its own case, to run alone (CK_RUN_CASE=qresync). */
        tc = tcase_create("qresync");
        tcase_set_timeout(tc, 120);
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_qresync_transcript);
        tcase_add_test(tc, test_qresync_hostile);
        tcase_add_test(tc, test_qresync_dovecot);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
#if defined(TEST_NOTIFY)
        return th_run_suite(notify_suite());
#elif defined(TEST_SECURITY)
        return th_run_suite(security_suite());
#else
        return th_run_suite(daemon_suite());
#endif
}
