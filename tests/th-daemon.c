/* SPDX-License-Identifier: MIT */
/*
 * th-daemon.c: see th-daemon.h.  The waits poll every 20 to 50 ms: that interval is how soon a
 * wait sees its condition, never what decides a test.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "th-daemon.h"
#include "th.h"

uint64_t mono_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

void sleep_ms(unsigned ms) {
        nanosleep(&(struct timespec) { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000 }, NULL);
}

void daemon_init(Daemon *d) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

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

void write_config(Daemon *d, const char *fmt, ...) {
        FILE *f = fopen(d->conf, "we");
        va_list ap;

        ck_assert_ptr_nonnull(f);
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(chmod(d->conf, 0600), 0);
}

void daemon_start(Daemon *d) {
        daemon_start_args(d, NULL);
}

void daemon_start_args(Daemon *d, const char *const *args) {
        char *argv[16] = { (char[]) { DAEMON_PATH }, (char[]) { "-v" }, (char[]) { "-c" }, d->conf };
        size_t k = 4;
        posix_spawn_file_actions_t fa;
        char notify_env[160], state_env[160], runtime_env[160];
        char **env;
        size_t n = 0;

        for (; args && *args; args++) {
                ck_assert_uint_lt(k, ELEMENTSOF(argv) - 1);
                argv[k] = strdup(*args);
                ck_assert_ptr_nonnull(argv[k++]);
        }
        argv[k] = NULL;
        for (char **e = environ; *e; e++)
                n++;
        env = calloc(n + 4, sizeof(char *));
        ck_assert_ptr_nonnull(env);
        n = 0;
        for (char **e = environ; *e; e++)
                if (strncmp(*e, "NOTIFY_SOCKET=", 14) != 0 && strncmp(*e, "STATE_DIRECTORY=", 16) != 0 &&
                    strncmp(*e, "RUNTIME_DIRECTORY=", 18) != 0)
                        env[n++] = *e;
        snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=%s", d->notify);
        snprintf(state_env, sizeof(state_env), "STATE_DIRECTORY=%s/state", d->dir);
        env[n++] = notify_env;
        env[n++] = state_env;
        /* The control socket (`imapidled status`) in the scratch directory: daemons of tests
         * running side by side must not meet at the default one. */
        snprintf(runtime_env, sizeof(runtime_env), "RUNTIME_DIRECTORY=%s", d->dir);
        env[n++] = runtime_env;
        env[n] = NULL;
        ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
        ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, d->log, O_WRONLY | O_CREAT | O_APPEND,
                                                          0600), 0);
        ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0), 0);
        ck_assert_int_eq(posix_spawn(&d->pid, DAEMON_PATH, &fa, NULL, argv, env), 0);
        posix_spawn_file_actions_destroy(&fa);
        free(env);
        for (size_t i = 4; i < k; i++)
                free(argv[i]);
}

char *read_file(const char *path) {
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
const char *tail_of(const char *path) {
        static char out[2048];
        _cleanup_free_ char *s = read_file(path);
        size_t n = strlen(s);

        snprintf(out, sizeof(out), "%s%s", n > sizeof(out) - 16 ? "...\n" : "",
                 n > sizeof(out) - 16 ? s + n - (sizeof(out) - 16) : s);
        return out;
}

/* Count occurrences of needle in the daemon's log. */
unsigned log_count(Daemon *d, const char *needle) {
        _cleanup_free_ char *s = read_file(d->log);
        unsigned n = 0;

        for (const char *p = s; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

bool wait_log(Daemon *d, const char *needle, unsigned count, unsigned timeout_ms) {
        uint64_t end = mono_ms() + timeout_ms;

        while (mono_ms() < end) {
                read_notify(d, &d->notes);
                if (log_count(d, needle) >= count)
                        return true;
                sleep_ms(50);
        }
        return false;
}

/* Every notification received so far, concatenated. */
void read_notify(Daemon *d, Buf *out) {
        char msg[4096];
        ssize_t n;

        while ((n = recv(d->notify_fd, msg, sizeof(msg), 0)) > 0) {
                ck_assert_int_eq(buf_append(out, msg, (size_t) n, 0), 0);
                ck_assert_int_eq(buf_append(out, "\n", 1, 0), 0);
        }
}

bool wait_notify(Daemon *d, Buf *all, const char *needle, unsigned timeout_ms) {
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
void daemon_stop(Daemon *d) {
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

void daemon_done(Daemon *d) {
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

unsigned th_count_of(const char *hay, const char *needle) {
        unsigned n = 0;

        for (const char *p = hay; p && (p = strstr(p, needle)); p++)
                n++;
        return n;
}

bool daemon_wait_notify_count(Daemon *d, const char *needle, unsigned count, unsigned timeout_ms) {
        uint64_t end = mono_ms() + timeout_ms;

        while (mono_ms() < end) {
                read_notify(d, &d->notes);
                if (th_count_of(d->notes.data, needle) >= count)
                        return true;
                sleep_ms(20);
        }
        return false;
}

uint64_t th_sum_of(const char *hay, const char *needle) {
        uint64_t sum = 0;

        for (const char *p = hay; p && (p = strstr(p, needle)); p++)
                sum += strtoull(p + strlen(needle), NULL, 10);
        return sum;
}

uint64_t daemon_log_sum(Daemon *d, const char *needle) {
        _cleanup_free_ char *s = read_file(d->log);

        return th_sum_of(s, needle);
}

unsigned daemon_log_lines(Daemon *d, const char *a, const char *b) {
        _cleanup_free_ char *s = read_file(d->log);
        unsigned n = 0;

        for (char *p = s, *nl; *p; p = nl + 1) {
                const char *hit;

                nl = strchrnul(p, '\n');
                hit = memmem(p, (size_t) (nl - p), a, strlen(a));
                if (hit && memmem(hit + strlen(a), (size_t) (nl - hit) - strlen(a), b, strlen(b)))
                        n++;
                if (!*nl)
                        break;
        }
        return n;
}

bool daemon_wait_log_after(Daemon *d, const char *first, unsigned n, const char *then, unsigned timeout_ms) {
        uint64_t end = mono_ms() + timeout_ms;

        assert(n > 0);
        while (mono_ms() < end) {
                _cleanup_free_ char *s = read_file(d->log);
                const char *p = s;

                read_notify(d, &d->notes);
                for (unsigned i = 0; p && i < n; i++) {
                        p = strstr(p, first);
                        if (p)
                                p += strlen(first);
                }
                if (p && strstr(p, then))
                        return true;
                sleep_ms(50);
        }
        return false;
}

bool daemon_wait_log_sum(Daemon *d, const char *needle, uint64_t sum, unsigned timeout_ms) {
        uint64_t end = mono_ms() + timeout_ms;

        while (mono_ms() < end) {
                read_notify(d, &d->notes);
                if (daemon_log_sum(d, needle) >= sum)
                        return true;
                sleep_ms(50);
        }
        return false;
}

const char *daemon_hook_cmd(Daemon *d, const char *prefix) {
        static char out[4][512];
        static unsigned next;
        char *s = out[next++ % ELEMENTSOF(out)];

        snprintf(s, sizeof(out[0]), "[\"/bin/sh\", \"-c\", \"d=%s; env > $d/.t$$ && mv $d/.t$$ $d/%s-$$\"]", d->dir,
                 prefix);
        return s;
}

unsigned daemon_hook_files(Daemon *d, const char *prefix, char **ret_first) {
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

bool daemon_wait_hook(Daemon *d, const char *prefix, unsigned count, unsigned timeout_ms, char **ret_first) {
        uint64_t end = mono_ms() + timeout_ms;

        while (mono_ms() < end) {
                read_notify(d, &d->notes);
                /* Hooks write to a temporary name and rename (atomic, rename(2)): a
                 * file that is there is complete. */
                if (daemon_hook_files(d, prefix, NULL) >= count) {
                        if (ret_first)
                                daemon_hook_files(d, prefix, ret_first);
                        return true;
                }
                sleep_ms(20);
        }
        return false;
}

char *daemon_hook_outputs(Daemon *d, const char *prefix, unsigned *ret_n) {
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

bool daemon_wait_hook_sum(Daemon *d, const char *prefix, uint64_t sum, unsigned timeout_ms, unsigned *ret_n) {
        uint64_t end = mono_ms() + timeout_ms;

        while (mono_ms() < end) {
                unsigned n;
                _cleanup_free_ char *all = daemon_hook_outputs(d, prefix, &n);

                read_notify(d, &d->notes);
                if (th_sum_of(all, "IMAPIDLED_COUNT=") >= sum) {
                        if (ret_n)
                                *ret_n = n;
                        return true;
                }
                sleep_ms(50);
        }
        return false;
}

void daemon_hook_clear(Daemon *d, const char *prefix) {
        DIR *dir = opendir(d->dir);
        struct dirent *de;

        ck_assert_ptr_nonnull(dir);
        while ((de = readdir(dir)))
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
                        char path[512];

                        snprintf(path, sizeof(path), "%s/%s", d->dir, de->d_name);
                        ck_assert_int_eq(unlink(path), 0);
                }
        closedir(dir);
}

const char *th_env_value(const char *env, const char *name) {
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

void daemon_write_state(Daemon *d, const char *name, const char *content) {
        char path[160];
        FILE *sf;

        snprintf(path, sizeof(path), "%s/state", d->dir);
        ck_assert_int_eq(mkdir(path, 0700), 0);
        sf = fopen(daemon_state_path(d, name), "we");
        ck_assert_ptr_nonnull(sf);
        fputs(content, sf);
        ck_assert_int_eq(fclose(sf), 0);
}

const char *daemon_state_path(Daemon *d, const char *name) {
        static char path[192];

        snprintf(path, sizeof(path), "%s/state/%s.state", d->dir, name);
        return path;
}

int daemon_run_tool(Daemon *d, const char *const *args, const char *out_path) {
        char *argv[16] = { (char[]) { DAEMON_PATH }, (char[]) { "-c" }, d->conf };
        posix_spawn_file_actions_t fa;
        size_t n = 3;
        int status;
        pid_t pid;

        /* Copies: posix_spawn() takes char *const[] and the caller's are string constants. */
        for (; *args; args++) {
                ck_assert_uint_lt(n, ELEMENTSOF(argv) - 1);
                argv[n] = strdup(*args);
                ck_assert_ptr_nonnull(argv[n++]);
        }
        argv[n] = NULL;
        ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
        ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path, O_WRONLY | O_CREAT | O_TRUNC,
                                                          0600), 0);
        ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, d->log, O_WRONLY | O_CREAT | O_APPEND,
                                                          0600), 0);
        ck_assert_int_eq(posix_spawn(&pid, DAEMON_PATH, &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        for (size_t i = 3; i < n; i++)
                free(argv[i]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return status;
}
