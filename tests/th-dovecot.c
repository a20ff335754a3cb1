/* SPDX-License-Identifier: MIT */
/*
 * th-dovecot.c: the C side of the private-Dovecot harness (th-dovecot.h).
 * It only spawns tests/dovecot.sh and doveadm (posix_spawn, no shell command
 * lines), parses the files the script leaves in the directory, and removes
 * the directory afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "th-dovecot.h"

#ifndef TH_SRCDIR
#  error "TH_SRCDIR must be defined (the absolute source directory)"
#endif


/* Instances still running, each stopped at exit by the process that started
 * it (forked children inherit the table and the atexit handler). */
#define TH_DOVECOT_REGISTRY_MAX 16
static struct {
        char *dir;
        pid_t owner;
} registry[TH_DOVECOT_REGISTRY_MAX];

/* Spawn argv[0] (searched in PATH) with stdin from stdin_fd if >= 0, wait,
 * and map the result as th_dovecot_doveadm() documents. */
static int spawn_wait(const char *const argv[], int stdin_fd) {
        posix_spawn_file_actions_t fa;
        char *args[32];
        int status, r;
        pid_t pid;

        /* posix_spawn() takes char *const[] for historical reasons and does
         * not write to the strings; the integer round trip only silences
         * -Wcast-qual. */
        for (size_t i = 0;; i++) {
                if (i >= ELEMENTSOF(args))
                        return -E2BIG;
                args[i] = (char *) (uintptr_t) argv[i];
                if (!argv[i])
                        break;
        }

        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        if (stdin_fd >= 0)
                r = posix_spawn_file_actions_adddup2(&fa, stdin_fd, STDIN_FILENO);
        if (r == 0)
                r = posix_spawnp(&pid, args[0], &fa, NULL, args, environ);
        (void) posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFSIGNALED(status))
                return -EIO;
        return WEXITSTATUS(status);
}

static int script_path(char *buf, size_t n) {
        const char *top = getenv("top_srcdir");
        int k;

        if (!top || !*top)
                top = TH_SRCDIR;
        k = snprintf(buf, n, "%s/tests/dovecot.sh", top);
        return k < 0 || (size_t) k >= n ? -ENAMETOOLONG : 0;
}

static int run_script(const char *verb, const char *dir) {
        char path[PATH_MAX];
        int r;

        r = script_path(path, sizeof(path));
        if (r < 0)
                return r;
        return spawn_wait((const char *const[]) { "sh", path, verb, dir, NULL }, -EBADF);
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st;
        (void) type;
        (void) ftw;
        /* Keep going on errors: remove as much as possible. */
        (void) remove(path);
        return 0;
}

static void remove_tree(const char *dir) {
        /* FTW_PHYS: never follow a symlink out of the directory. */
        (void) nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Stop and remove one directory; used by th_dovecot_stop() and at exit. */
static void stop_dir(const char *dir) {
        (void) run_script("stop", dir);
        remove_tree(dir);
}

static void registry_atexit(void) {
        pid_t self = getpid();

        for (size_t i = 0; i < ELEMENTSOF(registry); i++)
                if (registry[i].dir && registry[i].owner == self) {
                        stop_dir(registry[i].dir);
                        registry[i].dir = mfree(registry[i].dir);
                }
}

static int registry_add(const char *dir) {
        static bool registered = false;

        if (!registered) {
                if (atexit(registry_atexit) != 0)
                        return -ENOMEM;
                registered = true;
        }
        for (size_t i = 0; i < ELEMENTSOF(registry); i++)
                if (!registry[i].dir) {
                        registry[i].dir = strdup(dir);
                        registry[i].owner = getpid();
                        return registry[i].dir ? 0 : -ENOMEM;
                }
        return -EMFILE;
}

static void registry_remove(const char *dir) {
        for (size_t i = 0; i < ELEMENTSOF(registry); i++)
                if (registry[i].dir && strcmp(registry[i].dir, dir) == 0)
                        registry[i].dir = mfree(registry[i].dir);
}

static int path_join(const char *dir, const char *name, char **ret) {
        size_t n = strlen(dir) + 1 + strlen(name) + 1;
        char *p = malloc(n);

        if (!p)
                return -ENOMEM;
        (void) snprintf(p, n, "%s/%s", dir, name);
        *ret = p;
        return 0;
}

/* Read a small text file whole, NUL-terminated. */
static int read_small_file(const char *dir, const char *name, char *buf, size_t n) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = 0;
        int r;

        r = path_join(dir, name, &path);
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        while (len + 1 < n) {
                ssize_t k = read(fd, buf + len, n - 1 - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        buf[len] = '\0';
        return 0;
}

/* A decimal number in [min, max] starting at s; *ret_end after it. */
static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret, const char **ret_end) {
        char *end;
        unsigned long v;

        if (*s < '0' || *s > '9')
                return -EBADMSG;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || v < min || v > max)
                return -ERANGE;
        *ret = v;
        *ret_end = end;
        return 0;
}

/* "PLAIN=<port> TLS=<port>\n" */
static int parse_ports(ThDovecot *d, const char *text) {
        unsigned long plain, tls;
        const char *p = text;
        int r;

        if (strncmp(p, "PLAIN=", 6) != 0)
                return -EBADMSG;
        r = parse_uint(p + 6, 1, 65535, &plain, &p);
        if (r < 0)
                return r;
        if (strncmp(p, " TLS=", 5) != 0)
                return -EBADMSG;
        r = parse_uint(p + 5, 1, 65535, &tls, &p);
        if (r < 0)
                return r;
        if (strcmp(p, "\n") != 0)
                return -EBADMSG;
        d->plain_port_num = (uint16_t) plain;
        d->tls_port_num = (uint16_t) tls;
        (void) snprintf(d->plain_port, sizeof(d->plain_port), "%lu", plain);
        (void) snprintf(d->tls_port, sizeof(d->tls_port), "%lu", tls);
        return 0;
}

static void dump_file(const char *dir, const char *name) {
        char buf[16384];

        if (read_small_file(dir, name, buf, sizeof(buf)) >= 0 && buf[0])
                fprintf(stderr, "--- %s/%s ---\n%s\n", dir, name, buf);
}

/* The parent of the temporary directory: $TMPDIR if it is short enough for
 * Dovecot's unix sockets inside, else /tmp. */
static const char *tmp_base(void) {
        const char *t = getenv("TMPDIR");

        return t && t[0] == '/' && strlen(t) <= 40 ? t : "/tmp";
}

static int start_in(ThDovecot *d) {
        char text[64];
        unsigned long v;
        const char *end;
        int r;

        r = run_script("start", d->dir);
        if (r != 0)
                return r < 0 ? r : -EIO;

        r = read_small_file(d->dir, "ports", text, sizeof(text));
        if (r < 0)
                return r;
        r = parse_ports(d, text);
        if (r < 0)
                return r;
        r = read_small_file(d->dir, "dovecot.pid", text, sizeof(text));
        if (r < 0)
                return r;
        r = parse_uint(text, 2, INT32_MAX, &v, &end);
        if (r < 0)
                return r;
        d->master_pid = (pid_t) v;

        if (path_join(d->dir, "ca.pem", &d->ca_file) < 0 || path_join(d->dir, "tunnel", &d->tunnel) < 0 ||
            path_join(d->dir, "dovecot.conf", &d->conf) < 0)
                return -ENOMEM;
        return 0;
}

int th_dovecot_start(ThDovecot *ret) {
        ThDovecot d = { .host = "127.0.0.1" };
        const char *users = getenv("DOVECOT_USERS");
        char tmpl[PATH_MAX];
        int r;

        assert_return(ret, -EINVAL);
        *ret = (ThDovecot) {};

        d.n_users = 4;
        if (users && *users) {
                unsigned long v;
                const char *end;

                r = parse_uint(users, 1, TH_DOVECOT_USERS_MAX, &v, &end);
                if (r < 0 || *end)
                        return r < 0 ? r : -EINVAL;
                d.n_users = (unsigned) v;
        }
        for (unsigned i = 0; i < d.n_users; i++) {
                (void) snprintf(d.users[i], sizeof(d.users[i]), "user%u", i + 1);
                (void) snprintf(d.passwords[i], sizeof(d.passwords[i]), "pass%u", i + 1);
        }

        (void) snprintf(tmpl, sizeof(tmpl), "%s/th-dovecot-XXXXXX", tmp_base());
        if (!mkdtemp(tmpl))
                return -errno;
        d.dir = strdup(tmpl);
        if (!d.dir) {
                remove_tree(tmpl);
                return -ENOMEM;
        }
        r = registry_add(d.dir);
        if (r >= 0)
                r = start_in(&d);
        if (r < 0) {
                fprintf(stderr, "th_dovecot_start: %s failed: %s\n", d.dir, strerror(-r));
                dump_file(d.dir, "log/start.err");
                dump_file(d.dir, "log/openssl.err");
                dump_file(d.dir, "log/dovecot.log");
                th_dovecot_stop(&d);
                return r;
        }
        *ret = d;
        return 0;
}

int th_dovecot_pause(ThDovecot *d) {
        int r;

        assert_return(d && d->dir, -EINVAL);
        r = run_script("stop", d->dir);
        return r == 0 ? 0 : r < 0 ? r : -EIO;
}

int th_dovecot_restart(ThDovecot *d) {
        char text[64];
        unsigned long v;
        const char *end;
        int r;

        assert_return(d && d->dir, -EINVAL);
        r = run_script("restart", d->dir);
        if (r != 0)
                return r < 0 ? r : -EIO;
        r = read_small_file(d->dir, "dovecot.pid", text, sizeof(text));
        if (r < 0)
                return r;
        r = parse_uint(text, 2, INT32_MAX, &v, &end);
        if (r < 0)
                return r;
        d->master_pid = (pid_t) v;
        return 0;
}

void th_dovecot_stop(ThDovecot *d) {
        if (!d || !d->dir)
                return;
        stop_dir(d->dir);
        registry_remove(d->dir);
        free(d->dir);
        free(d->ca_file);
        free(d->tunnel);
        free(d->conf);
        *d = (ThDovecot) {};
}

const char *th_dovecot_user(const ThDovecot *d, unsigned i) {
        return d && i >= 1 && i <= d->n_users ? d->users[i - 1] : NULL;
}

const char *th_dovecot_pass(const ThDovecot *d, unsigned i) {
        return d && i >= 1 && i <= d->n_users ? d->passwords[i - 1] : NULL;
}

static int doveadm_with_stdin(ThDovecot *d, const char *const argv[], int stdin_fd) {
        const char *full[32];
        size_t n = 0;

        assert_return(d && d->conf, -EINVAL);
        assert_return(argv, -EINVAL);

        full[n++] = "doveadm";
        full[n++] = "-c";
        full[n++] = d->conf;
        for (size_t i = 0; argv[i]; i++) {
                if (n + 1 >= ELEMENTSOF(full))
                        return -E2BIG;
                full[n++] = argv[i];
        }
        full[n] = NULL;
        return spawn_wait(full, stdin_fd);
}

int th_dovecot_doveadm(ThDovecot *d, const char *const argv[]) {
        return doveadm_with_stdin(d, argv, -EBADF);
}

int th_dovecot_deliver(ThDovecot *d, unsigned user, const char *mailbox, const char *message) {
        const char *u = th_dovecot_user(d, user);
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t left;
        int r;

        assert_return(u, -EINVAL);
        assert_return(mailbox && message, -EINVAL);

        /* The message goes through a file, not a pipe: a pipe would need a
         * writer running alongside doveadm for messages over 64 KiB. */
        r = path_join(d->dir, "deliver-XXXXXX", &path);
        if (r < 0)
                return r;
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        (void) unlink(path);
        left = strlen(message);
        for (const char *p = message; left > 0;) {
                ssize_t k = write(fd, p, left);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                left -= (size_t) k;
        }
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;

        return doveadm_with_stdin(d, (const char *const[]) { "save", "-u", u, "-m", mailbox, NULL }, fd);
}

int th_dovecot_expunge_all(ThDovecot *d, unsigned user, const char *mailbox) {
        const char *u = th_dovecot_user(d, user);

        assert_return(u, -EINVAL);
        assert_return(mailbox, -EINVAL);

        return th_dovecot_doveadm(d, (const char *const[]) { "expunge", "-u", u, "mailbox", mailbox, "all", NULL });
}
